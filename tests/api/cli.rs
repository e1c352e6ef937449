//! The README's first steps, run as a user would: the real binary serves on a SQLite file,
//! a token from `permanence token` is accepted, and SIGTERM stops it cleanly.
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_permanence"));
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "JWT_PUBLIC_KEY_FILE",
        "PERMANENCE_ENV",
        "PERMANENCE_BIND",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

struct Server {
    child: Child,
    address: String,
}

impl Server {
    async fn start(database_url: &str, extra: &[&str]) -> Server {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let child = binary()
            .args(["serve", "--bind", &bind])
            .args(extra)
            .env("DATABASE_URL", database_url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start permanence serve");
        let server = Server {
            child,
            address: format!("http://{bind}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client
                .get(format!("{}/healthz", server.address))
                .send()
                .await
                && r.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("server did not become healthy");
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        self.child.wait().expect("wait")
    }
}

async fn viewer(address: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ viewer { subject consortium { code } } }" }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn the_readme_first_query_works_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let seeded = binary()
        .args(["seed", "demo"])
        .env("DATABASE_URL", &database_url)
        .status()
        .unwrap();
    assert!(seeded.success());
    let server = Server::start(&database_url, &[]).await;
    let out = binary()
        .args([
            "token",
            "--sub",
            "u-1",
            "--consortium",
            "demo",
            "--authority",
            "alder",
            "--role",
            "FAMILY_FINDER",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        token.trim().lines().count(),
        1,
        "token prints only the token"
    );
    let body = viewer(&server.address, token.trim()).await;
    assert_eq!(body["data"]["viewer"]["subject"], "u-1", "{body}");
    assert_eq!(body["data"]["viewer"]["consortium"]["code"], "demo");
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test]
async fn serve_demo_prints_tokens_that_work() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let mut server = Server::start(&database_url, &["--demo"]).await;
    let stdout = server.child.stdout.take().unwrap();
    let tokens: Vec<String> = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Try:"))
        .filter_map(|l| {
            l.trim()
                .strip_prefix("export TOKEN='")
                .map(|t| t.trim_end_matches('\'').to_owned())
        })
        .collect();
    assert!(tokens.len() >= 5, "demo prints tokens for several roles");
    for token in &tokens {
        let body = viewer(&server.address, token).await;
        assert_eq!(
            body["data"]["viewer"]["consortium"]["code"], "demo",
            "{body}"
        );
    }
    // The demo has records for a family finder to see.
    let ff = &tokens[1];
    let body: Value = reqwest::Client::new()
        .post(format!("{}/graphql", server.address))
        .bearer_auth(ff)
        .json(&json!({ "query": "{ children { totalCount } poolChildren { totalCount } poolHouseholds { totalCount } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body["data"]["children"]["totalCount"].as_u64().unwrap() > 10,
        "{body}"
    );
    assert!(
        body["data"]["poolChildren"]["totalCount"].as_u64().unwrap() > 5,
        "{body}"
    );
    assert!(
        body["data"]["poolHouseholds"]["totalCount"]
            .as_u64()
            .unwrap()
            > 5,
        "{body}"
    );
    assert!(server.terminate().success());
}

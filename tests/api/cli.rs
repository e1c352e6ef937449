//! The README's first steps, run as a user would: the real binary serves on a SQLite file,
//! a token from `permanence token` is accepted, and SIGTERM stops it cleanly.
use serde_json::{Value, json};

use crate::process::{Server, ask_as, binary, seed_demo};

async fn viewer(address: &str, token: &str) -> Value {
    ask_as(address, token, "{ viewer { subject consortium { code } } }").await
}

#[tokio::test]
async fn the_readme_first_query_works_and_sigterm_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    seed_demo(&database_url);
    let mut server = Server::start(&database_url, &[], &[]).await;
    // The README's form of the command.
    let out = binary().args(crate::identity::TOKEN_ARGS).output().unwrap();
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
    let status = server.terminate().await;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
}

#[tokio::test]
async fn serve_demo_prints_tokens_that_work() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let mut server = Server::start(&database_url, &[], &["--demo"]).await;
    let stdout = server.take_stdout();
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
    assert!(server.terminate().await.success());
}

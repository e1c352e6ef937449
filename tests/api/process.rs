//! The real `permanence` binary, run as an operator runs it: `serve` in a child process
//! configured through its environment, `seed` and `token` as one-off commands; and a
//! `redis-server` of a test's own, which a test can stop, kill and restart.
//!
//! A [`Server`] is killed when dropped; a test that fails while one runs prints the end of
//! its log (the JSON lines the service writes to stderr).
#![allow(dead_code)]

use std::io::Read;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::graphql_request;

/// POSTs `query` (no variables) as `token` to the server at `address`; the response body.
pub async fn ask_as(address: &str, token: &str, query: &str) -> Value {
    graphql_request(
        &reqwest::Client::new(),
        address,
        Some(token),
        query,
        Value::Null,
    )
    .send()
    .await
    .expect("request")
    .json()
    .await
    .expect("json")
}

/// Variables the binary reads besides the `PERMANENCE_*` ones; removed from the
/// environment of every command so that a developer's shell cannot change a test.
const SERVICE_VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "JWT_SECRET",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
];

/// How long a started server may take to answer `/healthz` (it migrates first).
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long a server may take to exit after SIGTERM.
pub const EXIT_LIMIT: Duration = Duration::from_secs(30);

/// The `permanence` binary cargo built for these tests, with a clean environment.
pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_permanence"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("PERMANENCE_") || SERVICE_VARIABLES.contains(&name.as_ref()) {
            cmd.env_remove(name.as_ref());
        }
    }
    cmd
}

/// A TCP port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A server on a fresh demo database of `backend` (a SQLite file `name` in `dir`), with
/// rate limiting off (the tests that use it send more than any sensible bucket); the
/// database's URL and the server.
pub async fn demo_server(
    backend: crate::helpers::Backend,
    dir: &tempfile::TempDir,
    name: &str,
) -> (String, Server) {
    let database_url = match backend {
        crate::helpers::Backend::Sqlite => {
            format!("sqlite://{}?mode=rwc", dir.path().join(name).display())
        }
        crate::helpers::Backend::Postgres => crate::helpers::fresh_postgres_database().await,
    };
    let server = demo_server_on(&database_url).await;
    (database_url, server)
}

/// A server on `database_url`, seeded with the demo data, with rate limiting off.
pub async fn demo_server_on(database_url: &str) -> Server {
    seed_demo(database_url);
    Server::start(
        database_url,
        &[("PERMANENCE_RATE_LIMIT_CAPACITY", "0")],
        &[],
    )
    .await
}

/// `permanence seed demo` on `database_url` (migrates first): consortium `demo` with
/// alder, birch, cedar, damson and elm, and their synthetic histories.
pub fn seed_demo(database_url: &str) {
    let out = binary()
        .args(["seed", "demo"])
        .env("DATABASE_URL", database_url)
        .output()
        .expect("run permanence seed demo");
    assert!(
        out.status.success(),
        "permanence seed demo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A token from `permanence token` (the development secret, as the servers use): subject
/// `sub` in `consortium` with `memberships` (authority code, roles) and `consortium_roles`.
pub fn token(
    sub: &str,
    consortium: &str,
    memberships: &[(&str, &[&str])],
    consortium_roles: &[&str],
) -> String {
    let mut cmd = binary();
    cmd.args(["token", "--sub", sub, "--consortium", consortium]);
    for (authority, roles) in memberships {
        cmd.arg("--membership")
            .arg(format!("{authority}:{}", roles.join(",")));
    }
    for role in consortium_roles {
        cmd.args(["--consortium-role", role]);
    }
    let out = cmd.output().expect("run permanence token");
    assert!(
        out.status.success(),
        "permanence token failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("token is UTF-8");
    assert_eq!(
        token.trim().lines().count(),
        1,
        "token prints only the token"
    );
    token.trim().to_owned()
}

/// A token of subject `{role}-{authority}` (lower case) holding `role` in `authority` of
/// the demo consortium.
pub fn role_token(authority: &str, role: &str) -> String {
    token(
        &format!("{role}-{authority}").to_lowercase(),
        "demo",
        &[(authority, &[role])],
        &[],
    )
}

/// A response of a server: its status, headers and JSON body.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A `permanence serve` process on a free port of 127.0.0.1.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    pub port: u16,
    /// `http://127.0.0.1:PORT` of the `/metrics` listener (`--metrics-bind`).
    pub metrics_address: String,
    pub client: reqwest::Client,
    /// Where the process's stderr (its JSON log) goes.
    log: tempfile::NamedTempFile,
}

impl Server {
    /// Starts `permanence serve` on `database_url` with the environment `env` and the extra
    /// arguments `args`, and waits until `/healthz` answers. A port taken between choosing
    /// it and binding it is replaced by another.
    pub async fn start(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> Server {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match Server::try_start(database_url, env, args).await {
                Ok(server) => return server,
                Err((status, log)) if attempts < 3 && log.contains("Address already in use") => {
                    eprintln!("permanence serve exited with {status}: port taken; retrying");
                }
                Err((status, log)) => {
                    let lines: Vec<&str> = log.lines().collect();
                    let tail = lines[lines.len().saturating_sub(40)..].join("\n");
                    panic!("permanence serve exited with {status} before answering:\n{tail}")
                }
            }
        }
    }

    /// Starts the process on a free port; its exit status and log if it exits before
    /// answering `/healthz`.
    async fn try_start(
        database_url: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Result<Server, (ExitStatus, String)> {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let metrics_bind = format!("127.0.0.1:{}", free_port());
        let log = tempfile::NamedTempFile::new().expect("log file");
        let stderr = log.as_file().try_clone().expect("log file handle");
        let child = binary()
            .args(["serve", "--bind", &bind, "--metrics-bind", &metrics_bind])
            .args(args)
            .env("DATABASE_URL", database_url)
            // The quarterly publication is made by tests that look at it.
            .env("PERMANENCE_PUBLISH", "false")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start permanence serve");
        let mut server = Server {
            child,
            address: format!("http://{bind}"),
            port,
            metrics_address: format!("http://{metrics_bind}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            log,
        };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err((status, server.log()));
            }
            if let Ok(r) = server
                .client
                .get(format!("{}/healthz", server.address))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(server);
            }
            assert!(
                Instant::now() < deadline,
                "permanence serve did not answer /healthz within {START_LIMIT:?}:\n{}",
                server.log_tail(40)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's stdout (what `serve --demo` prints), once.
    pub fn take_stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout not taken yet")
    }

    /// Sends `signal` (`TERM`, `INT`, …) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits up to `limit` for the process to exit; its exit status. A process still
    /// running then is killed and the test fails with its log.
    pub async fn wait_for_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for permanence serve") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "permanence serve (pid {}) still running {limit:?} after being asked to stop:\n{}",
                    self.pid(),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kills the process with SIGKILL at once (no signal handler runs) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits (up to [`EXIT_LIMIT`]) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_for_exit(EXIT_LIMIT).await
    }

    /// Everything the process has logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// POSTs a GraphQL request (with a bearer `token` if given).
    pub async fn send(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        let request = graphql_request(&self.client, &self.address, token, query, variables);
        let response = request.send().await.unwrap_or_else(|e| {
            panic!(
                "request to {} failed: {e}\n{}",
                self.address,
                self.log_tail(20)
            )
        });
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.expect("JSON body");
        Answer {
            status,
            headers,
            body,
        }
    }

    /// POSTs a GraphQL request; the response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.send(token, query, variables).await.body
    }

    /// Like `gql`, but fails on any error and returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(
            body.get("errors").is_none(),
            "unexpected errors from {}: {body:#}",
            self.address
        );
        body["data"].clone()
    }

    /// The status of `GET path`.
    pub async fn get_status(&self, path: &str) -> StatusCode {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.address))
            .status()
    }

    /// The value of the unlabelled Prometheus sample `name` on `/metrics`, if exported.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.metrics_address))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines().find_map(|line| {
            let (sample, value) = line.split_once(' ')?;
            if sample == name {
                value.trim().parse().ok()
            } else {
                None
            }
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- log of permanence serve on {} (last lines) ---\n{}\n---",
                self.address,
                self.log_tail(60)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` of the test's own, on a free port, without persistence.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    /// Starts one and waits until it answers.
    pub fn start() -> OwnRedis {
        let mut redis = OwnRedis {
            port: free_port(),
            child: None,
        };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port, empty, and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH (the Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether it answers `PING`.
    pub fn answers(&self) -> bool {
        use std::io::Write;
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 5];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut reply).is_ok() && &reply == b"+PONG"
    }

    /// How many clients are subscribed to `channel` (`PUBSUB NUMSUB`); 0 when it does not
    /// answer.
    pub fn subscribers(&self, channel: &str) -> i64 {
        use std::io::{BufRead, BufReader, Write};
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return 0;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let command = format!(
            "*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n${}\r\n{channel}\r\n",
            channel.len()
        );
        if s.write_all(command.as_bytes()).is_err() {
            return 0;
        }
        // `*2`, `$len`, the channel, `:count`.
        BufReader::new(s)
            .lines()
            .take(4)
            .map_while(Result::ok)
            .find_map(|line| line.strip_prefix(':').and_then(|n| n.parse().ok()))
            .unwrap_or(0)
    }

    /// Sends a signal (`STOP`, `CONT`) to the server.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Kills the server and waits for it to be gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_ref() {
            // A stopped server ignores SIGKILL until continued on some systems: continue it.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.kill();
    }
}

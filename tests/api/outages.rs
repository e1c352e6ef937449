//! Real `permanence serve` processes meeting failures that a graceful shutdown does not
//! cover:
//!
//! - SIGKILL as the last of a run of answers arrives, on SQLite and on PostgreSQL: every
//!   answer that carried records had its audit events committed before it left (group
//!   commit), so all of them are in the database afterwards.
//! - PostgreSQL (a cluster of the test's own) stopped while clients are busy: `/readyz`
//!   says 503 within its bound, requests answer `UNAVAILABLE` with HTTP 503 and
//!   `Retry-After` after the short pool timeout rather than hanging, a mutation refused
//!   so changes nothing, and once PostgreSQL is back the server recovers by itself with
//!   every acknowledged write intact.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::{audit_event, child};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, Condition, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{Backend, CREATE_CHILD, decode_id, error_code};
use crate::process::{Answer, Server, demo_server, demo_server_on, free_port, role_token};

/// A page of alder's children: audited as one `SEARCH` and a `VIEW` per child.
const SEARCH_CHILDREN: &str = "{ children(first: 100) { edges { node { id legalName } } } }";
const CHILD: &str = "query($id: ID!) { child(id: $id) { id profileName } }";

/// Concurrent readers, and the answers they receive before the server is killed.
const READERS: usize = 6;
const ANSWERS_BEFORE_KILL: usize = 40;

/// One answer a reader received: its request id and the children it showed.
struct Received {
    request_id: String,
    children: Vec<i64>,
}

/// Posts `query` with `token` and request id `request_id`; the answer, if any came.
async fn post(
    http: &reqwest::Client,
    address: &str,
    token: &str,
    request_id: &str,
    query: &str,
    variables: Value,
) -> Option<Answer> {
    let response = http
        .post(format!("{address}/graphql"))
        .bearer_auth(token)
        .header("x-request-id", request_id)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .ok()?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.ok()?;
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// SIGKILL as the `ANSWERS_BEFORE_KILL`th answer of concurrent searches arrives: every
/// answer received has its `SEARCH` and the `VIEW` of every child it showed in the
/// database.
async fn sigkill_after_answers(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, mut server) = demo_server(backend, &dir, "kill.db").await;
    let manager = role_token("alder", "MANAGER");

    let received = Arc::new(Mutex::new(Vec::<Received>::new()));
    let enough = Arc::new(tokio::sync::Notify::new());
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for n in 0..READERS {
        let (received, enough, stop) = (received.clone(), enough.clone(), stop.clone());
        let (address, token) = (server.address.clone(), manager.clone());
        readers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client");
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                let request_id = format!("kill-{n}-{round}");
                let answer = post(
                    &http,
                    &address,
                    &token,
                    &request_id,
                    SEARCH_CHILDREN,
                    json!({}),
                )
                .await;
                let Some(answer) = answer else {
                    // The server is gone.
                    break;
                };
                let Some(edges) = answer.body["data"]["children"]["edges"].as_array() else {
                    continue;
                };
                let children: Vec<i64> = edges
                    .iter()
                    .map(|e| decode_id(e["node"]["id"].as_str().expect("an id")).1)
                    .collect();
                assert!(
                    edges.iter().all(|e| e["node"]["legalName"].is_string()),
                    "the answer carries records"
                );
                let mut received = received.lock().expect("received");
                received.push(Received {
                    request_id,
                    children,
                });
                if received.len() >= ANSWERS_BEFORE_KILL {
                    enough.notify_one();
                }
            }
        }));
    }
    let waited = tokio::time::timeout(Duration::from_secs(60), enough.notified()).await;
    assert!(
        waited.is_ok(),
        "{ANSWERS_BEFORE_KILL} answers within a minute"
    );
    server.kill();
    stop.store(true, Ordering::SeqCst);
    for reader in readers {
        tokio::time::timeout(Duration::from_secs(60), reader)
            .await
            .expect("a reader stops once the server is gone")
            .expect("a reader does not panic");
    }
    // Every answer that reached a reader, also those read from the socket after the kill:
    // the server sent them all.
    let received = std::mem::take(&mut *received.lock().expect("received"));
    assert!(received.len() >= ANSWERS_BEFORE_KILL);
    assert!(
        received.iter().all(|r| !r.children.is_empty()),
        "alder has children"
    );

    let db = Database::connect(database_url.as_str())
        .await
        .expect("open the database after the kill");
    let mut audited: HashSet<(String, String, Option<i64>)> = HashSet::new();
    for e in audit_event::Entity::find()
        .filter(audit_event::Column::RequestId.starts_with("kill-"))
        .all(&db)
        .await
        .expect("audit events")
    {
        audited.insert((e.request_id, e.action, e.entity_id));
    }
    db.close().await.ok();
    let mut missing = Vec::new();
    for r in &received {
        let expected = std::iter::once(("SEARCH", None))
            .chain(r.children.iter().map(|&id| ("VIEW", Some(id))));
        let lost = expected
            .filter(|&(action, id)| !audited.contains(&(r.request_id.clone(), action.into(), id)))
            .count();
        if lost > 0 {
            missing.push(format!("{}: {lost} audit events missing", r.request_id));
        }
    }
    assert!(
        missing.is_empty(),
        "{backend:?}: {} of {} answers received before SIGKILL were not fully audited:\n{}",
        missing.len(),
        received.len(),
        missing.join("\n")
    );
}

mod sigkill_loses_no_audit_of_an_answer_sent {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::sigkill_after_answers(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::sigkill_after_answers(Backend::Postgres).await
    }
}

// ---------------------------------------------------------------------------------------
// PostgreSQL stopped under load
// ---------------------------------------------------------------------------------------

/// The directory of the PostgreSQL server binaries: `PG_BINDIR`, else the newest
/// `/usr/lib/postgresql/*/bin` (as `scripts/test` finds them).
fn pg_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        return dir.into();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries in /usr/lib/postgresql (or set PG_BINDIR)")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL version with pg_ctl").1
}

/// A PostgreSQL cluster of the test's own on a free loopback port, which the test may
/// stop and start again; deleted when dropped.
struct OwnPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_root: bool,
}

impl OwnPostgres {
    /// Initialises a cluster and starts it.
    fn start() -> OwnPostgres {
        let dir = tempfile::tempdir().expect("temp dir");
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let as_root = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        if as_root {
            // PostgreSQL refuses to run as root: it runs as `postgres`, which owns the
            // directory.
            let chown = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the cluster's directory to postgres");
        }
        let pg = OwnPostgres {
            bin: pg_bindir(),
            port: free_port(),
            dir,
            as_root,
        };
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        let conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n",
            pg.port,
            pg.dir.path().display()
        );
        let path = PathBuf::from(&data).join("postgresql.conf");
        let mut text = std::fs::read_to_string(&path).expect("postgresql.conf");
        text.push_str(&conf);
        std::fs::write(&path, text).expect("postgresql.conf");
        pg.restart();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// A command running `program`, as `postgres` when the test runs as root.
    fn command(&self, program: &Path) -> Command {
        if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Runs a PostgreSQL program (as `postgres` when the test runs as root); panics with
    /// its output if it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let program = self.bin.join(program);
        let out = self
            .command(&program)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run a PostgreSQL program");
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    fn restart(&self) {
        let log = self.dir.path().join("postgres.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "start"],
        );
    }

    /// Stops the server at once, as a crash would (`pg_ctl stop -m immediate`).
    fn stop_immediately(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .command(&self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Generous bound on how long an answer may take while the database is down: the pool
/// gives up after 2 s (the default), `/readyz` after 1 s; before, both took the pool's
/// 10 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// A child created and acknowledged: its id and profile name.
type Created = (i64, String);

/// What a writer saw: the children acknowledged, the codes of the refusals, and the
/// profile names of the children answered `UNAVAILABLE` (which must not exist).
type Writes = (Vec<Created>, HashMap<String, usize>, Vec<String>);

/// Creates children as `social_worker` until stopped.
async fn create_children(
    address: String,
    social_worker: String,
    n: usize,
    stop: Arc<AtomicBool>,
) -> Writes {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    let (mut created, mut refused) = (Vec::new(), HashMap::<String, usize>::new());
    let mut unchanged = Vec::new();
    let mut round = 0;
    while !stop.load(Ordering::SeqCst) {
        round += 1;
        let name = format!("Outage {n}-{round}");
        let input = json!({ "input": {
            "legalName": format!("{name} Testchild"),
            "dateOfBirth": "2021-02-03",
            "profileName": name,
            "gender": "FEMALE",
            "enteredCareOn": "2022-01-10",
        }});
        let request_id = format!("outage-{n}-{round}");
        match post(
            &http,
            &address,
            &social_worker,
            &request_id,
            CREATE_CHILD,
            input,
        )
        .await
        {
            Some(a) if a.status == StatusCode::OK && a.body.get("errors").is_none() => {
                let id = a.body["data"]["createChild"]["child"]["id"].as_str();
                created.push((decode_id(id.expect("a child id")).1, name));
            }
            Some(a) => {
                let code = error_code(&a.body).unwrap_or_else(|| format!("HTTP {}", a.status));
                if code == "UNAVAILABLE" {
                    unchanged.push(name);
                }
                *refused.entry(code).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None => {
                *refused.entry("no answer".into()).or_default() += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (created, refused, unchanged)
}

/// `GET /readyz`: its status and how long it took.
async fn readyz(server: &Server) -> (StatusCode, Duration) {
    let started = Instant::now();
    let status = server
        .client
        .get(format!("{}/readyz", server.address))
        .send()
        .await
        .expect("/readyz answers")
        .status();
    (status, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_postgresql_under_load_fails_fast_and_the_server_recovers_by_itself() {
    let pg = OwnPostgres::start();
    let database_url = pg.url();
    let server = demo_server_on(&database_url).await;
    let social_worker = role_token("alder", "SOCIAL_WORKER");
    let manager = role_token("alder", "MANAGER");
    assert_eq!(readyz(&server).await.0, StatusCode::OK);
    let some_child =
        server.gql(Some(&manager), SEARCH_CHILDREN, json!({})).await["data"]["children"]["edges"]
            [0]["node"]["id"]
            .as_str()
            .expect("an alder child")
            .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|n| {
            tokio::spawn(create_children(
                server.address.clone(),
                social_worker.clone(),
                n,
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    pg.stop_immediately();

    // Health checks and requests answer quickly, with a status a load balancer and a
    // client understand, for as long as the database is down.
    for _ in 0..2 {
        let (status, took) = readyz(&server).await;
        assert_eq!(
            status,
            StatusCode::SERVICE_UNAVAILABLE,
            "/readyz while PostgreSQL is down"
        );
        assert!(took < ANSWER_WITHIN, "/readyz answered after {took:?}");
    }
    let started = Instant::now();
    let read = server
        .send(Some(&manager), CHILD, json!({ "id": some_child }))
        .await;
    let took = started.elapsed();
    assert_eq!(
        read.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        read.body
    );
    assert_eq!(
        error_code(&read.body).as_deref(),
        Some("UNAVAILABLE"),
        "{:#}",
        read.body
    );
    assert!(
        read.body["data"]["child"].is_null(),
        "no record: {:#}",
        read.body
    );
    assert_eq!(
        read.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("5"),
        "Retry-After"
    );
    assert!(took < ANSWER_WITHIN, "the read answered after {took:?}");

    let started = Instant::now();
    let refused_input = json!({ "input": {
        "legalName": "Refused Testchild",
        "dateOfBirth": "2021-02-03",
        "profileName": "Refused while down",
        "gender": "MALE",
        "enteredCareOn": "2022-01-10",
    }});
    let write = server
        .send(Some(&social_worker), CREATE_CHILD, refused_input)
        .await;
    let took = started.elapsed();
    assert_eq!(
        write.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:#}",
        write.body
    );
    assert_eq!(
        error_code(&write.body).as_deref(),
        Some("UNAVAILABLE"),
        "{:#}",
        write.body
    );
    assert!(write.headers.get("retry-after").is_some());
    assert!(took < ANSWER_WITHIN, "the mutation answered after {took:?}");

    // PostgreSQL comes back: the server recovers without a restart.
    pg.restart();
    let mut ready_after = None;
    let back = Instant::now();
    while back.elapsed() < Duration::from_secs(30) {
        if readyz(&server).await.0 == StatusCode::OK {
            ready_after = Some(back.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready_after.is_some(), "/readyz is 200 again within 30 s");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    let mut created = Vec::new();
    let mut refused = HashMap::new();
    let mut unchanged = vec!["Refused while down".to_owned()];
    for writer in writers {
        let (c, r, u) = writer.await.expect("a writer does not panic");
        created.extend(c);
        unchanged.extend(u);
        for (code, n) in r {
            *refused.entry(code).or_insert(0) += n;
        }
    }
    println!(
        "acknowledged {} writes; refused {refused:?}; ready again after {ready_after:?}",
        created.len()
    );
    assert!(!created.is_empty(), "writes were acknowledged: {refused:?}");
    // A write in flight when PostgreSQL went may have committed: OUTCOME_UNKNOWN, never a
    // "retry" for a change that may be made.
    assert!(
        refused
            .keys()
            .all(|code| code == "UNAVAILABLE" || code == "OUTCOME_UNKNOWN"),
        "writes refused only as UNAVAILABLE or OUTCOME_UNKNOWN while PostgreSQL was down: {refused:?}"
    );
    let read = server
        .send(Some(&manager), CHILD, json!({ "id": some_child }))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:#}", read.body);
    assert!(
        read.body["data"]["child"]["id"].is_string(),
        "{:#}",
        read.body
    );

    // Every acknowledged write is there, and none answered UNAVAILABLE is.
    let db = Database::connect(database_url.as_str())
        .await
        .expect("open the database");
    let children: HashMap<i64, String> = child::Entity::find()
        .filter(
            Condition::any()
                .add(child::Column::ProfileName.starts_with("Outage "))
                .add(child::Column::ProfileName.eq("Refused while down")),
        )
        .all(&db)
        .await
        .expect("children")
        .into_iter()
        .map(|c| (c.id, c.profile_name))
        .collect();
    db.close().await.ok();
    let lost: Vec<&Created> = created
        .iter()
        .filter(|(id, name)| children.get(id) != Some(name))
        .collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    let made: Vec<&String> = unchanged
        .iter()
        .filter(|name| children.values().any(|n| n == *name))
        .collect();
    assert!(
        made.is_empty(),
        "mutations answered UNAVAILABLE changed nothing, but these children exist: {made:?}"
    );
}

//! `TestApp`: a real server on a free port with a fresh database, and helpers to talk to it.
//!
//! Every scenario runs twice through [`both_backends!`]: on a temporary SQLite file and on
//! a fresh PostgreSQL database created on the server named by `TEST_DATABASE_URL` (an
//! admin connection; `scripts/test` starts a throwaway cluster and sets it). The
//! PostgreSQL variant fails when that variable is missing: it is never skipped.
#![allow(dead_code)]

use std::sync::Arc;

use permanence::app::{AppState, Application};
use permanence::auth::jwt::{Claims, JwtKeys, MembershipClaim};
use permanence::cli::Environment;
use permanence::config::{Config, MetricsAccess};
use permanence::domain::AuthorityKind;
use permanence::store::tenancy::{create_authority, create_consortium};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The HS256 secret of test tokens.
pub const TEST_SECRET: &str = "integration-test-secret-0123456789abcdef";

/// Runs each named scenario `async fn name(app: TestApp)` on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await
            }
        }
    )* };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running server.
pub struct TestApp {
    pub address: String,
    /// The base URL of the `/metrics` listener, when the configuration has one.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    pub config: Config,
    pub state: Arc<AppState>,
    pub database_url: String,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
}

/// A fresh, empty PostgreSQL database on the server of `TEST_DATABASE_URL`; its URL.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: the PostgreSQL tests need a server (run scripts/test, which starts one)",
    );
    let name = format!("permanence_test_{}", uuid::Uuid::new_v4().simple());
    let conn = Database::connect(admin.as_str())
        .await
        .expect("connect to TEST_DATABASE_URL");
    conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    conn.close().await.ok();
    let base = admin.split('?').next().unwrap_or(&admin);
    let (server, _) = base
        .rsplit_once('/')
        .expect("TEST_DATABASE_URL has a database path");
    format!("{server}/{name}")
}

/// The configuration of a test server on `database_url`.
pub fn test_config(database_url: &str) -> Config {
    Config {
        database_url: database_url.to_owned(),
        redis_url: None,
        environment: Environment::Development,
        jwt: JwtKeys::hs256(TEST_SECRET.as_bytes(), "permanence", "permanence"),
        issuers: Default::default(),
        jwt_tokens: true,
        limits: Default::default(),
        redis_key_prefix: format!("permanence-test-{}", uuid::Uuid::new_v4().simple()),
        rate_limit: None,
        statement_timeout: Some(std::time::Duration::from_secs(30)),
        // `/metrics` on a listener of its own, as a deployment would have it.
        metrics: MetricsAccess {
            bind: Some("127.0.0.1:0".into()),
            token: None,
        },
        availability: Default::default(),
        clients: Default::default(),
        audit_retain_months: None,
    }
}

impl TestApp {
    /// Starts a server on a fresh database with the test consortia: `demo` (alder, birch,
    /// cedar, damson; elm a voluntary agency) and `other` (oak).
    pub async fn spawn(backend: Backend) -> TestApp {
        let (database_url, dir) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                (url, Some(dir))
            }
            Backend::Postgres => (fresh_postgres_database().await, None),
        };
        Self::spawn_with(test_config(&database_url), backend, dir, true).await
    }

    /// Starts a seeded server on a fresh SQLite database with the test configuration as
    /// `configure` changes it.
    pub async fn spawn_sqlite_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let mut config = test_config(&url);
        configure(&mut config);
        Self::spawn_with(config, Backend::Sqlite, Some(dir), true).await
    }

    /// Starts a server with `config`; seeds the test consortia when `seed` is true.
    pub async fn spawn_with(
        config: Config,
        backend: Backend,
        dir: Option<tempfile::TempDir>,
        seed: bool,
    ) -> TestApp {
        // The server's warnings and errors, shown with the output of a test that fails.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("warn")
            .with_test_writer()
            .try_init();
        let database_url = config.database_url.clone();
        let app = Application::build(config.clone(), "127.0.0.1:0")
            .await
            .expect("build app");
        let state = app.state();
        if seed {
            seed_tenancy(&state).await;
        }
        let address = format!("http://127.0.0.1:{}", app.port());
        let metrics_address = app
            .metrics_port()
            .map(|port| format!("http://127.0.0.1:{port}"));
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(app.run_until_stopped(async move {
            let _ = rx.await;
        }));
        TestApp {
            address,
            metrics_address,
            client: reqwest::Client::new(),
            config,
            state,
            database_url,
            backend,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Stops the server gracefully and waits until it has finished (audit flushed).
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.handle.take() {
            handle
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Waits until every queued audit event is written.
    pub async fn flush_audit(&self) {
        self.state.audit.flush().await;
    }

    /// A token in consortium `demo` with `memberships` (authority code, roles).
    pub fn token(&self, sub: &str, memberships: &[(&str, &[&str])]) -> String {
        self.token_with(sub, "demo", memberships, &[])
    }

    /// A token with every claim chosen.
    pub fn token_with(
        &self,
        sub: &str,
        consortium: &str,
        memberships: &[(&str, &[&str])],
        consortium_roles: &[&str],
    ) -> String {
        let claims = test_claims(sub, consortium, memberships, consortium_roles);
        self.config.jwt.mint(&claims).expect("mint")
    }

    /// A token holding one role in one authority of `demo`.
    pub fn role(&self, authority: &str, role: &str) -> String {
        self.token(
            &format!("{role}-{authority}").to_lowercase(),
            &[(authority, &[role])],
        )
    }

    /// POSTs a GraphQL request; returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let request = graphql_request(&self.client, &self.address, token, query, variables);
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON body")
    }

    /// A GET of `path` (from `/`) on the server, to finish and send.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.address))
    }

    /// Like `gql`, but panics on any error and returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body:#}");
        body["data"].clone()
    }

    /// The authority's global id.
    pub fn authority_id(&self, code: &str) -> String {
        self.authority_id_in("demo", code)
    }

    /// Makes and keeps the consortium's publication at `quarter_end` (what board analysts
    /// and other protected audiences are served from); panics when its audit fails.
    pub async fn publish(&self, consortium: &str, quarter_end: &str) {
        use permanence::service::publication::{Made, publish};
        let directory = self.state.directory.current();
        let c = directory.consortium(consortium).expect("consortium exists");
        let authorities: Vec<i64> = c.authorities.iter().map(|a| a.id).collect();
        let quarter_end = quarter_end.parse().expect("a date");
        match publish(&self.state.db, c.id, &authorities, quarter_end)
            .await
            .expect("publication made")
        {
            Made::Kept(..) | Made::Already(_) => {}
            Made::Refused(_, audit) => panic!(
                "the publication failed its audit: {:?}",
                audit.failures().collect::<Vec<_>>()
            ),
        }
    }

    /// The global id of an authority of any consortium.
    pub fn authority_id_in(&self, consortium: &str, code: &str) -> String {
        let directory = self.state.directory.current();
        let id = directory
            .consortium(consortium)
            .and_then(|c| c.authority_id(code))
            .expect("authority exists");
        encode_id("Authority", id)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The claims of a test token for `sub`, named "Test `sub`", in `consortium` with
/// `memberships` (authority code, roles) and `consortium_roles`, valid for an hour.
pub fn test_claims(
    sub: &str,
    consortium: &str,
    memberships: &[(&str, &[&str])],
    consortium_roles: &[&str],
) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: sub.into(),
        name: Some(format!("Test {sub}")),
        iss: "permanence".into(),
        aud: "permanence".into(),
        iat: now,
        exp: now + 3600,
        jti: None,
        nbf: None,
        consortium: consortium.into(),
        memberships: memberships
            .iter()
            .map(|(a, roles)| MembershipClaim {
                authority: (*a).into(),
                roles: roles.iter().map(|r| (*r).into()).collect(),
            })
            .collect(),
        consortium_roles: consortium_roles.iter().map(|r| (*r).into()).collect(),
    }
}

/// A POST of a GraphQL request to the server at `address` (its base URL), with a bearer
/// `token` if given.
pub fn graphql_request(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> reqwest::RequestBuilder {
    let request = client
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

/// A global id, as the API encodes it.
pub fn encode_id(kind: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The number inside a global id.
pub fn decode_id(id: &str) -> (String, i64) {
    use base64::Engine;
    let text = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(id)
            .expect("base64"),
    )
    .expect("utf8");
    let (kind, n) = text.split_once(':').expect("kind:number");
    (kind.to_owned(), n.parse().expect("number"))
}

async fn seed_tenancy(state: &AppState) {
    let db = &state.db;
    let demo = create_consortium(db, "demo", "Demo RAA")
        .await
        .expect("consortium");
    for code in ["alder", "birch", "cedar", "damson"] {
        create_authority(
            db,
            demo,
            code,
            &format!("{code} council"),
            AuthorityKind::LocalAuthority,
        )
        .await
        .expect("authority");
    }
    create_authority(
        db,
        demo,
        "elm",
        "Elm Adoption",
        AuthorityKind::VoluntaryAgency,
    )
    .await
    .expect("authority");
    let other = create_consortium(db, "other", "Other RAA")
        .await
        .expect("consortium");
    create_authority(
        db,
        other,
        "oak",
        "oak council",
        AuthorityKind::LocalAuthority,
    )
    .await
    .expect("authority");
    state.directory.reload(db).await.expect("directory");
}

/// The `extensions.code` of the first error.
pub fn error_code(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .map(String::from)
}

/// The `extensions.field` of the first error.
pub fn error_field(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .map(String::from)
}

/// The string `field` of each element of the JSON list `list`, in order.
#[track_caller]
pub fn strings_of<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|e| {
            e[field]
                .as_str()
                .unwrap_or_else(|| panic!("no string {field} in {e}"))
        })
        .collect()
}

/// Asserts that `body` is refused with `code` and, when given, names `field`.
#[track_caller]
pub fn assert_refusal(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{body:#}");
    if let Some(field) = field {
        assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
    }
}

pub const CREATE_CHILD: &str = r#"
mutation($input: CreateChildInput!) {
  createChild(input: $input) { child { id version legalName profileName } }
}"#;

/// Creates a child in `authority` as a social worker there; returns (id, version).
pub async fn create_child(
    app: &TestApp,
    authority: &str,
    profile_name: &str,
    extra: Value,
) -> (String, i64) {
    let sw = app.role(authority, "SOCIAL_WORKER");
    let mut input = json!({
        "legalName": format!("{profile_name} Testchild"),
        "dateOfBirth": "2021-02-03",
        "profileName": profile_name,
        "gender": "FEMALE",
        "enteredCareOn": "2022-01-10",
    });
    if let (Some(target), Some(extra)) = (input.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    let data = app.ok(&sw, CREATE_CHILD, json!({ "input": input })).await;
    let child = &data["createChild"]["child"];
    (
        child["id"].as_str().expect("id").to_owned(),
        child["version"].as_i64().expect("version"),
    )
}

/// Creates a child and records an adoption plan and SHOBPA decision so that it is in the
/// pool; returns its id.
pub async fn pool_child(app: &TestApp, authority: &str, profile_name: &str) -> String {
    let milestones = json!({ "adoptionPlanOn": "2022-05-01" });
    decided_child(app, authority, profile_name, json!({}), milestones).await
}

/// Creates a child in `authority` with `input` on top of the defaults, records
/// `milestones` and a SHOBPA decision of 2022-06-01; returns its id.
pub async fn decided_child(
    app: &TestApp,
    authority: &str,
    name: &str,
    input: Value,
    milestones: Value,
) -> String {
    let (id, version) = create_child(app, authority, name, input).await;
    let sw = app.role(authority, "SOCIAL_WORKER");
    let mut milestones = milestones;
    milestones["id"] = json!(id);
    milestones["expectedVersion"] = json!(version);
    let data = app
        .ok(
            &sw,
            "mutation($input: RecordChildMilestonesInput!) { recordChildMilestones(input: $input) { child { version } } }",
            json!({ "input": milestones }),
        )
        .await;
    let version = data["recordChildMilestones"]["child"]["version"]
        .as_i64()
        .expect("version");
    let dm = app.role(authority, "DECISION_MAKER");
    app.ok(
        &dm,
        "mutation($input: RecordChildDecisionInput!) { recordChildDecision(input: $input) { child { status } } }",
        json!({ "input": { "id": id, "expectedVersion": version, "decision": "SHOBPA", "decidedOn": "2022-06-01" } }),
    )
    .await;
    id
}

pub const CREATE_HOUSEHOLD: &str = r#"
mutation($input: CreateHouseholdInput!) {
  createHousehold(input: $input) { household { id version stage } }
}"#;

pub const RECORD_EVENT: &str = r#"
mutation($input: RecordRecruitmentEventInput!) {
  recordRecruitmentEvent(input: $input) { household { id version stage onHold } event { stage occurredOn } }
}"#;

/// Creates a household at enquiry in `authority`; returns (id, version).
pub async fn create_household(app: &TestApp, authority: &str, profile_name: &str) -> (String, i64) {
    let ro = app.role(authority, "RECRUITMENT_OFFICER");
    let data = app
        .ok(
            &ro,
            CREATE_HOUSEHOLD,
            json!({ "input": {
                "applicantOneName": format!("{profile_name} Applicant"),
                "address": "1 Synthetic Street",
                "profileName": profile_name,
                "channel": "WEBSITE",
                "enquiryOn": "2023-01-05",
            }}),
        )
        .await;
    let h = &data["createHousehold"]["household"];
    (
        h["id"].as_str().expect("id").to_owned(),
        h["version"].as_i64().expect("version"),
    )
}

/// Records `stage` on a household; returns the new version.
pub async fn record_event(
    app: &TestApp,
    token: &str,
    id: &str,
    version: i64,
    stage: &str,
    on: &str,
) -> i64 {
    let data = app
        .ok(token, RECORD_EVENT, json!({ "input": { "householdId": id, "expectedVersion": version, "stage": stage, "occurredOn": on } }))
        .await;
    data["recordRecruitmentEvent"]["household"]["version"]
        .as_i64()
        .expect("version")
}

/// Creates a household and takes it through to approval (available and shared); returns
/// its id.
pub async fn approved_household(app: &TestApp, authority: &str, profile_name: &str) -> String {
    let (id, mut v) = create_household(app, authority, profile_name).await;
    let ro = app.role(authority, "RECRUITMENT_OFFICER");
    for (stage, on) in [
        ("STAGE_ONE_STARTED", "2023-02-01"),
        ("STAGE_ONE_COMPLETED", "2023-03-20"),
        ("STAGE_TWO_STARTED", "2023-04-01"),
        ("STAGE_TWO_COMPLETED", "2023-07-15"),
        ("PANEL", "2023-08-01"),
    ] {
        v = record_event(app, &ro, &id, v, stage, on).await;
    }
    let dm = app.role(authority, "DECISION_MAKER");
    record_event(app, &dm, &id, v, "APPROVED", "2023-08-10").await;
    id
}

/// The Redis of the tests: `TEST_REDIS_URL` (`scripts/test` starts one). Tests that need
/// Redis fail without it; they are never skipped.
pub fn test_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: the Redis tests need a server (run scripts/test, which starts one)",
    )
}

/// Two replicas behind an imaginary load balancer: servers on one fresh PostgreSQL
/// database and one Redis at `redis_url` (under a key prefix of their own), with the rate
/// limit `rate_limit`. The first seeds the test consortia.
pub async fn spawn_replicas(
    redis_url: &str,
    rate_limit: Option<permanence::infra::bucket::LeakyBucket>,
) -> (TestApp, TestApp) {
    let mut config = test_config(&fresh_postgres_database().await);
    config.redis_url = Some(redis_url.to_owned());
    config.rate_limit = rate_limit;
    let a = TestApp::spawn_with(config.clone(), Backend::Postgres, None, true).await;
    let b = TestApp::spawn_with(config, Backend::Postgres, None, false).await;
    b.state
        .directory
        .reload(&b.state.db)
        .await
        .expect("directory");
    (a, b)
}

/// Polls `condition` every 20 ms for up to `limit`; how long it took to hold, if it did.
pub async fn within<F, Fut>(
    limit: std::time::Duration,
    mut condition: F,
) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if condition().await {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Sleeps until the clock is in a later second than `instant` (RFC 3339), so that a token
/// minted now is issued after a revocation at `instant`.
pub async fn after_second_of(instant: &str) {
    let at = chrono::DateTime::parse_from_rfc3339(instant)
        .expect("RFC 3339")
        .timestamp();
    while chrono::Utc::now().timestamp() <= at {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The `extensions.cost` of a response.
pub fn cost(body: &Value) -> (u64, u64) {
    let cost = &body["extensions"]["cost"];
    (
        cost["requested"].as_u64().expect("requested"),
        cost["remaining"].as_u64().expect("remaining"),
    )
}

//! Signing in with the councils' own identity providers: tokens from a real OpenID Connect
//! provider (`oidc-provider`, started from `tests/oidc/provider.mjs` through a real client
//! credentials grant) reach the right records with the right roles; every refusal — a grant
//! beyond the issuer's authorities, rotated keys, a flood of unknown `kid`s, a provider that
//! stops answering, expiry, the wrong audience, algorithm confusion — is `UNAUTHENTICATED`,
//! never a 500, and a grant beyond the boundary is audited.
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use permanence::auth::issuers::TrustedIssuers;
use permanence::config::Config;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_CHILD, TestApp, error_code, fresh_postgres_database, test_config,
};

const VIEWER: &str =
    "{ viewer { subject name memberships { authority { code } roles } consortiumRoles } }";

/// A running `tests/oidc/provider.mjs`: stopped (killed) when dropped, and it also exits
/// when its stdin closes, so a test that panics leaves nothing behind.
struct Provider {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    _dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Provider {
    /// Starts the provider with `issuers` (the harness's config: name, alg, audience, ttl,
    /// clients with their claims).
    fn start(issuers: Value) -> Provider {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        assert!(
            root.join("node_modules/oidc-provider").is_dir(),
            "the sign-in tests run a real OpenID Connect provider: run `npm ci` first \
             (scripts/test does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("oidc.json");
        std::fs::write(&config, json!({ "issuers": issuers }).to_string()).expect("config");
        let mut child = Command::new("node")
            .arg(root.join("tests/oidc/provider.mjs"))
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts (scripts/test installs Node.js)");
        let stdin = child.stdin.take().expect("stdin");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the provider prints its port");
        let port = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            as u16;
        Provider {
            child,
            _stdin: stdin,
            port,
            _dir: dir,
            client: reqwest::Client::new(),
        }
    }

    /// The issuer identifier of `name`.
    fn issuer(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// An access token for `client` of issuer `name` through the client credentials grant
    /// (for `audience` when given, else the issuer's own).
    async fn token(&self, name: &str, client: &str, audience: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_id", client.to_owned()),
            ("client_secret", format!("{client}-secret")),
        ];
        if let Some(audience) = audience {
            form.push((
                "resource",
                format!("urn:permanence:audience:{}", urlencode(audience)),
            ));
        }
        let response = self
            .client
            .post(format!("{}/token", self.issuer(name)))
            .form(&form)
            .send()
            .await
            .expect("token endpoint answers");
        let status = response.status();
        let body: Value = response.json().await.expect("token response");
        assert!(status.is_success(), "token grant refused: {body}");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }

    /// Rotates issuer `name`'s signing key; the old one stays published when `keep`.
    async fn rotate(&self, name: &str, keep: bool) -> String {
        let body: Value = self
            .client
            .post(format!("{}/_test/rotate?keep={keep}", self.issuer(name)))
            .send()
            .await
            .expect("rotate")
            .json()
            .await
            .expect("rotate answer");
        body["kid"].as_str().expect("kid").to_owned()
    }

    /// How many times issuer `name`'s JWKS has been fetched.
    async fn jwks_requests(&self, name: &str) -> u64 {
        let body: Value = self
            .client
            .get(format!("{}/_test/stats", self.issuer(name)))
            .send()
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats answer");
        body["jwks_requests"].as_u64().expect("count")
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A client of the harness config: id, its secret (`ID-secret`) and its claims.
fn client(id: &str, claims: Value) -> Value {
    json!({ "client_id": id, "client_secret": format!("{id}-secret"), "claims": claims })
}

/// Starts a seeded server on `backend` trusting the issuers of the TOML `issuers`.
async fn spawn(backend: Backend, issuers: &str) -> TestApp {
    spawn_with(backend, issuers, |_| {}).await
}

/// Like [`spawn`], with the configuration as `configure` changes it.
async fn spawn_with(
    backend: Backend,
    issuers: &str,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
        Backend::Postgres => fresh_postgres_database().await,
    };
    let mut config: Config = test_config(&url);
    config.issuers = std::sync::Arc::new(
        TrustedIssuers::parse(issuers, dir.path()).expect("the trusted issuers parse"),
    );
    configure(&mut config);
    TestApp::spawn_with(config, backend, Some(dir), true).await
}

/// POSTs `query` with `token`; the HTTP status and the body.
async fn ask(app: &TestApp, token: &str, query: &str, variables: Value) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// Asserts `token` is refused as `UNAUTHENTICATED` (401), saying nothing about why beyond
/// the message.
async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let (status, body) = ask(app, token, VIEWER, json!({})).await;
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(
        error_code(&body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{what}: {body}"
    );
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{what}: {body}"
    );
}

/// The roles of `viewer` by authority code, and its consortium roles.
fn roles_of(viewer: &Value) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let strings = |v: &Value| -> Vec<String> {
        let mut list: Vec<String> = v
            .as_array()
            .expect("list")
            .iter()
            .map(|r| r.as_str().expect("string").to_owned())
            .collect();
        list.sort();
        list
    };
    let mut memberships: Vec<(String, Vec<String>)> = viewer["memberships"]
        .as_array()
        .expect("memberships")
        .iter()
        .map(|m| {
            (
                m["authority"]["code"].as_str().expect("code").to_owned(),
                strings(&m["roles"]),
            )
        })
        .collect();
    memberships.sort();
    (memberships, strings(&viewer["consortiumRoles"]))
}

/// The trusted-issuers file for the `alder` (RS256, app roles mapped) and `birch` (ES256,
/// Keycloak-style realm roles spelled as grants) issuers of `provider`.
fn two_councils(provider: &Provider, extra: &str) -> String {
    format!(
        r#"
[[issuer]]
name = "alder"
consortium = "demo"
issuer = "{alder}"
audience = "permanence-test"
authorities = ["alder"]
consortium_roles = ["BOARD_ANALYST"]
role_claims = ["roles"]
name_claim = "name"
refresh_interval = "1s"
key_lifetime = "10m"
{extra}
[issuer.grants]
"Permanence.FamilyFinder" = ["alder:FAMILY_FINDER"]
"Permanence.SocialWorker" = ["alder:SOCIAL_WORKER"]
"Permanence.Board" = ["consortium:BOARD_ANALYST"]

[[issuer]]
name = "birch"
consortium = "demo"
issuer = "{birch}"
audience = "permanence-test"
authorities = ["birch"]
role_claims = ["realm_access.roles"]
refresh_interval = "1s"
"#,
        alder = provider.issuer("alder"),
        birch = provider.issuer("birch"),
    )
}

fn two_council_provider(alder_clients: Vec<Value>, birch_clients: Vec<Value>) -> Provider {
    Provider::start(json!([
        { "name": "alder", "alg": "RS256", "audience": "permanence-test", "clients": alder_clients },
        { "name": "birch", "alg": "ES256", "audience": "permanence-test", "clients": birch_clients },
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_real_provider_reach_the_right_records_with_the_right_roles_on_sqlite() {
    real_provider_tokens(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_real_provider_reach_the_right_records_with_the_right_roles_on_postgres() {
    real_provider_tokens(Backend::Postgres).await;
}

async fn real_provider_tokens(backend: Backend) {
    let provider = two_council_provider(
        vec![
            client(
                "alder-finder",
                json!({ "roles": ["Permanence.FamilyFinder", "Permanence.SocialWorker", "Outlook.Reader"],
                        "name": "Synthetic Finder" }),
            ),
            client(
                "same-person",
                json!({ "roles": ["Permanence.SocialWorker"] }),
            ),
            client("alder-board", json!({ "roles": ["Permanence.Board"] })),
        ],
        vec![
            client(
                "birch-worker",
                json!({ "realm_access": { "roles": ["birch:SOCIAL_WORKER", "offline_access"] } }),
            ),
            client(
                "same-person",
                json!({ "realm_access": { "roles": ["birch:SOCIAL_WORKER"] } }),
            ),
        ],
    );
    let app = spawn(backend, &two_councils(&provider, "")).await;

    // Issuer, subject, name and roles as the issuer's mapping says; other apps' values
    // ignored.
    let alder = provider.token("alder", "alder-finder", None).await;
    let viewer = app.ok(&alder, VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["subject"], "alder/alder-finder");
    assert_eq!(viewer["name"], "Synthetic Finder");
    assert_eq!(
        roles_of(&viewer),
        (
            vec![(
                "alder".to_owned(),
                vec!["FAMILY_FINDER".to_owned(), "SOCIAL_WORKER".to_owned()]
            )],
            vec![]
        )
    );
    let birch = provider.token("birch", "birch-worker", None).await;
    let viewer = app.ok(&birch, VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["subject"], "birch/birch-worker");
    assert_eq!(
        roles_of(&viewer),
        (
            vec![("birch".to_owned(), vec!["SOCIAL_WORKER".to_owned()])],
            vec![]
        )
    );
    let board = provider.token("alder", "alder-board", None).await;
    let viewer = app.ok(&board, VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(
        roles_of(&viewer),
        (vec![], vec!["BOARD_ANALYST".to_owned()])
    );

    // The records: alder's social worker records an alder child and reads it in full;
    // birch's does not get it.
    let created = app
        .ok(
            &alder,
            CREATE_CHILD,
            json!({ "input": {
                "authorityId": app.authority_id("alder"),
                "legalName": "Synthetic Oidc Child",
                "dateOfBirth": "2023-02-01",
                "gender": "FEMALE",
                "profileName": "O.",
            } }),
        )
        .await;
    let id = created["createChild"]["child"]["id"]
        .as_str()
        .expect("child id")
        .to_owned();
    let read = "query($id: ID!) { child(id: $id) { id legalName } }";
    let data = app.ok(&alder, read, json!({ "id": id })).await;
    assert_eq!(data["child"]["legalName"], "Synthetic Oidc Child");
    let (_, body) = ask(&app, &birch, read, json!({ "id": id })).await;
    assert!(
        matches!(
            error_code(&body).as_deref(),
            Some("NOT_FOUND" | "FORBIDDEN")
        ),
        "birch's social worker must not read alder's child: {body}"
    );
    assert!(body["data"]["child"].is_null(), "{body}");

    // The same `sub` at two issuers is two people: revoking one leaves the other.
    let alder_same = provider.token("alder", "same-person", None).await;
    let birch_same = provider.token("birch", "same-person", None).await;
    let admin = app.token_with("consortium-admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    app.ok(
        &admin,
        "mutation($input: RevokeSessionsInput!) { revokeSessions(input: $input) { revokedAt } }",
        json!({ "input": { "subject": "alder/same-person" } }),
    )
    .await;
    assert_refused(&app, &alder_same, "a revoked session").await;
    let viewer = app.ok(&birch_same, VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["subject"], "birch/same-person");

    // The development tokens still work in development.
    let dev = app.role("alder", "SOCIAL_WORKER");
    app.ok(&dev, VIEWER, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_granting_beyond_its_issuer_is_refused_and_audited() {
    let provider = two_council_provider(
        vec![
            // alder's directory names a birch role, and a consortium role it may not grant.
            client(
                "rogue",
                json!({ "roles": ["Permanence.FamilyFinder", "birch:FAMILY_FINDER"] }),
            ),
            client(
                "rogue-admin",
                json!({ "roles": ["consortium:CONSORTIUM_ADMIN"] }),
            ),
        ],
        vec![],
    );
    let app = spawn(Backend::Sqlite, &two_councils(&provider, "")).await;
    for (client, outside) in [
        ("rogue", "birch:FAMILY_FINDER"),
        ("rogue-admin", "consortium:CONSORTIUM_ADMIN"),
    ] {
        let token = provider.token("alder", client, None).await;
        assert_refused(&app, &token, client).await;
        // Nothing of the request ran: not even an anonymous answer.
        let (status, body) = ask(&app, &token, CREATE_CHILD, json!({ "input": {} })).await;
        assert_eq!(status, 401, "{body}");

        app.flush_audit().await;
        let admin = app.token_with("consortium-admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
        let log = app
            .ok(
                &admin,
                r#"query($filter: AuditFilterInput) { auditLog(filter: $filter, first: 50) {
                    edges { node { subject action entityType detail } } } }"#,
                json!({ "filter": { "subject": format!("alder/{client}") } }),
            )
            .await;
        let events: Vec<&Value> = log["auditLog"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| &e["node"])
            .collect();
        assert_eq!(
            events.len(),
            2,
            "one DENIED event per refused request: {log}"
        );
        for event in events {
            assert_eq!(event["action"], "DENIED");
            assert_eq!(event["entityType"], "token");
            let detail = match &event["detail"] {
                Value::String(text) => serde_json::from_str(text).expect("JSON"),
                other => other.clone(),
            };
            assert_eq!(detail["issuer"], "alder");
            assert_eq!(detail["outside"], json!([outside]));
            assert_eq!(detail["code"], "UNAUTHENTICATED");
        }
    }
}

/// A token granting beyond its issuer, sent in a loop, is audited only while its subject's
/// rate-limit bucket takes the refusals (each costs as much as an export); then it is
/// answered `RATE_LIMITED` and nothing more is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_breaching_token_is_audited_a_bounded_number_of_times() {
    let provider = two_council_provider(
        vec![client(
            "rogue",
            json!({ "roles": ["Permanence.FamilyFinder", "birch:FAMILY_FINDER"] }),
        )],
        vec![],
    );
    // Two exports' worth, draining one point a second: the third refusal in a row overflows.
    let app = spawn_with(Backend::Sqlite, &two_councils(&provider, ""), |config| {
        config.rate_limit = Some(permanence::infra::bucket::LeakyBucket {
            capacity: 1_000,
            leak_per_second: 1,
        });
    })
    .await;
    let token = provider.token("alder", "rogue", None).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let (status, body) = ask(&app, &token, VIEWER, json!({})).await;
        let code = error_code(&body).unwrap_or_default();
        statuses.push((status, code));
    }
    let refused = (401, "UNAUTHENTICATED".to_owned());
    let limited = (429, "RATE_LIMITED".to_owned());
    assert_eq!(
        statuses,
        [
            refused.clone(),
            refused,
            limited.clone(),
            limited.clone(),
            limited.clone(),
            limited
        ]
    );
    app.flush_audit().await;
    let admin = app.token_with("consortium-admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let log = app
        .ok(
            &admin,
            r#"query($filter: AuditFilterInput) { auditLog(filter: $filter, first: 50) {
                edges { node { action entityType } } } }"#,
            json!({ "filter": { "subject": "alder/rogue" } }),
        )
        .await;
    let events = log["auditLog"]["edges"].as_array().expect("edges");
    assert_eq!(events.len(), 2, "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_keys_are_fetched_and_a_flood_of_unknown_kids_is_not() {
    let provider = Provider::start(json!([
        { "name": "alder", "alg": "RS256", "audience": "permanence-test",
          "clients": [client("finder", json!({ "roles": ["Permanence.FamilyFinder"] }))] },
        { "name": "cedar", "alg": "PS256", "audience": "permanence-test",
          "clients": [client("finder", json!({ "roles": ["cedar:FAMILY_FINDER"] }))] },
    ]));
    let issuers = format!(
        r#"{}
[[issuer]]
name = "cedar"
consortium = "demo"
issuer = "{}"
audience = "permanence-test"
authorities = ["cedar"]
refresh_interval = "1m"
"#,
        two_councils(&provider, "")
            .split("[[issuer]]\nname = \"birch\"")
            .next()
            .expect("alder's part"),
        provider.issuer("cedar"),
    );
    let app = spawn(Backend::Sqlite, &issuers).await;

    // Rotation: a token signed with the new key is accepted once the keys are fetched
    // again (its kid is unknown); the retired key's tokens are refused once it is gone.
    let before = provider.token("alder", "finder", None).await;
    app.ok(&before, VIEWER, json!({})).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    provider.rotate("alder", false).await;
    let after = provider.token("alder", "finder", None).await;
    assert_ne!(kid_of(&before), kid_of(&after));
    let viewer = app.ok(&after, VIEWER, json!({})).await["viewer"].clone();
    assert_eq!(viewer["subject"], "alder/finder");
    assert_refused(&app, &before, "a token of a retired key").await;
    // Kept alongside (keep=true), the older key's tokens still verify.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    provider.rotate("alder", true).await;
    let newest = provider.token("alder", "finder", None).await;
    app.ok(&newest, VIEWER, json!({})).await;
    app.ok(&after, VIEWER, json!({})).await;

    // PS256 is accepted (cedar).
    let cedar = provider.token("cedar", "finder", None).await;
    app.ok(&cedar, VIEWER, json!({})).await;
    let fetched = provider.jwks_requests("cedar").await;
    // A flood of made-up kids: all refused, and the provider asked at most once (cedar
    // fetches at most once a minute).
    for n in 0..40 {
        let forged = with_kid(&cedar, &format!("made-up-{n}"));
        assert_refused(&app, &forged, "an unknown kid").await;
    }
    let during = provider.jwks_requests("cedar").await;
    assert!(
        during <= fetched + 1,
        "a flood of unknown kids fetched the keys {} times",
        during - fetched
    );
    app.ok(&cedar, VIEWER, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_stops_answering_leaves_the_keys_until_they_expire_then_fails_closed() {
    let mut provider = two_council_provider(
        vec![client(
            "finder",
            json!({ "roles": ["Permanence.FamilyFinder"] }),
        )],
        vec![],
    );
    let issuers =
        two_councils(&provider, "").replace("key_lifetime = \"10m\"", "key_lifetime = \"12s\"");
    let app = spawn(Backend::Sqlite, &issuers).await;
    let token = provider.token("alder", "finder", None).await;
    app.ok(&token, VIEWER, json!({})).await; // the keys are fetched now
    let fetched = std::time::Instant::now();
    provider.stop();
    // Past the refresh point (half the lifetime) the fetch fails; the keys stay in use.
    // (The lifetime leaves more than five seconds for this request on a loaded machine.)
    tokio::time::sleep(Duration::from_millis(6500)).await;
    assert!(
        fetched.elapsed() < Duration::from_secs(12),
        "the machine is too slow for this test"
    );
    app.ok(&token, VIEWER, json!({})).await;
    // Past their lifetime: refused, as UNAUTHENTICATED (never a 500).
    tokio::time::sleep(
        Duration::from_secs(12).saturating_sub(fetched.elapsed()) + Duration::from_millis(500),
    )
    .await;
    assert_refused(&app, &token, "keys expired with the provider down").await;
    assert_refused(&app, &token, "still down").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_wrong_audience_and_algorithm_confusion_are_refused() {
    let provider = Provider::start(json!([
        { "name": "alder", "alg": "RS256", "audience": "permanence-test", "ttl": 1,
          "clients": [client("finder", json!({ "roles": ["Permanence.FamilyFinder"] }))] },
        { "name": "birch", "alg": "ES256", "audience": "permanence-test",
          "clients": [client("finder", json!({ "realm_access": { "roles": ["birch:FAMILY_FINDER"] } }))] },
    ]));
    let app = spawn(Backend::Sqlite, &two_councils(&provider, "leeway = \"0s\"")).await;

    // Expired: a token of one second, after two.
    let short = provider.token("alder", "finder", None).await;
    app.ok(&short, VIEWER, json!({})).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_refused(&app, &short, "an expired token").await;

    // The wrong audience, from the right issuer.
    let elsewhere = provider.token("birch", "finder", Some("another-api")).await;
    assert_refused(&app, &elsewhere, "a token for another audience").await;
    let right = provider.token("birch", "finder", None).await;
    app.ok(&right, VIEWER, json!({})).await;

    // Algorithm confusion: the issuer's claims signed HS256 with its public key as the
    // secret, and an unsigned token (`alg: none`).
    let jwks: Value = reqwest::get(format!("{}/jwks", provider.issuer("birch")))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks JSON");
    let key = jwks["keys"][0].to_string();
    let payload = payload_of(&right);
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid_of(&right));
    let confused =
        jsonwebtoken::encode(&header, &payload, &EncodingKey::from_secret(key.as_bytes()))
            .expect("sign");
    assert_refused(&app, &confused, "HS256 with the public key").await;
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "kid": kid_of(&right) }).to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    assert_refused(&app, &unsigned, "alg none").await;
    // The right token with its payload changed (another authority): the signature fails.
    let mut forged_payload = payload.clone();
    forged_payload["realm_access"]["roles"] = json!(["birch:MANAGER"]);
    let parts: Vec<&str> = right.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(forged_payload.to_string()),
        parts[2]
    );
    assert_refused(&app, &tampered, "a tampered payload").await;
    // An oversized token is refused before anything is decoded.
    let huge = format!("{}{}", right, "A".repeat(20_000));
    assert_refused(&app, &huge, "an oversized token").await;
}

/// Browser sign-in: `GET /board/config.json` (no token) offers the issuers with an
/// `[issuer.browser]` table, with the endpoints their discovery documents name; the board
/// page's policy lets it call exactly those token endpoints' origins; pasted tokens are
/// offered outside production only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_is_told_how_to_sign_in_and_may_call_only_those_token_endpoints() {
    let provider = Provider::start(json!([
        { "name": "alder", "audience": "permanence-test", "clients": [],
          "browser_clients": [{ "client_id": "board", "redirect_uris": ["http://127.0.0.1/board"] }],
          "accounts": [{ "login": "manager", "claims": { "roles": ["alder:MANAGER"] } }] },
        { "name": "birch", "alg": "ES256", "audience": "permanence-test", "clients": [] },
    ]));
    let browser = r#"
[issuer.browser]
client_id = "board"
label = "Alder Council"
authorization_params = { resource = "urn:permanence:audience:permanence-test" }
"#;
    let origin = format!("http://127.0.0.1:{}", provider.port);
    // With no browser sign-in configured, the page is told so and its policy is closed.
    let app = spawn(Backend::Sqlite, &two_councils(&provider, "")).await;
    let config: Value = app
        .get("/board/config.json")
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    assert_eq!(config, json!({ "paste_token": true, "issuers": [] }));
    let page = app.get("/board").send().await.expect("sent");
    let closed = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(closed.contains("; connect-src 'self'; "), "{closed}");

    let issuers = two_councils(&provider, browser);
    for production in [false, true] {
        let app = spawn_with(Backend::Sqlite, &issuers, |c| {
            if production {
                c.environment = permanence::cli::Environment::Production;
            }
        })
        .await;
        let response = app.get("/board/config.json").send().await.expect("sent");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-cache");
        let config: Value = response.json().await.expect("JSON");
        assert_eq!(
            config,
            json!({
                "paste_token": !production,
                "issuers": [{
                    "name": "alder",
                    "label": "Alder Council",
                    "issuer": provider.issuer("alder"),
                    "client_id": "board",
                    "scopes": ["openid", "profile"],
                    "authorization_params": { "resource": "urn:permanence:audience:permanence-test" },
                    "authorization_endpoint": format!("{}/auth", provider.issuer("alder")),
                    "token_endpoint": format!("{}/token", provider.issuer("alder")),
                }],
            }),
            "production: {production}"
        );
        let page = app.get("/board").send().await.expect("sent");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        assert!(
            csp.contains(&format!("; connect-src 'self' {origin}; ")),
            "{csp}"
        );
        assert_eq!(csp.replace(&format!(" {origin}"), ""), closed);
    }
}

fn header_of(token: &str) -> Value {
    let part = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("JSON")
}

fn payload_of(token: &str) -> Value {
    let part = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64")).expect("JSON")
}

fn kid_of(token: &str) -> String {
    header_of(token)["kid"].as_str().expect("kid").to_owned()
}

/// `token` with its header's `kid` replaced (the signature no longer matters: the key is
/// looked up first).
fn with_kid(token: &str, kid: &str) -> String {
    let mut header = header_of(token);
    header["kid"] = json!(kid);
    let rest = token.split_once('.').expect("token").1;
    format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

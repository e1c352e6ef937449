//! Persisted documents over real HTTP: automatic persisted queries (Apollo's protocol:
//! `PersistedQueryNotFound`, then the document with its hash, then the hash alone), shared
//! by replicas through Redis; and the trusted-documents manifest, which
//! `PERMANENCE_TRUSTED_DOCUMENTS_ONLY` makes the only documents the service runs.
//!
//! The Redis test uses the Redis of `TEST_REDIS_URL` (`scripts/test` starts one) and fails
//! without it, like every Redis test.
use std::path::PathBuf;
use std::sync::Arc;

use permanence::app::Application;
use permanence::cli::Cli;
use permanence::config::Config;
use permanence::graphql::limits::QueryLimits;
use permanence::graphql::persisted::{TrustedDocuments, sha256_hex};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, error_code, test_config, test_redis_url};
use crate::process::binary;

const VIEWER: &str = "query Viewer { viewer { subject } }";
const VIEWER_NAME: &str = "query ViewerName { viewer { name } }";
const AUTHORITIES: &str = "query Authorities { authorities { code } }";
const NOTIFICATIONS: &str = "subscription Notifications { notifications { id kind } }";

/// The GraphQL-over-HTTP media type, under which a request that did not run is a 400.
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `extensions.persistedQuery` naming `hash`.
fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs one operation (`query` and `extensions` each only when given); the status and
/// the body.
async fn post(
    app: &TestApp,
    token: Option<&str>,
    query: Option<&str>,
    extensions: Option<Value>,
) -> (StatusCode, Value) {
    let mut body = json!({});
    if let Some(query) = query {
        body["query"] = json!(query);
    }
    if let Some(extensions) = extensions {
        body["extensions"] = extensions;
    }
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("Accept", GRAPHQL_RESPONSE)
        .json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

/// A GET of `document`'s hash alone, as Apollo Client's `useGETForHashedQueries` sends it.
async fn get_by_hash(app: &TestApp, token: &str, hash: &str) -> (StatusCode, Value) {
    let extensions = persisted(hash).to_string();
    let response = app
        .get("/graphql")
        .query(&[("extensions", extensions.as_str())])
        .header("Accept", GRAPHQL_RESPONSE)
        .bearer_auth(token)
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    (status, response.json().await.expect("JSON body"))
}

#[track_caller]
fn assert_refused(answer: &(StatusCode, Value), code: &str) {
    let (status, body) = answer;
    assert_eq!(error_code(body).as_deref(), Some(code), "{body:#}");
    assert_eq!(*status, StatusCode::BAD_REQUEST, "not run: {body:#}");
    assert!(body.get("data").is_none(), "{body:#}");
}

#[track_caller]
fn assert_subject(answer: &(StatusCode, Value), subject: &str) {
    let (status, body) = answer;
    assert_eq!(*status, StatusCode::OK, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["viewer"]["subject"], subject, "{body:#}");
}

both_backends!(automatic_persisted_queries_round_trip);

async fn automatic_persisted_queries_round_trip(app: TestApp) {
    let token = app.role("alder", "FAMILY_FINDER");
    let hash = sha256_hex(VIEWER);

    // Unknown: the client is told to send the document.
    let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_FOUND");
    assert_eq!(answer.1["errors"][0]["message"], "PersistedQueryNotFound");

    // The document with its hash: run and registered.
    let answer = post(&app, Some(&token), Some(VIEWER), Some(persisted(&hash))).await;
    assert_subject(&answer, "family_finder-alder");

    // Then the hash alone, by POST and by GET, in any case of hex, by anyone.
    let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_subject(&answer, "family_finder-alder");
    let other = app.role("birch", "SOCIAL_WORKER");
    let answer = post(
        &app,
        Some(&other),
        None,
        Some(persisted(&hash.to_uppercase())),
    )
    .await;
    assert_subject(&answer, "social_worker-birch");
    assert_subject(
        &get_by_hash(&app, &token, &hash).await,
        "family_finder-alder",
    );

    // An anonymous caller registers nothing (the store is not theirs to fill), though the
    // document runs.
    let hash = sha256_hex(AUTHORITIES);
    let (_, body) = post(&app, None, Some(AUTHORITIES), Some(persisted(&hash))).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{body:#}"
    );
    let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_FOUND");

    // A document that fails validation is not registered either.
    let invalid = "{ viewer { noSuchField } }";
    let hash = sha256_hex(invalid);
    let answer = post(&app, Some(&token), Some(invalid), Some(persisted(&hash))).await;
    assert_refused(&answer, "BAD_USER_INPUT");
    let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_FOUND");

    // A mutation registered by POST is still refused over GET, sent by its hash alone.
    let revoke = r#"mutation { revokeSessions(input: { subject: "nobody" }) { revokedAt } }"#;
    let hash = sha256_hex(revoke);
    let (status, body) = post(&app, Some(&token), Some(revoke), Some(persisted(&hash))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    let (status, body) = get_by_hash(&app, &token, &hash).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body:#}");
}

both_backends!(a_hash_that_is_not_the_documents_is_refused);

async fn a_hash_that_is_not_the_documents_is_refused(app: TestApp) {
    let token = app.role("alder", "FAMILY_FINDER");
    let wrong = sha256_hex(VIEWER_NAME);
    let answer = post(&app, Some(&token), Some(VIEWER), Some(persisted(&wrong))).await;
    assert_refused(&answer, "BAD_USER_INPUT");
    assert_eq!(answer.1["errors"][0]["extensions"]["field"], "extensions");
    // Nothing was registered under either hash.
    for hash in [wrong, sha256_hex(VIEWER)] {
        let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
        assert_refused(&answer, "PERSISTED_QUERY_NOT_FOUND");
    }
    // Malformed: not a SHA-256, another version, not an object.
    for extensions in [
        persisted("abc"),
        json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256_hex(VIEWER) } }),
        json!({ "persistedQuery": "yes" }),
    ] {
        let answer = post(&app, Some(&token), Some(VIEWER), Some(extensions)).await;
        assert_refused(&answer, "BAD_USER_INPUT");
    }
    // Without a hash, a request still needs its query.
    let answer = post(&app, Some(&token), None, Some(json!({}))).await;
    assert_refused(&answer, "BAD_USER_INPUT");
}

/// A manifest file of `documents`, in `dir`, in GraphQL Codegen's form.
fn manifest(dir: &tempfile::TempDir, documents: &[&str]) -> PathBuf {
    let map: serde_json::Map<String, Value> = documents
        .iter()
        .map(|d| (sha256_hex(d), json!(d)))
        .collect();
    let path = dir.path().join("persisted-documents.json");
    std::fs::write(&path, Value::Object(map).to_string()).expect("manifest written");
    path
}

/// A server whose trusted documents are `VIEWER`, `AUTHORITIES` and `NOTIFICATIONS`, only
/// those when `only`.
async fn spawn_trusted(only: bool) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = manifest(&dir, &[VIEWER, AUTHORITIES, NOTIFICATIONS]);
    let documents = TrustedDocuments::load(&path, &QueryLimits::default()).expect("manifest");
    let app = TestApp::spawn_sqlite_with(|config| {
        config.clients.trusted_documents = Some(Arc::new(documents));
        config.clients.trusted_documents_only = only;
    })
    .await;
    (app, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_documents_only_runs_nothing_else() {
    let (app, _dir) = spawn_trusted(true).await;
    let token = app.role("alder", "FAMILY_FINDER");
    let hash = sha256_hex(VIEWER);

    // A registered document: by hash alone (POST and GET), in full, in full with its hash.
    assert_subject(
        &post(&app, Some(&token), None, Some(persisted(&hash))).await,
        "family_finder-alder",
    );
    assert_subject(
        &get_by_hash(&app, &token, &hash).await,
        "family_finder-alder",
    );
    assert_subject(
        &post(&app, Some(&token), Some(VIEWER), None).await,
        "family_finder-alder",
    );
    assert_subject(
        &post(&app, Some(&token), Some(VIEWER), Some(persisted(&hash))).await,
        "family_finder-alder",
    );

    // An ad hoc document, even one differing from a registered one by a space, is refused.
    for ad_hoc in [
        VIEWER_NAME,
        "query Viewer {  viewer { subject } }",
        "{ __typename }",
    ] {
        let answer = post(&app, Some(&token), Some(ad_hoc), None).await;
        assert_refused(&answer, "PERSISTED_QUERY_NOT_ALLOWED");
    }
    // An unknown hash is not "not found" (which would have the client send the document):
    // it is refused.
    let unknown = sha256_hex(VIEWER_NAME);
    let answer = post(&app, Some(&token), None, Some(persisted(&unknown))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_ALLOWED");
    let (status, body) = get_by_hash(&app, &token, &unknown).await;
    assert_refused(&(status, body), "PERSISTED_QUERY_NOT_ALLOWED");
    // Registration by APQ is refused, and registers nothing.
    let answer = post(
        &app,
        Some(&token),
        Some(VIEWER_NAME),
        Some(persisted(&unknown)),
    )
    .await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_ALLOWED");
    let answer = post(&app, Some(&token), None, Some(persisted(&unknown))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_ALLOWED");
    // Anonymous callers are held to the same list.
    let answer = post(&app, None, Some("{ __schema { types { name } } }"), None).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_ALLOWED");

    // In a batch, each operation answers for itself.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .json(&json!([
            { "extensions": persisted(&sha256_hex(AUTHORITIES)) },
            { "query": VIEWER_NAME },
        ]))
        .send()
        .await
        .expect("sent");
    let bodies: Value = response.json().await.expect("JSON");
    assert!(bodies[0]["data"]["authorities"].is_array(), "{bodies:#}");
    assert_eq!(
        error_code(&bodies[1]).as_deref(),
        Some("PERSISTED_QUERY_NOT_ALLOWED"),
        "{bodies:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_documents_only_holds_subscriptions_to_the_list_too() {
    use crate::notifications::{Received, connected, receive, send};
    let (app, _dir) = spawn_trusted(true).await;
    let mut socket = connected(&app, &app.role("alder", "FAMILY_FINDER")).await;
    let ad_hoc = "subscription { notifications { id } }";
    send(
        &mut socket,
        json!({ "id": "ad-hoc", "type": "subscribe", "payload": { "query": ad_hoc } }),
    )
    .await;
    match receive(&mut socket, std::time::Duration::from_secs(10)).await {
        Some(Received::Message(m)) if m["id"] == "ad-hoc" => {
            let errors = match &m["payload"] {
                Value::Array(errors) => errors.clone(),
                payload => payload["errors"].as_array().cloned().unwrap_or_default(),
            };
            assert_eq!(
                errors[0]["extensions"]["code"], "PERSISTED_QUERY_NOT_ALLOWED",
                "{m}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(app.state.subscriptions.count(), 0);
    // The registered subscription, by its hash alone, is held.
    send(
        &mut socket,
        json!({ "id": "listed", "type": "subscribe",
                "payload": { "extensions": persisted(&sha256_hex(NOTIFICATIONS)) } }),
    )
    .await;
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        app.state.subscriptions.wait_for(1),
    )
    .await
    .expect("the registered subscription is held");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_documents_are_found_by_hash_without_being_the_only_ones() {
    let (app, _dir) = spawn_trusted(false).await;
    let token = app.role("alder", "FAMILY_FINDER");
    // Registered in the manifest: known by hash from the start.
    assert_subject(
        &post(
            &app,
            Some(&token),
            None,
            Some(persisted(&sha256_hex(VIEWER))),
        )
        .await,
        "family_finder-alder",
    );
    // Anything else runs as usual, and APQ registers it.
    let answer = post(&app, Some(&token), Some(VIEWER_NAME), None).await;
    assert_eq!(answer.0, StatusCode::OK, "{:#}", answer.1);
    let hash = sha256_hex(VIEWER_NAME);
    let answer = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_refused(&answer, "PERSISTED_QUERY_NOT_FOUND");
    post(
        &app,
        Some(&token),
        Some(VIEWER_NAME),
        Some(persisted(&hash)),
    )
    .await;
    let (status, body) = post(&app, Some(&token), None, Some(persisted(&hash))).await;
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert_eq!(body["data"]["viewer"]["name"], "Test family_finder-alder");
}

/// The configuration the command line makes of `args` (after `permanence`, before the
/// command).
fn config_of(args: &[&str]) -> anyhow::Result<Config> {
    use clap::Parser;
    let cli = Cli::try_parse_from([&["permanence"], args, &["schema"]].concat())?;
    Config::from_args(&cli.global)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_manifest_stops_the_start_saying_why() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("manifest.json");
    let file = path.to_str().expect("UTF-8 path");
    let refused = |contents: String| {
        std::fs::write(&path, contents).expect("written");
        match config_of(&["--trusted-documents", file]) {
            Ok(_) => panic!("a bad manifest was accepted"),
            Err(e) => format!("{e:#}"),
        }
    };
    let error = refused("not json".into());
    assert!(
        error.contains(file) && error.contains("not a manifest"),
        "{error}"
    );
    let error = refused(json!({ sha256_hex(VIEWER_NAME): VIEWER }).to_string());
    assert!(error.contains("has the SHA-256"), "{error}");
    let error = refused(json!({ sha256_hex("{ a "): "{ a " }).to_string());
    assert!(error.contains("does not parse"), "{error}");
    let missing = dir.path().join("missing.json");
    let error = format!(
        "{:#}",
        config_of(&["--trusted-documents", missing.to_str().unwrap()])
            .err()
            .expect("refused")
    );
    assert!(error.contains("reading the trusted documents"), "{error}");
    let error = format!(
        "{:#}",
        config_of(&["--trusted-documents-only"])
            .err()
            .expect("refused")
    );
    assert!(error.contains("PERMANENCE_TRUSTED_DOCUMENTS"), "{error}");

    // A manifest that reads well but names fields the schema has not: `serve` stops.
    std::fs::write(
        &path,
        json!({ sha256_hex(VIEWER): VIEWER, sha256_hex("{ gone }"): "{ gone }" }).to_string(),
    )
    .expect("written");
    let config = config_of(&["--trusted-documents", file, "--trusted-documents-only"])
        .expect("the file itself is well-formed");
    let mut test = test_config(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("t.db").display()
    ));
    test.clients = config.clients;
    let error = match Application::build(test, "127.0.0.1:0").await {
        Ok(_) => panic!("started with a document the schema refuses"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains(&sha256_hex("{ gone }")) && error.contains("gone"),
        "{error}"
    );
}

#[test]
fn the_check_command_validates_every_document_against_the_schema() {
    let dir = tempfile::tempdir().expect("temp dir");
    let good = manifest(&dir, &[VIEWER, AUTHORITIES]);
    let out = binary()
        .args(["trusted-documents", "check"])
        .arg(&good)
        .output()
        .expect("ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("2 trusted documents"), "{stdout}");

    let bad = dir.path().join("bad.json");
    let wrong = "query Wrong { viewer { noSuchField } }";
    std::fs::write(
        &bad,
        json!({ sha256_hex(VIEWER): VIEWER, sha256_hex(wrong): wrong }).to_string(),
    )
    .expect("written");
    let out = binary()
        .args(["trusted-documents", "check"])
        .arg(&bad)
        .output()
        .expect("ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&sha256_hex(wrong)) && stderr.contains("noSuchField"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_persisted_queries_are_shared_by_replicas_through_redis() {
    let redis_url = test_redis_url();
    let spawn = |prefix: String| {
        let redis_url = redis_url.clone();
        async move {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            let mut config = test_config(&url);
            config.redis_url = Some(redis_url);
            config.redis_key_prefix = prefix;
            TestApp::spawn_with(config, Backend::Sqlite, Some(dir), true).await
        }
    };
    let prefix = format!("permanence-test-{}", uuid::Uuid::new_v4().simple());
    let a = spawn(prefix.clone()).await;
    let b = spawn(prefix.clone()).await;
    assert_eq!(a.state.shared.backend(), "redis");
    let token = a.role("alder", "FAMILY_FINDER");
    let hash = sha256_hex(VIEWER);

    assert_refused(
        &post(&b, Some(&token), None, Some(persisted(&hash))).await,
        "PERSISTED_QUERY_NOT_FOUND",
    );
    assert_subject(
        &post(&a, Some(&token), Some(VIEWER), Some(persisted(&hash))).await,
        "family_finder-alder",
    );
    // Registered on A, found on B.
    assert_subject(
        &post(&b, Some(&token), None, Some(persisted(&hash))).await,
        "family_finder-alder",
    );

    // Under the deployment's key prefix, for a bounded time.
    let client = redis::Client::open(redis_url.as_str()).expect("Redis URL");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("Redis connection");
    let key = format!("{prefix}:cache:apq:{hash}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .expect("TTL");
    assert!(ttl > 0 && ttl <= 24 * 3600, "{key}: TTL {ttl}");

    // A document tampered with in Redis is not run: it is not what its hash says.
    let other = sha256_hex(AUTHORITIES);
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}:cache:apq:{other}"))
        .arg(VIEWER)
        .query_async(&mut conn)
        .await
        .expect("SET");
    let c = spawn(prefix).await;
    assert_refused(
        &post(&c, Some(&token), None, Some(persisted(&other))).await,
        "PERSISTED_QUERY_NOT_FOUND",
    );
}

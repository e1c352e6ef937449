//! `/metrics`, request ids, and no internal detail in any error a client sees.
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_backends;
use permanence::config::MetricsAccess;

use crate::helpers::{Backend, TestApp, encode_id, error_code};

both_backends!(a_database_failure_reaches_the_client_only_as_internal);

/// `/metrics` of `app`, from its metrics listener.
async fn metrics(app: &TestApp) -> String {
    let address = app.metrics_address.as_deref().expect("a metrics listener");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("metrics answered");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("body")
}

/// The lines of `text` for metric `name` (with its labels) that contain every one of `labels`.
fn lines<'a>(text: &'a str, name: &str, labels: &[&str]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .collect()
}

/// The value at the end of a sample line.
fn value(line: &str) -> f64 {
    line.rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// The value of the one sample of `name` with every one of `labels`; 0 when absent.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    match lines(text, name, labels).as_slice() {
        [] => 0.0,
        [line] => value(line),
        more => panic!("several samples of {name} {labels:?}: {more:#?}"),
    }
}

const VIEWER_OK: &[&str] = &[
    "operation_type=\"query\"",
    "root_field=\"viewer\"",
    "outcome=\"ok\"",
];

#[tokio::test]
async fn metrics_count_operations_latency_errors_and_the_audit_queue() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.role("alder", "SOCIAL_WORKER");
    // The recorder is the test process's: other tests count too, so compare with before.
    let before = metrics(&app).await;
    let inf = ["root_field=\"viewer\"", "le=\"+Inf\""];
    for _ in 0..3 {
        app.ok(
            &token,
            "query MetricsProbeOk { viewer { subject } }",
            json!({}),
        )
        .await;
    }
    let missing = app
        .gql(
            Some(&token),
            "query MetricsProbeMissing($id: ID!) { child(id: $id) { id } }",
            json!({ "id": encode_id("Child", 999_999) }),
        )
        .await;
    assert_eq!(error_code(&missing).as_deref(), Some("NOT_FOUND"));
    let invalid = app
        .gql(
            Some(&token),
            "query MetricsProbeInvalid { nope }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&invalid).as_deref(), Some("BAD_USER_INPUT"));
    app.gql(Some(&token), "{ viewer { subject } }", json!({}))
        .await;

    let text = metrics(&app).await;
    let name = "permanence_graphql_requests_total";
    assert!(
        sample(&text, name, VIEWER_OK) - sample(&before, name, VIEWER_OK) >= 4.0,
        "three named viewer queries and one anonymous: {text}"
    );
    assert!(
        sample(&text, name, &["root_field=\"child\"", "outcome=\"error\""]) >= 1.0,
        "{text}"
    );
    assert!(
        sample(
            &text,
            name,
            &[
                "operation_type=\"query\"",
                "root_field=\"none\"",
                "outcome=\"rejected\""
            ]
        ) >= 1.0,
        "{text}"
    );
    // Operation names are no label, and neither are fields that failed validation.
    assert!(!text.contains("MetricsProbe"), "{text}");
    assert!(!text.contains("nope"), "{text}");

    let buckets = lines(
        &text,
        "permanence_graphql_request_duration_seconds_bucket",
        &["root_field=\"viewer\""],
    );
    assert!(buckets.iter().any(|l| l.contains("le=\"0.005\"")), "{text}");
    let histogram = "permanence_graphql_request_duration_seconds_bucket";
    assert!(
        sample(&text, histogram, &inf) - sample(&before, histogram, &inf) >= 4.0,
        "{text}"
    );
    assert!(
        !lines(
            &text,
            "permanence_graphql_request_duration_seconds_count",
            &["root_field=\"viewer\""]
        )
        .is_empty(),
        "{text}"
    );

    let not_found = lines(
        &text,
        "permanence_graphql_errors_total",
        &["code=\"NOT_FOUND\""],
    );
    assert_eq!(not_found.len(), 1, "{text}");
    assert!(value(not_found[0]) >= 1.0);
    assert_eq!(
        lines(
            &text,
            "permanence_graphql_errors_total",
            &["code=\"BAD_USER_INPUT\""]
        )
        .len(),
        1,
        "{text}"
    );

    let depth = lines(&text, "permanence_audit_queue_depth", &[]);
    assert_eq!(depth.len(), 1, "{text}");
    assert!(value(depth[0]) >= 0.0, "{}", depth[0]);
    assert!(
        text.contains("# TYPE permanence_audit_queue_depth gauge"),
        "{text}"
    );
}

/// Operation names are the client's to choose: none becomes a label. However many
/// different ones arrive, the operations are counted under the root field they select.
#[tokio::test]
async fn client_chosen_operation_names_never_become_labels() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.role("alder", "SOCIAL_WORKER");
    let names: Vec<String> = (0..300)
        .map(|i| format!("Probe{}x{i}", uuid::Uuid::new_v4().simple()))
        .collect();
    for name in &names {
        let body = app
            .gql(
                Some(&token),
                &format!("query {name} {{ viewer {{ subject }} }}"),
                json!({}),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body:#}");
    }
    // Refused ones too: a name, and fields the schema does not have.
    for name in names.iter().take(20) {
        let body = app
            .gql(
                Some(&token),
                &format!("query {name} {{ {name} }}"),
                json!({}),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    }
    let text = metrics(&app).await;
    for name in &names {
        assert!(!text.contains(name.as_str()), "{name} is a label");
    }
    // Every root_field label is a root field of the schema (or one of the fixed words).
    let sdl = permanence::graphql::sdl();
    let labels: std::collections::BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split("root_field=\"").nth(1))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(labels.contains("viewer"), "{labels:?}");
    for label in &labels {
        assert!(
            [
                "none",
                "multiple",
                "other",
                "__typename",
                "__schema",
                "__type"
            ]
            .contains(label)
                || sdl.contains(&format!("\t{label}("))
                || sdl.contains(&format!("\t{label}:")),
            "{label} is not a root field of the schema"
        );
    }
    assert!(labels.len() < 200, "{labels:?}");
}

/// `/metrics` is not served on the API port without a token of its own; with a token and
/// no listener of its own it is, behind that token.
#[tokio::test]
async fn metrics_need_a_listener_of_their_own_or_a_token() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let on_api_port = app.get("/metrics").send().await.unwrap();
    assert_eq!(on_api_port.status(), 404);
    let body = metrics(&app).await;
    assert!(body.contains("permanence_audit_queue_depth"), "{body}");

    let token = "metrics-scraper-token-0123456789abcdef";
    let app = TestApp::spawn_sqlite_with(|config| {
        config.metrics = MetricsAccess {
            bind: None,
            token: Some(token.into()),
        };
    })
    .await;
    assert!(app.metrics_address.is_none());
    let url = format!("{}/metrics", app.address);
    let refused = app.client.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let body = refused.text().await.unwrap();
    assert!(!body.contains("permanence_"), "{body}");
    let wrong = app
        .client
        .get(&url)
        .bearer_auth("metrics-scraper-token-0123456789abcdeX")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let answered = app
        .client
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200);
    let body = answered.text().await.unwrap();
    assert!(body.contains("permanence_audit_queue_depth"), "{body}");
    // The scheme's name is case-insensitive (RFC 9110 §11.1), as scrapers may send it.
    let lowercase = app
        .client
        .get(&url)
        .header("authorization", format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase.status(), 200);
}

#[tokio::test]
async fn responses_carry_the_request_id() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("x-request-id", "trace-me-123")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    // A refusal before anything ran carries one too.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body("{ nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "a generated uuid: {id}");
}

fn messages(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_internal_text(body: &Value) {
    for message in messages(body) {
        for word in [
            "sql",
            "panicked",
            "database",
            "relation",
            "table",
            "syntax error at",
        ] {
            assert!(
                !message.contains(word),
                "internal detail {word:?} in {message:?}"
            );
        }
    }
}

async fn a_database_failure_reaches_the_client_only_as_internal(app: TestApp) {
    let token = app.role("alder", "SOCIAL_WORKER");
    let before = app
        .ok(&token, "{ children { totalCount } }", json!({}))
        .await;
    assert_eq!(before["children"]["totalCount"], 0);

    // Break the database under the running server.
    app.state
        .db
        .execute_unprepared("ALTER TABLE child RENAME TO child_gone")
        .await
        .expect("rename");
    let body = app
        .gql(Some(&token), "{ children { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("INTERNAL"), "{body:#}");
    assert_eq!(
        messages(&body),
        vec!["internal error".to_owned()],
        "{body:#}"
    );
    assert_no_internal_text(&body);

    // Refusals of every other kind say nothing internal either.
    for query in [
        "{",
        "{ nope }",
        "query($id: ID!) { child(id: $id) { id } }",
        "query($n: Int!) { children(first: $n) { totalCount } }",
    ] {
        let variables = json!({ "n": "ten", "id": encode_id("Child", 999_999) });
        let body = app.gql(Some(&token), query, variables).await;
        assert!(error_code(&body).is_some(), "{query}: {body:#}");
        assert_no_internal_text(&body);
    }
    let metrics = metrics(&app).await;
    assert!(
        !lines(
            &metrics,
            "permanence_graphql_errors_total",
            &["code=\"INTERNAL\""]
        )
        .is_empty(),
        "{metrics}"
    );
}

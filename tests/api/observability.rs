//! `/metrics`, request ids, and no internal detail in any error a client sees.
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, encode_id, error_code};

both_backends!(a_database_failure_reaches_the_client_only_as_internal);

async fn metrics(app: &TestApp) -> String {
    let response = app
        .client
        .get(format!("{}/metrics", app.address))
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

#[tokio::test]
async fn metrics_count_operations_latency_errors_and_the_audit_queue() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.role("alder", "SOCIAL_WORKER");
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
    let ok = lines(
        &text,
        "permanence_graphql_requests_total",
        &[
            "operation_type=\"query\"",
            "operation=\"MetricsProbeOk\"",
            "outcome=\"ok\"",
        ],
    );
    assert_eq!(ok.len(), 1, "{text}");
    assert_eq!(value(ok[0]), 3.0, "{}", ok[0]);
    let error = lines(
        &text,
        "permanence_graphql_requests_total",
        &["operation=\"MetricsProbeMissing\"", "outcome=\"error\""],
    );
    assert_eq!(error.len(), 1, "{text}");
    // A document refused before it ran never registers its name.
    assert!(!text.contains("MetricsProbeInvalid"), "{text}");
    assert!(
        !lines(
            &text,
            "permanence_graphql_requests_total",
            &["operation=\"anonymous\"", "outcome=\"ok\""]
        )
        .is_empty(),
        "unnamed operations are counted as anonymous: {text}"
    );

    let buckets = lines(
        &text,
        "permanence_graphql_request_duration_seconds_bucket",
        &["operation=\"MetricsProbeOk\""],
    );
    assert!(buckets.iter().any(|l| l.contains("le=\"0.005\"")), "{text}");
    let inf = buckets
        .iter()
        .find(|l| l.contains("le=\"+Inf\""))
        .expect("a +Inf bucket");
    assert_eq!(value(inf), 3.0, "{inf}");
    assert!(
        !lines(
            &text,
            "permanence_graphql_request_duration_seconds_count",
            &["operation=\"MetricsProbeOk\""]
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

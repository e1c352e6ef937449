//! What a mutation's failure promises. `UNAVAILABLE` (503, `Retry-After`) says nothing was
//! changed; a mutation that lost the database after it began writing, or whose answer was
//! withheld for want of an audit, may have changed something, and must not be answered
//! "retry". PostgreSQL only: it alone lets a test cut a session mid-write (and stall one).
use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, create_child, error_code};

const UPDATE: &str = "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { version notes siblingGroup { id } } } }";
const NOTES: &str = "query($id: ID!) { child(id: $id) { version notes } }";

/// POSTs `query` as `token`; the status, whether `Retry-After` was set, and the body.
async fn post(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
) -> (StatusCode, bool, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let retry_after = response.headers().contains_key("retry-after");
    (
        status,
        retry_after,
        response.json().await.expect("JSON body"),
    )
}

/// Waits until a session of the test's database sleeps in `pg_sleep`; its pid.
async fn sleeping_session(admin: &DatabaseConnection) -> i32 {
    for _ in 0..200 {
        let row = admin
            .query_one_raw(sea_orm::Statement::from_string(
                admin.get_database_backend(),
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event = 'PgSleep'",
            ))
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.try_get::<i32>("", "pid").expect("pid");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no session reached pg_sleep");
}

async fn postgres_app() -> (TestApp, DatabaseConnection) {
    let app = TestApp::spawn(Backend::Postgres).await;
    let admin = Database::connect(&app.database_url).await.expect("connect");
    (app, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_cut_off_while_writing_is_not_answered_retry() {
    let (app, admin) = postgres_app().await;
    let (id, version) = create_child(&app, "alder", "Ash", json!({})).await;
    admin
        .execute_unprepared(
            "CREATE FUNCTION slow_update() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER slow_update BEFORE UPDATE ON child FOR EACH ROW \
             WHEN (NEW.notes = 'slow') EXECUTE FUNCTION slow_update();",
        )
        .await
        .expect("trigger");
    let sw = app.role("alder", "SOCIAL_WORKER");
    let input = json!({ "input": { "id": id, "expectedVersion": version, "notes": "slow" } });
    // Once the write has begun and sleeps in its trigger, the database ends its session.
    let cut = async {
        let pid = sleeping_session(&admin).await;
        admin
            .execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .expect("terminate");
    };
    let ((status, retry_after, body), ()) = tokio::join!(post(&app, &sw, UPDATE, input), cut);
    assert_eq!(
        error_code(&body).as_deref(),
        Some("OUTCOME_UNKNOWN"),
        "{body:#}"
    );
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert!(!retry_after, "no Retry-After: {body:#}");
    assert!(
        body["errors"][0]["extensions"]["retryAfterSeconds"].is_null(),
        "{body:#}"
    );

    // Here the session was cut before COMMIT, so in fact nothing changed.
    let data = app.ok(&sw, NOTES, json!({ "id": id })).await;
    assert_eq!(data["child"]["version"].as_i64(), Some(version), "{data:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_mutation_whose_answer_is_withheld_is_not_answered_retry() {
    let (app, admin) = postgres_app().await;
    let (a, version) = create_child(&app, "alder", "Bay", json!({})).await;
    let (b, _) = create_child(&app, "alder", "Cove", json!({})).await;
    let sw = app.role("alder", "SOCIAL_WORKER");
    app.ok(
        &sw,
        "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }",
        json!({ "input": { "childIds": [a, b], "label": "The Bays" } }),
    )
    .await;
    let version = app.ok(&sw, NOTES, json!({ "id": a })).await["child"]["version"]
        .as_i64()
        .unwrap_or(version);
    // Reading the child's sibling group is audited by the batcher, after the mutation's own
    // transaction: stall that insert beyond the time an answer waits for its audit.
    admin
        .execute_unprepared(
            "CREATE FUNCTION slow_view() RETURNS trigger AS $$ \
             BEGIN PERFORM pg_sleep(8); RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER slow_view BEFORE INSERT ON audit_event FOR EACH ROW \
             WHEN (NEW.action = 'VIEW' AND NEW.entity_type = 'SiblingGroup') \
             EXECUTE FUNCTION slow_view();",
        )
        .await
        .expect("trigger");
    let (status, retry_after, body) = post(
        &app,
        &sw,
        UPDATE,
        json!({ "input": { "id": a, "expectedVersion": version, "notes": "made" } }),
    )
    .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("ANSWER_WITHHELD"),
        "{body:#}"
    );
    assert!(
        body["data"].is_null(),
        "no record leaves unaudited: {body:#}"
    );
    assert_eq!(status, StatusCode::OK, "{body:#}");
    assert!(!retry_after, "no Retry-After: {body:#}");
    admin
        .execute_unprepared("DROP TRIGGER slow_view ON audit_event")
        .await
        .expect("drop trigger");
    // The change was made: a retry would have repeated it.
    let data = app.ok(&sw, NOTES, json!({ "id": a })).await;
    assert_eq!(data["child"]["notes"], "made", "{data:#}");
}

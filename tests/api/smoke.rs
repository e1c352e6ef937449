//! The service answers, the schema file is current, and the basics of identity hold.
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, error_code};

both_backends!(viewer_answers_with_the_token_claims);

async fn viewer_answers_with_the_token_claims(app: TestApp) {
    let token = app.token(
        "u-123",
        &[
            ("alder", &["FAMILY_FINDER", "MANAGER"]),
            ("nowhere", &["MANAGER"]),
        ],
    );
    let data = app
        .ok(&token, "{ viewer { subject consortium { code } memberships { authority { code } roles } consortiumRoles } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["subject"], "u-123");
    assert_eq!(data["viewer"]["consortium"]["code"], "demo");
    let memberships = data["viewer"]["memberships"].as_array().unwrap();
    assert_eq!(memberships.len(), 1, "unknown authorities are ignored");
    assert_eq!(memberships[0]["authority"]["code"], "alder");
    assert_eq!(memberships[0]["roles"], json!(["FAMILY_FINDER", "MANAGER"]));

    let anonymous = app.gql(None, "{ viewer { subject } }", json!({})).await;
    assert_eq!(error_code(&anonymous).as_deref(), Some("UNAUTHENTICATED"));
}

#[test]
fn schema_file_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql");
    assert!(
        committed == permanence::graphql::sdl(),
        "schema.graphql is out of date: run `cargo run -q -- schema > schema.graphql`"
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let health = app.get("/healthz").send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.get("/readyz").send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn queries_run_over_get_but_mutations_do_not() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let token = app.role("alder", "SOCIAL_WORKER");
    let get = |query: &str| {
        app.get("/graphql")
            .query(&[("query", query)])
            .bearer_auth(&token)
            .send()
    };
    let ok: serde_json::Value = get("{ viewer { subject } }")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["data"]["viewer"]["subject"], "social_worker-alder");
    let refused = get("mutation { createChild(input: {legalName: \"X\", dateOfBirth: \"2020-01-01\", profileName: \"X\", gender: MALE}) { child { id } } }")
        .await
        .unwrap();
    assert_eq!(refused.status(), 405);
    let data = app
        .ok(&token, "{ children { totalCount } }", json!({}))
        .await;
    assert_eq!(
        data["children"]["totalCount"], 0,
        "nothing was created over GET"
    );
    let page = app.get("/graphql").send().await.unwrap();
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql"),
        "GraphiQL outside production"
    );
}

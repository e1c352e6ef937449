//! Abuse limits (depth, complexity, aliases, batch, size), production hardening
//! (introspection, suggestions, GraphiQL) and GraphQL-over-HTTP content negotiation.
use std::time::{Duration, Instant};

use permanence::cli::Environment;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    Backend, TestApp, create_child, create_household, encode_id, error_code, error_field,
    fresh_postgres_database, test_config,
};

both_backends!(
    abusive_documents_are_refused_with_the_limit_named_and_the_server_keeps_answering,
    values_nested_thousands_deep_are_refused_over_post_get_and_the_websocket,
    long_lists_are_refused_and_change_nothing,
    wildcards_in_contains_filters_match_only_themselves,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// `getIntrospectionQuery({ inputValueDeprecation: true })` of graphql-js 16, as GraphiQL sends it.
const GRAPHIQL_INTROSPECTION: &str = "query IntrospectionQuery { __schema { queryType { name kind } mutationType { name kind } subscriptionType { name kind } types { ...FullType } directives { name description locations args(includeDeprecated: true) { ...InputValue } } } } fragment FullType on __Type { kind name description fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason } inputFields(includeDeprecated: true) { ...InputValue } interfaces { ...TypeRef } enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason } possibleTypes { ...TypeRef } } fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason } fragment TypeRef on __Type { kind name ofType { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind ofType { name kind } } } } } } } } } }";

/// POSTs `body` as JSON with `accept`; returns (status, content type, body).
async fn post(app: &TestApp, accept: Option<&str>, body: &Value) -> (u16, String, Value) {
    post_raw(app, accept, body.to_string()).await
}

async fn post_raw(app: &TestApp, accept: Option<&str>, body: String) -> (u16, String, Value) {
    let token = app.role("alder", "SOCIAL_WORKER");
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(accept) = accept {
        request = request.header(ACCEPT, accept);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:.200}"));
    (status, content_type, body)
}

fn limit_of(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["limit"].as_str()
}

fn message_of(body: &Value) -> &str {
    body["errors"][0]["message"].as_str().unwrap_or_default()
}

/// Asserts `body` is a refusal of the whole document over `limit`: no data, the code, the
/// limit named in the extensions and in the message.
fn assert_refused(body: &Value, limit: &str, words: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(limit_of(body), Some(limit), "{body:#}");
    assert!(
        body["errors"][0]["extensions"]["max"].as_u64().is_some(),
        "{body:#}"
    );
    assert!(message_of(body).contains(words), "{body:#}");
    assert!(message_of(body).contains("the limit is"), "{body:#}");
    assert!(
        body.get("data").is_none(),
        "a refused document has no data: {body:#}"
    );
}

async fn still_answers(app: &TestApp) {
    let token = app.role("alder", "SOCIAL_WORKER");
    let data = app.ok(&token, "{ viewer { subject } }", json!({})).await;
    assert_eq!(data["viewer"]["subject"], "social_worker-alder");
}

/// `{ child(id:) { siblingGroup { members { siblingGroup { members … } } } } }`, `levels` pairs deep.
fn nested_siblings(levels: usize) -> String {
    let mut query = format!("{{ child(id: \"{}\") {{ ", encode_id("Child", 999_999));
    for _ in 0..levels {
        query.push_str("siblingGroup { members { ");
    }
    query.push_str("id ");
    for _ in 0..levels {
        query.push_str("} } ");
    }
    query.push_str("} }");
    query
}

/// `copies` aliased pages of `first` children, each child with its sibling group's members.
fn pages_of_children(copies: usize, first: u32) -> String {
    let mut query = String::from("{ ");
    for i in 0..copies {
        query.push_str(&format!(
            "c{i}: children(first: {first}) {{ edges {{ node {{ siblingGroup {{ members {{ id legalName }} }} }} }} }} "
        ));
    }
    query.push('}');
    query
}

async fn abusive_documents_are_refused_with_the_limit_named_and_the_server_keeps_answering(
    app: TestApp,
) {
    // Depth: nested fields, and the same nesting hidden in fragments.
    let (status, _, body) = post(&app, None, &json!({ "query": nested_siblings(10) })).await;
    assert_eq!(
        status, 200,
        "application/json answers 200 for a document refused"
    );
    assert_refused(&body, "depth", "nested too deeply");
    let mut fragments = String::from("{ child(id: \"x\") { ...F0 } }\n");
    for i in 0..10 {
        fragments.push_str(&format!(
            "fragment F{i} on Child {{ siblingGroup {{ members {{ ...F{} }} }} }}\n",
            i + 1
        ));
    }
    fragments.push_str("fragment F10 on Child { id }\n");
    let (_, _, body) = post(&app, None, &json!({ "query": fragments })).await;
    assert_refused(&body, "depth", "nested too deeply");
    let (_, _, body) = post(&app, None, &json!({ "query": nested_siblings(3) })).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("NOT_FOUND"),
        "a shallow query runs: {body:#}"
    );
    still_answers(&app).await;

    // Complexity: ten pages of 100 cost 10 × 100 × one child; ten pages of 10 do not.
    let (_, _, body) = post(&app, None, &json!({ "query": pages_of_children(10, 100) })).await;
    assert_refused(&body, "complexity", "too complex");
    let (_, _, body) = post(&app, None, &json!({ "query": pages_of_children(10, 10) })).await;
    assert!(
        body.get("errors").is_none(),
        "small pages are within the limit: {body:#}"
    );
    assert_eq!(body["data"]["c0"]["edges"], json!([]));
    still_answers(&app).await;

    // Aliases: 200 aliased `viewer` fields.
    let aliased: String = (0..200)
        .map(|i| format!("v{i}: viewer {{ subject }} "))
        .collect();
    let (_, _, body) = post(&app, None, &json!({ "query": format!("{{ {aliased} }}") })).await;
    assert_refused(&body, "aliases", "too many aliases");
    let (_, _, body) = post(
        &app,
        None,
        &json!({ "query": "{ a: viewer { subject } b: viewer { subject } }" }),
    )
    .await;
    assert_eq!(
        body["data"]["b"]["subject"], "social_worker-alder",
        "{body:#}"
    );
    still_answers(&app).await;

    // Fragments spreading each other twice over: 2^30 fields once expanded.
    let mut bomb = String::from("{ ...B0 }\n");
    for i in 0..30 {
        bomb.push_str(&format!(
            "fragment B{i} on Query {{ ...B{} ...B{} }}\n",
            i + 1,
            i + 1
        ));
    }
    bomb.push_str("fragment B30 on Query { __typename }\n");
    let (_, _, body) = post(&app, None, &json!({ "query": bomb })).await;
    assert_refused(&body, "complexity", "too complex");
    still_answers(&app).await;

    // Batches: 100 operations are refused; two are answered in order.
    let batch: Vec<Value> = (0..100)
        .map(|_| json!({ "query": "{ viewer { subject } }" }))
        .collect();
    let (status, _, body) = post(&app, None, &Value::Array(batch)).await;
    assert_eq!(status, 400);
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(limit_of(&body), Some("batchSize"));
    assert!(
        message_of(&body).contains("100 operations, the limit is 10"),
        "{body:#}"
    );
    let (status, _, body) = post(
        &app,
        None,
        &json!([{ "query": "{ viewer { subject } }" }, { "query": "{ __typename }" }]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["data"]["viewer"]["subject"], "social_worker-alder");
    assert_eq!(body[1]["data"]["__typename"], "Query");
    still_answers(&app).await;

    // Size: a 1 MB document (mostly a comment) is refused before parsing; a 2 MB body is
    // refused before it is read to the end.
    let huge = format!("{{ viewer {{ subject }} }}\n#{}", "x".repeat(1_000_000));
    let (status, _, body) = post(&app, None, &json!({ "query": huge })).await;
    assert_eq!(status, 200);
    assert_refused(&body, "querySize", "too large");
    let (status, _, body) = post(&app, Some(GRAPHQL_RESPONSE), &json!({ "query": huge })).await;
    assert_eq!(
        status, 400,
        "a refused document is a 400 under graphql-response+json"
    );
    assert_refused(&body, "querySize", "too large");
    let long_string = format!("{{ viewer {{ subject }} }}\n#{}", "y".repeat(2_000_000));
    let (status, _, body) = post(&app, None, &json!({ "query": long_string })).await;
    assert_eq!(status, 413);
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(limit_of(&body), Some("bodySize"));
    // The body was not read to its end, so the connection is closed, and says so: a client
    // that reused it would get a broken answer to its next request.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(CONTENT_TYPE, "application/json")
        .body(json!({ "query": long_string }).to_string())
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), 413);
    assert_eq!(response.headers()["connection"], "close");
    for _ in 0..5 {
        still_answers(&app).await;
    }

    // Over GET, the size is checked before anything parses the document.
    let response = app
        .get("/graphql")
        .query(&[("query", format!("{{ __typename }}#{}", "z".repeat(30_000)))])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(limit_of(&body), Some("querySize"), "{body:#}");
    still_answers(&app).await;
}

#[tokio::test]
async fn limits_are_configurable() {
    let app = TestApp::spawn_sqlite_with(|config| {
        config.limits.max_depth = 2;
        config.limits.max_aliases = 1;
        config.limits.max_batch = 1;
    })
    .await;
    let (_, _, body) = post(&app, None, &json!({ "query": "{ viewer { subject } }" })).await;
    assert_eq!(body["data"]["viewer"]["subject"], "social_worker-alder");
    for (query, limit, words) in [
        (
            "{ viewer { consortium { code } } }",
            "depth",
            "depth 3, the limit is 2",
        ),
        (
            "{ a: __typename b: __typename }",
            "aliases",
            "2, the limit is 1",
        ),
    ] {
        let (_, _, body) = post(&app, None, &json!({ "query": query })).await;
        assert_refused(&body, limit, words);
    }
    let (status, _, body) = post(
        &app,
        None,
        &json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(limit_of(&body), Some("batchSize"));
}

/// The serving pool's sessions carry the statement timeout: PostgreSQL cancels a statement
/// that runs past it, and the server goes on answering.
#[tokio::test]
async fn postgres_cancels_a_statement_that_runs_past_the_timeout() {
    let mut config = test_config(&fresh_postgres_database().await);
    config.statement_timeout = Some(Duration::from_millis(200));
    let app = TestApp::spawn_with(config, Backend::Postgres, None, true).await;
    let started = Instant::now();
    let error = app
        .state
        .db
        .execute_unprepared("SELECT pg_sleep(10)")
        .await
        .expect_err("the statement is cancelled");
    assert!(error.to_string().contains("statement timeout"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    app.state
        .db
        .execute_unprepared("SELECT pg_sleep(0.05)")
        .await
        .expect("a statement within the limit runs");
    still_answers(&app).await;
}

/// A SQLite app whose callers each have a bucket of `capacity` points, draining
/// `leak_per_second`.
async fn rate_limited_app(capacity: u64, leak_per_second: u64) -> TestApp {
    TestApp::spawn_sqlite_with(|config| {
        config.rate_limit = Some(permanence::infra::bucket::LeakyBucket {
            capacity,
            leak_per_second,
        });
    })
    .await
}

async fn production_app() -> TestApp {
    TestApp::spawn_sqlite_with(|config| {
        config.environment = Environment::Production;
    })
    .await
}

#[tokio::test]
async fn production_hides_introspection_suggestions_and_graphiql() {
    let app = production_app().await;
    let token = app.role("alder", "SOCIAL_WORKER");

    let introspection = app
        .gql(Some(&token), "{ __schema { types { name } } }", json!({}))
        .await;
    // async-graphql answers introspection with null in production rather than an error.
    assert!(
        introspection["data"]["__schema"].is_null(),
        "no schema in production: {introspection:#}"
    );
    assert!(
        !introspection.to_string().contains("Child"),
        "{introspection:#}"
    );
    let by_type = app
        .gql(
            Some(&token),
            "{ __type(name: \"Child\") { fields { name } } }",
            json!({}),
        )
        .await;
    assert!(
        by_type["data"]["__type"].is_null(),
        "no type in production: {by_type:#}"
    );

    let misspelled = app
        .gql(Some(&token), "{ viewr { subject } }", json!({}))
        .await;
    let message = message_of(&misspelled);
    assert!(message.contains("viewr"), "{misspelled:#}");
    assert!(
        !message.contains("Did you mean"),
        "no suggestions in production: {message}"
    );

    let page = app.get("/graphql").send().await.unwrap();
    assert_eq!(page.status(), 404, "no GraphiQL in production");

    // The service itself still answers.
    let data = app.ok(&token, "{ viewer { subject } }", json!({})).await;
    assert_eq!(data["viewer"]["subject"], "social_worker-alder");
}

/// Validation messages in production name the field at fault but none of the schema's
/// types (introspection is off; the messages must not give the schema away either).
#[tokio::test]
async fn production_validation_messages_name_no_types() {
    let app = production_app().await;
    let token = app.role("alder", "SOCIAL_WORKER");
    let cases = [
        ("{ viewr { subject } }", json!({}), "viewr"),
        ("{ viewer { nickname } }", json!({}), "nickname"),
        (
            "query($id: ID!) { child(id: $id) { id shoeSize } }",
            json!({ "id": encode_id("Child", 1) }),
            "shoeSize",
        ),
        (
            "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { id } } }",
            json!({ "input": { "id": encode_id("Child", 1), "expectedVersion": 1, "favouriteColour": "red" } }),
            "favouriteColour",
        ),
        ("{ child { id } }", json!({}), "id"),
        ("{ viewer }", json!({}), "viewer"),
        // Variables that do not coerce are refused when the operation runs, not while
        // it is validated: their messages are rewritten all the same.
        (
            "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { id } } }",
            json!({ "input": { "id": encode_id("Child", 1), "expectedVersion": 1, "gender": "PURPLE" } }),
            "PURPLE",
        ),
        (
            "query($d: Date) { matchSuggestions(asOf: $d) { children { __typename } } }",
            json!({ "d": "2026-1-1" }),
            "asOf",
        ),
    ];
    let sdl = permanence::graphql::sdl();
    let type_names: Vec<&str> = sdl
        .lines()
        .filter_map(|l| {
            [
                "type ",
                "input ",
                "interface ",
                "enum ",
                "union ",
                "scalar ",
            ]
            .iter()
            .find_map(|kind| l.strip_prefix(kind))
        })
        .filter_map(|rest| rest.split([' ', '{']).next())
        .filter(|name| !name.is_empty())
        .collect();
    assert!(type_names.contains(&"Child") && type_names.contains(&"UpdateChildInput"));
    for (query, variables, named) in cases {
        let body = app.gql(Some(&token), query, variables).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        // Refused while validated: no `data`; while running: `data` is null.
        assert!(body["data"].is_null(), "{body:#}");
        for error in body["errors"].as_array().expect("errors") {
            let message = error["message"].as_str().unwrap_or_default();
            for name in &type_names {
                assert!(
                    !message.contains(&format!("\"{name}\"")),
                    "{query}: {message:?} names the type {name}"
                );
            }
        }
        let first = message_of(&body);
        assert!(
            first.contains(named) || first.contains(permanence::graphql::messages::NOT_VALID),
            "{query}: {first:?}"
        );
    }
    // The field at fault is still named where no type is needed to say it.
    let body = app
        .gql(Some(&token), "{ viewr { subject } }", json!({}))
        .await;
    assert_eq!(message_of(&body), r#"Unknown field "viewr"."#, "{body:#}");
}

/// A rate-limited operation is a 429 with `Retry-After` under every media type (the
/// README's GraphQL-over-HTTP rules).
#[tokio::test]
async fn a_rate_limited_operation_is_a_429_whatever_the_accept_header() {
    // Room for one `{ viewer { subject } }` (cost 2), refilling a point a second.
    let app = rate_limited_app(3, 1).await;
    // Each media type with a subject (and so a bucket) of its own.
    for (accept, authority) in [
        (None, "alder"),
        (Some("application/json"), "birch"),
        (Some(GRAPHQL_RESPONSE), "cedar"),
        (Some("*/*"), "damson"),
    ] {
        let token = app.role(authority, "SOCIAL_WORKER");
        let mut refused = None;
        for _ in 0..5 {
            let mut request = app
                .client
                .post(format!("{}/graphql", app.address))
                .bearer_auth(&token)
                .json(&json!({ "query": "{ viewer { subject } }" }));
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            let response = request.send().await.expect("answered");
            if response.status() != 200 {
                refused = Some(response);
                break;
            }
        }
        let response = refused.unwrap_or_else(|| panic!("{accept:?}: never refused"));
        assert_eq!(response.status(), 429, "{accept:?}");
        let retry_after = response.headers()["retry-after"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(
            error_code(&body).as_deref(),
            Some("RATE_LIMITED"),
            "{body:#}"
        );
        assert!(body.get("data").is_none(), "{body:#}");
        assert_eq!(
            body["errors"][0]["extensions"]["retryAfterSeconds"].to_string(),
            retry_after,
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn development_shows_introspection_suggestions_and_graphiql() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.role("alder", "SOCIAL_WORKER");
    let data = app
        .ok(&token, "{ __schema { types { name } } }", json!({}))
        .await;
    let types = data["__schema"]["types"].as_array().expect("types");
    assert!(types.iter().any(|t| t["name"] == "Child"), "{data:#}");

    let misspelled = app
        .gql(Some(&token), "{ viewr { subject } }", json!({}))
        .await;
    assert!(
        message_of(&misspelled).contains("Did you mean"),
        "{misspelled:#}"
    );

    let page = app.get("/graphql").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );

    // GraphiQL's own introspection query (graphql-js, as the audit's `graphql` ships it)
    // passes the depth limit.
    let body = app
        .gql(Some(&token), GRAPHIQL_INTROSPECTION, json!({}))
        .await;
    assert!(body.get("errors").is_none(), "{body:#}");
}

#[tokio::test]
async fn responses_follow_graphql_over_http_content_negotiation() {
    let app = TestApp::spawn(Backend::Sqlite).await;

    // graphql-response+json when accepted; application/json otherwise.
    let (status, content_type, body) = post(
        &app,
        Some(GRAPHQL_RESPONSE),
        &json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    assert_eq!(body["data"]["__typename"], "Query");
    let (status, content_type, _) = post(
        &app,
        Some("application/graphql-response+json, application/json;q=0.9"),
        &json!({ "query": "{ __typename }" }),
    )
    .await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with(GRAPHQL_RESPONSE), "{content_type}");
    for accept in [None, Some("application/json"), Some("*/*")] {
        let (status, content_type, _) =
            post(&app, accept, &json!({ "query": "{ __typename }" })).await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("application/json"),
            "{accept:?}: {content_type}"
        );
    }

    // A document that does not parse, or fails validation: 400 and no data under
    // graphql-response+json; 200 under application/json.
    for query in ["{", "{ noSuchField }", "query($id: ID!) { __typename }"] {
        let (status, content_type, body) =
            post(&app, Some(GRAPHQL_RESPONSE), &json!({ "query": query })).await;
        assert_eq!(status, 400, "{query}: {body:#}");
        assert!(content_type.starts_with(GRAPHQL_RESPONSE));
        assert!(body.get("data").is_none(), "{query}: {body:#}");
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{query}"
        );
        let (status, content_type, body) =
            post(&app, Some("application/json"), &json!({ "query": query })).await;
        assert_eq!(status, 200, "{query}: {body:#}");
        assert!(content_type.starts_with("application/json"));
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{query}"
        );
    }

    // An error while running a well-formed request is a 200 with data under both.
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let (status, _, body) = post(
            &app,
            Some(accept),
            &json!({
                "query": "query($id: ID!) { child(id: $id) { id } }",
                "variables": { "id": encode_id("Child", 999_999) },
            }),
        )
        .await;
        assert_eq!(status, 200, "{accept}: {body:#}");
        assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
        assert!(body.get("data").is_some(), "{accept}: {body:#}");
    }

    // Malformed HTTP requests: JSON errors with a code, never framework text.
    for (body, expected) in [
        ("{ \"not a JSON".to_owned(), 400),
        (String::new(), 400),
        (json!({ "notquery": "{ __typename }" }).to_string(), 400),
        (json!({ "query": 1 }).to_string(), 400),
        (
            json!({ "query": "{ __typename }", "variables": "x" }).to_string(),
            400,
        ),
        (
            json!({ "query": "{ __typename }", "operationName": false }).to_string(),
            400,
        ),
        (
            json!({ "query": "{ __typename }", "extensions": [1] }).to_string(),
            400,
        ),
        ("3".to_owned(), 400),
    ] {
        let (status, _, response) = post_raw(&app, Some(GRAPHQL_RESPONSE), body.clone()).await;
        assert_eq!(status, expected, "{body}: {response:#}");
        assert_eq!(
            error_code(&response).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body}"
        );
    }
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header(CONTENT_TYPE, "text/plain")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415, "only application/json is read");
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));

    // Mutations are refused over GET, with the media type asked for.
    let response = app
        .get("/graphql")
        .query(&[("query", "mutation { __typename }")])
        .header(ACCEPT, GRAPHQL_RESPONSE)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(GRAPHQL_RESPONSE)
    );
}

/// `[[[…"x"…]]]`, `levels` lists deep.
fn nested_list(levels: usize) -> String {
    format!("{}\"x\"{}", "[".repeat(levels), "]".repeat(levels))
}

/// `{a: {a: … 1 …}}`, `levels` objects deep.
fn nested_object(levels: usize) -> String {
    format!("{}1{}", "{a: ".repeat(levels), "}".repeat(levels))
}

/// A JSON value of `levels` nested arrays.
fn nested_json(levels: usize) -> Value {
    serde_json::from_str(&format!("{}1{}", "[".repeat(levels), "]".repeat(levels)))
        .expect("JSON within serde_json's own limit")
}

fn assert_too_nested(body: &Value, field: &str) {
    assert_eq!(
        error_code(body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(limit_of(body), Some("nesting"), "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body:#}");
    assert_eq!(body["errors"][0]["extensions"]["max"], 32, "{body:#}");
    assert!(message_of(body).contains("nested too deeply"), "{body:#}");
    assert!(body.get("data").is_none(), "{body:#}");
}

/// Values nested hundreds or thousands deep used to overflow a worker's stack past the
/// parser and abort the whole process (this test binary included). Now the document's
/// brackets and the variables' lists and objects are counted before anything recursive
/// reads them.
async fn values_nested_thousands_deep_are_refused_over_post_get_and_the_websocket(app: TestApp) {
    let mut documents = Vec::new();
    for levels in [300, 400, 600, 1_000, 2_000] {
        documents.push(format!("{{ node(id: {}) {{ id }} }}", nested_list(levels)));
        documents.push(format!(
            "{{ children(first: 1, filter: {}) {{ totalCount }} }}",
            nested_object(levels)
        ));
        documents.push(format!(
            "{{ viewer @skip(if: {}) {{ subject }} }}",
            nested_list(levels)
        ));
    }
    // Every document is sent before any answer is judged: without the limit, one of them
    // takes the whole process down (this test binary with it).
    let mut answers = Vec::new();
    for document in &documents {
        assert!(document.len() < 20 * 1024, "well within the size limit");
        answers.push(post(&app, None, &json!({ "query": document })).await);
        still_answers(&app).await;
    }
    for (status, _, body) in answers {
        assert_eq!(status, 200);
        assert_too_nested(&body, "query");
    }

    // A block string left open hides nothing: the parser would read `""` and then a new
    // string, and see the brackets after it; such a string is refused before parsing.
    let unclosed = format!(
        "{{ children(filter: {{ authorityIds: [\"\"\" \" {}\"x\"{} ] }}) {{ totalCount }} }}",
        "[".repeat(1_000),
        "]".repeat(1_000)
    );
    let (status, _, body) = post(&app, None, &json!({ "query": unclosed })).await;
    assert_eq!(status, 200);
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert!(
        message_of(&body).contains("block string is not closed"),
        "{body:#}"
    );
    still_answers(&app).await;

    // Brackets inside strings, block strings and comments are text, not nesting.
    let quoted = format!(
        "{{ node(id: \"{}\") {{ id }} }} # {}\n",
        "[".repeat(100),
        "{".repeat(100)
    );
    let (_, _, body) = post(&app, None, &json!({ "query": quoted })).await;
    assert_ne!(limit_of(&body), Some("nesting"), "{body:#}");
    let block = format!("{{ node(id: \"\"\"{}\"\"\") {{ id }} }}", "(".repeat(100));
    let (_, _, body) = post(&app, None, &json!({ "query": block })).await;
    assert_ne!(limit_of(&body), Some("nesting"), "{body:#}");
    // Nesting within the limit is answered as usual (here: a list is not an ID).
    let shallow = format!("{{ node(id: {}) {{ id }} }}", nested_list(20));
    let (_, _, body) = post(&app, None, &json!({ "query": shallow })).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_ne!(limit_of(&body), Some("nesting"), "{body:#}");

    // Variables: within JSON's own limit (128) but deeper than ours.
    let (status, _, body) = post(
        &app,
        None,
        &json!({ "query": "query($v: ID!) { node(id: $v) { id } }", "variables": { "v": nested_json(100) } }),
    )
    .await;
    assert_eq!(status, 200);
    assert_too_nested(&body, "variables");
    // Past JSON's limit the body itself is refused.
    let deep_body = format!(
        "{{\"query\":\"query($v: ID!) {{ node(id: $v) {{ id }} }}\",\"variables\":{{\"v\":{}1{}}}}}",
        "[".repeat(2_000),
        "]".repeat(2_000)
    );
    let (status, _, body) = post_raw(&app, None, deep_body).await;
    assert_eq!(status, 400);
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    still_answers(&app).await;

    // GET: the same documents, and variables in the query string.
    for document in &documents {
        let response = app
            .get("/graphql")
            .bearer_auth(app.role("alder", "SOCIAL_WORKER"))
            .query(&[("query", document.as_str())])
            .send()
            .await
            .expect("GET sent");
        let body: Value = response.json().await.expect("JSON");
        assert_too_nested(&body, "query");
        still_answers(&app).await;
    }
    let response = app
        .get("/graphql")
        .bearer_auth(app.role("alder", "SOCIAL_WORKER"))
        .query(&[
            ("query", "query($v: ID!) { node(id: $v) { id } }".to_owned()),
            ("variables", json!({ "v": nested_json(100) }).to_string()),
        ])
        .send()
        .await
        .expect("GET sent");
    let body: Value = response.json().await.expect("JSON");
    assert_too_nested(&body, "variables");
    still_answers(&app).await;

    // The websocket: subscribes carrying the documents, then the variables.
    use crate::notifications::{Received, connected, receive, send};
    let token = app.role("alder", "SOCIAL_WORKER");
    let mut socket = connected(&app, &token).await;
    let mut payloads: Vec<Value> = [400, 2_000]
        .into_iter()
        .map(|levels| {
            json!({ "query": format!(
                "subscription {{ notifications(kinds: {}) {{ kind }} }}",
                nested_list(levels)
            ) })
        })
        .collect();
    payloads.extend(documents.iter().map(|d| json!({ "query": d })));
    payloads.push(json!({
        "query": "subscription($v: [NotificationKind!]) { notifications(kinds: $v) { kind } }",
        "variables": { "v": nested_json(100) }
    }));
    for (n, payload) in payloads.into_iter().enumerate() {
        let id = format!("s{n}");
        send(
            &mut socket,
            json!({ "id": id, "type": "subscribe", "payload": payload }),
        )
        .await;
        // async-graphql answers an operation refused before it runs with `next` (carrying
        // the errors) then `complete`; a protocol `error` carries them bare.
        let error = match receive(&mut socket, Duration::from_secs(10)).await {
            Some(Received::Message(message)) if message["type"] == "next" => {
                assert_eq!(message["id"], id, "{message:#}");
                assert!(message["payload"]["data"].is_null(), "{message:#}");
                match receive(&mut socket, Duration::from_secs(10)).await {
                    Some(Received::Message(end)) => assert_eq!(end["type"], "complete"),
                    other => panic!("no complete after the refusal: {other:?}"),
                }
                message["payload"]["errors"][0].clone()
            }
            Some(Received::Message(message)) if message["type"] == "error" => {
                assert_eq!(message["id"], id, "{message:#}");
                message["payload"][0].clone()
            }
            other => panic!("no refusal for subscribe {n}: {other:?}"),
        };
        assert_eq!(error["extensions"]["limit"], "nesting", "{error:#}");
    }
    still_answers(&app).await;
}

const UPDATE_HOUSEHOLD: &str = "mutation($input: UpdateHouseholdInput!) { updateHousehold(input: $input) { household { version } } }";
const HOUSEHOLD_VERSION: &str = "query($id: ID!) { household(id: $id) { version } }";

/// A list of 100,000 languages used to be stored, and then served in every shared profile.
/// Every list in a request is bounded; the languages of a profile more tightly still.
async fn long_lists_are_refused_and_change_nothing(app: TestApp) {
    let (id, version) = create_household(&app, "alder", "Lister").await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let languages = |n: usize| -> Vec<String> { (0..n).map(|i| format!("L{i}")).collect() };
    let update = |n: usize| json!({ "input": { "id": id, "expectedVersion": version, "approval": { "languages": languages(n) } } });

    // In variables: 100,000 and 101 items are over the request-wide limit of 100.
    for n in [100_000, 101] {
        let body = app.gql(Some(&ro), UPDATE_HOUSEHOLD, update(n)).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("BAD_USER_INPUT"),
            "{body:#}"
        );
        assert_eq!(limit_of(&body), Some("listLength"), "{body:#}");
        assert_eq!(error_field(&body).as_deref(), Some("variables"), "{body:#}");
        assert!(message_of(&body).contains("the limit is 100"), "{body:#}");
    }
    // Inline in the document: the same limit.
    let inline = format!(
        "mutation {{ updateHousehold(input: {{ id: \"{id}\", expectedVersion: {version}, approval: {{ languages: [{}] }} }}) {{ household {{ version }} }} }}",
        languages(150)
            .iter()
            .map(|l| format!("\"{l}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let body = app.gql(Some(&ro), &inline, json!({})).await;
    assert_eq!(limit_of(&body), Some("listLength"), "{body:#}");
    assert_eq!(error_field(&body).as_deref(), Some("query"), "{body:#}");
    let filter = format!(
        "{{ children(filter: {{ authorityIds: [{}] }}) {{ totalCount }} }}",
        vec!["\"x\""; 500].join(",")
    );
    let body = app
        .gql(
            Some(&app.role("alder", "SOCIAL_WORKER")),
            &filter,
            json!({}),
        )
        .await;
    assert_eq!(limit_of(&body), Some("listLength"), "{body:#}");
    // Within the request limit, a profile still lists at most 20 languages.
    let body = app.gql(Some(&ro), UPDATE_HOUSEHOLD, update(21)).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("BAD_USER_INPUT"),
        "{body:#}"
    );
    assert_eq!(
        error_field(&body).as_deref(),
        Some("approval.languages"),
        "{body:#}"
    );
    // Nothing was written by any refusal.
    let data = app.ok(&ro, HOUSEHOLD_VERSION, json!({ "id": id })).await;
    assert_eq!(data["household"]["version"], version);
    // Twenty are fine.
    let data = app.ok(&ro, UPDATE_HOUSEHOLD, update(20)).await;
    assert_eq!(data["updateHousehold"]["household"]["version"], version + 1);
}

/// `%` and `_` in `profileNameContains` used to be LIKE wildcards (or dropped): they match
/// only themselves.
async fn wildcards_in_contains_filters_match_only_themselves(app: TestApp) {
    for name in ["Ann", "A_n", "Half 50% Bo", "Back\\slash"] {
        create_child(&app, "alder", name, json!({})).await;
        create_household(&app, "alder", name).await;
    }
    let sw = app.role("alder", "SOCIAL_WORKER");
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for (text, expected) in [
        ("_", vec!["A_n"]),
        ("a_n", vec!["A_n"]),
        ("%", vec!["Half 50% Bo"]),
        ("50%", vec!["Half 50% Bo"]),
        ("\\", vec!["Back\\slash"]),
        ("an", vec!["Ann"]),
        ("%%", vec![]),
    ] {
        for (token, register) in [(&sw, "children"), (&ro, "households")] {
            let query = format!(
                "query($t: String) {{ {register}(first: 10, filter: {{ profileNameContains: $t }}) {{ nodes {{ profileName }} }} }}"
            );
            let data = app.ok(token, &query, json!({ "t": text })).await;
            let mut names: Vec<&str> = data[register]["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .filter_map(|n| n["profileName"].as_str())
                .collect();
            names.sort_unstable();
            assert_eq!(names, expected, "{register} containing {text:?}");
        }
    }
}

/// A report's cost grows with the figure sets it answers with: a ten-year scorecard costs
/// more than a one-year one, a funnel by enquiry month over five years more than over one.
/// (Before the reports were costed by their rows every period cost the same.)
#[tokio::test]
async fn a_report_costs_the_rows_it_can_answer_with() {
    let app = rate_limited_app(100_000, 1_000).await;
    // Staff reading both authorities as they are: free periods (a board analyst is served
    // the fixed periods of the publication).
    let staff = app.token(
        "manager-of-two",
        &[("alder", &["MANAGER"]), ("birch", &["MANAGER"])],
    );
    let requested = |body: &Value| {
        assert!(body.get("errors").is_none(), "{body:#}");
        body["extensions"]["cost"]["requested"]
            .as_u64()
            .expect("requested")
    };
    let ids = json!([app.authority_id("alder"), app.authority_id("birch")]);

    // The selection names 4 figure sets of 3 points each (+ the 2 lists): 14 points.
    let scorecard = |from: &str, to: &str| {
        format!(
            r#"query($ids: [ID!]) {{ scorecard(period: {{ from: "{from}", to: "{to}" }}, authorityIds: $ids) {{
                 period {{ total {{ cohort {{ value }} }} authorities {{ cohort {{ value }} }} }}
                 years {{ total {{ cohort {{ value }} }} authorities {{ cohort {{ value }} }} }} }} }}"#
        )
    };
    let one = requested(
        &app.gql(
            Some(&staff),
            &scorecard("2023-04-01", "2024-03-31"),
            json!({ "ids": ids }),
        )
        .await,
    );
    let ten = requested(
        &app.gql(
            Some(&staff),
            &scorecard("2016-04-01", "2026-03-31"),
            json!({ "ids": ids }),
        )
        .await,
    );
    // One year: (1 year + the period) × (2 authorities + the total) = 6 sets, 2 × 14 + 1.
    assert_eq!(one, 29);
    // Ten years: 11 × 3 = 33 sets, 9 × 14 + 1.
    assert_eq!(ten, 127);

    let funnel = |from: &str, to: &str| {
        format!(
            r#"{{ recruitmentFunnel(period: {{ from: "{from}", to: "{to}" }}, asOf: "2025-03-31", groupBy: [ENQUIRY_MONTH]) {{
                 total {{ cohort {{ size {{ value }} }} }} groups {{ cohort {{ size {{ value }} }} }} }} }}"#
        )
    };
    let year = requested(
        &app.gql(Some(&staff), &funnel("2024-01-01", "2024-12-31"), json!({}))
            .await,
    );
    let five = requested(
        &app.gql(Some(&staff), &funnel("2020-01-01", "2024-12-31"), json!({}))
            .await,
    );
    // 12 months and the total: 7 × 8 + 1; 60 months: 31 × 8 + 1.
    assert_eq!((year, five), (57, 249));
}

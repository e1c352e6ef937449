//! Browsers: CORS for the configured origins (`PERMANENCE_CORS_ORIGINS`) on `/graphql` and
//! the CSV exports, over real HTTP — preflights as a browser sends them, and actual
//! requests carrying `Origin`. Other origins get no `Access-Control-Allow-Origin`, and
//! with no origin configured there are no CORS headers at all.
use permanence::config::CorsOrigins;
use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

const FINDER: &str = "https://finder.alder.example";
const BOARD: &str = "http://localhost:5173";
const STRANGER: &str = "https://elsewhere.example";

/// A server whose pages at `FINDER` and `BOARD` may call it.
async fn spawn_with_origins() -> TestApp {
    TestApp::spawn_sqlite_with(|config| {
        config.clients.cors_origins = CorsOrigins::List(vec![FINDER.into(), BOARD.into()]);
    })
    .await
}

/// A preflight of `method` on `path` with `headers`, as a page at `origin` sends it.
async fn preflight(
    app: &TestApp,
    path: &str,
    origin: &str,
    method: &str,
    headers: &str,
) -> Response {
    app.client
        .request(Method::OPTIONS, format!("{}{path}", app.address))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", headers)
        .send()
        .await
        .expect("preflight sent")
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("ASCII"))
}

/// The comma-separated items of a header, lowercased.
fn items(response: &Response, name: &str) -> Vec<String> {
    header(response, name)
        .unwrap_or_default()
        .split(',')
        .map(|i| i.trim().to_ascii_lowercase())
        .filter(|i| !i.is_empty())
        .collect()
}

/// Whether a response has any `Access-Control-*` header.
fn has_cors_headers(response: &Response) -> bool {
    response
        .headers()
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"))
}

async fn post_viewer(app: &TestApp, origin: &str, token: &str) -> Response {
    app.client
        .post(format!("{}/graphql", app.address))
        .header("Origin", origin)
        .bearer_auth(token)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .expect("request sent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_from_an_allowed_origin_is_answered_before_authentication() {
    let app = spawn_with_origins().await;
    for origin in [FINDER, BOARD] {
        let response = preflight(
            &app,
            "/graphql",
            origin,
            "POST",
            "authorization,content-type,x-request-id",
        )
        .await;
        assert!(response.status().is_success(), "{}", response.status());
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            Some(origin)
        );
        let methods = items(&response, "access-control-allow-methods");
        for method in ["get", "post", "options"] {
            assert!(methods.contains(&method.to_owned()), "{methods:?}");
        }
        let headers = items(&response, "access-control-allow-headers");
        for name in ["authorization", "content-type", "x-request-id", "accept"] {
            assert!(headers.contains(&name.to_owned()), "{headers:?}");
        }
        assert_eq!(header(&response, "access-control-max-age"), Some("3600"));
        assert_eq!(
            header(&response, "access-control-allow-credentials"),
            None,
            "bearer tokens need no credentials"
        );
        assert!(
            items(&response, "vary").contains(&"origin".to_owned()),
            "caches keep answers per origin"
        );
    }
    // The CSV exports too: a GET with a bearer token is preflighted.
    let response = preflight(
        &app,
        "/export/scorecard.csv",
        FINDER,
        "GET",
        "authorization",
    )
    .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(FINDER)
    );
    assert!(items(&response, "access-control-allow-headers").contains(&"authorization".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_origin_is_not_allowed() {
    let app = spawn_with_origins().await;
    for path in ["/graphql", "/export/scorecard.csv"] {
        let response = preflight(&app, path, STRANGER, "POST", "authorization,content-type").await;
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{path}: the browser refuses the request"
        );
    }
    // A near miss is another origin: scheme, host and port must all match.
    for near in [
        "http://finder.alder.example",
        "https://finder.alder.example:8443",
        "https://finder.alder.example.attacker.example",
        "http://localhost:5174",
    ] {
        let response = preflight(&app, "/graphql", near, "POST", "authorization").await;
        assert_eq!(
            header(&response, "access-control-allow-origin"),
            None,
            "{near}"
        );
    }
    // The actual request is served (CORS is for browsers to enforce), but its answer does
    // not let a page of that origin read it.
    let token = app.role("alder", "FAMILY_FINDER");
    let response = post_viewer(&app, STRANGER, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "access-control-allow-origin"), None);
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_an_allowed_origin_reads_answers_and_refusals() {
    let app = spawn_with_origins().await;
    let token = app.role("alder", "FAMILY_FINDER");
    let response = post_viewer(&app, FINDER, &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(FINDER)
    );
    let exposed = items(&response, "access-control-expose-headers");
    for name in ["x-request-id", "retry-after"] {
        assert!(exposed.contains(&name.to_owned()), "{exposed:?}");
    }
    assert!(header(&response, "x-request-id").is_some());
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["viewer"]["subject"], "family_finder-alder");

    // A refused token: the page can read why.
    let response = post_viewer(&app, FINDER, "not-a-token").await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(FINDER)
    );

    // A query over GET, and a CSV export, likewise.
    let response = app
        .get("/graphql?query=%7B%20viewer%20%7B%20subject%20%7D%20%7D")
        .header("Origin", BOARD)
        .bearer_auth(&token)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(BOARD)
    );
    let manager = app.role("alder", "MANAGER");
    let response = app
        .get("/export/scorecard.csv?asOf=2024-06-30&authorities=alder")
        .header("Origin", FINDER)
        .bearer_auth(&manager)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        Some(FINDER)
    );
    assert!(
        items(&response, "access-control-expose-headers").contains(&"content-disposition".into())
    );

    // Routes browsers have no business calling cross-origin get nothing.
    let response = app
        .get("/healthz")
        .header("Origin", FINDER)
        .send()
        .await
        .expect("sent");
    assert!(!has_cors_headers(&response));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_configured_origins_there_are_no_cors_headers() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let response = preflight(
        &app,
        "/graphql",
        FINDER,
        "POST",
        "authorization,content-type",
    )
    .await;
    assert!(!has_cors_headers(&response), "{:?}", response.headers());
    assert!(!response.status().is_success(), "no preflight is answered");
    let token = app.role("alder", "FAMILY_FINDER");
    let response = post_viewer(&app, FINDER, &token).await;
    assert_eq!(response.status(), 200);
    assert!(!has_cors_headers(&response), "{:?}", response.headers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_origin_outside_production_is_a_star_without_credentials() {
    let app = TestApp::spawn_sqlite_with(|config| {
        config.clients.cors_origins = CorsOrigins::Any;
    })
    .await;
    let response = preflight(&app, "/graphql", STRANGER, "POST", "authorization").await;
    assert!(response.status().is_success());
    assert_eq!(header(&response, "access-control-allow-origin"), Some("*"));
    assert_eq!(header(&response, "access-control-allow-credentials"), None);
}

//! The pages the binary serves itself, with no internet: the board pack (`/board`) and
//! GraphiQL (`/graphql` in a browser), their assets with their types and caching, the
//! Content-Security-Policy of each page, and the demo's links that open the board signed
//! in. (What the board page shows is the browser test's, `tests/browser/`.)
use std::io::{BufRead, BufReader};

use permanence::cli::Environment;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION,
};
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::process::{Server, ask_as};

/// The `/board/assets/…` files a page names, in order.
fn assets_of(html: &str) -> Vec<String> {
    html.split("\"/board/assets/")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
        .collect()
}

/// A header of a response, as text ("" when it is missing).
fn header(response: &reqwest::Response, name: impl reqwest::header::AsHeaderName) -> &str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The directives of a Content-Security-Policy, by name.
fn directives(csp: &str) -> Vec<(String, Vec<String>)> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_owned();
            Some((name, words.map(str::to_owned).collect()))
        })
        .collect()
}

fn directive(csp: &str, name: &str) -> Vec<String> {
    directives(csp)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("the policy has no {name}: {csp}"))
}

/// The content type an asset must be served with, by its extension.
fn expected_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        other => panic!("an asset of an unexpected kind: {other:?} ({file})"),
    }
}

/// Fetches every asset a page names and checks its type, its caching and its revalidation.
async fn check_assets(app: &TestApp, html: &str) -> Vec<String> {
    let assets = assets_of(html);
    for file in &assets {
        let response = app
            .get(&format!("/board/assets/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(
            header(&response, CONTENT_TYPE),
            expected_type(file),
            "{file}"
        );
        assert_eq!(
            header(&response, CACHE_CONTROL),
            "public, max-age=31536000, immutable",
            "a content-hashed name is cached for good: {file}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let etag = header(&response, ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{file}: {etag:?}");
        let body = response.bytes().await.unwrap();
        assert!(body.len() > 100, "{file} has content");
        let again = app
            .get(&format!("/board/assets/{file}"))
            .header(IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{file} revalidates by its entity tag");
    }
    assets
}

#[tokio::test]
async fn the_board_page_and_its_assets_are_served_from_the_binary_under_a_strict_policy() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let page = app.get("/board").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    assert_eq!(header(&page, CACHE_CONTROL), "no-cache");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let csp = header(&page, CONTENT_SECURITY_POLICY).to_owned();
    assert_eq!(directive(&csp, "default-src"), ["'none'"], "{csp}");
    assert_eq!(
        directive(&csp, "script-src"),
        ["'self'"],
        "no inline script: {csp}"
    );
    assert_eq!(
        directive(&csp, "style-src"),
        ["'self'"],
        "no inline style: {csp}"
    );
    assert_eq!(directive(&csp, "connect-src"), ["'self'"], "{csp}");
    assert_eq!(directive(&csp, "frame-ancestors"), ["'none'"], "{csp}");
    let etag = header(&page, ETAG).to_owned();
    let html = page.text().await.unwrap();

    // Nothing from elsewhere, no inline script: every script has a source on this origin.
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "{html}"
    );
    for script in html.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(
            tag.contains("src=\"/board/assets/"),
            "an inline script: <script{tag}>"
        );
    }
    // The contract the browser test holds the page to.
    for marker in [
        "id=\"token\"",
        "id=\"sign-in\"",
        "id=\"sign-out\"",
        "id=\"as-of\"",
        "id=\"period\"",
        "id=\"authority\"",
        "id=\"apply\"",
        "data-panel=\"scorecard\"",
        "data-panel=\"funnel\"",
        "data-panel=\"flows\"",
        "data-panel=\"sufficiency\"",
        "data-panel=\"alerts\"",
    ] {
        assert!(html.contains(marker), "the page has {marker}");
    }
    assert_eq!(
        html.matches("data-export=").count(),
        5,
        "one export per panel"
    );

    let assets = check_assets(&app, &html).await;
    let kinds: Vec<&str> = assets.iter().filter_map(|a| a.rsplit('.').next()).collect();
    for kind in ["js", "css", "svg"] {
        assert!(
            kinds.contains(&kind),
            "the page names its {kind}: {assets:?}"
        );
    }

    // The page revalidates; an unknown asset is not found; /board/ is /board.
    let again = app
        .get("/board")
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let missing = app.get("/board/assets/board-NOPE.js").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let slash = client
        .get(format!("{}/board/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(slash.status(), 308);
    assert_eq!(header(&slash, LOCATION), "/board");
}

#[tokio::test]
async fn graphiql_is_served_from_the_binary_with_no_external_url() {
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let page = app
        .get("/graphql")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, CONTENT_TYPE), "text/html; charset=utf-8");
    let csp = header(&page, CONTENT_SECURITY_POLICY).to_owned();
    assert_eq!(
        directive(&csp, "script-src"),
        ["'self'"],
        "no inline script: {csp}"
    );
    assert_eq!(directive(&csp, "connect-src"), ["'self'"], "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("https://") && !html.contains("http://") && !html.contains("//unpkg"),
        "nothing from a CDN: {html}"
    );
    assert!(html.to_lowercase().contains("graphiql"));
    let assets = check_assets(&app, &html).await;
    assert!(
        assets
            .iter()
            .any(|a| a.starts_with("graphiql-") && a.ends_with(".js")),
        "{assets:?}"
    );
    assert!(
        assets
            .iter()
            .any(|a| a.starts_with("graphiql-") && a.ends_with(".css")),
        "{assets:?}"
    );
}

#[tokio::test]
async fn production_serves_the_board_but_not_graphiql_or_its_assets() {
    let app = TestApp::spawn_sqlite_with(|config| {
        config.environment = Environment::Production;
    })
    .await;
    let board = app.get("/board").send().await.unwrap();
    assert_eq!(
        board.status(),
        200,
        "board analysts use the page in production"
    );
    let html = board.text().await.unwrap();
    check_assets(&app, &html).await;

    let dev = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let graphiql = dev
        .get("/graphql")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let graphiql_assets: Vec<String> = assets_of(&graphiql)
        .into_iter()
        .filter(|a| a.starts_with("graphiql-"))
        .collect();
    assert!(!graphiql_assets.is_empty());
    for file in graphiql_assets {
        let response = app
            .get(&format!("/board/assets/{file}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "no GraphiQL in production: {file}");
    }
}

async fn viewer(address: &str, token: &str) -> Value {
    ask_as(
        address,
        token,
        "{ viewer { subject consortiumRoles memberships { authority { code } roles } } }",
    )
    .await
}

#[tokio::test]
async fn serve_demo_prints_links_that_open_the_board_signed_in() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
    let mut server = Server::start(&database_url, &[], &["--demo"]).await;
    let links: Vec<(String, String)> = BufReader::new(server.take_stdout())
        .lines()
        .map_while(Result::ok)
        .take_while(|l| !l.starts_with("Try:"))
        .filter_map(|l| {
            let (name, link) = l.trim().split_once(": http")?;
            Some((name.to_owned(), format!("http{link}")))
        })
        .filter(|(_, link)| link.contains("/board#token="))
        .collect();
    assert_eq!(
        links.len(),
        2,
        "a board analyst's link and a manager's: {links:?}"
    );
    let mut roles = Vec::new();
    for (name, link) in &links {
        let (page, token) = link.split_once("#token=").expect("a token in the fragment");
        assert_eq!(page, format!("{}/board", server.address), "{name}");
        let answer = server.client.get(page).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{name}: the link opens the page");
        let body = viewer(&server.address, token).await;
        assert!(body.get("errors").is_none(), "{name}: {body}");
        roles.push(body["data"]["viewer"].clone());
    }
    assert!(
        roles[0]["consortiumRoles"]
            .as_array()
            .unwrap()
            .contains(&json!("BOARD_ANALYST")),
        "the first link is a board analyst's: {roles:?}"
    );
    assert_eq!(
        roles[1]["memberships"][0]["roles"],
        json!(["MANAGER"]),
        "the second link is a manager's: {roles:?}"
    );
    assert!(server.terminate().await.success());
}

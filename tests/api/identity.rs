//! Identity (DESIGN §3): only well-formed, correctly signed tokens of the expected issuer,
//! audience and algorithm get in; claims naming what the deployment does not know are
//! ignored; the `token` command and production start-up refuse the development secret.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use permanence::auth::jwt::{Claims, DEVELOPMENT_SECRET, JwtKeys};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{CREATE_CHILD, TEST_SECRET, TestApp, error_code, test_claims, test_config};

const VIEWER: &str = "{ viewer { subject } }";

/// Claims for `sub` in consortium `demo`, a social worker of alder, valid for an hour,
/// without a name.
fn claims(sub: &str) -> Claims {
    let memberships: &[(&str, &[&str])] = &[("alder", &["SOCIAL_WORKER"])];
    Claims {
        name: None,
        ..test_claims(sub, "demo", memberships, &[])
    }
}

fn sign(claims: &Claims, algorithm: Algorithm, secret: &[u8]) -> String {
    encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("sign")
}

/// `claims` signed RS256 with a private key in PEM.
fn rs256(claims: &Claims, private_pem: &[u8]) -> String {
    let key = EncodingKey::from_rsa_pem(private_pem).expect("private key");
    encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign RS256")
}

fn hs256(claims: &Claims) -> String {
    sign(claims, Algorithm::HS256, TEST_SECRET.as_bytes())
}

/// POSTs `query` with the `Authorization` header given verbatim; returns status and body.
async fn post_with_authorization(
    app: &TestApp,
    authorization: Option<&str>,
    query: &str,
) -> (u16, Value) {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": query }));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// POSTs the viewer query with `Authorization: Bearer {token}`; returns status and body.
async fn viewer_with_bearer(app: &TestApp, token: &str) -> (u16, Value) {
    post_with_authorization(app, Some(&format!("Bearer {token}")), VIEWER).await
}

/// Asserts the request was refused as unauthenticated: HTTP 401, the code, and no data.
fn assert_unauthenticated(case: &str, status: u16, body: &Value) {
    assert_eq!(
        status, 401,
        "{case}: expected HTTP 401, got {status}: {body:#}"
    );
    assert_eq!(
        error_code(body).as_deref(),
        Some("UNAUTHENTICATED"),
        "{case}: {body:#}"
    );
    assert!(
        body.get("data").is_none_or(Value::is_null),
        "{case}: no data may be returned: {body:#}"
    );
}

both_backends!(a_valid_hs256_token_is_accepted);

async fn a_valid_hs256_token_is_accepted(app: TestApp) {
    let (status, body) = viewer_with_bearer(&app, &hs256(&claims("u-valid"))).await;
    assert_eq!(status, 200, "{body:#}");
    assert!(body.get("errors").is_none(), "{body:#}");
    assert_eq!(body["data"]["viewer"]["subject"], "u-valid");
}

both_backends!(bad_tokens_are_refused_as_unauthenticated);

async fn bad_tokens_are_refused_as_unauthenticated(app: TestApp) {
    let good = hs256(&claims("u-bad"));

    // Flip one character of the signature (not the last one, whose low bits base64url
    // may ignore).
    let tampered = {
        let (rest, signature) = good.rsplit_once('.').expect("three parts");
        let mut chars: Vec<char> = signature.chars().collect();
        chars[0] = if chars[0] == 'A' { 'B' } else { 'A' };
        format!("{rest}.{}", chars.into_iter().collect::<String>())
    };

    let mut expired = claims("u-expired");
    expired.iat -= 7200;
    expired.exp = chrono::Utc::now().timestamp() - 120; // well beyond the 30 s leeway
    let expired = hs256(&expired);

    let wrong_audience = hs256(&Claims {
        aud: "someone-else".into(),
        ..claims("u-aud")
    });
    let wrong_issuer = hs256(&Claims {
        iss: "https://issuer.example".into(),
        ..claims("u-iss")
    });
    let other_secret = sign(
        &claims("u-secret"),
        Algorithm::HS256,
        b"another-secret-entirely-0123456789abcdef",
    );
    let hs384 = sign(&claims("u-hs384"), Algorithm::HS384, TEST_SECRET.as_bytes());
    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("u-none")).expect("claims as JSON"));
        format!("{header}.{payload}.")
    };

    let now = chrono::Utc::now().timestamp();
    let issued_in_the_future = hs256(&Claims {
        iat: now + 3600,
        exp: now + 7200,
        ..claims("u-future")
    });
    let not_yet_valid = hs256(&Claims {
        nbf: Some(now + 600),
        ..claims("u-nbf")
    });
    let empty_subject = hs256(&claims(""));
    let blank_subject = hs256(&claims("  "));

    let cases: Vec<(&str, String)> = vec![
        (
            "issued in the future",
            format!("Bearer {issued_in_the_future}"),
        ),
        (
            "not valid before a later time",
            format!("Bearer {not_yet_valid}"),
        ),
        ("empty subject", format!("Bearer {empty_subject}")),
        ("blank subject", format!("Bearer {blank_subject}")),
        ("tampered signature", format!("Bearer {tampered}")),
        ("expired", format!("Bearer {expired}")),
        ("wrong audience", format!("Bearer {wrong_audience}")),
        ("wrong issuer", format!("Bearer {wrong_issuer}")),
        (
            "signed with another secret",
            format!("Bearer {other_secret}"),
        ),
        ("HS384 with the right secret", format!("Bearer {hs384}")),
        ("alg none", format!("Bearer {alg_none}")),
        ("not a bearer scheme", "Token abc".to_owned()),
        ("bearer garbage", "Bearer not.a.token".to_owned()),
        ("bearer without a token", "Bearer ".to_owned()),
        (
            "the right token under another scheme",
            format!("Basic {good}"),
        ),
    ];
    for (case, authorization) in &cases {
        let (status, body) = post_with_authorization(&app, Some(authorization), VIEWER).await;
        assert_unauthenticated(case, status, &body);
    }

    // A token valid from a moment ago, within the leeway of the clocks, is accepted.
    let (status, body) = post_with_authorization(
        &app,
        Some(&format!(
            "Bearer {}",
            hs256(&Claims {
                nbf: Some(now - 5),
                iat: now + 10,
                ..claims("u-skewed")
            })
        )),
        VIEWER,
    )
    .await;
    assert_eq!(status, 200, "{body:#}");

    // The untampered token still works: the refusals above are about the changes.
    let (status, body) = viewer_with_bearer(&app, &good).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data"]["viewer"]["subject"], "u-bad");
}

both_backends!(every_route_refuses_a_bad_token_alike);

/// The routes that authenticate by header (GraphQL over POST and GET, the CSV exports) take
/// their caller from one extractor: a bad token gets the same refusal from each — 401,
/// `UNAUTHENTICATED`, no data, in the media type the request negotiated, with its request
/// id — before anything else of the request is looked at.
async fn every_route_refuses_a_bad_token_alike(app: TestApp) {
    let routes = [
        (
            "POST /graphql",
            app.client
                .post(format!("{}/graphql", app.address))
                .json(&json!({ "query": VIEWER })),
        ),
        (
            "GET /graphql",
            app.get("/graphql").query(&[("query", VIEWER)]),
        ),
        ("GET /export", app.get("/export/scorecard.csv")),
        // The body is not read: a bad token is refused whatever the body holds.
        (
            "POST /graphql, not JSON",
            app.client
                .post(format!("{}/graphql", app.address))
                .header("Content-Type", "text/plain")
                .body("{ viewer { subject } }"),
        ),
    ];
    for (case, request) in routes {
        for (accept, media) in [
            (
                "application/graphql-response+json",
                "application/graphql-response+json",
            ),
            ("application/json", "application/json"),
            ("*/*", "application/json"),
        ] {
            let request = request
                .try_clone()
                .expect("a request without a stream body");
            let response = request
                .header("Authorization", "Bearer not-a-token")
                .header("Accept", accept)
                .header("x-request-id", "bad-token-1")
                .send()
                .await
                .expect("request sent");
            let case = format!("{case}, Accept: {accept}");
            let status = response.status().as_u16();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap_or_default()
                .to_owned();
            assert!(
                content_type.starts_with(media),
                "{case}: content type {content_type}"
            );
            assert_eq!(response.headers()["x-request-id"], "bad-token-1", "{case}");
            let body: Value = response.json().await.expect("JSON body");
            assert_unauthenticated(&case, status, &body);
        }
    }

    // An export needs a token; an unknown export is not found before anyone is asked for one.
    let anonymous = app.get("/export/scorecard.csv").send().await.expect("sent");
    let status = anonymous.status().as_u16();
    let body: Value = anonymous.json().await.expect("JSON body");
    assert_unauthenticated("an export without a token", status, &body);
    let unknown = app
        .get("/export/no-such-report.csv")
        .send()
        .await
        .expect("sent");
    assert_eq!(unknown.status().as_u16(), 404);
}

both_backends!(a_refused_token_cannot_write_either);

async fn a_refused_token_cannot_write_either(app: TestApp) {
    let forged = sign(
        &claims("u-forger"),
        Algorithm::HS256,
        b"another-secret-entirely-0123456789abcdef",
    );
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&forged);
    request = request.json(&json!({
        "query": CREATE_CHILD,
        "variables": { "input": {
            "legalName": "Forged Child", "dateOfBirth": "2021-01-01", "profileName": "Forged", "gender": "MALE"
        }}
    }));
    let response = request.send().await.expect("sent");
    assert_eq!(response.status().as_u16(), 401);
    let sw = app.role("alder", "SOCIAL_WORKER");
    let data = app.ok(&sw, "{ children { totalCount } }", json!({})).await;
    assert_eq!(
        data["children"]["totalCount"], 0,
        "nothing was created with a forged token"
    );
}

/// An RSA key pair made with the `openssl` command line tool: (private PEM, public PEM).
fn rsa_key_pair() -> (Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let private = dir.path().join("private.pem");
    let public = dir.path().join("public.pem");
    let status = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&private)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .expect("the openssl command line tool is needed for the RS256 tests");
    assert!(status.success(), "openssl genrsa failed");
    let status = Command::new("openssl")
        .args(["rsa", "-pubout", "-in"])
        .arg(&private)
        .arg("-out")
        .arg(&public)
        .stderr(Stdio::null())
        .status()
        .expect("openssl rsa");
    assert!(status.success(), "openssl rsa -pubout failed");
    (
        std::fs::read(&private).expect("private key"),
        std::fs::read(&public).expect("public key"),
    )
}

both_backends!(rs256_tokens_are_verified_with_the_public_key_and_algorithm_confusion_is_refused);

async fn rs256_tokens_are_verified_with_the_public_key_and_algorithm_confusion_is_refused(
    app: TestApp,
) {
    let (private_pem, public_pem) = rsa_key_pair();
    // A second server on the same (already seeded) database, verifying with the public key.
    let mut config = test_config(&app.database_url);
    config.jwt = JwtKeys::rs256(&public_pem, "permanence", "permanence").expect("RS256 keys");
    let rs_app = TestApp::spawn_with(config, app.backend, None, false).await;

    let good = rs256(&claims("u-rsa"), &private_pem);
    let (status, body) = viewer_with_bearer(&rs_app, &good).await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["data"]["viewer"]["subject"], "u-rsa");

    let (other_private, _) = rsa_key_pair();
    let refused = [
        // The classic confusion: HS256 "signed" with the public key as the shared secret.
        (
            "HS256 signed with the RSA public key",
            &rs_app,
            sign(&claims("u-confused"), Algorithm::HS256, &public_pem),
        ),
        // An HS256 token with the old shared secret is no longer good on the RS256 server...
        ("HS256 on an RS256 server", &rs_app, hs256(&claims("u-hs"))),
        // ...nor an RS256 token signed by another key pair.
        (
            "RS256 from another key",
            &rs_app,
            rs256(&claims("u-foreign"), &other_private),
        ),
        // And the HS256 server does not take the RS256 token.
        ("RS256 on an HS256 server", &app, good),
    ];
    for (case, server, token) in refused {
        let (status, body) = viewer_with_bearer(server, &token).await;
        assert_unauthenticated(case, status, &body);
    }
}

both_backends!(a_token_for_an_unknown_consortium_is_refused);

async fn a_token_for_an_unknown_consortium_is_refused(app: TestApp) {
    let token = app.token_with(
        "u-lost",
        "atlantis",
        &[("alder", &["SOCIAL_WORKER"])],
        &["CONSORTIUM_ADMIN"],
    );
    let (status, body) = viewer_with_bearer(&app, &token).await;
    assert_unauthenticated("unknown consortium", status, &body);
}

both_backends!(unknown_authorities_and_misplaced_roles_in_claims_are_ignored);

async fn unknown_authorities_and_misplaced_roles_in_claims_are_ignored(app: TestApp) {
    let token = app.token_with(
        "u-mixed",
        "demo",
        &[
            (
                "alder",
                &[
                    "FAMILY_FINDER",
                    "WIZARD",
                    "BOARD_ANALYST",
                    "CONSORTIUM_ADMIN",
                ],
            ),
            ("narnia", &["MANAGER"]),
            ("oak", &["SOCIAL_WORKER"]), // an authority of another consortium
        ],
        &["SOCIAL_WORKER", "MANAGER", "EMPEROR", "BOARD_ANALYST"],
    );
    let data = app
        .ok(
            &token,
            "{ viewer { subject memberships { authority { code } roles } consortiumRoles } }",
            json!({}),
        )
        .await;
    assert_eq!(data["viewer"]["subject"], "u-mixed");
    assert_eq!(
        data["viewer"]["memberships"],
        json!([{ "authority": { "code": "alder" }, "roles": ["FAMILY_FINDER"] }]),
        "only known authorities of the consortium and per-authority roles count"
    );
    assert_eq!(data["viewer"]["consortiumRoles"], json!(["BOARD_ANALYST"]));

    // A per-authority role given as a consortium role grants nothing: this token cannot
    // register a child anywhere, and cannot read the audit log as a manager.
    let only_consortium_roles = app.token_with(
        "u-sw-everywhere",
        "demo",
        &[],
        &["SOCIAL_WORKER", "MANAGER"],
    );
    // BOARD_ANALYST or CONSORTIUM_ADMIN inside a membership is not a consortium role.
    let admin_in_membership = app.token("u-fake-admin", &[("alder", &["CONSORTIUM_ADMIN"])]);
    let child = json!({ "input": {
        "legalName": "Nobody Child", "dateOfBirth": "2021-01-01", "profileName": "Nobody", "gender": "MALE"
    }});
    let audit_log = "{ auditLog { totalCount } }";
    #[rustfmt::skip]
    let cases = [
        ("consortium SOCIAL_WORKER registers", &only_consortium_roles, CREATE_CHILD, child),
        ("consortium MANAGER reads the audit log", &only_consortium_roles, audit_log, json!({})),
        ("CONSORTIUM_ADMIN in a membership", &admin_in_membership, audit_log, json!({})),
    ];
    for (case, token, query, variables) in cases {
        let body = app.gql(Some(token), query, variables).await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "{case}: {body:#}"
        );
    }
}

// ---- the `permanence` binary ----

/// The `permanence` binary with a clean environment pointing at a throwaway database.
fn permanence(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_permanence"));
    for var in [
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "JWT_PUBLIC_KEY_FILE",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "PERMANENCE_ENV",
        "PERMANENCE_BIND",
        "PERMANENCE_DEMO",
        "PERMANENCE_TOKEN_SUB",
        "PERMANENCE_TOKEN_NAME",
        "PERMANENCE_TOKEN_CONSORTIUM",
        "PERMANENCE_TOKEN_AUTHORITY",
        "PERMANENCE_TOKEN_ROLES",
        "PERMANENCE_TOKEN_MEMBERSHIPS",
        "PERMANENCE_TOKEN_CONSORTIUM_ROLES",
        "PERMANENCE_TOKEN_TTL",
    ] {
        command.env_remove(var);
    }
    command
        .current_dir(dir.path())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("cli.db").display()),
        )
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

/// The README's `permanence token` command line.
pub const TOKEN_ARGS: [&str; 9] = [
    "token",
    "--sub",
    "u-1",
    "--consortium",
    "demo",
    "--authority",
    "alder",
    "--role",
    "FAMILY_FINDER",
];

#[test]
fn the_token_command_prints_one_token_signed_with_the_development_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = permanence(&dir)
        .args(TOKEN_ARGS)
        .output()
        .expect("run permanence token");
    assert!(
        output.status.success(),
        "token failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "prints only the token: {stdout:?}");

    let claims = JwtKeys::hs256(DEVELOPMENT_SECRET.as_bytes(), "permanence", "permanence")
        .verify(lines[0].trim())
        .expect("the token verifies with the development secret");
    assert_eq!(claims.sub, "u-1");
    assert_eq!(claims.consortium, "demo");
    assert_eq!(claims.memberships.len(), 1);
    assert_eq!(claims.memberships[0].authority, "alder");
    assert_eq!(
        claims.memberships[0].roles,
        vec!["FAMILY_FINDER".to_owned()]
    );
    let ttl = claims.exp - chrono::Utc::now().timestamp();
    assert!(
        (7 * 3600..=8 * 3600 + 60).contains(&ttl),
        "default lifetime is 8 hours, got {ttl} s"
    );

    // The test secret does not verify it: the signature is really the development secret's.
    assert!(
        JwtKeys::hs256(TEST_SECRET.as_bytes(), "permanence", "permanence")
            .verify(lines[0].trim())
            .is_err()
    );
}

#[test]
fn the_token_command_is_refused_in_production() {
    let dir = tempfile::tempdir().expect("temp dir");
    // With a proper secret: refused because it is production.
    let output = permanence(&dir)
        .args(TOKEN_ARGS)
        .env("PERMANENCE_ENV", "production")
        .env(
            "JWT_SECRET",
            "a-perfectly-good-production-secret-0123456789",
        )
        .output()
        .expect("run permanence token");
    assert!(
        !output.status.success(),
        "token must be refused in production"
    );
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains('.'),
        "no token printed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    // Without a secret: refused too.
    let output = permanence(&dir)
        .args(TOKEN_ARGS)
        .env("PERMANENCE_ENV", "production")
        .output()
        .expect("run");
    assert!(
        !output.status.success(),
        "token must be refused in production"
    );
    assert!(!String::from_utf8_lossy(&output.stdout).contains('.'));
}

/// Runs `serve` and waits for it to exit (at most 30 s; a server still running then is
/// killed and the test fails). Returns whether it exited successfully.
fn serve_exits(mut command: Command) -> bool {
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn permanence serve");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.success();
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve kept running: production must refuse to start with this configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn production_serve_refuses_a_missing_or_development_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut no_secret = permanence(&dir);
    no_secret.env("PERMANENCE_ENV", "production");
    assert!(
        !serve_exits(no_secret),
        "serve in production without JWT_SECRET must exit with an error"
    );

    let mut development_secret = permanence(&dir);
    development_secret
        .env("PERMANENCE_ENV", "production")
        .env("JWT_SECRET", DEVELOPMENT_SECRET);
    assert!(
        !serve_exits(development_secret),
        "serve in production with the development secret must exit with an error"
    );
}

#[test]
fn serve_demo_is_refused_in_production_before_anything_is_loaded() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = permanence(&dir)
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .env("PERMANENCE_ENV", "production")
        .env(
            "JWT_SECRET",
            "a-perfectly-good-production-secret-0123456789",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn permanence serve --demo");
    let started = Instant::now();
    let mut child = output;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve --demo kept running in production");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    assert!(
        !status.success(),
        "serve --demo must be refused in production"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stdout.contains("eyJ"), "no token printed: {stdout}");
    assert!(stderr.contains("--demo"), "the refusal says why: {stderr}");
    assert!(
        !dir.path().join("cli.db").exists(),
        "refused before the database was opened"
    );
}

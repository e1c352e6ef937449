//! `permanence import ssda903`, run as an operator would on generated returns: a dry run
//! writes nothing, the import writes every child with its journey, the scorecard over the
//! imported children is the one worked out here from the generator's histories, importing
//! the same files again changes nothing, next year's return changes only what changed, a
//! file with errors writes nothing, and only those who may record a child's decisions may
//! import.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{Months, NaiveDate, Utc};
use entity::{audit_event, child};
use permanence::auth::{Actor, Membership};
use permanence::domain::Role;
use permanence::import::FilesDigest;
use permanence::import::ssda903;
use permanence::seed::ssda903::{ExpectedJourney, GeneratedReturns, Ssda903Spec, generate};
use permanence::service::{RequestContext, Service, imports};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::process::binary;

/// The scorecard's window: the three years to 31 March 2025, the last return's end.
const FROM: &str = "2022-04-01";
const TO: &str = "2025-03-31";

/// Runs `permanence import ssda903` for alder on `files`: (exit success, stdout).
fn import(app: &TestApp, files: &[std::path::PathBuf], dry_run: bool) -> (bool, String) {
    run_import(app, "alder", "ssda903", files, dry_run)
}

/// Runs `permanence import adopters` for alder on `file`: (exit success, stdout).
fn import_register(app: &TestApp, file: &Path, dry_run: bool) -> (bool, String) {
    run_import(app, "alder", "adopters", &[file.to_owned()], dry_run)
}

/// Runs `permanence import KIND` for `authority` on `files`: (exit success, stdout). A
/// failure must come with the report.
pub(crate) fn run_import(
    app: &TestApp,
    authority: &str,
    kind: &str,
    files: &[std::path::PathBuf],
    dry_run: bool,
) -> (bool, String) {
    let mut cmd = binary();
    cmd.args([
        "import",
        kind,
        "--consortium",
        "demo",
        "--authority",
        authority,
    ])
    .env("DATABASE_URL", &app.database_url)
    .env("RUST_LOG", "warn");
    if dry_run {
        cmd.arg("--dry-run");
    }
    let out = cmd.args(files).output().expect("run permanence import");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() || stdout.contains("nothing written"),
        "import failed without a report: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), stdout)
}

/// The generated files written to `dir`, those of years up to `last_year` only.
pub(crate) fn write_files(
    returns: &GeneratedReturns,
    dir: &Path,
    last_year: i32,
) -> Vec<std::path::PathBuf> {
    returns
        .files
        .iter()
        .filter(|f| f.year <= last_year)
        .map(|f| {
            let path = dir.join(&f.name);
            std::fs::write(&path, &f.text).unwrap();
            path
        })
        .collect()
}

/// Generated returns of `children` over `years`, and a new directory to write them to.
pub(crate) fn returns_in(
    children: usize,
    years: std::ops::RangeInclusive<i32>,
    seed: u64,
) -> (GeneratedReturns, tempfile::TempDir) {
    let returns = generate(&Ssda903Spec {
        children,
        first_year: *years.start(),
        last_year: *years.end(),
        seed,
    });
    (returns, tempfile::tempdir().unwrap())
}

/// Alder's imported children, by reference.
pub(crate) async fn imported(app: &TestApp) -> BTreeMap<String, child::Model> {
    child::Entity::find()
        .filter(child::Column::ImportReference.is_not_null())
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.import_reference.clone().unwrap(), c))
        .collect()
}

/// The IMPORT audit events' details, oldest first.
async fn import_events(app: &TestApp) -> Vec<Value> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("IMPORT"))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.entity_type, "Child");
            serde_json::from_str(&e.detail).expect("a JSON detail")
        })
        .collect()
}

/// Whether the child born on `dob` is 18 or over today: not imported.
pub(crate) fn adult(dob: NaiveDate) -> bool {
    dob.checked_add_months(Months::new(18 * 12))
        .is_none_or(|d| d <= Utc::now().date_naive())
}

/// The mean of `days`, rounded to the nearest day, halves up.
fn mean(days: &[i64]) -> Option<i64> {
    if days.is_empty() {
        return None;
    }
    let (sum, n) = (days.iter().sum::<i64>(), days.len() as i64);
    Some((2 * sum + n).div_euclid(2 * n))
}

/// The scorecard's figures over [`FROM`, `TO`], worked out from the journeys the returns
/// were generated from, by DESIGN §5: (cohort, (A1 cohort, A1), (A10 cohort, A10),
/// (A2 cohort, A2), A3 within 426 days).
fn expected_scorecard(journeys: &BTreeMap<String, ExpectedJourney>) -> Value {
    let (from, to) = (FROM.parse().unwrap(), TO.parse().unwrap());
    let (mut cohort, mut a1, mut a10, mut a2, mut a3) = (0, vec![], vec![], vec![], 0);
    for j in journeys.values().filter(|j| !adult(j.date_of_birth)) {
        let m = &j.milestones;
        let Some(adopted) = m.adoption_order_on.filter(|d| (from..=to).contains(d)) else {
            continue;
        };
        cohort += 1;
        if let (Some(entered), Some(placed)) = (m.entered_care_on, m.placed_on) {
            let days = (placed - entered).num_days();
            a1.push(days);
            if days <= 426 {
                a3 += 1;
            }
            let end = match (m.adopted_by_foster_carers, m.foster_placement_started_on) {
                (true, Some(started)) => started,
                _ => placed,
            };
            a10.push((end - entered).num_days());
        }
        if let (Some(order), Some(matched), Some(placed)) =
            (m.placement_order_on, m.match_decision_on, m.placed_on)
            && placed < adopted
        {
            a2.push((matched - order).num_days().max(0));
        }
    }
    json!({
        "cohort": cohort,
        "a1": [a1.len(), mean(&a1)],
        "a10": [a10.len(), mean(&a10)],
        "a2": [a2.len(), mean(&a2)],
        "a3": a3,
    })
}

/// Alder's scorecard over [`FROM`, `TO`] as its manager sees it, in the shape of
/// [`expected_scorecard`].
async fn scorecard(app: &TestApp) -> Value {
    let body = app
        .ok(
            &app.role("alder", "MANAGER"),
            "query($p: PeriodInput, $a: [ID!]) { scorecard(period: $p, authorityIds: $a) {
               period { total {
                 cohort { value }
                 a1 { days { value } cohort { value } }
                 a10 { days { value } cohort { value } }
                 a2 { days { value } cohort { value } }
                 a3 { count { value } } } } } }",
            json!({ "p": { "from": FROM, "to": TO }, "a": [app.authority_id("alder")] }),
        )
        .await;
    let t = &body["scorecard"]["period"]["total"];
    let mean = |name: &str| json!([t[name]["cohort"]["value"], t[name]["days"]["value"]]);
    json!({
        "cohort": t["cohort"]["value"],
        "a1": mean("a1"),
        "a10": mean("a10"),
        "a2": mean("a2"),
        "a3": t["a3"]["count"]["value"],
    })
}

both_backends!(
    ssda903_returns_import_into_the_scorecard_and_again_without_change,
    a_return_with_errors_writes_nothing,
    only_those_who_may_record_decisions_import,
);

async fn ssda903_returns_import_into_the_scorecard_and_again_without_change(app: TestApp) {
    let (returns, dir) = returns_in(400, 2016..=2025, 11);
    let earlier = write_files(&returns, dir.path(), 2024);
    let all = write_files(&returns, dir.path(), 2025);
    let expected_children = returns
        .journeys
        .values()
        .filter(|j| !adult(j.date_of_birth))
        .count();

    // A dry run reports and writes nothing.
    let (ok, out) = import(&app, &all, true);
    assert!(ok, "{out}");
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(
        out.contains(&format!("{expected_children} to create")),
        "{out}"
    );
    assert!(imported(&app).await.is_empty());
    assert!(
        import_events(&app).await.is_empty(),
        "a dry run is not audited"
    );

    // The returns to 2024 first, then next year's: it adds and changes only what changed.
    let (ok, out) = import(&app, &earlier, false);
    assert!(ok, "{out}");
    let first = imported(&app).await;
    assert!(first.values().all(|c| c.version == 1));
    let (ok, out) = import(&app, &all, false);
    assert!(ok, "{out}");
    let children = imported(&app).await;
    assert_eq!(children.len(), expected_children, "{out}");
    let events = import_events(&app).await;
    let second = &events[1];
    let changed: Vec<&String> = children
        .iter()
        .filter(|(r, c)| first.get(*r).is_some_and(|f| f.version != c.version))
        .map(|(r, _)| r)
        .collect();
    assert_eq!(second["updated"], changed.len(), "{second}");
    assert_eq!(second["created"], children.len() - first.len(), "{second}");
    assert!(!changed.is_empty() && second["unchanged"].as_u64() > Some(0));
    for (reference, c) in &children {
        let was = first.get(reference);
        let j = &returns.journeys[reference];
        // Each child as the returns describe it; one the 2025 return says nothing new about
        // is as it was.
        assert_eq!(
            (c.date_of_birth, c.adoption_order_on, c.placed_on),
            (
                j.date_of_birth,
                j.milestones.adoption_order_on,
                j.milestones.placed_on
            ),
            "{reference}"
        );
        if let Some(was) = was
            && was.version == c.version
        {
            assert_eq!(was, c, "{reference} unchanged");
        }
        assert_eq!(c.legal_name, format!("SSDA903 {reference}"));
        assert!(!c.shared_with_consortium);
    }
    let expected = expected_scorecard(&returns.journeys);
    // Enough adoptions for every figure to mean something.
    for figure in ["a1", "a10", "a2"] {
        assert!(expected[figure][0].as_u64() > Some(10), "{expected}");
    }
    assert_eq!(scorecard(&app).await, expected);

    // The same files again: nothing changes, and the event says so.
    let (ok, out) = import(&app, &all, false);
    assert!(ok, "{out}");
    assert_eq!(imported(&app).await, children);
    let events = import_events(&app).await;
    let again = &events[2];
    assert_eq!(again["unchanged"], children.len(), "{again}");
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(
        again["digest"], events[1]["digest"],
        "same files, same digest"
    );
    assert_ne!(events[0]["digest"], events[1]["digest"]);
    // What the event holds: counts and the digest, nothing of any child.
    let keys: Vec<&str> = again
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "created",
            "digest",
            "files",
            "kind",
            "read",
            "skipped",
            "unchanged",
            "updated"
        ]
    );
}

async fn a_return_with_errors_writes_nothing(app: TestApp) {
    let (returns, dir) = returns_in(60, 2023..=2025, 3);
    let files = write_files(&returns, dir.path(), 2025);
    // One impossible date in the 2024 episodes, after a byte-order mark.
    let episodes = dir.path().join("SSDA903_2024_episodes.csv");
    let text = std::fs::read_to_string(&episodes).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let decom = lines[0].split(',').position(|c| c == "DECOM").unwrap();
    let mut fields: Vec<String> = lines[1].split(',').map(str::to_owned).collect();
    let child = fields[0].clone();
    fields[decom] = "31/02/2024".into();
    lines[1] = fields.join(",");
    std::fs::write(&episodes, format!("\u{feff}{}\n", lines.join("\n"))).unwrap();

    let (ok, out) = import(&app, &files, false);
    assert!(!ok, "an import with an error fails: {out}");
    assert!(out.contains("nothing written"), "{out}");
    assert!(
        out.contains(&format!(
            "error SSDA903_BAD_DATE file=SSDA903_2024_episodes.csv row=2 child={child} \
             column=DECOM value=\"31/02/2024\""
        )),
        "{out}"
    );
    assert!(imported(&app).await.is_empty(), "nothing written");
    assert!(import_events(&app).await.is_empty());
}

/// The import use case as `roles` in `authority`.
async fn import_as(
    app: &TestApp,
    authority: &str,
    roles: &[Role],
    into: &str,
) -> Result<imports::ImportReport, String> {
    let directory = app.state.directory.current();
    let consortium = directory.consortium("demo").unwrap();
    let id = |code: &str| {
        consortium
            .authorities
            .iter()
            .find(|a| a.code == code)
            .unwrap()
            .id
    };
    let actor = Actor {
        subject: "importer".into(),
        name: None,
        consortium_id: consortium.id,
        consortium_code: "demo".into(),
        memberships: vec![Membership {
            authority_id: id(authority),
            authority_code: authority.into(),
            roles: roles.iter().copied().collect(),
        }],
        consortium_roles: Default::default(),
        issued_at: 0,
    };
    let request = RequestContext::new(Some(Arc::new(actor)), "test".into());
    let returns = generate(&Ssda903Spec {
        children: 5,
        first_year: 2025,
        last_year: 2025,
        seed: 5,
    });
    let files = returns.files.iter().map(|f| {
        (
            ssda903::SuppliedFile {
                name: f.name.clone(),
                kind: f.kind,
                year: f.year,
            },
            f.text.as_bytes(),
        )
    });
    let read = ssda903::import(None, files, Utc::now().date_naive());
    imports::ssda903(
        Service::new(&app.state, &request),
        Ok(id(into)),
        read,
        &FilesDigest::default(),
        false,
    )
    .await
    .map_err(|e| e.code().to_owned())
}

async fn only_those_who_may_record_decisions_import(app: TestApp) {
    use Role::*;
    for (roles, into, refused) in [
        (&[SocialWorker][..], "alder", "FORBIDDEN"),
        (&[DecisionMaker][..], "alder", "FORBIDDEN"),
        (&[Manager][..], "alder", "FORBIDDEN"),
        (&[SocialWorker, DecisionMaker][..], "birch", "FORBIDDEN"),
    ] {
        let outcome = import_as(&app, "alder", roles, into).await;
        assert_eq!(
            outcome.err().as_deref(),
            Some(refused),
            "{roles:?} into {into}"
        );
    }
    assert!(imported(&app).await.is_empty());
    let report = import_as(&app, "alder", &[SocialWorker, DecisionMaker], "alder")
        .await
        .unwrap();
    assert!(report.written && report.totals.created == imported(&app).await.len());
}

/// A GraphQL multipart request: `operations`, a `map` putting file `i` at
/// `variables.files.i`, then the files. (content type, body)
/// A GraphQL multipart request body carrying `files` as the variable `files`' items:
/// (content type, body).
fn multipart(operations: &Value, files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let paths: Vec<String> = (0..files.len())
        .map(|i| format!("variables.files.{i}"))
        .collect();
    multipart_at(operations, &paths, files)
}

/// A GraphQL multipart request body carrying file `i` of `files` at variable path
/// `paths[i]`: (content type, body).
fn multipart_at(
    operations: &Value,
    paths: &[String],
    files: &[(String, Vec<u8>)],
) -> (String, Vec<u8>) {
    let boundary = "permanence-test-boundary-7f3a";
    let map: serde_json::Map<String, Value> = paths
        .iter()
        .enumerate()
        .map(|(i, path)| (i.to_string(), json!([path])))
        .collect();
    let mut body = Vec::new();
    let mut part = |headers: String, content: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"operations\"".into(),
        operations.to_string().as_bytes(),
    );
    part(
        "Content-Disposition: form-data; name=\"map\"".into(),
        Value::Object(map).to_string().as_bytes(),
    );
    for (i, (name, content)) in files.iter().enumerate() {
        part(
            format!(
                "Content-Disposition: form-data; name=\"{i}\"; filename=\"{name}\"\r\n\
                 Content-Type: text/csv"
            ),
            content,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Posts `query` with `variables` to `/graphql/upload` as `token`, with one file, named
/// `name`, at the variable `variable`: the response body.
pub(crate) async fn upload_file(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    variable: &str,
    file: (&str, &str),
) -> Value {
    let operations = json!({ "query": query, "variables": variables });
    let (content_type, body) = multipart_at(
        &operations,
        &[format!("variables.{variable}")],
        &[(file.0.to_owned(), file.1.as_bytes().to_vec())],
    );
    post_upload(app, Some(token), content_type, body)
        .await
        .json()
        .await
        .unwrap()
}

/// Posts `body` to `/graphql/upload` as `content_type`, as the bearer of `token` if any.
async fn post_upload(
    app: &TestApp,
    token: Option<&str>,
    content_type: impl AsRef<str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/graphql/upload", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .header("content-type", content_type.as_ref())
        .body(body)
        .send()
        .await
        .unwrap()
}

const IMPORT_SSDA903: &str = "mutation($a: ID!, $files: [Upload!]!, $dry: Boolean!) {
  importSsda903(authorityId: $a, files: $files, dryRun: $dry) {
    dryRun written files digest read created updated unchanged skipped errorCount warningCount
    problems { code severity file row reference column value message } } }";

/// Uploads `files` to `/graphql/upload` as `token`: (status, body).
async fn upload(
    app: &TestApp,
    token: &str,
    files: &[(String, Vec<u8>)],
    dry_run: bool,
) -> (u16, Value) {
    let operations = json!({
        "query": IMPORT_SSDA903,
        "variables": {
            "a": app.authority_id("alder"),
            "files": vec![Value::Null; files.len()],
            "dry": dry_run,
        },
    });
    let (content_type, body) = multipart(&operations, files);
    let response = post_upload(app, Some(token), content_type, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Generated returns as uploads.
fn generated_files(children: usize, seed: u64) -> Vec<(String, Vec<u8>)> {
    generate(&Ssda903Spec {
        children,
        first_year: 2022,
        last_year: 2025,
        seed,
    })
    .files
    .into_iter()
    .map(|f| (f.name, f.text.into_bytes()))
    .collect()
}

both_backends!(partner_frontends_import_by_upload);

async fn partner_frontends_import_by_upload(app: TestApp) {
    let files = generated_files(40, 9);
    let importer = app.token(
        "importer",
        &[("alder", &["SOCIAL_WORKER", "DECISION_MAKER"])],
    );

    // Refused before any file is read: a social worker alone may not import.
    let (status, body) = upload(&app, &app.role("alder", "SOCIAL_WORKER"), &files, false).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    let (status, body) = upload(&app, &importer, &files, true).await;
    assert_eq!(status, 200, "{body}");
    let report = &body["data"]["importSsda903"];
    assert_eq!(report["dryRun"], true, "{body}");
    assert_eq!(report["written"], false);
    assert_eq!(report["files"], files.len());
    let created = report["created"].as_u64().unwrap();
    assert!(created > 30, "{report}");
    assert_eq!(report["errorCount"], 0);
    assert!(imported(&app).await.is_empty(), "a dry run writes nothing");

    let (_, body) = upload(&app, &importer, &files, false).await;
    let report = &body["data"]["importSsda903"];
    assert_eq!(report["written"], true, "{body}");
    assert_eq!(imported(&app).await.len() as u64, created);
    let events = import_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["digest"], report["digest"]);
    // Staff of the authority see each child's reference.
    let (reference, child) = imported(&app).await.pop_first().unwrap();
    let body = app
        .ok(
            &app.role("alder", "SOCIAL_WORKER"),
            "query($id: ID!) { node(id: $id) { ... on Child { importReference legalName } } }",
            json!({ "id": crate::helpers::encode_id("Child", child.id) }),
        )
        .await;
    assert_eq!(body["node"]["importReference"], reference.as_str());
    assert_eq!(body["node"]["legalName"], format!("SSDA903 {reference}"));

    // A file with an error: reported with where it is, and nothing written.
    let mut broken = generated_files(10, 4);
    let header = broken
        .iter_mut()
        .find(|(name, _)| name.ends_with("2025_header.csv"))
        .unwrap();
    let text = String::from_utf8(header.1.clone()).unwrap();
    let first_line_end = text.find('\n').unwrap();
    header.1 = format!(
        "{}\nR99999,9,2020-01-01,WBRI,UN1,,\n{}",
        &text[..first_line_end],
        &text[first_line_end + 1..]
    )
    .into_bytes();
    let (_, body) = upload(&app, &importer, &broken, false).await;
    let report = &body["data"]["importSsda903"];
    assert_eq!(report["written"], false, "{body}");
    assert!(report["errorCount"].as_u64() > Some(0), "{report}");
    let problem = &report["problems"][0];
    assert_eq!(problem["severity"], "ERROR", "{report}");
    assert_eq!(problem["file"], "SSDA903_2025_header.csv", "{report}");
    assert_eq!(problem["row"], 2, "{report}");
    assert_eq!(problem["reference"], "R99999", "{report}");
    assert_eq!(
        imported(&app).await.len() as u64,
        created,
        "nothing more written"
    );
    assert_eq!(import_events(&app).await.len(), 1);

    // Only multipart is taken there.
    let response = app
        .client
        .post(format!("{}/graphql/upload", app.address))
        .bearer_auth(&importer)
        .json(&json!({ "query": "{ viewer { subject } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 415);
}

#[tokio::test]
async fn an_upload_over_its_bounds_is_refused_whole() {
    let app = TestApp::spawn_sqlite_with(|config| {
        config.limits.max_upload_bytes = 100_000;
        config.limits.max_upload_files = 3;
        config.limits.max_body_bytes = 2_000;
        // Room for six uploads (an upload costs what an export does) and the one
        // operation that runs, refilled slowly.
        config.rate_limit = Some(permanence::infra::bucket::LeakyBucket {
            capacity: 6 * permanence::service::rate_limit::EXPORT_COST + 100,
            leak_per_second: 1,
        });
    })
    .await;
    let importer = app.token(
        "importer",
        &[("alder", &["SOCIAL_WORKER", "DECISION_MAKER"])],
    );
    // No token, no upload: refused before anything is read.
    let files: Vec<_> = generated_files(5, 1)
        .into_iter()
        .filter(|(name, _)| name.contains("2025_header") || name.contains("2025_episodes"))
        .collect();
    let (content_type, body) = multipart(&json!({ "query": IMPORT_SSDA903 }), &files);
    let response = post_upload(&app, None, content_type, body).await;
    assert_eq!(response.status().as_u16(), 401);
    // Larger than the body bound.
    let big = vec![("SSDA903_2025_episodes.csv".to_owned(), vec![b'x'; 120_000])];
    let (status, body) = upload(&app, &importer, &big, false).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["limit"], "bodySize",
        "{body}"
    );
    // An operations part over the body bound of POST /graphql, however large the upload
    // bound: the parts beside the files are held in memory only that far.
    let operations = json!({
        "query": IMPORT_SSDA903,
        "variables": { "a": "x".repeat(3_000), "files": [null], "dry": true },
    });
    let (content_type, body) = multipart(&operations, &files[..1]);
    let response = post_upload(&app, Some(&importer), content_type, body).await;
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["limit"], "bodySize",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("operations part")),
        "{body}"
    );
    // A boundary RFC 2046 does not allow (here, too long) is refused before the body is
    // searched for it.
    let response = post_upload(
        &app,
        Some(&importer),
        format!("multipart/form-data; boundary={}x", "-".repeat(100)),
        "-".repeat(10_000),
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    // So is a body that does not begin with its boundary: what comes before it is not held.
    let (content_type, body) = multipart(&json!({ "query": IMPORT_SSDA903 }), &files[..1]);
    let mut preamble = vec![b'x'; 70 * 1024];
    preamble.extend_from_slice(&body);
    let response = post_upload(&app, Some(&importer), content_type, preamble).await;
    assert_eq!(response.status().as_u16(), 400);
    // More files than allowed.
    let many: Vec<_> = (0..4)
        .map(|i| {
            (
                format!("SSDA903_202{i}_header.csv"),
                b"CHILD,SEX,DOB,ETHNIC\n".to_vec(),
            )
        })
        .collect();
    let (status, body) = upload(&app, &importer, &many, false).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["limit"], "uploadFiles",
        "{body}"
    );
    // The sixth upload empties the bucket; the seventh is turned away unread.
    let (status, body) = upload(&app, &importer, &files, true).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = upload(&app, &importer, &files, true).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "RATE_LIMITED",
        "{body}"
    );
    assert!(imported(&app).await.is_empty());
    assert!(import_events(&app).await.is_empty());
}

#[tokio::test]
async fn an_import_keeps_what_the_service_recorded_and_leaves_link_dates_to_the_link() {
    use crate::helpers::{Backend, encode_id};
    use crate::links::{accept, birch_household, decide, propose_pair};
    use crate::matching::profile_id;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (returns, dir) = returns_in(400, 2016..=2025, 11);
    let to_2024 = write_files(&returns, dir.path(), 2024);
    let all = write_files(&returns, dir.path(), 2025);
    // A child the 2024 return shows waiting, whom the 2025 return shows matched, placed and
    // adopted in its year.
    let year_2025: std::ops::RangeInclusive<NaiveDate> =
        "2024-04-01".parse().unwrap()..="2025-03-31".parse().unwrap();
    let (reference, _) = returns
        .journeys
        .iter()
        .find(|(_, j)| {
            let m = &j.milestones;
            !adult(j.date_of_birth)
                && m.plan_changed_on.is_none()
                && m.shobpa_decision_on < Some("2024-01-01".parse().unwrap())
                && m.adoption_order_on.is_some_and(|d| year_2025.contains(&d))
                && m.placed_on.is_some_and(|d| year_2025.contains(&d))
                && !m.adopted_by_foster_carers
        })
        .expect("such a child among 400");
    let (ok, out) = import(&app, &to_2024, false);
    assert!(ok, "{out}");
    let before = imported(&app).await;
    let waiting = &before[reference];
    assert_eq!(waiting.match_decision_on, None, "{reference}");

    // In Permanence the child is then matched through a link, today.
    let home = birch_household(&app, "Birch Home").await;
    let link = propose_pair(
        &app,
        &app.role("alder", "FAMILY_FINDER"),
        &encode_id("Child", waiting.id),
        &profile_id(&home),
    )
    .await;
    let link = accept(&app, &app.role("birch", "FAMILY_FINDER"), &link).await;
    let today = Utc::now().date_naive();
    let link = decide(
        &app,
        &app.role("alder", "DECISION_MAKER"),
        &link,
        &today.to_string(),
    )
    .await;
    assert_eq!(link["state"], "MATCHED", "{link}");

    // The 2024 return again: it does not carry the match, which is kept, and said so.
    let (ok, out) = import(&app, &to_2024, false);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "warning IMPORT_DATE_KEPT child={reference} column=matchDecisionOn"
        )),
        "{out}"
    );
    let matched = imported(&app).await;
    assert_eq!(matched[reference].match_decision_on, Some(today));

    // The 2025 return carries another match date: the link records it, so the import is
    // refused whole and nothing moves.
    let (ok, out) = import(&app, &all, false);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "error IMPORT_LINK_OWNS_DATE child={reference} column=matchDecisionOn"
        )),
        "{out}"
    );
    assert_eq!(imported(&app).await, matched, "nothing written");

    // Under the write lock, the writers check again: a change to those dates planned before
    // the link was recorded is refused when written, by the import and by the API alike.
    use permanence::domain::links::LinkState;
    use permanence::error::AppError;
    use permanence::store::imports::{ChildChange, ChildWrites, write_children};
    use sea_orm::ActiveValue::Set;
    let c = &matched[reference];
    let changes = child::ActiveModel {
        match_decision_on: Set(Some(today - chrono::Days::new(1))),
        ..Default::default()
    };
    let writes = ChildWrites {
        changed: vec![ChildChange {
            id: c.id,
            version: c.version,
            changes: changes.clone(),
        }],
        link_dates_changed: vec![c.id],
        ..Default::default()
    };
    let consortium = matched[reference].consortium_id;
    let refused = write_children(
        &app.state.db,
        consortium,
        c.authority_id,
        writes,
        &[LinkState::Matched],
        Default::default(),
    )
    .await;
    assert!(
        matches!(&refused, Err(AppError::Conflict(m)) if m.contains("link covering this child")),
        "{refused:?}"
    );
    let refused = permanence::store::children::update(
        &app.state.db,
        c.id,
        c.version,
        changes,
        &[LinkState::Matched],
        Default::default(),
    )
    .await;
    assert!(
        matches!(&refused, Err(AppError::Conflict(m)) if m.contains("link covering this child")),
        "{refused:?}"
    );
    assert_eq!(imported(&app).await, matched, "nothing written");
}

/// The shipped template with its example rows.
fn template() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/templates/adopter-register.csv")
}

/// Alder's imported households by reference, with their events' stages in order.
async fn households_imported(app: &TestApp) -> BTreeMap<String, (i32, Vec<String>)> {
    use entity::{household, recruitment_event};
    let mut out = BTreeMap::new();
    for h in household::Entity::find()
        .filter(household::Column::ImportReference.is_not_null())
        .all(&app.state.db)
        .await
        .unwrap()
    {
        let stages = recruitment_event::Entity::find()
            .filter(recruitment_event::Column::HouseholdId.eq(h.id))
            .order_by_asc(recruitment_event::Column::Id)
            .all(&app.state.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.stage)
            .collect();
        out.insert(h.import_reference.unwrap(), (h.version, stages));
    }
    out
}

both_backends!(an_adopter_register_imports_into_the_funnel);

async fn an_adopter_register_imports_into_the_funnel(app: TestApp) {
    let (ok, out) = import_register(&app, &template(), true);
    assert!(ok, "{out}");
    assert!(out.contains("6 households read: 6 to create"), "{out}");
    assert!(households_imported(&app).await.is_empty());

    // The register without its last exit and step first; then the whole of it.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(template()).unwrap();
    let earlier = dir.path().join("register-2024-06.csv");
    std::fs::write(
        &earlier,
        text.replace(",ENDED_BY_AGENCY,14/11/2024,SUITABILITY_CONCERNS", ",,,")
            .replace("30/08/2024,16/09/2024", "30/08/2024,"),
    )
    .unwrap();
    let (ok, out) = import_register(&app, &earlier, false);
    assert!(ok, "{out}");
    let first = households_imported(&app).await;
    assert_eq!(first.len(), 6);
    assert_eq!(
        first["H-0005"].1,
        ["ENQUIRY", "STAGE_ONE_STARTED", "STAGE_ONE_COMPLETED"]
    );
    let (ok, out) = import_register(&app, &template(), false);
    assert!(ok, "{out}");
    assert!(out.contains("0 created, 1 updated, 5 unchanged"), "{out}");
    let all = households_imported(&app).await;
    assert_eq!(
        all["H-0005"],
        (
            2,
            vec![
                "ENQUIRY".to_owned(),
                "STAGE_ONE_STARTED".into(),
                "STAGE_ONE_COMPLETED".into(),
                "STAGE_TWO_STARTED".into(),
                "ENDED_BY_AGENCY".into()
            ]
        )
    );
    for reference in ["H-0001", "H-0002", "H-0003", "H-0004", "H-0006"] {
        assert_eq!(all[reference], first[reference], "{reference} unchanged");
    }
    use sea_orm::PaginatorTrait;
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("IMPORT"))
        .filter(audit_event::Column::EntityType.eq("Household"))
        .count(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events, 2, "one event per import that writes");

    // The funnel counts them as the API would have recorded them.
    let body = app
        .ok(
            &app.role("alder", "MANAGER"),
            "query($a: [ID!]) { recruitmentFunnel(period: { from: \"2024-01-01\", to: \"2024-12-31\" },
               asOf: \"2025-01-31\", authorityIds: $a) { total { cohort {
                 size { value } approved { value } leftBeforeApproval { value } onHold { value }
                 fastTrack { value } } } } }",
            json!({ "a": [app.authority_id("alder")] }),
        )
        .await;
    let cohort = &body["recruitmentFunnel"]["total"]["cohort"];
    assert_eq!(cohort["size"]["value"], 6, "{cohort}");
    assert_eq!(cohort["approved"]["value"], 2, "{cohort}");
    assert_eq!(cohort["leftBeforeApproval"]["value"], 2, "{cohort}");
    assert_eq!(cohort["fastTrack"]["value"], 1, "{cohort}");

    // A register that rewrites a recorded step is refused whole.
    let rewritten = dir.path().join("register-rewritten.csv");
    std::fs::write(&rewritten, text.replace("05/02/2024", "06/02/2024")).unwrap();
    let (ok, out) = import_register(&app, &rewritten, false);
    assert!(!ok, "{out}");
    assert!(
        out.contains("error IMPORT_HISTORY_DIFFERS household=H-0001"),
        "{out}"
    );
    assert_eq!(households_imported(&app).await, all, "nothing written");

    // Only a recruitment officer who is also a decision maker there may import.
    let importer = app.token(
        "register-importer",
        &[("alder", &["RECRUITMENT_OFFICER", "DECISION_MAKER"])],
    );
    let upload_register = |token: String| {
        let app = &app;
        let text = text.clone();
        async move {
            upload_file(
                app,
                &token,
                "mutation($a: ID!, $f: Upload!) { importAdopters(authorityId: $a, file: $f, dryRun: true) { written read unchanged errorCount } }",
                json!({ "a": app.authority_id("alder"), "f": null }),
                "f",
                ("register.csv", &text),
            )
            .await
        }
    };
    let body = upload_register(importer).await;
    let report = &body["data"]["importAdopters"];
    assert_eq!(report["read"], 6, "{body}");
    assert_eq!(report["unchanged"], 6, "{body}");
    assert_eq!(report["written"], false, "{body}");
    let body = upload_register(app.role("alder", "RECRUITMENT_OFFICER")).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
}

#[tokio::test]
async fn a_request_naming_a_file_it_does_not_carry_is_refused() {
    let app = TestApp::spawn_sqlite_with(|config| config.limits.max_upload_files = 3).await;
    let importer = app.token(
        "importer",
        &[("alder", &["SOCIAL_WORKER", "DECISION_MAKER"])],
    );
    let anyone = |query: &str, variables: Value| {
        let app = &app;
        let query = query.to_owned();
        async move {
            let response = app
                .client
                .post(format!("{}/graphql", app.address))
                .json(&json!({ "query": query, "variables": variables }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    // Over plain JSON, with or without a token, in variables or in the document: the
    // `Upload` scalar is never handed a file reference of the caller's making.
    let (status, body) = anyone(
        IMPORT_SSDA903,
        json!({ "a": app.authority_id("alder"), "files": ["#__graphql_file__:x"], "dry": true }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    let (status, body) = anyone(
        "mutation { importSsda903(authorityId: \"x\", files: [\"#__graphql_file__:0\"]) { written } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // In a multipart request, only the files it carries.
    let files = vec![(
        "SSDA903_2025_header.csv".to_owned(),
        b"CHILD,SEX,DOB,ETHNIC\n".to_vec(),
    )];
    let operations = json!({
        "query": IMPORT_SSDA903,
        "variables": { "a": app.authority_id("alder"), "files": [null, "#__graphql_file__:7"], "dry": true },
    });
    let (content_type, body) = multipart(&operations, &files);
    let response = post_upload(&app, Some(&importer), content_type, body).await;
    assert_eq!(response.status().as_u16(), 400);
    // Parts beyond the bound stop the body as it streams, mapped or not.
    let boundary = "many-parts";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{}}\r\n",
        json!({ "query": "{ viewer { subject } }" })
    );
    for i in 0..10 {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"x{i}\"; filename=\"f{i}.csv\"\r\n\r\nx\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    let response = post_upload(
        &app,
        Some(&importer),
        format!("multipart/form-data; boundary={boundary}"),
        body,
    )
    .await;
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["limit"], "uploadFiles",
        "{body}"
    );
    // The service still answers.
    let body = app.ok(&importer, "{ viewer { subject } }", json!({})).await;
    assert_eq!(body["viewer"]["subject"], "importer");
}

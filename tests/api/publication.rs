//! A consortium's publication at a quarter end, its withheld cells decided jointly and
//! audited by linear programming: on the demo data through `permanence audit-publication`
//! as an operator runs it, and on synthetic data through the use case, where removing one
//! secondary suppression must fail the audit.
use permanence::cli::SyntheticArgs;
use permanence::domain::suppression::{Kind, audit};
use permanence::service::publication;
use permanence::store;
use permanence::store::tenancy::Directory;

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};
use crate::process::{binary, seed_demo};

/// `permanence <command>` of the demo consortium at a quarter end.
fn run_on_demo(database_url: &str, command: &str, quarter_end: &str) -> std::process::Output {
    binary()
        .args([command, "--consortium", "demo"])
        .args(["--quarter-end", quarter_end])
        .env("DATABASE_URL", database_url)
        .output()
        .unwrap()
}

#[test]
fn the_demo_publication_is_made_audited_and_kept_once() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    seed_demo(&database_url);
    let out = run_on_demo(&database_url, "publish", "2026-09-30");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("publication of demo at 2026-09-30 made and kept"),
        "{stdout}"
    );
    assert!(
        stdout.contains(", 0 too narrow, 0 contradictions"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("audit passed"), "{stdout}");
    // Something was withheld, and more than the small figures alone.
    let withheld = stdout
        .lines()
        .find_map(|l| l.strip_prefix("withheld: "))
        .expect("a withheld line");
    let protect: u64 = withheld
        .split(", ")
        .nth(1)
        .and_then(|p| p.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("secondary count");
    assert!(protect > 0, "{stdout}");

    // Made once: the second run finds it kept, and it stands as it was.
    let again = run_on_demo(&database_url, "publish", "2026-09-30");
    let again_out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{again_out}");
    assert!(
        again_out.contains("was kept already; it stands"),
        "{again_out}"
    );
    assert!(
        again_out.contains(&format!("withheld: {withheld}")),
        "{again_out}"
    );

    // The operator's audit reads the kept publication.
    let audit = run_on_demo(&database_url, "audit-publication", "2026-09-30");
    let audit_out = String::from_utf8_lossy(&audit.stdout);
    assert!(audit.status.success(), "{audit_out}");
    assert!(
        audit_out.contains("publication of demo at 2026-09-30 (kept)"),
        "{audit_out}"
    );
    assert!(
        audit_out.trim_end().ends_with("audit passed"),
        "{audit_out}"
    );

    // A date that does not end a quarter is refused, naming what may be asked; so is a
    // quarter that has not ended.
    for (command, date, words) in [
        (
            "audit-publication",
            "2026-09-29",
            "30 June, 30 September, 31 December or 31 March",
        ),
        (
            "publish",
            "2026-09-29",
            "30 June, 30 September, 31 December or 31 March",
        ),
        ("publish", "2199-12-31", "has not ended yet"),
    ] {
        let out = run_on_demo(&database_url, command, date);
        assert!(!out.status.success(), "{command} {date}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(words), "{command} {date}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synthetic_publication_passes_and_fails_without_one_secondary_suppression() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let db = store::connect(&database_url).await.unwrap();
    store::migrate(&db).await.unwrap();
    permanence::seed::synthetic::load(
        &db,
        &SyntheticArgs {
            children: 600,
            households: 600,
            enquiries: 3000,
            seed: 3,
        },
    )
    .await
    .unwrap();
    let directory = Directory::load(&db).await.unwrap();
    let consortium = directory.consortium("synthetic").unwrap();
    let authorities: Vec<i64> = consortium.authorities.iter().map(|a| a.id).collect();
    let quarter_end = "2026-03-31".parse().unwrap();
    let built = publication::build(&db, consortium.id, &authorities, quarter_end)
        .await
        .unwrap();
    let (m, decision) = (&built.model, &built.decision);
    let result = built.audit();
    assert!(
        result.passes(),
        "{:?}",
        result.failures().take(5).collect::<Vec<_>>()
    );
    // Every small published figure is withheld.
    for (i, c) in m.cells.iter().enumerate() {
        if c.published && m.sensitive(i) {
            assert!(decision.withheld[i], "{} is shown", c.key);
        }
    }
    // The largest secondary suppression kept is needed: without it the audit fails.
    let secondary = (0..m.cells.len())
        .filter(|i| decision.withheld[*i] && !m.sensitive(*i) && m.cells[*i].kind == Kind::Count)
        .max_by_key(|i| (m.cells[*i].value, std::cmp::Reverse(*i)))
        .expect("a secondary suppression");
    let mut weaker = decision.clone();
    weaker.withheld[secondary] = false;
    let without = audit(m, &weaker);
    assert!(
        !without.passes(),
        "{} was not needed",
        m.cells[secondary].key
    );
}

/// Every `{ value suppressed }` figure of a report answer, by a path that names list items
/// by what they are about (stage, reason, step, characteristic, authority) rather than
/// where they sit, so that answers listing items differently can be compared.
fn figures(v: &Value) -> BTreeMap<String, Value> {
    fn walk(v: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(o) if o.contains_key("suppressed") => {
                out.insert(path, v.clone());
            }
            Value::Object(o) => {
                for (k, x) in o {
                    walk(x, format!("{path}/{k}"), out);
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let mut name: Vec<String> =
                        ["from", "stage", "reason", "step", "characteristic"]
                            .iter()
                            .filter_map(|k| x.get(*k).map(|v| format!("{k}={v}")))
                            .collect();
                    for k in [
                        "authority",
                        "childAuthority",
                        "householdAuthority",
                        "channel",
                    ] {
                        if let Some(a) = x.get(k) {
                            name.push(format!("{k}={}", a.get("code").unwrap_or(a)));
                        }
                    }
                    let name = if name.is_empty() {
                        i.to_string()
                    } else {
                        name.join(",")
                    };
                    walk(x, format!("{path}[{name}]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, String::new(), &mut out);
    out
}

/// Checks a protected answer against the same figures as they are: every figure shown is
/// the figure as it is (a figure the live answer does not list is 0), every count of 1–5
/// is withheld; returns how many were shown and how many withheld.
fn assert_published_from(protected: &Value, live: &Value, what: &str) -> (usize, usize) {
    let live = figures(live);
    let (mut shown, mut withheld) = (0, 0);
    for (path, figure) in figures(protected) {
        if figure["suppressed"] == true {
            assert_eq!(figure["value"], Value::Null, "{what} {path}");
            withheld += 1;
            continue;
        }
        let truth = live.get(&path).cloned().unwrap_or_else(|| {
            json!({ "value": if figure["value"].is_null() { Value::Null } else { json!(0) }, "suppressed": false })
        });
        assert_eq!(figure["value"], truth["value"], "{what} {path}");
        if let Some(n) = figure["value"].as_u64()
            && !path.contains("ays")
            && !path.contains("ercent")
            && !path.contains("rom")
            && !path.contains("ithin")
        {
            assert!(!(1..=5).contains(&n), "{what} {path} = {n} is shown");
        }
        shown += usize::from(!figure["value"].is_null());
    }
    (shown, withheld)
}

const SCORECARD: &str = r#"query($ids: [ID!], $period: PeriodInput) {
  scorecard(asOf: "2026-03-31", authorityIds: $ids, period: $period) {
    period { from to
      total { cohort { value suppressed } a1 { days { value suppressed } cohort { value suppressed } } a10 { days { value suppressed } } a2 { days { value suppressed } cohort { value suppressed } } a3 { count { value suppressed } percent { value suppressed } } }
      authorities { authority { code } cohort { value suppressed } a1 { days { value suppressed } cohort { value suppressed } } a10 { days { value suppressed } } a2 { days { value suppressed } cohort { value suppressed } } a3 { count { value suppressed } percent { value suppressed } } } }
    years { from to
      total { cohort { value suppressed } a1 { days { value suppressed } } }
      authorities { authority { code } cohort { value suppressed } a1 { days { value suppressed } } } }
  }
}"#;

const FUNNEL: &str = r#"query($ids: [ID!], $groupBy: [FunnelGroupBy!]!) {
  recruitmentFunnel(period: { from: "2025-04-01", to: "2026-03-31" }, asOf: "2026-03-31", authorityIds: $ids, groupBy: $groupBy) {
    total { ...group }
    groups { authority { code } ...group }
  }
}
fragment group on FunnelGroup {
  stageCounts { stage count { value suppressed } }
  cohort { size { value suppressed } fastTrack { value suppressed } approved { value suppressed }
    leftBeforeApproval { value suppressed } inProgress { value suppressed } onHold { value suppressed }
    stages { stage reached { value suppressed } eligible { value suppressed } fromPrevious { value suppressed } fromEnquiry { value suppressed } }
    exits { stage reason count { value suppressed } }
    leftAfter { stage count { value suppressed } } }
  timeliness { step count { value suppressed } meanDays { value suppressed } medianDays { value suppressed } withinTarget { value suppressed } }
}"#;

const FLOWS: &str = r#"query($ids: [ID!]) {
  crossBoundaryFlows(period: { from: "2025-04-01", to: "2026-03-31" }, authorityIds: $ids) {
    cells { childAuthority { code } householdAuthority { code } children { value suppressed } feesPence { value suppressed } }
    byChildAuthority { authority { code } children { value suppressed } feesPence { value suppressed } }
    byHouseholdAuthority { authority { code } children { value suppressed } feesPence { value suppressed } }
    total { children { value suppressed } feesPence { value suppressed } }
    crossBoundaryChildren { value suppressed } crossBoundaryPercent { value suppressed } crossBoundaryFeesPence { value suppressed }
  }
}"#;

const SUFFICIENCY: &str = r#"query($ids: [ID!]) {
  sufficiency(asOf: "2026-03-31", authorityIds: $ids) {
    rows { characteristic children { value suppressed } units { value suppressed } households { value suppressed } }
  }
}"#;

/// A board analyst is served the kept publication, cell for cell. On synthetic data: each
/// figure shown in the scorecard, the funnel, the flows and sufficiency is the figure as
/// staff reading every authority see it, counts of 1–5 never; and a cell is shown or
/// withheld alike in every answer that holds it (an authority in the consortium's table and
/// alone, a year in the window and alone). A change to the records after the quarter is
/// published does not move what the analyst is shown.
#[tokio::test(flavor = "multi_thread")]
async fn board_analysts_are_served_the_kept_publication_cell_for_cell() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    permanence::seed::synthetic::load(
        &app.state.db,
        &SyntheticArgs {
            children: 300,
            households: 300,
            enquiries: 1500,
            seed: 5,
        },
    )
    .await
    .unwrap();
    app.state.directory.reload(&app.state.db).await.unwrap();
    app.publish("synthetic", "2026-03-31").await;
    let directory = app.state.directory.current();
    let consortium = directory.consortium("synthetic").unwrap();
    let codes: Vec<String> = consortium
        .authorities
        .iter()
        .map(|a| a.code.clone())
        .collect();
    let ids: Vec<String> = codes
        .iter()
        .map(|c| app.authority_id_in("synthetic", c))
        .collect();
    let analyst = app.token_with("analyst", "synthetic", &[], &["BOARD_ANALYST"]);
    let memberships: Vec<(&str, &[&str])> = codes
        .iter()
        .map(|c| (c.as_str(), &["MANAGER"][..]))
        .collect();
    let everyone = app.token_with("manager-of-all", "synthetic", &memberships, &[]);
    let ask = |token: &String, query: &'static str, vars: Value| {
        let token = token.clone();
        let app = &app;
        async move { app.ok(&token, query, vars).await }
    };
    let all = json!({ "ids": ids, "groupBy": ["AUTHORITY"] });
    let (mut shown, mut withheld) = (0, 0);
    for (what, query) in [
        ("scorecard", SCORECARD),
        ("funnel", FUNNEL),
        ("flows", FLOWS),
        ("sufficiency", SUFFICIENCY),
    ] {
        let protected = ask(&analyst, query, all.clone()).await;
        let live = ask(&everyone, query, all.clone()).await;
        let (s, w) = assert_published_from(&protected, &live, what);
        shown += s;
        withheld += w;
    }
    assert!(
        shown > 500 && withheld > 50,
        "{shown} shown, {withheld} withheld"
    );

    // An authority alone, and a year alone, are the same cells.
    let scorecard = ask(&analyst, SCORECARD, json!({ "ids": ids })).await;
    let funnel = ask(&analyst, FUNNEL, all.clone()).await;
    for (code, id) in codes.iter().zip(&ids) {
        let alone = ask(&analyst, SCORECARD, json!({ "ids": [id] })).await;
        let row = |data: &Value| {
            data["scorecard"]["period"]["authorities"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["authority"]["code"] == code.as_str())
                .cloned()
                .unwrap()
        };
        assert_eq!(row(&alone), row(&scorecard), "{code}");
        let alone = ask(&analyst, FUNNEL, json!({ "ids": [id], "groupBy": [] })).await;
        let group = funnel["recruitmentFunnel"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["authority"]["code"] == code.as_str())
            .cloned()
            .unwrap();
        let mut group = figures(&group);
        group.retain(|k, _| !k.starts_with("/authority"));
        assert_eq!(
            figures(&alone["recruitmentFunnel"]["total"]),
            group,
            "{code}"
        );
    }
    for year in scorecard["scorecard"]["years"].as_array().unwrap() {
        let period = json!({ "from": year["from"], "to": year["to"] });
        let alone = ask(&analyst, SCORECARD, json!({ "ids": ids, "period": period })).await;
        let whole = &alone["scorecard"]["period"];
        assert_eq!(whole["total"]["cohort"], year["total"]["cohort"]);
        assert_eq!(whole["total"]["a1"]["days"], year["total"]["a1"]["days"]);
        let rows = whole["authorities"].as_array().unwrap();
        for (row, in_window) in rows.iter().zip(year["authorities"].as_array().unwrap()) {
            assert_eq!(row["authority"], in_window["authority"]);
            assert_eq!(row["cohort"], in_window["cohort"]);
            assert_eq!(row["a1"]["days"], in_window["a1"]["days"]);
        }
    }

    // The publication stands: a child adopted in the window, recorded now, changes the
    // figures as they are and not the analyst's.
    let before = ask(&analyst, SCORECARD, json!({ "ids": ids })).await;
    let live_before = ask(&everyone, SCORECARD, json!({ "ids": ids })).await;
    let staff = |role: &str| {
        app.token_with(
            &format!("{role}-0"),
            "synthetic",
            &[(codes[0].as_str(), &[role][..])],
            &[],
        )
    };
    let (sw, dm) = (staff("SOCIAL_WORKER"), staff("DECISION_MAKER"));
    let created = app
        .ok(
            &sw,
            "mutation($input: CreateChildInput!) { createChild(input: $input) { child { id version } } }",
            json!({ "input": {
                "authorityId": ids[0], "legalName": "Late Record", "profileName": "Late",
                "dateOfBirth": "2021-02-03", "gender": "FEMALE", "enteredCareOn": "2022-01-10"
            } }),
        )
        .await;
    let child = &created["createChild"]["child"];
    crate::shared::record_adoption(
        &app,
        (&sw, &dm),
        child["id"].as_str().unwrap(),
        child["version"].as_i64().unwrap(),
    )
    .await;
    let cohort = |data: &Value| data["scorecard"]["period"]["total"]["cohort"]["value"].as_u64();
    let live_after = ask(&everyone, SCORECARD, json!({ "ids": ids })).await;
    assert_eq!(cohort(&live_after), cohort(&live_before).map(|n| n + 1));
    app.publish("synthetic", "2026-03-31").await;
    assert_eq!(
        ask(&analyst, SCORECARD, json!({ "ids": ids })).await,
        before
    );
}

/// A running service makes the latest completed quarter's publication of every consortium
/// that has none, once: what its board analysts are served without an operator's step.
#[tokio::test]
async fn the_service_publishes_the_latest_completed_quarter_once() {
    use permanence::service::publication::publish_due;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let today = "2026-12-06".parse().unwrap();
    let quarter_end: chrono::NaiveDate = "2026-09-30".parse().unwrap();
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let ends = |token: String| {
        let app = &app;
        async move { app.ok(&token, "{ publishedQuarterEnds }", json!({})).await }
    };
    assert_eq!(
        ends(analyst.clone()).await,
        json!({ "publishedQuarterEnds": [] }),
        "none before the first publication"
    );
    let mut refused = Default::default();
    let kept = publish_due(&app.state, today, &mut refused).await.unwrap();
    let directory = app.state.directory.current();
    let consortia: Vec<(i64, chrono::NaiveDate)> = ["demo", "other"]
        .iter()
        .map(|c| (directory.consortium(c).unwrap().id, quarter_end))
        .collect();
    assert_eq!(kept, consortia);
    assert!(
        publish_due(&app.state, today, &mut refused)
            .await
            .unwrap()
            .is_empty(),
        "made once"
    );
    // The analyst is served it, as at its quarter end, by default.
    let data = app
        .ok(
            &analyst,
            "{ sufficiency { asOf rows { characteristic } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["sufficiency"]["asOf"], "2026-09-30");

    // Its quarter ends are listed, latest first, to anyone of the consortium (they are only
    // dates): an earlier quarter kept later comes second.
    let demo = directory.consortium("demo").unwrap().id;
    let june = "2026-06-30".parse().unwrap();
    store::publications::keep_first(&app.state.db, demo, june, "{}".into())
        .await
        .unwrap();
    let both = json!({ "publishedQuarterEnds": ["2026-09-30", "2026-06-30"] });
    assert_eq!(ends(analyst.clone()).await, both);
    let finder = app.token_with("finder", "demo", &[("alder", &["FAMILY_FINDER"][..])], &[]);
    assert_eq!(ends(finder).await, both);
    // Another consortium's are its own.
    let other = app.token_with("analyst", "other", &[], &["BOARD_ANALYST"]);
    assert_eq!(
        ends(other).await,
        json!({ "publishedQuarterEnds": ["2026-09-30"] })
    );
    // Nobody signed in is told nothing.
    let anonymous = app.gql(None, "{ publishedQuarterEnds }", json!({})).await;
    assert_eq!(
        anonymous["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{anonymous}"
    );
}

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
use permanence::seed::ssda903::{ExpectedJourney, Ssda903Spec, generate};
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
    let mut cmd = binary();
    cmd.args([
        "import",
        "ssda903",
        "--consortium",
        "demo",
        "--authority",
        "alder",
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
fn write_files(
    returns: &permanence::seed::ssda903::GeneratedReturns,
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

/// Alder's imported children, by reference.
async fn imported(app: &TestApp) -> BTreeMap<String, child::Model> {
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
fn adult(dob: NaiveDate) -> bool {
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
    let returns = generate(&Ssda903Spec {
        children: 400,
        first_year: 2016,
        last_year: 2025,
        seed: 11,
    });
    let dir = tempfile::tempdir().unwrap();
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
    let returns = generate(&Ssda903Spec {
        children: 60,
        first_year: 2023,
        last_year: 2025,
        seed: 3,
    });
    let dir = tempfile::tempdir().unwrap();
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

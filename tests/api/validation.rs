//! Bad input is refused with `BAD_USER_INPUT` naming the field at fault, and changes
//! nothing; stale `expectedVersion`s are `CONFLICT`s; no internal detail reaches clients
//! (DESIGN §2 milestones and recruitment, §6 errors, ids and connections).
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    CREATE_HOUSEHOLD, RECORD_EVENT, TestApp, create_child, create_household, encode_id, error_code,
    error_field, pool_child, record_event, strings_of,
};

const CHILD_STATE: &str = r#"
query($id: ID!) {
  child(id: $id) {
    version legalName dateOfBirth profileName notes
    milestones {
      enteredCareOn adoptionPlanOn shobpaDecisionOn placementOrderOn matchDecisionOn placedOn
      adoptionOrderOn fosterPlacementStartedOn adoptedByFosterCarers planChangedOn placementOrderRevokedOn
    }
  }
}"#;

const HOUSEHOLD_STATE: &str = r#"
query($id: ID!) {
  household(id: $id) {
    version stage stageOn onHold profileName inPool availableForMatching
    approval { approvedOn }
    events { stage occurredOn reason }
  }
}"#;

const RECORD_MILESTONES: &str = r#"
mutation($input: RecordChildMilestonesInput!) {
  recordChildMilestones(input: $input) { child { version milestones { placementOrderOn placedOn } } }
}"#;

const RECORD_DECISION: &str = r#"
mutation($input: RecordChildDecisionInput!) {
  recordChildDecision(input: $input) { child { version milestones { shobpaDecisionOn matchDecisionOn } } }
}"#;

const UPDATE_CHILD: &str = r#"
mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { version legalName } } }"#;

const UPDATE_HOUSEHOLD: &str = r#"
mutation($input: UpdateHouseholdInput!) { updateHousehold(input: $input) { household { version profileName } } }"#;

const CREATE_CHILD_ONLY: &str = r#"
mutation($input: CreateChildInput!) { createChild(input: $input) { child { id } } }"#;

/// Words that would betray internal detail in a message meant for a client.
const INTERNAL_WORDS: [&str; 7] = [
    "sql",
    "database",
    "constraint",
    "panicked",
    "dberr",
    "connection",
    "syntax error",
];

/// Asserts that no error message of `body` carries internal detail.
fn assert_no_internal_detail(body: &Value) {
    for error in body["errors"].as_array().into_iter().flatten() {
        let message = error["message"].as_str().unwrap_or_default().to_lowercase();
        for word in INTERNAL_WORDS {
            assert!(
                !message.contains(word),
                "an error message leaks internal detail ({word}): {body:#}"
            );
        }
    }
}

/// Asserts that `body` is a refusal with `code` (and `field`, when given), without data.
#[track_caller]
fn assert_refused(body: &Value, code: &str, field: Option<&str>) {
    assert_eq!(error_code(body).as_deref(), Some(code), "{body:#}");
    if let Some(field) = field {
        assert_eq!(error_field(body).as_deref(), Some(field), "{body:#}");
    }
    assert!(
        body["data"].is_null(),
        "a refused request returns no data: {body:#}"
    );
    assert_no_internal_detail(body);
}

/// Sends `query` with `vars` as `token` and asserts that it is refused with `code` (and
/// `field`, when given), without data.
async fn refuses(
    app: &TestApp,
    token: &str,
    query: &str,
    vars: Value,
    code: &str,
    field: Option<&str>,
) {
    let body = app.gql(Some(token), query, vars).await;
    assert_refused(&body, code, field);
}

/// `base` (an object) with the fields of `change` set on it.
fn merged(base: &Value, change: &Value) -> Value {
    let mut merged = base.clone();
    merged
        .as_object_mut()
        .expect("an object")
        .extend(change.as_object().expect("an object").clone());
    merged
}

/// Sends each case `(case, token, mutation, input)` with the alder child `id` at `version`
/// added to its input, and asserts that it is refused as bad input naming `field`, the
/// child as it was before.
async fn refused_leaving_the_child_as_it_was<const N: usize>(
    app: &TestApp,
    id: &str,
    version: i64,
    cases: [(&str, &String, &str, Value, &str); N],
) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let before = child_state(app, &sw, id).await;
    let key = json!({ "id": id, "expectedVersion": version });
    for (case, token, mutation, input, field) in cases {
        let body = app
            .gql(
                Some(token),
                mutation,
                json!({ "input": merged(&key, &input) }),
            )
            .await;
        assert_refused(&body, "BAD_USER_INPUT", Some(field));
        assert_eq!(
            child_state(app, &sw, id).await,
            before,
            "{case}: the child is unchanged"
        );
    }
}

fn today() -> chrono::NaiveDate {
    chrono::Utc::now().date_naive()
}

fn in_days(days: u64) -> String {
    (today() + chrono::Days::new(days)).to_string()
}

async fn child_state(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, CHILD_STATE, json!({ "id": id })).await["child"].clone()
}

async fn household_state(app: &TestApp, token: &str, id: &str) -> Value {
    app.ok(token, HOUSEHOLD_STATE, json!({ "id": id })).await["household"].clone()
}

async fn children_count(app: &TestApp, token: &str) -> i64 {
    app.ok(token, "{ children { totalCount } }", json!({}))
        .await["children"]["totalCount"]
        .as_i64()
        .expect("count")
}

// ---- milestones ----

both_backends!(milestones_out_of_order_are_refused_and_change_nothing);

async fn milestones_out_of_order_are_refused_and_change_nothing(app: TestApp) {
    // Born 2021-02-03, entered care 2022-01-10; plan 2022-05-01, SHOBPA 2022-06-01.
    let id = pool_child(&app, "alder", "Mira").await;
    let sw = app.role("alder", "SOCIAL_WORKER");
    let dm = app.role("alder", "DECISION_MAKER");
    let v = child_state(&app, &sw, &id).await["version"]
        .as_i64()
        .unwrap();
    let data = app
        .ok(&sw, RECORD_MILESTONES, json!({ "input": { "id": id, "expectedVersion": v, "placementOrderOn": "2022-09-01" } }))
        .await;
    assert_eq!(
        data["recordChildMilestones"]["child"]["milestones"]["placementOrderOn"],
        "2022-09-01"
    );
    let v = data["recordChildMilestones"]["child"]["version"]
        .as_i64()
        .expect("version");

    let future = in_days(30);
    let match_on = |on: &str| json!({ "decision": "MATCH", "decidedOn": on });
    let shobpa_on = |on: &str| json!({ "decision": "SHOBPA", "decidedOn": on });
    #[rustfmt::skip]
    let cases = [
        ("adoption plan before entering care", &sw, RECORD_MILESTONES, json!({ "adoptionPlanOn": "2021-12-01" }), "adoptionPlanOn"),
        ("placement order before SHOBPA", &sw, RECORD_MILESTONES, json!({ "placementOrderOn": "2022-05-15" }), "placementOrderOn"),
        ("a future date", &sw, RECORD_MILESTONES, json!({ "placementOrderOn": future }), "placementOrderOn"),
        ("entered care before birth", &sw, RECORD_MILESTONES, json!({ "enteredCareOn": "2020-12-31" }), "enteredCareOn"),
        ("placed without a match decision", &sw, RECORD_MILESTONES, json!({ "placedOn": "2022-10-01" }), "placedOn"),
        ("adoption order without placement", &sw, RECORD_MILESTONES, json!({ "adoptionOrderOn": "2022-12-01" }), "adoptionOrderOn"),
        ("revoked before the order", &sw, RECORD_MILESTONES, json!({ "placementOrderRevokedOn": "2022-08-01" }), "placementOrderRevokedOn"),
        ("adopted by foster carers without a foster placement", &sw, RECORD_MILESTONES, json!({ "adoptedByFosterCarers": true }), "adoptedByFosterCarers"),
        ("SHOBPA before the adoption plan", &dm, RECORD_DECISION, shobpa_on("2022-04-01"), "shobpaDecisionOn"),
        ("SHOBPA before birth", &dm, RECORD_DECISION, shobpa_on("2020-01-01"), "shobpaDecisionOn"),
        ("match in the future", &dm, RECORD_DECISION, match_on(&in_days(5)), "matchDecisionOn"),
        ("match before SHOBPA", &dm, RECORD_DECISION, match_on("2022-05-15"), "matchDecisionOn"),
    ];
    refused_leaving_the_child_as_it_was(&app, &id, v, cases).await;

    // Early permanence: a match decided before the placement order is allowed.
    let data = app
        .ok(
            &dm,
            RECORD_DECISION,
            json!({ "input": { "id": id, "expectedVersion": v, "decision": "MATCH", "decidedOn": "2022-08-01" } }),
        )
        .await;
    let child = &data["recordChildDecision"]["child"];
    assert_eq!(child["milestones"]["matchDecisionOn"], "2022-08-01");
    assert_eq!(child["version"].as_i64(), Some(v + 1));
    let v = v + 1;

    // ...but the placement still cannot precede the placement order or the match.
    #[rustfmt::skip]
    let cases = [
        ("placed before the placement order", &sw, RECORD_MILESTONES, json!({ "placedOn": "2022-08-15" }), "placedOn"),
        ("placed before the match", &sw, RECORD_MILESTONES, json!({ "placedOn": "2022-07-20" }), "placedOn"),
    ];
    refused_leaving_the_child_as_it_was(&app, &id, v, cases).await;
    let data = app
        .ok(
            &sw,
            RECORD_MILESTONES,
            json!({ "input": { "id": id, "expectedVersion": v, "placedOn": "2022-09-15" } }),
        )
        .await;
    assert_eq!(
        data["recordChildMilestones"]["child"]["milestones"]["placedOn"],
        "2022-09-15"
    );
}

// ---- createChild ----

both_backends!(a_child_with_bad_details_is_not_created);

async fn a_child_with_bad_details_is_not_created(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let valid = json!({
        "legalName": "Valid Name",
        "dateOfBirth": "2021-02-03",
        "profileName": "Valid",
        "gender": "MALE",
        "enteredCareOn": "2022-01-10",
        "birthFamilyArea": { "location": { "lat": 52.5, "lon": -1.9 }, "minDistanceKm": 20.0 },
    });
    #[rustfmt::skip]
    let cases = [
        ("empty legal name", json!({ "legalName": "   " }), "legalName"),
        ("empty profile name", json!({ "profileName": "" }), "profileName"),
        ("born in the future", json!({ "dateOfBirth": in_days(10) }), "dateOfBirth"),
        ("over 18", json!({ "dateOfBirth": "2000-01-01", "enteredCareOn": "2001-01-01" }), "dateOfBirth"),
        ("latitude out of range", json!({ "birthFamilyArea": { "location": { "lat": 100.0, "lon": 0.0 } } }), "birthFamilyArea.location"),
        ("longitude out of range", json!({ "birthFamilyArea": { "location": { "lat": 0.0, "lon": -200.0 } } }), "birthFamilyArea.location"),
        ("entered care before birth", json!({ "enteredCareOn": "2020-01-01" }), "enteredCareOn"),
        ("entered care in the future", json!({ "enteredCareOn": in_days(3) }), "enteredCareOn"),
    ];
    for (case, change, field) in cases {
        let input = merged(&valid, &change);
        refuses(
            &app,
            &sw,
            CREATE_CHILD_ONLY,
            json!({ "input": input }),
            "BAD_USER_INPUT",
            Some(field),
        )
        .await;
        assert_eq!(
            children_count(&app, &sw).await,
            0,
            "{case}: nothing was created"
        );
    }
    app.ok(&sw, CREATE_CHILD_ONLY, json!({ "input": valid }))
        .await;
    assert_eq!(
        children_count(&app, &sw).await,
        1,
        "the valid child is created"
    );
}

// ---- recruitment stage machine ----

both_backends!(recruitment_events_follow_the_stage_machine);

async fn recruitment_events_follow_the_stage_machine(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let dm = app.role("alder", "DECISION_MAKER");
    let (id, _) = create_household(&app, "alder", "Ash").await; // enquiry 2023-01-05

    /// Records an event that must be refused with `code`/`field`, leaving the household as it was.
    async fn refused(
        app: &TestApp,
        token: &str,
        id: &str,
        input: Value,
        code: &str,
        field: Option<&str>,
    ) {
        let ro = app.role("alder", "RECRUITMENT_OFFICER");
        let before = household_state(app, &ro, id).await;
        let key = json!({ "householdId": id, "expectedVersion": before["version"] });
        let full = merged(&key, &input);
        let body = app
            .gql(Some(token), RECORD_EVENT, json!({ "input": full }))
            .await;
        assert_refused(&body, code, field);
        assert_eq!(
            household_state(app, &ro, id).await,
            before,
            "refused {input}: the household is unchanged"
        );
    }

    for (stage, on, field) in [
        ("STAGE_TWO_STARTED", "2023-02-01".to_owned(), "stage"),
        ("STAGE_ONE_STARTED", "2023-01-04".to_owned(), "occurredOn"),
        ("STAGE_ONE_STARTED", in_days(2), "occurredOn"),
        ("WITHDRAWN", "2023-02-01".to_owned(), "reason"),
        ("ENQUIRY", "2023-02-01".to_owned(), "stage"),
        ("MATCHED", "2023-02-01".to_owned(), "stage"),
        ("RESUMED", "2023-02-01".to_owned(), "stage"),
    ] {
        refused(
            &app,
            &ro,
            &id,
            json!({ "stage": stage, "occurredOn": on }),
            "BAD_USER_INPUT",
            Some(field),
        )
        .await;
    }

    // On hold: only RESUMED (or an exit) may follow.
    let mut v = household_state(&app, &ro, &id).await["version"]
        .as_i64()
        .unwrap();
    v = record_event(&app, &ro, &id, v, "ON_HOLD", "2023-02-01").await;
    refused(
        &app,
        &ro,
        &id,
        json!({ "stage": "STAGE_ONE_STARTED", "occurredOn": "2023-02-10" }),
        "BAD_USER_INPUT",
        Some("stage"),
    )
    .await;
    v = record_event(&app, &ro, &id, v, "RESUMED", "2023-03-01").await;
    v = record_event(&app, &ro, &id, v, "STAGE_ONE_STARTED", "2023-03-05").await;
    for (stage, on) in [
        ("STAGE_ONE_COMPLETED", "2023-04-20"),
        ("STAGE_TWO_STARTED", "2023-05-01"),
        ("STAGE_TWO_COMPLETED", "2023-08-15"),
        ("PANEL", "2023-09-01"),
    ] {
        v = record_event(&app, &ro, &id, v, stage, on).await;
    }

    // Approval is a decision: not for a recruitment officer, nor for another authority.
    refused(
        &app,
        &ro,
        &id,
        json!({ "stage": "APPROVED", "occurredOn": "2023-09-10" }),
        "FORBIDDEN",
        None,
    )
    .await;
    let dm_birch = app.role("birch", "DECISION_MAKER");
    refused(
        &app,
        &dm_birch,
        &id,
        json!({ "stage": "APPROVED", "occurredOn": "2023-09-10" }),
        "NOT_FOUND",
        None,
    )
    .await;
    let state = household_state(&app, &ro, &id).await;
    assert_eq!(state["inPool"], false);
    assert!(state["approval"]["approvedOn"].is_null());

    let data = app
        .ok(
            &dm,
            RECORD_EVENT,
            json!({ "input": { "householdId": id, "expectedVersion": v, "stage": "APPROVED", "occurredOn": "2023-09-10" } }),
        )
        .await;
    assert_eq!(data["recordRecruitmentEvent"]["event"]["stage"], "APPROVED");
    let state = household_state(&app, &ro, &id).await;
    assert_eq!(state["stage"], "APPROVED");
    assert_eq!(state["approval"]["approvedOn"], "2023-09-10");
    assert_eq!(state["inPool"], true);
    assert_eq!(state["version"].as_i64(), Some(v + 1));
    let stages = strings_of(&state["events"], "stage");
    assert_eq!(
        stages,
        [
            "ENQUIRY",
            "ON_HOLD",
            "RESUMED",
            "STAGE_ONE_STARTED",
            "STAGE_ONE_COMPLETED",
            "STAGE_TWO_STARTED",
            "STAGE_TWO_COMPLETED",
            "PANEL",
            "APPROVED"
        ]
    );
    // MATCHED comes only from the link workflow, even once approved.
    refused(
        &app,
        &ro,
        &id,
        json!({ "stage": "MATCHED", "occurredOn": "2023-10-01" }),
        "BAD_USER_INPUT",
        Some("stage"),
    )
    .await;
}

both_backends!(nothing_follows_a_withdrawal_and_fast_track_may_skip_stage_one);

async fn nothing_follows_a_withdrawal_and_fast_track_may_skip_stage_one(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let (id, v) = create_household(&app, "alder", "Birchall").await;
    let data = app
        .ok(
            &ro,
            RECORD_EVENT,
            json!({ "input": {
                "householdId": id, "expectedVersion": v, "stage": "WITHDRAWN", "occurredOn": "2023-02-01",
                "reason": "CHANGE_OF_CIRCUMSTANCES"
            }}),
        )
        .await;
    assert_eq!(
        data["recordRecruitmentEvent"]["household"]["stage"],
        "WITHDRAWN"
    );
    let before = household_state(&app, &ro, &id).await;
    for (stage, reason) in [
        ("STAGE_ONE_STARTED", None),
        ("RESUMED", None),
        ("ON_HOLD", None),
        ("WITHDRAWN", Some("HEALTH")),
        ("ENDED_BY_AGENCY", Some("SAFEGUARDING")),
    ] {
        refuses(
            &app,
            &ro,
            RECORD_EVENT,
            json!({ "input": {
                "householdId": id, "expectedVersion": before["version"], "stage": stage,
                "occurredOn": "2023-03-01", "reason": reason
            }}),
            "BAD_USER_INPUT",
            Some("stage"),
        )
        .await;
        assert_eq!(
            household_state(&app, &ro, &id).await,
            before,
            "{stage} after WITHDRAWN changes nothing"
        );
    }

    // A fast-track household goes from enquiry straight to Stage Two.
    let data = app
        .ok(
            &ro,
            CREATE_HOUSEHOLD,
            json!({ "input": {
                "applicantOneName": "Second Timer", "profileName": "Returning", "channel": "REFERRAL",
                "enquiryOn": "2023-01-10", "fastTrack": true
            }}),
        )
        .await;
    let fast = &data["createHousehold"]["household"];
    let fast_id = fast["id"].as_str().unwrap();
    let v = record_event(
        &app,
        &ro,
        fast_id,
        fast["version"].as_i64().unwrap(),
        "STAGE_TWO_STARTED",
        "2023-02-01",
    )
    .await;
    let state = household_state(&app, &ro, fast_id).await;
    assert_eq!(state["stage"], "STAGE_TWO_STARTED");
    assert_eq!(state["version"].as_i64(), Some(v));
}

// ---- optimistic locking ----

both_backends!(stale_versions_conflict_and_change_nothing);

/// Makes `edit` as `token`, then sends each `stale` write (each naming a version the edit
/// has replaced): every one is a CONFLICT and leaves the record, read with the `state`
/// query and `id`, as the edit left it. Returns that state.
async fn stale_writes_conflict(
    app: &TestApp,
    token: &str,
    edit: (&str, Value),
    (state, id): (&str, &str),
    stale: Vec<(&str, Value)>,
) -> Value {
    app.ok(token, edit.0, json!({ "input": edit.1 })).await;
    let before = app.ok(token, state, json!({ "id": id })).await;
    for (query, input) in stale {
        let vars = json!({ "input": input });
        refuses(app, token, query, vars, "CONFLICT", None).await;
    }
    let after = app.ok(token, state, json!({ "id": id })).await;
    assert_eq!(after, before);
    after
}

async fn stale_versions_conflict_and_change_nothing(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let ro = app.role("alder", "RECRUITMENT_OFFICER");

    // Child.
    let (child, v) = create_child(&app, "alder", "Cora", json!({})).await;
    let after = stale_writes_conflict(
        &app,
        &sw,
        (
            UPDATE_CHILD,
            json!({ "id": child, "expectedVersion": v, "legalName": "First Edit" }),
        ),
        (CHILD_STATE, &child),
        vec![
            (
                UPDATE_CHILD,
                json!({ "id": child, "expectedVersion": v, "legalName": "Stale Edit" }),
            ),
            (
                RECORD_MILESTONES,
                json!({ "id": child, "expectedVersion": v, "adoptionPlanOn": "2022-05-01" }),
            ),
            (
                UPDATE_CHILD,
                json!({ "id": child, "expectedVersion": v + 5, "legalName": "Future Edit" }),
            ),
        ],
    )
    .await;
    assert_eq!(after["child"]["legalName"], "First Edit");

    // Household details and recruitment events.
    let (household, v) = create_household(&app, "alder", "Dale").await;
    let after = stale_writes_conflict(
        &app,
        &ro,
        (
            UPDATE_HOUSEHOLD,
            json!({ "id": household, "expectedVersion": v, "profileName": "Dale Two" }),
        ),
        (HOUSEHOLD_STATE, &household),
        vec![
            (
                UPDATE_HOUSEHOLD,
                json!({ "id": household, "expectedVersion": v, "profileName": "Stale" }),
            ),
            (
                RECORD_EVENT,
                json!({
                    "householdId": household, "expectedVersion": v, "stage": "STAGE_ONE_STARTED", "occurredOn": "2023-02-01"
                }),
            ),
        ],
    )
    .await;
    assert_eq!(after["household"]["profileName"], "Dale Two");
    assert_eq!(
        after["household"]["events"].as_array().unwrap().len(),
        1,
        "only the enquiry"
    );

    // Sibling group.
    let (a, _) = create_child(&app, "alder", "Eve", json!({})).await;
    let (b, _) = create_child(&app, "alder", "Finn", json!({})).await;
    let data = app
        .ok(
            &sw,
            "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id version } } }",
            json!({ "input": { "childIds": [a, b], "label": "Eve and Finn" } }),
        )
        .await;
    let group = data["createSiblingGroup"]["siblingGroup"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = data["createSiblingGroup"]["siblingGroup"]["version"]
        .as_i64()
        .unwrap();
    const UPDATE_GROUP: &str = "mutation($input: UpdateSiblingGroupInput!) { updateSiblingGroup(input: $input) { siblingGroup { version label } } }";
    const GROUP: &str = "query($id: ID!) { siblingGroup(id: $id) { version label mustStayTogether members { id } } }";
    let after = stale_writes_conflict(
        &app,
        &sw,
        (
            UPDATE_GROUP,
            json!({ "id": group, "expectedVersion": v, "label": "The twins" }),
        ),
        (GROUP, &group),
        vec![(
            UPDATE_GROUP,
            json!({ "id": group, "expectedVersion": v, "label": "Stale label", "mustStayTogether": false }),
        )],
    )
    .await;
    assert_eq!(after["siblingGroup"]["label"], "The twins");
}

both_backends!(concurrent_updates_with_one_version_let_exactly_one_through);

async fn concurrent_updates_with_one_version_let_exactly_one_through(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let (child, mut v) = create_child(&app, "alder", "Gus", json!({})).await;
    for round in 0..5 {
        let (left, right) = tokio::join!(
            app.gql(
                Some(&sw),
                UPDATE_CHILD,
                json!({ "input": { "id": child, "expectedVersion": v, "legalName": format!("Left {round}") } })
            ),
            app.gql(
                Some(&sw),
                UPDATE_CHILD,
                json!({ "input": { "id": child, "expectedVersion": v, "legalName": format!("Right {round}") } })
            ),
        );
        let winners: Vec<&Value> = [&left, &right]
            .into_iter()
            .filter(|b| b.get("errors").is_none())
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one succeeds:\n{left:#}\n{right:#}"
        );
        let loser = if winners[0] == &left { &right } else { &left };
        assert_refused(loser, "CONFLICT", None);
        let state = child_state(&app, &sw, &child).await;
        assert_eq!(
            state["version"].as_i64(),
            Some(v + 1),
            "round {round}: one change, one version"
        );
        assert_eq!(
            state["legalName"],
            winners[0]["data"]["updateChild"]["child"]["legalName"]
        );
        v += 1;
    }

    // The same for recruitment events: one event appended, not two.
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let (household, v) = create_household(&app, "alder", "Hale").await;
    let event = |stage: &str| json!({ "input": { "householdId": household, "expectedVersion": v, "stage": stage, "occurredOn": "2023-02-01" } });
    let (left, right) = tokio::join!(
        app.gql(Some(&ro), RECORD_EVENT, event("STAGE_ONE_STARTED")),
        app.gql(Some(&ro), RECORD_EVENT, event("INFORMATION_EVENT")),
    );
    let ok = [&left, &right]
        .iter()
        .filter(|b| b.get("errors").is_none())
        .count();
    assert_eq!(ok, 1, "exactly one event is recorded:\n{left:#}\n{right:#}");
    let state = household_state(&app, &ro, &household).await;
    assert_eq!(
        state["events"].as_array().unwrap().len(),
        2,
        "enquiry plus one: {state:#}"
    );
    assert_eq!(state["version"].as_i64(), Some(v + 1));
}

// ---- ids and pages ----

both_backends!(malformed_ids_are_bad_input_and_ids_of_another_kind_are_not_found);

async fn malformed_ids_are_bad_input_and_ids_of_another_kind_are_not_found(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let (child, v) = create_child(&app, "alder", "Iris", json!({})).await;
    let (household, _) = create_household(&app, "alder", "Ivy").await;

    const CHILD: &str = "query($id: ID!) { child(id: $id) { id } }";
    const HOUSEHOLD: &str = "query($id: ID!) { household(id: $id) { id } }";
    const NODE: &str = "query($id: ID!) { node(id: $id) { id } }";
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    for malformed in [
        "not an id!".to_owned(),
        b64("Child:abc"),
        b64("Spaceship:1"),
        b64("Child"),
        String::new(),
    ] {
        for query in [CHILD, NODE] {
            let vars = json!({ "id": malformed });
            refuses(&app, &sw, query, vars, "BAD_USER_INPUT", Some("id")).await;
        }
    }

    // Well-formed ids of the wrong kind, or of nothing, are simply not found.
    let (_, child_number) = crate::helpers::decode_id(&child);
    let (_, household_number) = crate::helpers::decode_id(&household);
    for (token, query, id) in [
        (&sw, CHILD, household.clone()),
        (&sw, CHILD, encode_id("Household", child_number)),
        (&ro, HOUSEHOLD, encode_id("Child", household_number)),
        (&sw, CHILD, encode_id("Child", 987_654)),
    ] {
        refuses(&app, token, query, json!({ "id": id }), "NOT_FOUND", None).await;
    }

    // Mutations name their own id field.
    const CREATE_GROUP: &str = "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }";
    for (query, input, code, field) in [
        (
            UPDATE_CHILD,
            json!({ "id": "garbage!", "expectedVersion": v, "legalName": "X" }),
            "BAD_USER_INPUT",
            Some("id"),
        ),
        (
            UPDATE_CHILD,
            json!({ "id": household, "expectedVersion": v, "legalName": "X" }),
            "NOT_FOUND",
            None,
        ),
        (
            CREATE_GROUP,
            json!({ "childIds": [child, "garbage!"], "label": "Broken" }),
            "BAD_USER_INPUT",
            Some("childIds"),
        ),
    ] {
        refuses(&app, &sw, query, json!({ "input": input }), code, field).await;
    }
    assert_eq!(
        child_state(&app, &sw, &child).await["version"].as_i64(),
        Some(v),
        "nothing changed"
    );
}

both_backends!(a_malformed_household_id_is_bad_input_on_the_household_id_field);

async fn a_malformed_household_id_is_bad_input_on_the_household_id_field(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let (household, v) = create_household(&app, "alder", "Juniper").await;
    let before = household_state(&app, &ro, &household).await;
    let body = app
        .gql(
            Some(&ro),
            RECORD_EVENT,
            json!({ "input": {
                "householdId": "garbage!", "expectedVersion": v, "stage": "STAGE_ONE_STARTED", "occurredOn": "2023-02-01"
            }}),
        )
        .await;
    // The input of recordRecruitmentEvent has no `id` field: the one at fault is `householdId`.
    assert_refused(&body, "BAD_USER_INPUT", Some("householdId"));
    assert_eq!(household_state(&app, &ro, &household).await, before);
}

both_backends!(pages_are_capped_at_100_and_negative_first_is_refused);

async fn pages_are_capped_at_100_and_negative_first_is_refused(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    for i in 0..101 {
        app.ok(
            &sw,
            CREATE_CHILD_ONLY,
            json!({ "input": { "legalName": format!("Child {i}"), "dateOfBirth": "2021-02-03", "profileName": format!("P{i}"), "gender": "OTHER" } }),
        )
        .await;
    }
    const PAGE: &str = "query($first: Int, $after: String) { children(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { id } } } }";
    for first in [1000, 101, 100] {
        let data = app.ok(&sw, PAGE, json!({ "first": first })).await;
        assert_eq!(data["children"]["totalCount"], 101);
        assert_eq!(
            data["children"]["edges"].as_array().unwrap().len(),
            100,
            "first: {first} gives at most 100"
        );
        assert_eq!(data["children"]["pageInfo"]["hasNextPage"], true);
    }
    let data = app.ok(&sw, PAGE, json!({ "first": 1000 })).await;
    let cursor = data["children"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .ok(&sw, PAGE, json!({ "first": 1000, "after": cursor }))
        .await;
    assert_eq!(
        rest["children"]["edges"].as_array().unwrap().len(),
        1,
        "the 101st is on the next page"
    );
    assert_eq!(rest["children"]["pageInfo"]["hasNextPage"], false);

    let data = app.ok(&sw, PAGE, json!({})).await;
    assert_eq!(
        data["children"]["edges"].as_array().unwrap().len(),
        20,
        "the default page"
    );

    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for (token, query, vars, field) in [
        (&sw, PAGE, json!({ "first": -1 }), "first"),
        (
            &sw,
            PAGE,
            json!({ "first": 10, "after": "not a cursor" }),
            "after",
        ),
        (
            &ro,
            "{ households(first: -5) { totalCount } }",
            json!({}),
            "first",
        ),
    ] {
        refuses(&app, token, query, vars, "BAD_USER_INPUT", Some(field)).await;
    }
}

both_backends!(paging_visits_every_record_once_and_counts_follow_writes);

/// Every page of `orderBy` from the start, following `endCursor`: the ids in order, and
/// the `totalCount` of each page.
async fn walk(app: &TestApp, token: &str, order: &str, first: i64) -> (Vec<String>, Vec<u64>) {
    const PAGE: &str = "query($first: Int, $after: String, $order: ChildOrder) { children(first: $first, after: $after, orderBy: $order) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } }";
    let (mut ids, mut totals, mut after) = (Vec::new(), Vec::new(), Value::Null);
    loop {
        let data = app
            .ok(
                token,
                PAGE,
                json!({ "first": first, "after": after, "order": order }),
            )
            .await;
        let page = &data["children"];
        ids.extend(
            page["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n["id"].as_str().unwrap().to_owned()),
        );
        totals.push(page["totalCount"].as_u64().unwrap());
        if page["pageInfo"]["hasNextPage"] != true {
            return (ids, totals);
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
}

async fn paging_visits_every_record_once_and_counts_follow_writes(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let create = |i: usize| json!({ "input": { "legalName": format!("Child {i}"), "dateOfBirth": "2021-02-03", "profileName": format!("P{:02}", 40 - i), "gender": "OTHER" } });
    let mut created = Vec::new();
    for i in 0..23 {
        let data = app.ok(&sw, CREATE_CHILD_ONLY, create(i)).await;
        created.push(
            data["createChild"]["child"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // Oldest first: the cursor seeks past the last id seen; every page counts 23.
    let (ids, totals) = walk(&app, &sw, "CREATED", 5).await;
    assert_eq!(ids, created);
    assert_eq!(totals, vec![23; 5]);
    // By profile name (P40 down to P18, so the reverse): positions.
    let (ids, _) = walk(&app, &sw, "PROFILE_NAME", 4).await;
    let mut reversed = created.clone();
    reversed.reverse();
    assert_eq!(ids, reversed);

    // A child recorded while a client pages: the count of the next page includes it, and
    // the walk in creation order reaches it at the end, having seen nobody twice.
    const PAGE: &str = "query($after: String) { children(first: 10, after: $after) { totalCount pageInfo { endCursor } nodes { id } } }";
    let first = app.ok(&sw, PAGE, json!({})).await;
    assert_eq!(first["children"]["totalCount"], 23);
    let data = app.ok(&sw, CREATE_CHILD_ONLY, create(23)).await;
    created.push(
        data["createChild"]["child"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let after = first["children"]["pageInfo"]["endCursor"].clone();
    let second = app.ok(&sw, PAGE, json!({ "after": after })).await;
    assert_eq!(second["children"]["totalCount"], 24);
    let seen: Vec<&str> = [&first, &second]
        .iter()
        .flat_map(|p| p["children"]["nodes"].as_array().unwrap())
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        seen,
        created[..20].iter().map(String::as_str).collect::<Vec<_>>()
    );
    let (ids, totals) = walk(&app, &sw, "CREATED", 10).await;
    assert_eq!(ids, created);
    assert_eq!(totals, vec![24; 3]);
}

// ---- input that the database or the date arithmetic cannot take ----

both_backends!(a_nul_character_in_a_name_is_bad_input_on_every_backend);

async fn a_nul_character_in_a_name_is_bad_input_on_every_backend(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let body = app
        .gql(
            Some(&sw),
            CREATE_CHILD_ONLY,
            json!({ "input": { "legalName": "Ann\u{0}e", "dateOfBirth": "2021-02-03", "profileName": "Anne", "gender": "FEMALE" } }),
        )
        .await;
    assert_no_internal_detail(&body);
    assert_refused(&body, "BAD_USER_INPUT", Some("legalName"));
    assert_eq!(children_count(&app, &sw).await, 0);
}

both_backends!(a_huge_waiting_filter_is_answered_not_dropped);

async fn a_huge_waiting_filter_is_answered_not_dropped(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&sw)
        .json(&json!({ "query": "{ children(filter: { waitingLongerThanDays: 2147483647 }) { totalCount } }" }))
        .send()
        .await;
    let body: Value = match response {
        Ok(r) => r.json().await.expect("JSON body"),
        Err(e) => panic!("the request got no answer: {e}"),
    };
    assert_no_internal_detail(&body);
    assert!(
        body["data"]["children"]["totalCount"] == 0
            || error_field(&body).as_deref() == Some("filter.waitingLongerThanDays"),
        "either nobody has waited that long, or the filter is refused as bad input: {body:#}"
    );
}

both_backends!(an_out_of_range_cursor_is_answered_not_dropped);

async fn an_out_of_range_cursor_is_answered_not_dropped(app: TestApp) {
    use base64::Engine;
    let sw = app.role("alder", "SOCIAL_WORKER");
    create_child(&app, "alder", "Kit", json!({})).await;
    // Cursors are opaque, but a client can still send any string; offsets near the top of
    // the range must give an empty page or a refusal on `after`, never a dropped request.
    for offset in [
        "9223372036854775806",
        "9223372036854775807",
        "18446744073709551615",
    ] {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(offset);
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&sw)
            .json(&json!({
                "query": "query($after: String) { children(first: 5, after: $after) { totalCount edges { node { id } } } }",
                "variables": { "after": cursor },
            }))
            .send()
            .await;
        let body: Value = match response {
            Ok(r) => r.json().await.expect("JSON body"),
            Err(e) => panic!("offset {offset}: the request got no answer: {e}"),
        };
        assert_no_internal_detail(&body);
        let empty_page =
            body.get("errors").is_none() && body["data"]["children"]["edges"] == json!([]);
        let refused = error_code(&body).as_deref() == Some("BAD_USER_INPUT")
            && error_field(&body).as_deref() == Some("after");
        assert!(
            empty_page || refused,
            "offset {offset}: an empty page or BAD_USER_INPUT on `after`: {body:#}"
        );
    }
}

both_backends!(a_malformed_date_is_bad_user_input);

async fn a_malformed_date_is_bad_user_input(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    for date in [
        "2021-02-30",
        "03/02/2021",
        "yesterday",
        "0000-01-01",
        "-0001-01-01",
        "0001-01-01",
        "2021-1-1",
        " 2021-01-01",
        "2021-01-01\n",
    ] {
        let body = app
            .gql(
                Some(&sw),
                CREATE_CHILD_ONLY,
                json!({ "input": { "legalName": "Date Child", "dateOfBirth": date, "profileName": "Dee", "gender": "FEMALE" } }),
            )
            .await;
        // DESIGN §6: every error carries `extensions.code`; a date the client got wrong is
        // bad input like any other.
        assert_refused(&body, "BAD_USER_INPUT", None);
    }
    assert_eq!(children_count(&app, &sw).await, 0);
}

both_backends!(dates_before_1900_are_refused_with_their_field);

/// `0000-01-01` and `-0001-01-01` used to be stored; now the scalar refuses them, and the
/// first date of a household's journey cannot be before 1900.
async fn dates_before_1900_are_refused_with_their_field(app: TestApp) {
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    for (date, field) in [
        ("0001-01-01", Some("enquiryOn")),
        ("1899-12-31", Some("enquiryOn")),
        ("0000-01-01", None),
        ("-0001-01-01", None),
    ] {
        let body = app
            .gql(
                Some(&ro),
                CREATE_HOUSEHOLD,
                json!({ "input": { "applicantOneName": "Old Applicant", "profileName": "Old",
                                   "channel": "WEBSITE", "enquiryOn": date } }),
            )
            .await;
        assert_refused(&body, "BAD_USER_INPUT", field);
    }
    let data = app
        .ok(&ro, "{ households(first: 5) { totalCount } }", json!({}))
        .await;
    assert_eq!(data["households"]["totalCount"], 0);
}

both_backends!(checks_run_in_order_who_may_ask_then_each_input_in_turn);

/// Ids and cursors are decoded before the use case runs, yet refused where it reaches
/// them: the caller's access first, then the page, then the filter; list members in turn.
async fn checks_run_in_order_who_may_ask_then_each_input_in_turn(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    let (birch_child, _) = create_child(&app, "birch", "Juniper", json!({})).await;

    const CHILDREN: &str = r#"
query($after: String, $filter: ChildFilterInput) {
  children(after: $after, filter: $filter) { totalCount }
}"#;
    for (token, vars, code, field) in [
        (&ro, json!({ "after": "garbage!" }), "FORBIDDEN", None),
        (
            &sw,
            json!({ "after": "garbage!", "filter": { "authorityIds": ["garbage!"] } }),
            "BAD_USER_INPUT",
            Some("after"),
        ),
        (
            &sw,
            json!({ "filter": { "authorityIds": ["garbage!"], "siblingGroupId": "garbage!" } }),
            "BAD_USER_INPUT",
            Some("filter.authorityIds"),
        ),
    ] {
        refuses(&app, token, CHILDREN, vars, code, field).await;
    }

    const CREATE_GROUP: &str = "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }";
    refuses(
        &app,
        &sw,
        CREATE_GROUP,
        json!({ "input": { "childIds": [birch_child, "garbage!"], "label": "Hidden first" } }),
        "NOT_FOUND",
        None,
    )
    .await;
    refuses(
        &app,
        &sw,
        CREATE_GROUP,
        json!({ "input": { "childIds": ["garbage!", birch_child], "label": "Garbage first" } }),
        "BAD_USER_INPUT",
        Some("childIds"),
    )
    .await;
}

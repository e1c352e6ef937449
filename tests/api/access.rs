//! The permission matrix: every query and mutation, every role, against records of the
//! actor's own authority, of another authority of the consortium, and of another
//! consortium — each with the outcome DESIGN §3 gives.
//!
//! Outcomes: `D` the full record (or success), `P` a shared profile, `N` NOT_FOUND,
//! `F` FORBIDDEN. Roles, in column order: SOCIAL_WORKER, FAMILY_FINDER,
//! RECRUITMENT_OFFICER, DECISION_MAKER, MANAGER (all held in `alder`), BOARD_ANALYST,
//! CONSORTIUM_ADMIN (consortium roles).
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    TestApp, approved_household, create_child, create_household, decode_id, encode_id, error_code,
    pool_child,
};

const ROLES: [&str; 7] = [
    "SOCIAL_WORKER",
    "FAMILY_FINDER",
    "RECRUITMENT_OFFICER",
    "DECISION_MAKER",
    "MANAGER",
    "BOARD_ANALYST",
    "CONSORTIUM_ADMIN",
];

/// Records the matrix runs against.
struct World {
    /// alder: a waiting, shared child (in the pool) and one only in care.
    alder_pool_child: String,
    alder_child: String,
    /// birch: the same.
    birch_pool_child: String,
    birch_child: String,
    /// consortium `other`: a pool child.
    other_child: String,
    alder_approved: String,
    alder_enquiry: String,
    birch_approved: String,
    birch_enquiry: String,
    other_approved: String,
}

async fn world(app: &TestApp) -> World {
    let other_sw = app.token_with("other-sw", "other", &[("oak", &["SOCIAL_WORKER"])], &[]);
    let other_dm = app.token_with("other-dm", "other", &[("oak", &["DECISION_MAKER"])], &[]);
    let other_ro = app.token_with(
        "other-ro",
        "other",
        &[("oak", &["RECRUITMENT_OFFICER"])],
        &[],
    );
    // The other consortium's records, made through its own staff.
    let created = app
        .ok(
            &other_sw,
            crate::helpers::CREATE_CHILD,
            json!({ "input": { "legalName": "Oak Child", "dateOfBirth": "2021-01-01", "profileName": "Oaky",
                    "gender": "MALE", "enteredCareOn": "2021-06-01" } }),
        )
        .await;
    let other_child = created["createChild"]["child"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &other_dm,
        "mutation($i: RecordChildDecisionInput!) { recordChildDecision(input: $i) { child { id } } }",
        json!({ "i": { "id": other_child, "expectedVersion": 1, "decision": "SHOBPA", "decidedOn": "2022-01-01" } }),
    )
    .await;
    let made = app
        .ok(
            &other_ro,
            crate::helpers::CREATE_HOUSEHOLD,
            json!({ "input": { "applicantOneName": "Oak Applicant", "profileName": "Oak Household",
                    "channel": "WEBSITE", "enquiryOn": "2023-01-01", "fastTrack": true } }),
        )
        .await;
    let other_approved = made["createHousehold"]["household"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut v = 1;
    for stage in ["STAGE_TWO_STARTED", "STAGE_TWO_COMPLETED", "PANEL"] {
        v = crate::helpers::record_event(app, &other_ro, &other_approved, v, stage, "2023-03-01")
            .await;
    }
    crate::helpers::record_event(app, &other_dm, &other_approved, v, "APPROVED", "2023-03-02")
        .await;

    World {
        alder_pool_child: pool_child(app, "alder", "Alder Pool").await,
        alder_child: create_child(app, "alder", "Alder Care", json!({})).await.0,
        birch_pool_child: pool_child(app, "birch", "Birch Pool").await,
        birch_child: create_child(app, "birch", "Birch Care", json!({})).await.0,
        other_child,
        alder_approved: approved_household(app, "alder", "Alder Approved").await,
        alder_enquiry: create_household(app, "alder", "Alder Enquiry").await.0,
        birch_approved: approved_household(app, "birch", "Birch Approved").await,
        birch_enquiry: create_household(app, "birch", "Birch Enquiry").await.0,
        other_approved,
    }
}

fn token(app: &TestApp, role: &str) -> String {
    match role {
        "BOARD_ANALYST" | "CONSORTIUM_ADMIN" => {
            app.token_with(&role.to_lowercase(), "demo", &[], &[role])
        }
        _ => app.role("alder", role),
    }
}

/// Reads the outcome of a response whose data is under `field`.
fn outcome(body: &Value, field: &str) -> char {
    match error_code(body).as_deref() {
        Some("NOT_FOUND") => return 'N',
        Some("FORBIDDEN") => return 'F',
        Some(other) => panic!("unexpected error {other}: {body:#}"),
        None => {}
    }
    let data = &body["data"][field];
    let typename = data["__typename"]
        .as_str()
        .or_else(|| data["edges"][0]["node"]["__typename"].as_str())
        .unwrap_or_else(|| panic!("no typename in {body:#}"));
    match typename {
        "ChildProfile" | "HouseholdProfile" => 'P',
        _ => 'D',
    }
}

fn profile_id(id: &str) -> String {
    let (kind, n) = decode_id(id);
    encode_id(&format!("{kind}Profile"), n)
}

/// Runs `query` (with `$id`) for every role and checks the row of outcomes.
async fn expect_row(
    app: &TestApp,
    label: &str,
    query: &str,
    field: &str,
    variables: Value,
    expected: &str,
) {
    let mut got = String::new();
    for role in ROLES {
        let body = app
            .gql(Some(&token(app, role)), query, variables.clone())
            .await;
        got.push(outcome(&body, field));
    }
    assert_eq!(got, expected, "{label}: roles SW FF RO DM MGR BA CA");
}

both_backends!(
    reads_follow_the_matrix,
    writes_follow_the_matrix,
    nothing_crosses_consortia
);

async fn reads_follow_the_matrix(app: TestApp) {
    let w = world(&app).await;
    let child = "query($id: ID!) { child(id: $id) { __typename id legalName } }";
    let node = "query($id: ID!) { node(id: $id) { __typename id } }";
    let profile = "query($id: ID!) { childProfile(id: $id) { __typename id profileName } }";
    let household = "query($id: ID!) { household(id: $id) { __typename id applicantOneName } }";
    let hprofile = "query($id: ID!) { householdProfile(id: $id) { __typename id profileName } }";

    //                                                                     SW FF RO DM MG BA CA
    expect_row(
        &app,
        "child own pool",
        child,
        "child",
        json!({"id": w.alder_pool_child}),
        "DDNDDNN",
    )
    .await;
    expect_row(
        &app,
        "child own",
        child,
        "child",
        json!({"id": w.alder_child}),
        "DDNDDNN",
    )
    .await;
    expect_row(
        &app,
        "child other pool",
        child,
        "child",
        json!({"id": w.birch_pool_child}),
        "NNNNNNN",
    )
    .await;
    expect_row(
        &app,
        "child other",
        child,
        "child",
        json!({"id": w.birch_child}),
        "NNNNNNN",
    )
    .await;
    expect_row(
        &app,
        "child other consortium",
        child,
        "child",
        json!({"id": w.other_child}),
        "NNNNNNN",
    )
    .await;

    expect_row(
        &app,
        "node own child",
        node,
        "node",
        json!({"id": w.alder_child}),
        "DDNDDNN",
    )
    .await;
    expect_row(
        &app,
        "node other pool child",
        node,
        "node",
        json!({"id": w.birch_pool_child}),
        "NNNNNNN",
    )
    .await;
    let birch_profile = profile_id(&w.birch_pool_child);
    expect_row(
        &app,
        "node other pool profile",
        node,
        "node",
        json!({"id": birch_profile}),
        "NPNPNNN",
    )
    .await;
    let birch_care_profile = profile_id(&w.birch_child);
    expect_row(
        &app,
        "node other non-pool profile",
        node,
        "node",
        json!({"id": birch_care_profile}),
        "NNNNNNN",
    )
    .await;
    let other_profile = profile_id(&w.other_child);
    expect_row(
        &app,
        "node other consortium profile",
        node,
        "node",
        json!({"id": other_profile}),
        "NNNNNNN",
    )
    .await;

    expect_row(
        &app,
        "profile own pool",
        profile,
        "childProfile",
        json!({"id": w.alder_pool_child}),
        "NPNPNNN",
    )
    .await;
    expect_row(
        &app,
        "profile other pool",
        profile,
        "childProfile",
        json!({"id": birch_profile}),
        "NPNPNNN",
    )
    .await;
    expect_row(
        &app,
        "profile other non-pool",
        profile,
        "childProfile",
        json!({"id": birch_care_profile}),
        "NNNNNNN",
    )
    .await;
    expect_row(
        &app,
        "profile other consortium",
        profile,
        "childProfile",
        json!({"id": other_profile}),
        "NNNNNNN",
    )
    .await;

    expect_row(
        &app,
        "household own approved",
        household,
        "household",
        json!({"id": w.alder_approved}),
        "NDDDDNN",
    )
    .await;
    expect_row(
        &app,
        "household own enquiry",
        household,
        "household",
        json!({"id": w.alder_enquiry}),
        "NDDDDNN",
    )
    .await;
    expect_row(
        &app,
        "household other",
        household,
        "household",
        json!({"id": w.birch_approved}),
        "NNNNNNN",
    )
    .await;
    expect_row(
        &app,
        "household other consortium",
        household,
        "household",
        json!({"id": w.other_approved}),
        "NNNNNNN",
    )
    .await;

    let birch_hprofile = profile_id(&w.birch_approved);
    expect_row(
        &app,
        "household profile own",
        hprofile,
        "householdProfile",
        json!({"id": w.alder_approved}),
        "NPNPNNN",
    )
    .await;
    expect_row(
        &app,
        "household profile other pool",
        hprofile,
        "householdProfile",
        json!({"id": birch_hprofile}),
        "NPNPNNN",
    )
    .await;
    let enquiry_profile = profile_id(&w.birch_enquiry);
    expect_row(
        &app,
        "household profile other enquiry",
        hprofile,
        "householdProfile",
        json!({"id": enquiry_profile}),
        "NNNNNNN",
    )
    .await;
    let other_hprofile = profile_id(&w.other_approved);
    expect_row(
        &app,
        "household profile other consortium",
        hprofile,
        "householdProfile",
        json!({"id": other_hprofile}),
        "NNNNNNN",
    )
    .await;
    expect_row(
        &app,
        "node household profile",
        node,
        "node",
        json!({"id": birch_hprofile}),
        "NPNPNNN",
    )
    .await;

    let children = "{ children { totalCount edges { node { __typename id } } } }";
    expect_row(&app, "children", children, "children", json!({}), "DDFDDFF").await;
    let households = "{ households { totalCount edges { node { __typename id } } } }";
    expect_row(
        &app,
        "households",
        households,
        "households",
        json!({}),
        "FDDDDFF",
    )
    .await;
    let pool = "{ poolChildren { totalCount edges { node { __typename id } } } }";
    expect_row(
        &app,
        "poolChildren",
        pool,
        "poolChildren",
        json!({}),
        "FPFPFFF",
    )
    .await;
    let hpool = "{ poolHouseholds { totalCount edges { node { __typename id } } } }";
    expect_row(
        &app,
        "poolHouseholds",
        hpool,
        "poolHouseholds",
        json!({}),
        "FPFPFFF",
    )
    .await;
    let audit = "{ auditLog(first: 1) { totalCount edges { node { __typename } } } }";
    expect_row(&app, "auditLog", audit, "auditLog", json!({}), "FFFFDFD").await;

    // What lists hold: the actor's authority in full, the pool as profiles, never more.
    let ff = app.role("alder", "FAMILY_FINDER");
    let ids = |data: &Value, field: &str| -> Vec<String> {
        data[field]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let data = app
        .ok(
            &ff,
            "{ children { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["children"]["totalCount"], 2);
    let mut got = ids(&data, "children");
    got.sort();
    let mut want = vec![w.alder_pool_child.clone(), w.alder_child.clone()];
    want.sort();
    assert_eq!(got, want);
    let data = app
        .ok(
            &ff,
            "{ poolChildren { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolChildren"]["totalCount"], 2);
    let mut got = ids(&data, "poolChildren");
    got.sort();
    let mut want = vec![profile_id(&w.alder_pool_child), birch_profile.clone()];
    want.sort();
    assert_eq!(got, want);
    let data = app
        .ok(
            &ff,
            "{ poolHouseholds { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolHouseholds"]["totalCount"], 2);

    // A shared profile has no sensitive field to ask for.
    for field in ["legalName", "dateOfBirth", "birthFamilyDetails", "notes"] {
        let q = format!("query($id: ID!) {{ childProfile(id: $id) {{ {field} }} }}");
        let body = app.gql(Some(&ff), &q, json!({"id": birch_profile})).await;
        assert!(
            body["errors"].is_array() && body["data"].is_null(),
            "{field} must not exist on ChildProfile: {body}"
        );
    }
    for field in ["applicantOneName", "address", "notes"] {
        let q = format!("query($id: ID!) {{ householdProfile(id: $id) {{ {field} }} }}");
        let body = app.gql(Some(&ff), &q, json!({"id": birch_hprofile})).await;
        assert!(
            body["errors"].is_array() && body["data"].is_null(),
            "{field} must not exist on HouseholdProfile"
        );
    }

    // Filters and orderings cannot widen the scope.
    let sw = app.role("alder", "SOCIAL_WORKER");
    let q = "query($a: [ID!]) { children(filter: { authorityIds: $a }) { totalCount } }";
    let body = app
        .gql(Some(&sw), q, json!({"a": [app.authority_id("birch")]}))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    let body = app
        .gql(
            Some(&sw),
            q,
            json!({"a": [app.authority_id_in("other", "oak")]}),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
    let q = "{ poolChildren(orderBy: PROFILE_NAME, first: 100) { totalCount } }";
    assert_eq!(
        app.ok(&ff, q, json!({})).await["poolChildren"]["totalCount"],
        2
    );
    // The sibling group of another authority's child is not reachable either.
    let sibling = app
        .gql(
            Some(&ff),
            "query($id: ID!) { siblingGroup(id: $id) { id } }",
            json!({"id": encode_id("SiblingGroup", 1)}),
        )
        .await;
    assert_eq!(error_code(&sibling).as_deref(), Some("NOT_FOUND"));
}

/// The current version of a record, read by a token that may see it in full.
async fn version(app: &TestApp, token: &str, field: &str, id: &str) -> i64 {
    let q = format!("query($id: ID!) {{ {field}(id: $id) {{ version }} }}");
    app.ok(token, &q, json!({"id": id})).await[field]["version"]
        .as_i64()
        .unwrap()
}

/// Runs a mutation for every role (with the record's current version) and checks the row.
async fn expect_write_row(
    app: &TestApp,
    label: &str,
    mutation: &str,
    field: &str,
    reader: Option<(&str, &str, &str)>,
    input: impl Fn(i64) -> Value,
    expected: &str,
) {
    let mut got = String::new();
    for role in ROLES {
        let v = match reader {
            Some((token, read_field, id)) => version(app, token, read_field, id).await,
            None => 0,
        };
        let body = app
            .gql(
                Some(&token(app, role)),
                mutation,
                json!({ "input": input(v) }),
            )
            .await;
        got.push(match error_code(&body).as_deref() {
            Some("NOT_FOUND") => 'N',
            Some("FORBIDDEN") => 'F',
            Some(other) => panic!("{label} as {role}: unexpected {other}: {body:#}"),
            None => {
                assert!(!body["data"][field].is_null(), "{label}: {body:#}");
                'D'
            }
        });
    }
    assert_eq!(got, expected, "{label}: roles SW FF RO DM MGR BA CA");
}

async fn writes_follow_the_matrix(app: TestApp) {
    let w = world(&app).await;
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    let birch_sw = app.role("birch", "SOCIAL_WORKER");
    let alder_ro = app.role("alder", "RECRUITMENT_OFFICER");
    let birch_ro = app.role("birch", "RECRUITMENT_OFFICER");
    let other_sw = app.token_with("other-sw", "other", &[("oak", &["SOCIAL_WORKER"])], &[]);
    let other_ro = app.token_with(
        "other-ro",
        "other",
        &[("oak", &["RECRUITMENT_OFFICER"])],
        &[],
    );

    let update_child =
        "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { id } } }";
    let upd = |id: String| move |v: i64| json!({ "id": id, "expectedVersion": v, "profileText": "Updated text" });
    //                                                                                                   SW FF RO DM MG BA CA
    expect_write_row(
        &app,
        "updateChild own",
        update_child,
        "updateChild",
        Some((&alder_sw, "child", &w.alder_pool_child)),
        upd(w.alder_pool_child.clone()),
        "DFNFFNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateChild other pool",
        update_child,
        "updateChild",
        Some((&birch_sw, "child", &w.birch_pool_child)),
        upd(w.birch_pool_child.clone()),
        "NFNFNNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateChild other",
        update_child,
        "updateChild",
        Some((&birch_sw, "child", &w.birch_child)),
        upd(w.birch_child.clone()),
        "NNNNNNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateChild other consortium",
        update_child,
        "updateChild",
        Some((&other_sw, "child", &w.other_child)),
        upd(w.other_child.clone()),
        "NNNNNNN",
    )
    .await;

    let milestones = "mutation($input: RecordChildMilestonesInput!) { recordChildMilestones(input: $input) { child { id } } }";
    let ms = |id: String| move |v: i64| json!({ "id": id, "expectedVersion": v, "adoptionPlanOn": "2022-05-01" });
    expect_write_row(
        &app,
        "milestones own",
        milestones,
        "recordChildMilestones",
        Some((&alder_sw, "child", &w.alder_child)),
        ms(w.alder_child.clone()),
        "DFNFFNN",
    )
    .await;

    let decision = "mutation($input: RecordChildDecisionInput!) { recordChildDecision(input: $input) { child { id } } }";
    let dec = |id: String| move |v: i64| json!({ "id": id, "expectedVersion": v, "decision": "SHOBPA", "decidedOn": "2022-06-01" });
    expect_write_row(
        &app,
        "decision own",
        decision,
        "recordChildDecision",
        Some((&alder_sw, "child", &w.alder_pool_child)),
        dec(w.alder_pool_child.clone()),
        "FFNDFNN",
    )
    .await;
    expect_write_row(
        &app,
        "decision other pool",
        decision,
        "recordChildDecision",
        Some((&birch_sw, "child", &w.birch_pool_child)),
        dec(w.birch_pool_child.clone()),
        "NFNFNNN",
    )
    .await;

    let plan = "mutation($input: ChangeChildPlanInput!) { changeChildPlan(input: $input) { child { id } } }";
    let pc = |id: String| move |v: i64| json!({ "id": id, "expectedVersion": v, "changedOn": "2023-01-01", "reason": "RD1" });
    expect_write_row(
        &app,
        "plan change other",
        plan,
        "changeChildPlan",
        Some((&birch_sw, "child", &w.birch_child)),
        pc(w.birch_child.clone()),
        "NNNNNNN",
    )
    .await;

    let create_child_m =
        "mutation($input: CreateChildInput!) { createChild(input: $input) { child { id } } }";
    let new_child = |authority: String| {
        move |_: i64| {
            json!({ "authorityId": authority, "legalName": "New Child", "dateOfBirth": "2022-01-01",
                              "profileName": "Newby", "gender": "MALE" })
        }
    };
    expect_write_row(
        &app,
        "createChild own",
        create_child_m,
        "createChild",
        None,
        new_child(app.authority_id("alder")),
        "DFFFFFF",
    )
    .await;
    expect_write_row(
        &app,
        "createChild other",
        create_child_m,
        "createChild",
        None,
        new_child(app.authority_id("birch")),
        "FFFFFFF",
    )
    .await;
    expect_write_row(
        &app,
        "createChild other consortium",
        create_child_m,
        "createChild",
        None,
        new_child(app.authority_id_in("other", "oak")),
        "NNNNNNN",
    )
    .await;

    let create_household = "mutation($input: CreateHouseholdInput!) { createHousehold(input: $input) { household { id } } }";
    let new_household = |authority: String| {
        move |_: i64| {
            json!({ "authorityId": authority, "applicantOneName": "New Applicant", "profileName": "New Household",
                              "channel": "CAMPAIGN", "enquiryOn": "2024-01-01" })
        }
    };
    expect_write_row(
        &app,
        "createHousehold own",
        create_household,
        "createHousehold",
        None,
        new_household(app.authority_id("alder")),
        "FFDFFFF",
    )
    .await;
    expect_write_row(
        &app,
        "createHousehold other",
        create_household,
        "createHousehold",
        None,
        new_household(app.authority_id("elm")),
        "FFFFFFF",
    )
    .await;

    let update_household = "mutation($input: UpdateHouseholdInput!) { updateHousehold(input: $input) { household { id } } }";
    let uh = |id: String| move |v: i64| json!({ "id": id, "expectedVersion": v, "profileText": "Updated" });
    expect_write_row(
        &app,
        "updateHousehold own",
        update_household,
        "updateHousehold",
        Some((&alder_ro, "household", &w.alder_approved)),
        uh(w.alder_approved.clone()),
        "NFDFFNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateHousehold other pool",
        update_household,
        "updateHousehold",
        Some((&birch_ro, "household", &w.birch_approved)),
        uh(w.birch_approved.clone()),
        "NFNFNNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateHousehold other",
        update_household,
        "updateHousehold",
        Some((&birch_ro, "household", &w.birch_enquiry)),
        uh(w.birch_enquiry.clone()),
        "NNNNNNN",
    )
    .await;
    expect_write_row(
        &app,
        "updateHousehold other consortium",
        update_household,
        "updateHousehold",
        Some((&other_ro, "household", &w.other_approved)),
        uh(w.other_approved.clone()),
        "NNNNNNN",
    )
    .await;

    let event = "mutation($input: RecordRecruitmentEventInput!) { recordRecruitmentEvent(input: $input) { household { id } } }";
    let hold = |id: String| move |v: i64| json!({ "householdId": id, "expectedVersion": v, "stage": "ON_HOLD", "occurredOn": "2024-01-01" });
    expect_write_row(
        &app,
        "recruitment event own",
        event,
        "recordRecruitmentEvent",
        Some((&alder_ro, "household", &w.alder_enquiry)),
        hold(w.alder_enquiry.clone()),
        "NFDFFNN",
    )
    .await;
    expect_write_row(
        &app,
        "recruitment event other",
        event,
        "recordRecruitmentEvent",
        Some((&birch_ro, "household", &w.birch_enquiry)),
        hold(w.birch_enquiry.clone()),
        "NNNNNNN",
    )
    .await;

    let group = "mutation($input: CreateSiblingGroupInput!) { createSiblingGroup(input: $input) { siblingGroup { id } } }";
    let (a, _) = create_child(&app, "alder", "Sib A", json!({})).await;
    let (b, _) = create_child(&app, "alder", "Sib B", json!({})).await;
    let sg =
        move |_: i64| json!({ "childIds": [a, b], "label": "The As", "mustStayTogether": true });
    expect_write_row(
        &app,
        "createSiblingGroup own",
        group,
        "createSiblingGroup",
        None,
        sg,
        "DFNFFNN",
    )
    .await;
}

async fn nothing_crosses_consortia(app: TestApp) {
    let w = world(&app).await;
    let other_ff = app.token_with(
        "other-ff",
        "other",
        &[("oak", &["FAMILY_FINDER", "DECISION_MAKER", "MANAGER"])],
        &[],
    );
    let data = app
        .ok(
            &other_ff,
            "{ poolChildren { totalCount edges { node { id authority { code } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolChildren"]["totalCount"], 1);
    assert_eq!(
        data["poolChildren"]["edges"][0]["node"]["authority"]["code"],
        "oak"
    );
    let data = app
        .ok(
            &other_ff,
            "{ poolHouseholds { totalCount } children { totalCount } households { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolHouseholds"]["totalCount"], 1);
    assert_eq!(data["children"]["totalCount"], 1);
    assert_eq!(data["households"]["totalCount"], 1);
    let data = app
        .ok(&other_ff, "{ authorities { code } }", json!({}))
        .await;
    assert_eq!(data["authorities"], json!([{"code": "oak"}]));
    for id in [
        w.alder_pool_child.clone(),
        profile_id(&w.alder_pool_child),
        w.alder_approved.clone(),
        profile_id(&w.alder_approved),
        app.authority_id("alder"),
    ] {
        let body = app
            .gql(
                Some(&other_ff),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("NOT_FOUND"),
            "{id} reachable from consortium other"
        );
    }
    // A token naming `alder` while claiming consortium `other` gains nothing in alder.
    let forged = app.token_with("mixed", "other", &[("alder", &["SOCIAL_WORKER"])], &[]);
    let data = app
        .ok(
            &forged,
            "{ viewer { memberships { authority { code } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["viewer"]["memberships"], json!([]));
    let body = app
        .gql(
            Some(&forged),
            "query($id: ID!) { child(id: $id) { id } }",
            json!({"id": w.alder_child}),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
    // The audit log of one consortium holds nothing of the other.
    let admin = app.token_with("admin", "other", &[], &["CONSORTIUM_ADMIN"]);
    app.flush_audit().await;
    let data = app
        .ok(
            &admin,
            "{ auditLog(first: 100) { edges { node { owningAuthority { code } } } } }",
            json!({}),
        )
        .await;
    for edge in data["auditLog"]["edges"].as_array().unwrap() {
        let code = &edge["node"]["owningAuthority"]["code"];
        assert!(
            code.is_null() || code == "oak",
            "foreign audit event visible: {edge}"
        );
    }
}

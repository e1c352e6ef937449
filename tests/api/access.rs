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
    // A query of the matrix: its document (with `$id`) and the field it answers in.
    #[rustfmt::skip]
    let [child, node, profile, household, hprofile] = [
        ("query($id: ID!) { child(id: $id) { __typename id legalName } }", "child"),
        ("query($id: ID!) { node(id: $id) { __typename id } }", "node"),
        ("query($id: ID!) { childProfile(id: $id) { __typename id profileName } }", "childProfile"),
        ("query($id: ID!) { household(id: $id) { __typename id applicantOneName } }", "household"),
        ("query($id: ID!) { householdProfile(id: $id) { __typename id profileName } }", "householdProfile"),
    ];
    let birch_profile = profile_id(&w.birch_pool_child);
    let birch_care_profile = profile_id(&w.birch_child);
    let other_profile = profile_id(&w.other_child);
    let birch_hprofile = profile_id(&w.birch_approved);
    let enquiry_profile = profile_id(&w.birch_enquiry);
    let other_hprofile = profile_id(&w.other_approved);

    // Each row: the outcome per role, in column order SW FF RO DM MG BA CA.
    #[rustfmt::skip]
    let cases = [
        ("child own pool", child, &w.alder_pool_child, "DDNDDNN"),
        ("child own", child, &w.alder_child, "DDNDDNN"),
        ("child other pool", child, &w.birch_pool_child, "NNNNNNN"),
        ("child other", child, &w.birch_child, "NNNNNNN"),
        ("child other consortium", child, &w.other_child, "NNNNNNN"),
        ("node own child", node, &w.alder_child, "DDNDDNN"),
        ("node other pool child", node, &w.birch_pool_child, "NNNNNNN"),
        ("node other pool profile", node, &birch_profile, "NPNPNNN"),
        ("node other non-pool profile", node, &birch_care_profile, "NNNNNNN"),
        ("node other consortium profile", node, &other_profile, "NNNNNNN"),
        ("profile own pool", profile, &w.alder_pool_child, "NPNPNNN"),
        ("profile other pool", profile, &birch_profile, "NPNPNNN"),
        ("profile other non-pool", profile, &birch_care_profile, "NNNNNNN"),
        ("profile other consortium", profile, &other_profile, "NNNNNNN"),
        ("household own approved", household, &w.alder_approved, "NDDDDNN"),
        ("household own enquiry", household, &w.alder_enquiry, "NDDDDNN"),
        ("household other", household, &w.birch_approved, "NNNNNNN"),
        ("household other consortium", household, &w.other_approved, "NNNNNNN"),
        ("household profile own", hprofile, &w.alder_approved, "NPNPNNN"),
        ("household profile other pool", hprofile, &birch_hprofile, "NPNPNNN"),
        ("household profile other enquiry", hprofile, &enquiry_profile, "NNNNNNN"),
        ("household profile other consortium", hprofile, &other_hprofile, "NNNNNNN"),
        ("node household profile", node, &birch_hprofile, "NPNPNNN"),
    ];
    for (label, (query, field), id, expected) in cases {
        expect_row(&app, label, query, field, json!({"id": id}), expected).await;
    }

    // The lists, each named by its field.
    #[rustfmt::skip]
    let lists = [
        ("children", "{ children { totalCount edges { node { __typename id } } } }", "DDFDDFF"),
        ("households", "{ households { totalCount edges { node { __typename id } } } }", "FDDDDFF"),
        ("poolChildren", "{ poolChildren { totalCount edges { node { __typename id } } } }", "FPFPFFF"),
        ("poolHouseholds", "{ poolHouseholds { totalCount edges { node { __typename id } } } }", "FPFPFFF"),
        ("auditLog", "{ auditLog(first: 1) { totalCount edges { node { __typename } } } }", "FFFFDFD"),
    ];
    for (field, query, expected) in lists {
        expect_row(&app, field, query, field, json!({}), expected).await;
    }

    // What lists hold: the actor's authority in full, the pool as profiles, never more.
    let ff = app.role("alder", "FAMILY_FINDER");
    for (field, mut want) in [
        (
            "children",
            vec![w.alder_pool_child.clone(), w.alder_child.clone()],
        ),
        (
            "poolChildren",
            vec![profile_id(&w.alder_pool_child), birch_profile.clone()],
        ),
    ] {
        let q = format!("{{ {field} {{ totalCount edges {{ node {{ id }} }} }} }}");
        let data = app.ok(&ff, &q, json!({})).await;
        assert_eq!(data[field]["totalCount"], want.len(), "{field}");
        let mut got: Vec<&str> = data[field]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap())
            .collect();
        got.sort_unstable();
        want.sort();
        assert_eq!(got, want, "{field}");
    }
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

/// A mutation of the write matrix.
struct Write {
    /// `mutation($input: …Input!) { field(input: $input) { returns { id } } }`.
    document: String,
    /// The field the mutation answers in.
    field: &'static str,
    /// The record it returns; for an update, the query field that reads its version.
    returns: &'static str,
    /// For an update: the input key that names the record.
    key: Option<&'static str>,
    /// The input, less the record, its version and its authority.
    input: Value,
}

impl Write {
    fn new(
        (field, returns, key, input): (&'static str, &'static str, Option<&'static str>, Value),
    ) -> Self {
        let input_type = format!("{}{}", field[..1].to_uppercase(), &field[1..]);
        let document = format!(
            "mutation($input: {input_type}Input!) {{ {field}(input: $input) {{ {returns} {{ id }} }} }}"
        );
        Write {
            document,
            field,
            returns,
            key,
            input,
        }
    }
}

/// What one row of the write matrix writes to.
enum Target<'a> {
    /// An existing record, its current version read by `reader`.
    Record { reader: &'a str, id: &'a str },
    /// A new record in this authority.
    Authority(&'a str),
    /// Nothing beyond the mutation's own input.
    Input,
}

/// Runs a mutation for every role (with the record's current version) and checks the row.
async fn expect_write_row(
    app: &TestApp,
    label: &str,
    write: &Write,
    target: &Target<'_>,
    expected: &str,
) {
    let mut got = String::new();
    for role in ROLES {
        let mut input = write.input.clone();
        match target {
            Target::Record { reader, id } => {
                let key = write.key.expect("an update names its record");
                input[key] = json!(id);
                input["expectedVersion"] = json!(version(app, reader, write.returns, id).await);
            }
            Target::Authority(authority) => input["authorityId"] = json!(authority),
            Target::Input => {}
        }
        let body = app
            .gql(
                Some(&token(app, role)),
                &write.document,
                json!({ "input": input }),
            )
            .await;
        got.push(match error_code(&body).as_deref() {
            Some("NOT_FOUND") => 'N',
            Some("FORBIDDEN") => 'F',
            Some(other) => panic!("{label} as {role}: unexpected {other}: {body:#}"),
            None => {
                assert!(!body["data"][write.field].is_null(), "{label}: {body:#}");
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
    let (a, _) = create_child(&app, "alder", "Sib A", json!({})).await;
    let (b, _) = create_child(&app, "alder", "Sib B", json!({})).await;

    // Each mutation: its field, the record it returns, for an update the input key naming
    // that record, and the rest of its input.
    #[rustfmt::skip]
    let [update_child, milestones, decision, plan, new_child, new_household, update_household, event, group] = [
        ("updateChild", "child", Some("id"), json!({ "profileText": "Updated text" })),
        ("recordChildMilestones", "child", Some("id"), json!({ "adoptionPlanOn": "2022-05-01" })),
        ("recordChildDecision", "child", Some("id"), json!({ "decision": "SHOBPA", "decidedOn": "2022-06-01" })),
        ("changeChildPlan", "child", Some("id"), json!({ "changedOn": "2023-01-01", "reason": "RD1" })),
        ("createChild", "child", None, json!({ "legalName": "New Child", "dateOfBirth": "2022-01-01", "profileName": "Newby", "gender": "MALE" })),
        ("createHousehold", "household", None, json!({ "applicantOneName": "New Applicant", "profileName": "New Household", "channel": "CAMPAIGN", "enquiryOn": "2024-01-01" })),
        ("updateHousehold", "household", Some("id"), json!({ "profileText": "Updated" })),
        ("recordRecruitmentEvent", "household", Some("householdId"), json!({ "stage": "ON_HOLD", "occurredOn": "2024-01-01" })),
        ("createSiblingGroup", "siblingGroup", None, json!({ "childIds": [a, b], "label": "The As", "mustStayTogether": true })),
    ]
    .map(Write::new);

    let rec = |reader, id| Target::Record { reader, id };
    let alder = app.authority_id("alder");
    let birch = app.authority_id("birch");
    let elm = app.authority_id("elm");
    let oak = app.authority_id_in("other", "oak");
    // Each row: whose record, and the outcome per role in column order SW FF RO DM MG BA CA.
    #[rustfmt::skip]
    let cases = [
        (&update_child, "own", rec(&alder_sw, &w.alder_pool_child), "DFNFFNN"),
        (&update_child, "other pool", rec(&birch_sw, &w.birch_pool_child), "NFNFNNN"),
        (&update_child, "other", rec(&birch_sw, &w.birch_child), "NNNNNNN"),
        (&update_child, "other consortium", rec(&other_sw, &w.other_child), "NNNNNNN"),
        (&milestones, "own", rec(&alder_sw, &w.alder_child), "DFNFFNN"),
        (&decision, "own", rec(&alder_sw, &w.alder_pool_child), "FFNDFNN"),
        (&decision, "other pool", rec(&birch_sw, &w.birch_pool_child), "NFNFNNN"),
        (&plan, "other", rec(&birch_sw, &w.birch_child), "NNNNNNN"),
        (&new_child, "own", Target::Authority(&alder), "DFFFFFF"),
        (&new_child, "other", Target::Authority(&birch), "FFFFFFF"),
        (&new_child, "other consortium", Target::Authority(&oak), "NNNNNNN"),
        (&new_household, "own", Target::Authority(&alder), "FFDFFFF"),
        (&new_household, "other", Target::Authority(&elm), "FFFFFFF"),
        (&update_household, "own", rec(&alder_ro, &w.alder_approved), "NFDFFNN"),
        (&update_household, "other pool", rec(&birch_ro, &w.birch_approved), "NFNFNNN"),
        (&update_household, "other", rec(&birch_ro, &w.birch_enquiry), "NNNNNNN"),
        (&update_household, "other consortium", rec(&other_ro, &w.other_approved), "NNNNNNN"),
        (&event, "own", rec(&alder_ro, &w.alder_enquiry), "NFDFFNN"),
        (&event, "other", rec(&birch_ro, &w.birch_enquiry), "NNNNNNN"),
        (&group, "own", Target::Input, "DFNFFNN"),
    ];
    for (write, whose, target, expected) in cases {
        let label = format!("{} {whose}", write.field);
        expect_write_row(&app, &label, write, &target, expected).await;
    }
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

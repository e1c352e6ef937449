//! The link workflow through GraphQL: propose → accept → match → place → adoption order and
//! its effects on the child and the household; declines, withdrawals and disruptions;
//! sibling groups as one unit; who may do what and see what; and the invariants under
//! concurrency.
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{TestApp, assert_refusal, error_code, error_field};
use crate::matching::{
    SUGGESTIONS, household_approved_on, number, profile_id, sibling_group, waiting_child,
};

const LINK_FIELDS: &str = r#"
  id version state crossBoundary interAgencyFeePence endReason
  proposedOn acceptedOn matchedOn placedOn adoptionOrderOn endedOn siblingGroupId
  proposedBy { code } childAuthority { code } householdAuthority { code }
  children { __typename ... on Child { id legalName } ... on ChildProfile { id profileName } }
  household { __typename ... on Household { id applicantOneName } ... on HouseholdProfile { id profileName } }
"#;

fn mutation(name: &str, input: &str) -> String {
    format!("mutation($i: {input}!) {{ {name}(input: $i) {{ link {{ {LINK_FIELDS} }} }} }}")
}

fn link_query() -> String {
    format!("query($id: ID!) {{ link(id: $id) {{ {LINK_FIELDS} }} }}")
}

/// The link through `node(id:)`.
fn node_query() -> String {
    format!("query($id: ID!) {{ node(id: $id) {{ __typename ... on Link {{ {LINK_FIELDS} }} }} }}")
}

const CHILD: &str = r#"query($id: ID!) { child(id: $id) { status version inPool
  milestones { enteredCareOn placementOrderOn matchDecisionOn placedOn adoptionOrderOn } } }"#;

const HOUSEHOLD: &str = r#"query($id: ID!) { household(id: $id) { stage stageOn version
  availableForMatching inPool events { stage occurredOn } } }"#;

fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// Proposes a link that should be refused; returns the whole response.
async fn propose_refused(app: &TestApp, token: &str, input: Value) -> Value {
    let document = mutation("proposeLink", "ProposeLinkInput");
    let body = app.gql(Some(token), &document, json!({ "i": input })).await;
    assert!(body["errors"].is_array(), "proposeLink succeeded: {body:#}");
    body
}

/// Runs a link mutation as `token`; returns the link.
async fn step(app: &TestApp, token: &str, name: &str, input_type: &str, input: Value) -> Value {
    let data = app
        .ok(token, &mutation(name, input_type), json!({ "i": input }))
        .await;
    data[name]["link"].clone()
}

/// The error code of a link mutation that should fail.
async fn refused(app: &TestApp, token: &str, name: &str, input_type: &str, input: Value) -> String {
    let body = app
        .gql(
            Some(token),
            &mutation(name, input_type),
            json!({ "i": input }),
        )
        .await;
    error_code(&body).unwrap_or_else(|| panic!("{name} succeeded: {body:#}"))
}

async fn propose(app: &TestApp, token: &str, input: Value) -> Value {
    step(app, token, "proposeLink", "ProposeLinkInput", input).await
}

/// The input that ends `link` at its version (`declineLink`, `withdrawLink`) for `reason`.
fn ending(link: &Value, reason: &str) -> Value {
    json!({ "id": link["id"], "expectedVersion": link["version"], "reason": reason })
}

/// Proposes to link the child `child` with the household `household` (each id as the
/// proposer sees it: the record's own or its shared profile's).
pub(crate) async fn propose_pair(
    app: &TestApp,
    token: &str,
    child: &str,
    household: &str,
) -> Value {
    let input = json!({ "childId": child, "householdId": household });
    propose(app, token, input).await
}

/// A step of `link` at its version: the mutation `name` (its input type named after it),
/// with `date` (field and value) when the step is dated.
async fn step_on(
    app: &TestApp,
    token: &str,
    link: &Value,
    name: &str,
    date: Option<(&str, &str)>,
) -> Value {
    let mut input = json!({ "id": link["id"], "expectedVersion": link["version"] });
    if let Some((field, on)) = date {
        input[field] = json!(on);
    }
    let input_type = format!("{}{}Input", name[..1].to_uppercase(), &name[1..]);
    step(app, token, name, &input_type, input).await
}

pub(crate) async fn accept(app: &TestApp, token: &str, link: &Value) -> Value {
    step_on(app, token, link, "acceptLink", None).await
}

pub(crate) async fn decide(app: &TestApp, token: &str, link: &Value, on: &str) -> Value {
    step_on(
        app,
        token,
        link,
        "recordMatchDecision",
        Some(("decidedOn", on)),
    )
    .await
}

async fn place(app: &TestApp, token: &str, link: &Value, on: &str) -> Value {
    step_on(app, token, link, "recordPlacement", Some(("placedOn", on))).await
}

async fn adopt(app: &TestApp, token: &str, link: &Value, on: &str) -> Value {
    step_on(
        app,
        token,
        link,
        "recordAdoptionOrder",
        Some(("madeOn", on)),
    )
    .await
}

async fn child(app: &TestApp, authority: &str, id: &str) -> Value {
    let sw = app.role(authority, "SOCIAL_WORKER");
    app.ok(&sw, CHILD, json!({ "id": id })).await["child"].clone()
}

async fn household(app: &TestApp, authority: &str, id: &str) -> Value {
    let ro = app.role(authority, "RECRUITMENT_OFFICER");
    app.ok(&ro, HOUSEHOLD, json!({ "id": id })).await["household"].clone()
}

fn stages(h: &Value) -> Vec<String> {
    h["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stage"].as_str().unwrap().to_owned())
        .collect()
}

/// An approved, available birch household of the pool; returns its id.
pub(crate) async fn birch_household(app: &TestApp, name: &str) -> String {
    household_approved_on(
        app,
        "birch",
        name,
        "2024-03-01",
        json!({ "approval": { "capacity": 2, "ageMinMonths": 0, "ageMaxMonths": 120,
                              "acceptsSiblings": true } }),
    )
    .await
}

/// Alder's waiting child Kit and birch's approved household Birch Home, the pair most of
/// these scenarios link: (child id, household id).
async fn kit_and_birch_home(app: &TestApp) -> (String, String) {
    let kit = waiting_child(app, "alder", "Kit", json!({})).await;
    let home = birch_household(app, "Birch Home").await;
    (kit, home)
}

both_backends!(
    the_full_path_fills_the_childs_dates_and_the_households_events,
    each_side_sees_its_links_and_may_take_only_its_steps,
    declined_pairs_are_not_suggested_again_and_open_pairs_are_unique,
    a_disruption_returns_the_child_to_waiting_and_the_household_to_review,
    a_must_stay_together_group_is_linked_as_one_unit,
    concurrent_match_decisions_on_one_household_leave_one_match,
    concurrent_match_decisions_for_one_child_leave_one_match,
    a_link_alone_records_the_dates_of_the_child_it_covers
);

async fn the_full_path_fills_the_childs_dates_and_the_households_events(app: TestApp) {
    let (kit, home) = kit_and_birch_home(&app).await;
    let today = today();

    // alder's family finder proposes, from a suggestion (a shared profile id).
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let link = propose(
        &app,
        &alder_ff,
        json!({ "childId": kit, "householdId": profile_id(&home), "interAgencyFeePence": 2_700_000 }),
    )
    .await;
    assert_eq!(link["state"], "PROPOSED");
    assert_eq!(link["crossBoundary"], true);
    assert_eq!(link["interAgencyFeePence"], 2_700_000);
    assert_eq!(link["proposedBy"]["code"], "alder");
    assert_eq!(link["proposedOn"], today.as_str());
    assert_eq!(link["children"][0]["__typename"], "Child");
    assert_eq!(link["household"]["__typename"], "HouseholdProfile");

    // birch accepts; alder's decision maker decides the match.
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let link = accept(&app, &birch_ff, &link).await;
    assert_eq!(link["state"], "EXPLORING");
    assert_eq!(link["acceptedOn"], today.as_str());
    assert_eq!(link["children"][0]["__typename"], "ChildProfile");
    assert_eq!(link["household"]["__typename"], "Household");
    let alder_dm = app.role("alder", "DECISION_MAKER");
    let link = decide(&app, &alder_dm, &link, &today).await;
    assert_eq!(link["state"], "MATCHED");
    assert_eq!(link["matchedOn"], today.as_str());

    let c = child(&app, "alder", &kit).await;
    assert_eq!(c["status"], "MATCHED");
    assert_eq!(c["inPool"], false);
    assert_eq!(c["milestones"]["matchDecisionOn"], today.as_str());
    let h = household(&app, "birch", &home).await;
    assert_eq!(h["stage"], "MATCHED");
    assert_eq!(h["stageOn"], today.as_str());
    assert_eq!(h["availableForMatching"], false);
    assert_eq!(h["inPool"], false);
    assert_eq!(stages(&h).last().map(String::as_str), Some("MATCHED"));
    // A matched household cannot be made available again while its link holds.
    let body = app
        .gql(
            Some(&app.role("birch", "RECRUITMENT_OFFICER")),
            "mutation($i: UpdateHouseholdInput!) { updateHousehold(input: $i) { household { id } } }",
            json!({ "i": { "id": home, "expectedVersion": h["version"], "availableForMatching": true } }),
        )
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("availableForMatching"));
    let unchanged = household(&app, "birch", &home).await;
    assert_eq!(unchanged["version"], h["version"]);
    assert_eq!(unchanged["availableForMatching"], false);

    // alder's social worker records the placement and the adoption order.
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    let link = place(&app, &alder_sw, &link, &today).await;
    assert_eq!(link["state"], "PLACED");
    let link = adopt(&app, &alder_sw, &link, &today).await;
    assert_eq!(link["state"], "ADOPTED");
    assert_eq!(
        (
            &link["matchedOn"],
            &link["placedOn"],
            &link["adoptionOrderOn"]
        ),
        (&json!(today), &json!(today), &json!(today))
    );

    // The scorecard's inputs are all there: A1 (entered care → placed), A2 (placement
    // order → match decision, placed before the order), the cohort (adoption order).
    let c = child(&app, "alder", &kit).await;
    assert_eq!(c["status"], "ADOPTED");
    let m = &c["milestones"];
    assert_eq!(m["enteredCareOn"], "2022-01-10");
    assert_eq!(m["placementOrderOn"], "2022-08-01");
    assert_eq!(m["matchDecisionOn"], today.as_str());
    assert_eq!(m["placedOn"], today.as_str());
    assert_eq!(m["adoptionOrderOn"], today.as_str());
    let h = household(&app, "birch", &home).await;
    assert_eq!(h["stage"], "ADOPTION_ORDER");
    assert_eq!(
        stages(&h),
        vec![
            "ENQUIRY",
            "STAGE_TWO_STARTED",
            "STAGE_TWO_COMPLETED",
            "PANEL",
            "APPROVED",
            "MATCHED",
            "PLACED",
            "ADOPTION_ORDER"
        ]
    );

    // Every step is in the audit log: a creation, the decision, the updates.
    app.flush_audit().await;
    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let log = app
        .ok(
            &admin,
            "{ auditLog(filter: { entityType: \"Link\" }, first: 50) { edges { node { action detail } } } }",
            json!({}),
        )
        .await;
    let writes: Vec<(String, String)> = log["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"] != "VIEW" && n["action"] != "SEARCH")
        .map(|n| {
            (
                n["action"].as_str().unwrap().to_owned(),
                n["detail"]["step"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut writes = writes;
    writes.reverse();
    assert_eq!(
        writes,
        vec![
            ("CREATE".to_owned(), "proposeLink".to_owned()),
            ("UPDATE".into(), "acceptLink".into()),
            ("DECIDE".into(), "recordMatchDecision".into()),
            ("UPDATE".into(), "recordPlacement".into()),
            ("UPDATE".into(), "recordAdoptionOrder".into()),
        ]
    );
}

async fn each_side_sees_its_links_and_may_take_only_its_steps(app: TestApp) {
    let (kit, home) = kit_and_birch_home(&app).await;
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let input = json!({ "childId": kit, "householdId": profile_id(&home) });

    // Only family finders and decision makers propose.
    for role in ["SOCIAL_WORKER", "MANAGER", "RECRUITMENT_OFFICER"] {
        let code = refused(
            &app,
            &app.role("alder", role),
            "proposeLink",
            "ProposeLinkInput",
            input.clone(),
        )
        .await;
        assert_eq!(code, "FORBIDDEN", "{role}");
    }
    // A family finder of an uninvolved authority cannot propose for others.
    let cedar_ff = app.role("cedar", "FAMILY_FINDER");
    assert_eq!(
        refused(
            &app,
            &cedar_ff,
            "proposeLink",
            "ProposeLinkInput",
            input.clone()
        )
        .await,
        "FORBIDDEN"
    );
    let link = propose(&app, &alder_ff, input.clone()).await;
    let id = link["id"].as_str().unwrap().to_owned();
    let at = |link: &Value| json!({ "id": link["id"], "expectedVersion": link["version"] });

    // The proposing side cannot accept or decline its own proposal.
    assert_eq!(
        refused(&app, &alder_ff, "acceptLink", "AcceptLinkInput", at(&link)).await,
        "FORBIDDEN"
    );
    let decline = ending(&link, "not for us");
    assert_eq!(
        refused(&app, &alder_ff, "declineLink", "EndLinkInput", decline).await,
        "FORBIDDEN"
    );
    // birch's recruitment officer sees the link (its household) but does not progress it.
    let birch_ro = app.role("birch", "RECRUITMENT_OFFICER");
    let seen = app.ok(&birch_ro, &link_query(), json!({ "id": id })).await;
    assert_eq!(seen["link"]["children"][0]["__typename"], "ChildProfile");
    assert!(!seen["link"].to_string().contains("Testchild"));
    // node(id:) resolves a link id to the same view.
    let node = app.ok(&birch_ro, &node_query(), json!({ "id": id })).await;
    assert_eq!(node["node"]["__typename"], "Link");
    let mut as_node = node["node"].clone();
    as_node.as_object_mut().unwrap().remove("__typename");
    assert_eq!(as_node, seen["link"]);
    assert_eq!(
        refused(&app, &birch_ro, "acceptLink", "AcceptLinkInput", at(&link)).await,
        "FORBIDDEN"
    );
    // Uninvolved authorities and other consortia do not see it at all.
    for token in [
        cedar_ff.clone(),
        app.token_with("oak", "other", &[("oak", &["DECISION_MAKER"])], &[]),
    ] {
        for query in [link_query(), node_query()] {
            let body = app.gql(Some(&token), &query, json!({ "id": id })).await;
            assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
        }
        assert_eq!(
            refused(&app, &token, "acceptLink", "AcceptLinkInput", at(&link)).await,
            "NOT_FOUND"
        );
    }
    let data = app
        .ok(&cedar_ff, "{ links { totalCount } }", json!({}))
        .await;
    assert_eq!(data["links"]["totalCount"], 0);
    let analyst = app.token_with("ba", "demo", &[], &["BOARD_ANALYST"]);
    let body = app
        .gql(Some(&analyst), "{ links { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));
    // Each side lists it, with the other side's record as a profile.
    let list = format!(
        "query($f: LinkFilterInput) {{ links(filter: $f) {{ totalCount nodes {{ {LINK_FIELDS} }} }} }}"
    );
    let alder = app
        .ok(
            &alder_ff,
            &list,
            json!({ "f": { "states": ["PROPOSED"], "childId": kit } }),
        )
        .await;
    assert_eq!(alder["links"]["totalCount"], 1);
    assert_eq!(
        alder["links"]["nodes"][0]["household"]["__typename"],
        "HouseholdProfile"
    );
    assert!(!alder["links"].to_string().contains("Applicant"));
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let birch = app
        .ok(
            &birch_ff,
            &list,
            json!({ "f": { "householdId": home, "crossBoundary": true } }),
        )
        .await;
    assert_eq!(birch["links"]["totalCount"], 1);
    assert_eq!(
        birch["links"]["nodes"][0]["household"]["__typename"],
        "Household"
    );
    let none = app
        .ok(&alder_ff, &list, json!({ "f": { "states": ["MATCHED"] } }))
        .await;
    assert_eq!(none["links"]["totalCount"], 0);

    // Accepted by birch; a stale version is a conflict.
    let accepted = accept(&app, &birch_ff, &link).await;
    assert_eq!(
        refused(&app, &birch_ff, "acceptLink", "AcceptLinkInput", at(&link)).await,
        "CONFLICT"
    );
    // The step no longer fits: accepting again is a conflict too.
    assert_eq!(
        refused(
            &app,
            &birch_ff,
            "acceptLink",
            "AcceptLinkInput",
            at(&accepted)
        )
        .await,
        "CONFLICT"
    );
    // Only a decision maker of the child's authority decides the match.
    let decision = |link: &Value, on: &str| json!({ "id": link["id"], "expectedVersion": link["version"], "decidedOn": on });
    let today = today();
    for token in [
        alder_ff.clone(),
        app.role("birch", "DECISION_MAKER"),
        app.role("alder", "SOCIAL_WORKER"),
    ] {
        assert_eq!(
            refused(
                &app,
                &token,
                "recordMatchDecision",
                "RecordMatchDecisionInput",
                decision(&accepted, &today)
            )
            .await,
            "FORBIDDEN"
        );
    }
    // Dates: not in the future, not before the link's previous step, not before the
    // child's milestones.
    let alder_dm = app.role("alder", "DECISION_MAKER");
    for on in ["2999-01-01", "2024-01-01"] {
        let body = app
            .gql(
                Some(&alder_dm),
                &mutation("recordMatchDecision", "RecordMatchDecisionInput"),
                json!({ "i": decision(&accepted, on) }),
            )
            .await;
        assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"), "{on}");
        assert_eq!(error_field(&body).as_deref(), Some("decidedOn"), "{on}");
    }
    // Placement before a match is a conflict of steps.
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    assert_eq!(
        refused(
            &app,
            &alder_sw,
            "recordPlacement",
            "RecordPlacementInput",
            json!({ "id": accepted["id"], "expectedVersion": accepted["version"], "placedOn": today }),
        )
        .await,
        "CONFLICT"
    );
    let matched = decide(&app, &alder_dm, &accepted, &today).await;
    assert_eq!(matched["state"], "MATCHED");
    // A matched link is not withdrawn: it ends only by disruption.
    let withdraw = ending(&matched, "changed our minds");
    assert_eq!(
        refused(&app, &alder_ff, "withdrawLink", "EndLinkInput", withdraw).await,
        "CONFLICT"
    );
    // A household's matched event is the link workflow's alone.
    let h = household(&app, "birch", &home).await;
    let body = app
        .gql(
            Some(&birch_ro),
            crate::helpers::RECORD_EVENT,
            json!({ "input": { "householdId": home, "expectedVersion": h["version"], "stage": "PLACED", "occurredOn": today } }),
        )
        .await;
    assert_eq!(error_field(&body).as_deref(), Some("stage"));
    // A link id of the wrong kind answers like a missing one.
    let body = app
        .gql(Some(&alder_ff), &link_query(), json!({ "id": kit }))
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
}

async fn declined_pairs_are_not_suggested_again_and_open_pairs_are_unique(app: TestApp) {
    let (kit, home) = kit_and_birch_home(&app).await;
    let other = birch_household(&app, "Birch Other").await;
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let suggested = |data: &Value| -> Vec<i64> {
        data["matchSuggestions"]["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| number(s["household"]["id"].as_str().unwrap()))
            .collect()
    };
    let before = app
        .ok(&alder_ff, SUGGESTIONS, json!({ "child": kit }))
        .await;
    assert!(suggested(&before).contains(&number(&home)));

    let input = json!({ "childId": kit, "householdId": profile_id(&home) });
    let link = propose(&app, &alder_ff, input.clone()).await;
    // One open link per pair.
    assert_eq!(
        refused(
            &app,
            &birch_ff,
            "proposeLink",
            "ProposeLinkInput",
            json!({ "childId": profile_id(&kit), "householdId": home })
        )
        .await,
        "CONFLICT"
    );
    let reason = "the family is not ready for contact needs";
    let declined = step(
        &app,
        &birch_ff,
        "declineLink",
        "EndLinkInput",
        ending(&link, reason),
    )
    .await;
    assert_eq!(declined["state"], "DECLINED");
    assert_eq!(declined["endReason"], reason);
    assert_eq!(declined["endedOn"], today().as_str());

    let after = app
        .ok(&alder_ff, SUGGESTIONS, json!({ "child": kit }))
        .await;
    let r = &after["matchSuggestions"];
    assert!(!suggested(&after).contains(&number(&home)));
    assert!(suggested(&after).contains(&number(&other)));
    assert!(
        r["excluded"]
            .as_array()
            .unwrap()
            .contains(&json!({ "rule": "DECLINED", "label": "declined before", "count": 1 })),
        "{r:#}"
    );
    assert_eq!(r["poolSize"], before["matchSuggestions"]["poolSize"]);
    // Nor is the child suggested to the household.
    let children = app
        .ok(
            &birch_ff,
            crate::matching::CHILD_SUGGESTIONS,
            json!({ "household": home }),
        )
        .await;
    assert!(
        children["childSuggestions"]["excluded"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["rule"] == "DECLINED")
    );

    // A withdrawn link frees the pair for a new proposal.
    let second = propose_pair(&app, &alder_ff, &kit, &profile_id(&other)).await;
    let withdraw = ending(&second, "paused");
    let withdrawn = step(&app, &birch_ff, "withdrawLink", "EndLinkInput", withdraw).await;
    assert_eq!(withdrawn["state"], "WITHDRAWN");
    let third = propose_pair(&app, &alder_ff, &kit, &profile_id(&other)).await;
    assert_eq!(third["state"], "PROPOSED");
    // A blank reason is refused.
    let decline = ending(&third, " ");
    assert_eq!(
        refused(&app, &birch_ff, "declineLink", "EndLinkInput", decline).await,
        "BAD_USER_INPUT"
    );
    // Only waiting children and available households are linked.
    let in_care = crate::helpers::create_child(&app, "alder", "In Care", json!({}))
        .await
        .0;
    let body = propose_refused(
        &app,
        &alder_ff,
        json!({ "childId": in_care, "householdId": profile_id(&other) }),
    )
    .await;
    assert_eq!(error_field(&body).as_deref(), Some("childId"));
    // Fees are for cross-boundary links and never negative.
    let alder_home =
        household_approved_on(&app, "alder", "Alder Home", "2024-03-01", json!({})).await;
    let body = propose_refused(
        &app,
        &alder_ff,
        json!({ "childId": kit, "householdId": alder_home, "interAgencyFeePence": 100 }),
    )
    .await;
    assert_eq!(error_field(&body).as_deref(), Some("interAgencyFeePence"));
}

async fn a_disruption_returns_the_child_to_waiting_and_the_household_to_review(app: TestApp) {
    let (kit, home) = kit_and_birch_home(&app).await;
    let today = today();
    // This time the household's side proposes and the child's side accepts.
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let link = propose_pair(&app, &birch_ff, &profile_id(&kit), &home).await;
    assert_eq!(link["proposedBy"]["code"], "birch");
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let link = accept(&app, &alder_ff, &link).await;
    let alder_dm = app.role("alder", "DECISION_MAKER");
    let link = decide(&app, &alder_dm, &link, &today).await;
    let link = place(&app, &alder_dm, &link, &today).await;
    // Only the child's side records a disruption.
    let disruption = |link: &Value| {
        json!({ "id": link["id"], "expectedVersion": link["version"], "disruptedOn": today,
                "reason": "the placement broke down" })
    };
    assert_eq!(
        refused(
            &app,
            &birch_ff,
            "recordDisruption",
            "RecordDisruptionInput",
            disruption(&link)
        )
        .await,
        "FORBIDDEN"
    );
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    let link = step(
        &app,
        &alder_sw,
        "recordDisruption",
        "RecordDisruptionInput",
        disruption(&link),
    )
    .await;
    assert_eq!(link["state"], "DISRUPTED");
    assert_eq!(link["endedOn"], today.as_str());
    assert_eq!(link["endReason"], "the placement broke down");
    // The link keeps the history.
    assert_eq!(
        (&link["matchedOn"], &link["placedOn"]),
        (&json!(today), &json!(today))
    );

    // The child waits again, back in the pool.
    let c = child(&app, "alder", &kit).await;
    assert_eq!(c["status"], "WAITING");
    assert_eq!(c["inPool"], true);
    assert_eq!(c["milestones"]["matchDecisionOn"], Value::Null);
    assert_eq!(c["milestones"]["placedOn"], Value::Null);
    // The household is approved again, but not available until its agency reviews it.
    let h = household(&app, "birch", &home).await;
    assert_eq!(h["stage"], "APPROVED");
    assert_eq!(h["stageOn"], today.as_str());
    assert_eq!(h["availableForMatching"], false);
    assert_eq!(h["inPool"], false);
    assert_eq!(stages(&h)[5..], ["MATCHED", "PLACED"]);
    let body = propose_refused(
        &app,
        &alder_ff,
        json!({ "childId": kit, "householdId": profile_id(&home) }),
    )
    .await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("NOT_FOUND"),
        "out of the pool"
    );

    // After the review the household is made available and can be matched again.
    let birch_ro = app.role("birch", "RECRUITMENT_OFFICER");
    app.ok(
        &birch_ro,
        "mutation($i: UpdateHouseholdInput!) { updateHousehold(input: $i) { household { id } } }",
        json!({ "i": { "id": home, "expectedVersion": h["version"], "availableForMatching": true } }),
    )
    .await;
    let again = propose_pair(&app, &alder_ff, &kit, &profile_id(&home)).await;
    let again = accept(&app, &birch_ff, &again).await;
    let again = decide(&app, &alder_dm, &again, &today).await;
    assert_eq!(again["state"], "MATCHED");
    let h = household(&app, "birch", &home).await;
    assert_eq!(h["stage"], "MATCHED");
    assert_eq!(stages(&h)[5..], ["MATCHED", "PLACED", "MATCHED"]);
}

async fn a_must_stay_together_group_is_linked_as_one_unit(app: TestApp) {
    let sister = waiting_child(&app, "alder", "Sister", json!({})).await;
    let brother = waiting_child(&app, "alder", "Brother", json!({ "gender": "MALE" })).await;
    let group = sibling_group(&app, "alder", &[&sister, &brother], true).await;
    let home = birch_household(&app, "Birch Home").await;
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    // A member alone is refused.
    let body = propose_refused(
        &app,
        &alder_ff,
        json!({ "childId": sister, "householdId": profile_id(&home) }),
    )
    .await;
    assert_eq!(error_code(&body).as_deref(), Some("BAD_USER_INPUT"));
    assert_eq!(error_field(&body).as_deref(), Some("childId"));

    let link = propose(
        &app,
        &alder_ff,
        json!({ "siblingGroupId": group, "householdId": profile_id(&home) }),
    )
    .await;
    assert_eq!(link["siblingGroupId"], group.as_str());
    let children: Vec<i64> = link["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| number(c["id"].as_str().unwrap()))
        .collect();
    assert_eq!(children, vec![number(&sister), number(&brother)]);
    // The household's side sees both as profiles.
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let link = accept(&app, &birch_ff, &link).await;
    assert!(
        link["children"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["__typename"] == "ChildProfile")
    );
    let today = today();
    let link = decide(&app, &app.role("alder", "DECISION_MAKER"), &link, &today).await;
    assert_eq!(link["state"], "MATCHED");
    for id in [&sister, &brother] {
        let c = child(&app, "alder", id).await;
        assert_eq!(c["status"], "MATCHED");
        assert_eq!(c["milestones"]["matchDecisionOn"], today.as_str());
    }
    // The links of a member include the group's.
    let data = app
        .ok(
            &alder_ff,
            "query($c: ID!) { links(filter: { childId: $c }) { totalCount } }",
            json!({ "c": brother }),
        )
        .await;
    assert_eq!(data["links"]["totalCount"], 1);
}

/// Links alder's child and birch's household of each pair (alder's family finder
/// proposing from the shared profile, birch's accepting), sends every match decision at
/// once, and asserts that exactly one succeeds and every other is a `CONFLICT`.
async fn only_one_concurrent_match_succeeds(app: &TestApp, pairs: &[(&str, &str)]) {
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let mut links = Vec::with_capacity(pairs.len());
    for (child, household) in pairs {
        let proposed = propose_pair(app, &alder_ff, child, &profile_id(household)).await;
        links.push(accept(app, &birch_ff, &proposed).await);
    }
    let (ok, codes) = decide_all_at_once(app, &links).await;
    assert_eq!(ok, 1, "{codes:?}");
    assert_eq!(codes, vec!["CONFLICT".to_owned(); pairs.len() - 1]);
}

/// Sends every match decision at once; returns how many succeeded and the error codes of
/// the others.
async fn decide_all_at_once(app: &TestApp, links: &[Value]) -> (usize, Vec<String>) {
    let dm = app.role("alder", "DECISION_MAKER");
    let today = today();
    let query = mutation("recordMatchDecision", "RecordMatchDecisionInput");
    let bodies = join_all(links.iter().map(|l| {
        app.gql(
            Some(&dm),
            &query,
            json!({ "i": { "id": l["id"], "expectedVersion": l["version"], "decidedOn": today } }),
        )
    }))
    .await;
    let ok = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    let codes = bodies.iter().filter_map(error_code).collect();
    (ok, codes)
}

async fn concurrent_match_decisions_on_one_household_leave_one_match(app: TestApp) {
    const N: usize = 20;
    let home = birch_household(&app, "Birch Home").await;
    let mut children = Vec::with_capacity(N);
    for i in 0..N {
        children.push(waiting_child(&app, "alder", &format!("Child {i}"), json!({})).await);
    }
    let pairs: Vec<(&str, &str)> = children
        .iter()
        .map(|c| (c.as_str(), home.as_str()))
        .collect();
    only_one_concurrent_match_succeeds(&app, &pairs).await;
    let alder_ff = app.role("alder", "FAMILY_FINDER");

    let data = app
        .ok(
            &alder_ff,
            "query($h: ID!) { links(filter: { householdId: $h, states: [MATCHED] }) { totalCount } }",
            json!({ "h": profile_id(&home) }),
        )
        .await;
    assert_eq!(data["links"]["totalCount"], 1);
    let h = household(&app, "birch", &home).await;
    assert_eq!(
        stages(&h).iter().filter(|s| *s == "MATCHED").count(),
        1,
        "one MATCHED event"
    );
    let mut matched = 0;
    for id in &children {
        if child(&app, "alder", id).await["status"] == "MATCHED" {
            matched += 1;
        }
    }
    assert_eq!(matched, 1);
}

async fn concurrent_match_decisions_for_one_child_leave_one_match(app: TestApp) {
    const N: usize = 20;
    let kit = waiting_child(&app, "alder", "Kit", json!({})).await;
    let mut homes = Vec::with_capacity(N);
    for i in 0..N {
        homes.push(birch_household(&app, &format!("Birch Home {i}")).await);
    }
    let pairs: Vec<(&str, &str)> = homes.iter().map(|h| (kit.as_str(), h.as_str())).collect();
    only_one_concurrent_match_succeeds(&app, &pairs).await;
    let alder_ff = app.role("alder", "FAMILY_FINDER");

    let data = app
        .ok(
            &alder_ff,
            "query($c: ID!) { links(filter: { childId: $c, states: [MATCHED] }) { totalCount } }",
            json!({ "c": kit }),
        )
        .await;
    assert_eq!(data["links"]["totalCount"], 1);
    let mut matched = 0;
    for id in &homes {
        let h = household(&app, "birch", id).await;
        if h["stage"] == "MATCHED" {
            matched += 1;
            assert_eq!(h["availableForMatching"], false);
        } else {
            assert_eq!(h["stage"], "APPROVED");
            assert!(!stages(&h).contains(&"MATCHED".to_owned()));
        }
    }
    assert_eq!(matched, 1);
}

both_backends!(the_database_itself_refuses_a_second_holding_link);

/// The invariants hold in the database even for writes that skip every check in code:
/// the partial unique indexes refuse a second matched or placed link per household, per
/// sibling group and per child, and a second open link per pair.
async fn the_database_itself_refuses_a_second_holding_link(app: TestApp) {
    use entity::{link, link_child};
    use sea_orm::{ActiveValue::Set, EntityTrait, SqlErr};

    let kit = number(&waiting_child(&app, "alder", "Kit", json!({})).await);
    let sam = number(&waiting_child(&app, "alder", "Sam", json!({})).await);
    let home = number(&birch_household(&app, "Birch Home").await);
    let other = number(&birch_household(&app, "Birch Other").await);
    let directory = app.state.directory.current();
    let demo = directory.consortium("demo").unwrap();
    let (alder, birch) = (
        demo.authority_id("alder").unwrap(),
        demo.authority_id("birch").unwrap(),
    );
    let db = &app.state.db;
    let today = chrono::Utc::now().date_naive();
    let row = |child: i64, household: i64, state: &str| link::ActiveModel {
        consortium_id: Set(demo.id),
        child_id: Set(Some(child)),
        sibling_group_id: Set(None),
        household_id: Set(household),
        child_authority_id: Set(alder),
        household_authority_id: Set(birch),
        proposed_by_authority_id: Set(alder),
        state: Set(state.into()),
        cross_boundary: Set(true),
        inter_agency_fee_pence: Set(None),
        end_reason: Set(None),
        proposed_on: Set(today),
        accepted_on: Set(None),
        matched_on: Set(None),
        placed_on: Set(None),
        adoption_order_on: Set(None),
        ended_on: Set(None),
        version: Set(1),
        created_at: Set(chrono::Utc::now()),
        updated_at: Set(chrono::Utc::now()),
        ..Default::default()
    };
    fn unique<T>(result: Result<T, sea_orm::DbErr>) -> bool {
        matches!(
            result.err().and_then(|e| e.sql_err()),
            Some(SqlErr::UniqueConstraintViolation(_))
        )
    }
    let insert = |model: link::ActiveModel| link::Entity::insert(model).exec(db);

    // One matched link for the household; a placed one for another child is refused.
    let first = insert(row(kit, home, "MATCHED"))
        .await
        .unwrap()
        .last_insert_id;
    assert!(unique(insert(row(sam, home, "PLACED")).await));
    // Ended links do not count.
    insert(row(sam, home, "DISRUPTED")).await.unwrap();
    insert(row(sam, home, "ADOPTED")).await.unwrap();
    // One open link per pair.
    insert(row(sam, other, "PROPOSED")).await.unwrap();
    assert!(unique(insert(row(sam, other, "EXPLORING")).await));
    // One holding link per child, whichever link holds it.
    let second = insert(row(kit, other, "EXPLORING"))
        .await
        .unwrap()
        .last_insert_id;
    let holds = |link_id: i64| link_child::ActiveModel {
        link_id: Set(link_id),
        child_id: Set(kit),
        holding: Set(true),
        ..Default::default()
    };
    link_child::Entity::insert(holds(first))
        .exec(db)
        .await
        .unwrap();
    assert!(unique(
        link_child::Entity::insert(holds(second)).exec(db).await
    ));
    // A link names a child or a group, never neither.
    let mut neither = row(kit, other, "DECLINED");
    neither.child_id = Set(None);
    assert!(insert(neither).await.is_err());
}

const CHILD_DECISION: &str = "mutation($i: RecordChildDecisionInput!) { recordChildDecision(input: $i) { child { version status milestones { matchDecisionOn } } } }";
const CHILD_MILESTONES: &str = "mutation($i: RecordChildMilestonesInput!) { recordChildMilestones(input: $i) { child { version milestones { placedOn adoptionOrderOn } } } }";

/// The error of a child mutation that should be refused, with the child unchanged after it.
async fn child_write_refused(
    app: &TestApp,
    token: &str,
    query: &str,
    input: Value,
    kit: &str,
) -> String {
    let before = child(app, "alder", kit).await;
    let body = app.gql(Some(token), query, json!({ "i": input })).await;
    assert_eq!(error_code(&body).as_deref(), Some("CONFLICT"), "{body:#}");
    assert_eq!(
        child(app, "alder", kit).await,
        before,
        "the refusal changed nothing"
    );
    body["errors"][0]["message"].as_str().unwrap().to_owned()
}

/// While a link covers a child, the child's match, placement and adoption order dates are
/// the link's: recorded by its steps, refused on the child's own mutations. Without a link
/// (adopters outside the registers) the child's mutations record them.
async fn a_link_alone_records_the_dates_of_the_child_it_covers(app: TestApp) {
    let alder_dm = app.role("alder", "DECISION_MAKER");
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let today = today();

    // No link: the decision maker records a match made outside the registers.
    let robin = waiting_child(&app, "alder", "Robin", json!({})).await;
    let version = child(&app, "alder", &robin).await["version"].clone();
    let data = app
        .ok(
            &alder_dm,
            CHILD_DECISION,
            json!({ "i": { "id": robin, "expectedVersion": version, "decision": "MATCH", "decidedOn": today } }),
        )
        .await;
    assert_eq!(data["recordChildDecision"]["child"]["status"], "MATCHED");

    // A proposed, then exploring, link: the match is the link's to record.
    let (kit, home) = kit_and_birch_home(&app).await;
    let link = propose_pair(&app, &alder_ff, &kit, &profile_id(&home)).await;
    let decision = |version: &Value| json!({ "id": kit, "expectedVersion": version, "decision": "MATCH", "decidedOn": today });
    let version = child(&app, "alder", &kit).await["version"].clone();
    let message =
        child_write_refused(&app, &alder_dm, CHILD_DECISION, decision(&version), &kit).await;
    assert!(message.contains("recordMatchDecision"), "{message}");
    assert!(
        message.contains(link["id"].as_str().unwrap()),
        "names the link: {message}"
    );
    let link = accept(&app, &app.role("birch", "FAMILY_FINDER"), &link).await;
    child_write_refused(&app, &alder_dm, CHILD_DECISION, decision(&version), &kit).await;

    // Matched, placed, adopted: the placement and adoption order dates are the link's too.
    let link = decide(&app, &alder_dm, &link, &today).await;
    let version = child(&app, "alder", &kit).await["version"].clone();
    let placed = json!({ "id": kit, "expectedVersion": version, "placedOn": today });
    let message =
        child_write_refused(&app, &alder_sw, CHILD_MILESTONES, placed.clone(), &kit).await;
    assert!(
        message.contains("placedOn") && message.contains("MATCHED"),
        "{message}"
    );
    let link = place(&app, &alder_sw, &link, &today).await;
    let version = child(&app, "alder", &kit).await["version"].clone();
    let cleared = json!({ "id": kit, "expectedVersion": version, "placedOn": null });
    child_write_refused(&app, &alder_sw, CHILD_MILESTONES, cleared, &kit).await;
    let adopted = json!({ "id": kit, "expectedVersion": version, "adoptionOrderOn": today });
    child_write_refused(&app, &alder_sw, CHILD_MILESTONES, adopted, &kit).await;
    adopt(&app, &alder_sw, &link, &today).await;
    let version = child(&app, "alder", &kit).await["version"].clone();
    let corrected = json!({ "id": kit, "expectedVersion": version, "adoptionOrderOn": null });
    child_write_refused(&app, &alder_sw, CHILD_MILESTONES, corrected, &kit).await;

    // Other dates stay the child's to record while the link covers it.
    let data = app
        .ok(
            &alder_sw,
            CHILD_MILESTONES,
            json!({ "i": { "id": kit, "expectedVersion": version, "enteredCareOn": "2022-01-11" } }),
        )
        .await;
    assert_eq!(
        data["recordChildMilestones"]["child"]["milestones"]["placedOn"],
        today.as_str()
    );
}

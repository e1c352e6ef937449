//! The audit log (DESIGN §3 Audit): every read of a record or profile, every search, every
//! write and every refusal is recorded, with no personal data, readable by a MANAGER for
//! its authority's records and by a CONSORTIUM_ADMIN for the consortium, and nothing is
//! lost on a graceful shutdown.
use entity::audit_event;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    CREATE_CHILD, TestApp, approved_household, assert_refusal, create_child, create_household,
    decode_id, encode_id, error_code, pool_child,
};

const AUDIT_LOG: &str = r#"
query($filter: AuditFilterInput, $first: Int) {
  auditLog(filter: $filter, first: $first) {
    totalCount
    edges { node {
      occurredAt subject action entityType entityId requestId detail
      owningAuthority { code } actingAuthority { code }
    } }
  }
}"#;

const CHILD: &str = "query($id: ID!) { child(id: $id) { id legalName } }";

/// The audit events `token` can read with `filter`, newest first.
async fn audit_log(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    // Earlier reads of the log are themselves audited (batched); write them first so that
    // the count and the page below see the same rows.
    app.flush_audit().await;
    let data = app
        .ok(token, AUDIT_LOG, json!({ "filter": filter, "first": 100 }))
        .await;
    let edges = data["auditLog"]["edges"].as_array().expect("edges").clone();
    assert_eq!(
        data["auditLog"]["totalCount"].as_u64(),
        Some(edges.len() as u64),
        "the tests stay within one page"
    );
    edges.into_iter().map(|e| e["node"].clone()).collect()
}

/// (action, entityType, subject) of each event.
fn summary(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["entityType"].as_str().unwrap_or_default().to_owned(),
                e["subject"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn admin(app: &TestApp) -> String {
    app.token_with("consortium-admin", "demo", &[], &["CONSORTIUM_ADMIN"])
}

both_backends!(a_manager_sees_every_event_about_its_authoritys_child);

async fn a_manager_sees_every_event_about_its_authoritys_child(app: TestApp) {
    let sw = app.role("alder", "SOCIAL_WORKER");
    let dm = app.role("alder", "DECISION_MAKER");
    let ff = app.role("alder", "FAMILY_FINDER");
    let ff_birch = app.role("birch", "FAMILY_FINDER");
    let manager = app.role("alder", "MANAGER");

    let (id, v) = create_child(&app, "alder", "Wren", json!({})).await;
    app.ok(
        &sw,
        "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { id } } }",
        json!({ "input": { "id": id, "expectedVersion": v, "profileText": "Loves drawing." } }),
    )
    .await;
    app.ok(
        &sw,
        "mutation($input: RecordChildMilestonesInput!) { recordChildMilestones(input: $input) { child { id } } }",
        json!({ "input": { "id": id, "expectedVersion": v + 1, "adoptionPlanOn": "2022-05-01" } }),
    )
    .await;
    app.ok(
        &dm,
        "mutation($input: RecordChildDecisionInput!) { recordChildDecision(input: $input) { child { inPool } } }",
        json!({ "input": { "id": id, "expectedVersion": v + 2, "decision": "SHOBPA", "decidedOn": "2022-06-01" } }),
    )
    .await;

    // A read with a request id of the caller's choosing, which the event keeps.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&ff)
        .header("x-request-id", "audit-test-read-1")
        .json(&json!({ "query": CHILD, "variables": { "id": id } }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["data"]["child"]["id"], id.as_str(), "{body:#}");
    let data = app
        .ok(&ff, "{ children { edges { node { id } } } }", json!({}))
        .await;
    assert_eq!(data["children"]["edges"].as_array().unwrap().len(), 1);
    let data = app
        .ok(
            &ff_birch,
            "query($id: ID!) { childProfile(id: $id) { profileName } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["childProfile"]["profileName"], "Wren");
    let data = app
        .ok(
            &ff_birch,
            "{ poolChildren { edges { node { id profileName } } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["poolChildren"]["edges"].as_array().unwrap().len(), 1);
    app.flush_audit().await;

    let events = audit_log(&app, &manager, json!({ "entityId": id })).await;
    let (_, number) = decode_id(&id);
    let profile_id = encode_id("ChildProfile", number);
    let s = |a: &str, t: &str, who: &str| (a.to_owned(), t.to_owned(), who.to_owned());
    let mut oldest_first = summary(&events);
    oldest_first.reverse();
    assert_eq!(
        oldest_first,
        vec![
            s("CREATE", "Child", "social_worker-alder"),
            s("UPDATE", "Child", "social_worker-alder"),
            s("UPDATE", "Child", "social_worker-alder"),
            s("DECIDE", "Child", "decision_maker-alder"),
            s("VIEW", "Child", "family_finder-alder"),
            s("VIEW", "Child", "family_finder-alder"),
            s("VIEW", "ChildProfile", "family_finder-birch"),
            s("VIEW", "ChildProfile", "family_finder-birch"),
        ],
        "newest first, every event about the child: {events:#?}"
    );
    for e in &events {
        assert_eq!(e["owningAuthority"]["code"], "alder", "{e:#}");
        let expected_id = if e["entityType"] == "ChildProfile" {
            &profile_id
        } else {
            &id
        };
        assert_eq!(e["entityId"], expected_id.as_str(), "{e:#}");
        let acting = if e["subject"] == "family_finder-birch" {
            "birch"
        } else {
            "alder"
        };
        assert_eq!(e["actingAuthority"]["code"], acting, "{e:#}");
        assert!(
            !e["requestId"].as_str().unwrap_or_default().is_empty(),
            "{e:#}"
        );
    }
    assert_eq!(events[0]["detail"], json!({}), "{:#}", events[0]);
    assert_eq!(
        events[4]["detail"]["decision"], "shobpaDecisionOn",
        "the decision is named: {:#}",
        events[4]
    );
    assert_eq!(
        events[3]["requestId"], "audit-test-read-1",
        "the request id of the read is kept"
    );
    let request_ids: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["requestId"].as_str().unwrap())
        .collect();
    assert_eq!(request_ids.len(), events.len(), "one request, one id");

    // The manager can filter by action.
    let decided = audit_log(&app, &manager, json!({ "action": "DECIDE" })).await;
    assert_eq!(
        summary(&decided),
        vec![s("DECIDE", "Child", "decision_maker-alder")]
    );

    // Searches are recorded with the names (not the values) of the filters used.
    let searches = audit_log(&app, &admin(&app), json!({ "action": "SEARCH" })).await;
    let searches: Vec<&Value> = searches
        .iter()
        .filter(|e| e["entityType"] != "AuditEvent")
        .collect();
    let found: Vec<(String, String, String)> =
        summary(&searches.iter().map(|e| (*e).clone()).collect::<Vec<_>>());
    assert!(
        found.contains(&s("SEARCH", "Child", "family_finder-alder")),
        "{searches:#?}"
    );
    assert!(
        found.contains(&s("SEARCH", "ChildProfile", "family_finder-birch")),
        "{searches:#?}"
    );
    assert_eq!(searches.len(), 2, "{searches:#?}");
}

both_backends!(a_manager_sees_the_searches_made_by_its_staff);

async fn a_manager_sees_the_searches_made_by_its_staff(app: TestApp) {
    // DESIGN §3: every search is recorded, and the MANAGER reads its authority's audit log.
    // A search of alder's register by alder's family finder belongs to that log.
    create_child(&app, "alder", "Sol", json!({})).await;
    let ff = app.role("alder", "FAMILY_FINDER");
    let data = app.ok(&ff, "{ children { totalCount } }", json!({})).await;
    assert_eq!(data["children"]["totalCount"], 1);
    app.flush_audit().await;
    let searches = audit_log(
        &app,
        &app.role("alder", "MANAGER"),
        json!({ "action": "SEARCH" }),
    )
    .await;
    assert_eq!(
        summary(&searches),
        vec![(
            "SEARCH".to_owned(),
            "Child".to_owned(),
            "family_finder-alder".to_owned()
        )],
        "{searches:#?}"
    );
    // ...and not to birch's.
    let searches = audit_log(
        &app,
        &app.role("birch", "MANAGER"),
        json!({ "action": "SEARCH" }),
    )
    .await;
    assert!(searches.is_empty(), "{searches:#?}");
}

both_backends!(filtering_by_a_child_id_gives_only_events_about_that_child);

async fn filtering_by_a_child_id_gives_only_events_about_that_child(app: TestApp) {
    // A child and a household of one authority can share a row number; the filter is on
    // the global id, which names the kind.
    let (child, _) = create_child(&app, "alder", "Tam", json!({})).await;
    let (household, _) = crate::helpers::create_household(&app, "alder", "Tamsin").await;
    assert_eq!(
        decode_id(&child).1,
        decode_id(&household).1,
        "the first child and household share a number"
    );
    app.flush_audit().await;
    let manager = app.role("alder", "MANAGER");
    let events = audit_log(&app, &manager, json!({ "entityId": child })).await;
    assert_eq!(
        summary(&events),
        vec![(
            "CREATE".to_owned(),
            "Child".to_owned(),
            "social_worker-alder".to_owned()
        )],
        "only the child's events: {events:#?}"
    );
    let events = audit_log(&app, &manager, json!({ "entityId": household })).await;
    assert_eq!(
        summary(&events),
        vec![(
            "CREATE".to_owned(),
            "Household".to_owned(),
            "recruitment_officer-alder".to_owned()
        )],
        "only the household's events: {events:#?}"
    );
}

both_backends!(refusals_are_audited_as_denied);

async fn refusals_are_audited_as_denied(app: TestApp) {
    let (id, v) = create_child(&app, "alder", "Quinn", json!({})).await;

    let sw_birch = app.role("birch", "SOCIAL_WORKER");
    let body = app.gql(Some(&sw_birch), CHILD, json!({ "id": id })).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");

    let ff = app.role("alder", "FAMILY_FINDER");
    let body = app
        .gql(
            Some(&ff),
            "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { id } } }",
            json!({ "input": { "id": id, "expectedVersion": v, "notes": "not allowed" } }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");
    app.flush_audit().await;

    let admin = admin(&app);
    let denied = audit_log(&app, &admin, json!({ "action": "DENIED" })).await;
    // The probe of another authority's child is recorded twice: as birch sees it (no
    // record named) and as alder, the owner, sees it. The refused write is alder's own.
    assert_eq!(denied.len(), 3, "{denied:#?}");
    let probes: Vec<&Value> = denied
        .iter()
        .filter(|e| e["subject"] == "social_worker-birch")
        .collect();
    assert_eq!(probes.len(), 2, "{denied:#?}");
    for probe in &probes {
        assert_eq!(probe["detail"]["code"], "NOT_FOUND", "{probe:#}");
        assert_eq!(probe["actingAuthority"]["code"], "birch", "{probe:#}");
        assert_eq!(probe["requestId"], probes[0]["requestId"], "{probe:#}");
    }
    let owners: Vec<&Value> = probes.iter().map(|p| &p["owningAuthority"]).collect();
    assert!(owners.contains(&&json!({ "code": "alder" })), "{probes:#?}");
    assert!(owners.contains(&&Value::Null), "{probes:#?}");
    let write = denied
        .iter()
        .find(|e| e["subject"] == "family_finder-alder")
        .expect("the refused write is recorded");
    assert_eq!(write["detail"]["code"], "FORBIDDEN", "{write:#}");
    assert_eq!(write["actingAuthority"]["code"], "alder", "{write:#}");
    assert_eq!(write["owningAuthority"]["code"], "alder", "{write:#}");
    assert_eq!(write["entityId"], id.as_str(), "{write:#}");
    assert_ne!(probes[0]["requestId"], write["requestId"]);

    // The refused write changed nothing and wrote no UPDATE.
    let updates = audit_log(&app, &admin, json!({ "action": "UPDATE" })).await;
    assert!(updates.is_empty(), "{updates:#?}");
    let data = app
        .ok(
            &app.role("alder", "SOCIAL_WORKER"),
            "query($id: ID!) { child(id: $id) { version notes } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["child"]["version"].as_i64(), Some(v));
    assert!(data["child"]["notes"].is_null());
}

both_backends!(a_probe_reads_alike_in_the_log_whether_the_record_exists_or_not);

/// An actor of two authorities probes a child of the one where it may not read children:
/// the log of its other authority (where it is a manager) must read the same whether the
/// child exists or not, and name fields, not the client's aliases.
async fn a_probe_reads_alike_in_the_log_whether_the_record_exists_or_not(app: TestApp) {
    let (id, _) = create_child(&app, "birch", "Wren", json!({})).await;
    let (_, number) = decode_id(&id);
    let missing = encode_id("Child", number + 1_000);
    let multi = app.token(
        "multi",
        &[("alder", &["MANAGER"]), ("birch", &["RECRUITMENT_OFFICER"])],
    );
    let probe = "query($id: ID!) { peek: child(id: $id) { id } }";
    for (probes, probed) in [&id, &missing].into_iter().enumerate() {
        let body = app.gql(Some(&multi), probe, json!({ "id": probed })).await;
        assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
        // Newest first.
        let own = audit_log(&app, &multi, json!({ "action": "DENIED" })).await;
        assert_eq!(
            own.len(),
            probes + 1,
            "one event in alder's log per probe: {own:#?}"
        );
        assert_eq!(own[0]["actingAuthority"]["code"], "alder", "{own:#?}");
        assert!(own[0]["entityId"].is_null(), "{own:#?}");
        assert_eq!(own[0]["entityType"], "child", "{own:#?}");
        assert_eq!(own[0]["detail"]["path"], "child", "{own:#?}");
    }
    // birch's own managers see the probe of their record, and only that one.
    let birch = audit_log(
        &app,
        &app.role("birch", "MANAGER"),
        json!({ "action": "DENIED" }),
    )
    .await;
    assert_eq!(birch.len(), 1, "{birch:#?}");
    assert_eq!(birch[0]["entityId"], id.as_str(), "{birch:#?}");
    assert_eq!(birch[0]["detail"]["path"], "child", "{birch:#?}");
}

both_backends!(the_audit_log_is_scoped_to_authority_and_consortium);

async fn the_audit_log_is_scoped_to_authority_and_consortium(app: TestApp) {
    create_child(&app, "alder", "Uma", json!({})).await;
    create_child(&app, "birch", "Vic", json!({})).await;
    let sw_oak = app.token_with("sw-oak", "other", &[("oak", &["SOCIAL_WORKER"])], &[]);
    app.ok(
        &sw_oak,
        CREATE_CHILD,
        json!({ "input": { "legalName": "Oak Child", "dateOfBirth": "2021-01-01", "profileName": "Oaky", "gender": "MALE" } }),
    )
    .await;
    app.flush_audit().await;

    // Managers see their own authority's records only.
    let birch = audit_log(&app, &app.role("birch", "MANAGER"), json!({})).await;
    assert_eq!(
        summary(&birch),
        vec![(
            "CREATE".to_owned(),
            "Child".to_owned(),
            "social_worker-birch".to_owned()
        )]
    );
    assert!(
        birch
            .iter()
            .all(|e| e["owningAuthority"]["code"] == "birch"),
        "{birch:#?}"
    );
    let alder = audit_log(&app, &app.role("alder", "MANAGER"), json!({})).await;
    assert_eq!(
        summary(&alder),
        vec![(
            "CREATE".to_owned(),
            "Child".to_owned(),
            "social_worker-alder".to_owned()
        )]
    );

    // Other roles may not read it at all.
    for role in [
        "SOCIAL_WORKER",
        "FAMILY_FINDER",
        "RECRUITMENT_OFFICER",
        "DECISION_MAKER",
    ] {
        let body = app
            .gql(Some(&app.role("alder", role)), AUDIT_LOG, json!({}))
            .await;
        assert_eq!(
            error_code(&body).as_deref(),
            Some("FORBIDDEN"),
            "{role}: {body:#}"
        );
        assert!(body["data"].is_null(), "{body:#}");
    }
    let analyst = app.token_with("analyst", "demo", &[], &["BOARD_ANALYST"]);
    let body = app.gql(Some(&analyst), AUDIT_LOG, json!({})).await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"), "{body:#}");

    // The consortium admin sees the whole consortium, and nothing of another.
    let demo = audit_log(&app, &admin(&app), json!({ "action": "CREATE" })).await;
    let mut subjects: Vec<&str> = demo
        .iter()
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["social_worker-alder", "social_worker-birch"]);
    let everything = audit_log(&app, &admin(&app), json!({})).await;
    assert!(
        everything.iter().all(|e| e["subject"] != "sw-oak"),
        "{everything:#?}"
    );
    let by_oak = audit_log(&app, &admin(&app), json!({ "subject": "sw-oak" })).await;
    assert!(by_oak.is_empty(), "{by_oak:#?}");

    let other_admin = app.token_with("other-admin", "other", &[], &["CONSORTIUM_ADMIN"]);
    let other = audit_log(&app, &other_admin, json!({ "action": "CREATE" })).await;
    assert_eq!(
        summary(&other),
        vec![("CREATE".to_owned(), "Child".to_owned(), "sw-oak".to_owned())]
    );
    assert_eq!(other[0]["owningAuthority"]["code"], "oak");
}

both_backends!(audit_events_hold_no_personal_data);

async fn audit_events_hold_no_personal_data(app: TestApp) {
    const LEGAL_NAME: &str = "Zephyrine Quillfeather";
    const NEW_LEGAL_NAME: &str = "Zephyrine Oduya-Marchetti";
    const NOTES: &str = "Sees birth mother at Pendlebury contact centre";
    const BIRTH_FAMILY: &str = "Father at 14 Larkspur Close";
    const IDENTITY_NOTES: &str = "Attends Saint Aldhelm chapel";
    const APPLICANT: &str = "Bartholomew Ingleby";
    const ADDRESS: &str = "27 Cravenhurst Road";
    let secrets = [
        LEGAL_NAME,
        NEW_LEGAL_NAME,
        NOTES,
        BIRTH_FAMILY,
        IDENTITY_NOTES,
        APPLICANT,
        ADDRESS,
        "Quillfeather",
    ];

    let sw = app.role("alder", "SOCIAL_WORKER");
    let (id, v) = create_child(
        &app,
        "alder",
        "Zed",
        json!({
            "legalName": LEGAL_NAME,
            "notes": NOTES,
            "birthFamilyDetails": BIRTH_FAMILY,
            "identity": { "notes": IDENTITY_NOTES },
        }),
    )
    .await;
    app.ok(
        &sw,
        "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { legalName } } }",
        json!({ "input": { "id": id, "expectedVersion": v, "legalName": NEW_LEGAL_NAME, "notes": format!("{NOTES}, monthly") } }),
    )
    .await;
    let ro = app.role("alder", "RECRUITMENT_OFFICER");
    app.ok(
        &ro,
        crate::helpers::CREATE_HOUSEHOLD,
        json!({ "input": {
            "applicantOneName": APPLICANT, "address": ADDRESS, "profileName": "Ingleby",
            "channel": "CAMPAIGN", "enquiryOn": "2023-03-01"
        }}),
    )
    .await;
    // Reads, a search with a name in its filter, and a refusal.
    let data = app.ok(&sw, CHILD, json!({ "id": id })).await;
    assert_eq!(data["child"]["legalName"], NEW_LEGAL_NAME);
    app.ok(
        &sw,
        "{ children(filter: { profileNameContains: \"Quillfeather\" }) { totalCount } }",
        json!({}),
    )
    .await;
    let body = app
        .gql(
            Some(&app.role("birch", "SOCIAL_WORKER")),
            CHILD,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"));
    app.flush_audit().await;

    let rows = audit_event::Entity::find()
        .all(&app.state.db)
        .await
        .expect("audit rows");
    let actions: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.action.as_str()).collect();
    for action in ["CREATE", "UPDATE", "VIEW", "SEARCH", "DENIED"] {
        assert!(
            actions.contains(action),
            "a {action} event was written: {rows:#?}"
        );
    }
    for row in &rows {
        let text = format!(
            "{} {} {} {}",
            row.subject, row.entity_type, row.request_id, row.detail
        )
        .to_lowercase();
        for secret in secrets {
            assert!(
                !text.contains(&secret.to_lowercase()),
                "personal data ({secret}) in an audit row: {row:#?}"
            );
        }
    }
    let update = rows
        .iter()
        .find(|r| r.action == "UPDATE")
        .expect("update row");
    let detail: Value = serde_json::from_str(&update.detail).expect("detail is JSON");
    assert_eq!(
        detail,
        json!({ "fields": ["legalName", "notes"] }),
        "which fields changed, not their values"
    );
}

// ---- nothing lost on shutdown ----

const READERS: usize = 200;

both_backends!(nothing_is_lost_on_graceful_shutdown);

async fn nothing_is_lost_on_graceful_shutdown(mut app: TestApp) {
    let (id, _) = create_child(&app, "alder", "Xan", json!({})).await;
    let ff = app.role("alder", "FAMILY_FINDER");
    let sw = app.role("alder", "SOCIAL_WORKER");
    let (edited, first_version) = create_child(&app, "alder", "Edited", json!({})).await;

    // Edits of another child, one after the other, while the reads run.
    let edits = async {
        let mut version = first_version;
        let mut acknowledged = 0;
        for i in 0..10 {
            let body = app
                .gql(
                    Some(&sw),
                    "mutation($input: UpdateChildInput!) { updateChild(input: $input) { child { version } } }",
                    json!({ "input": { "id": edited, "expectedVersion": version, "profileText": format!("Edit {i}") } }),
                )
                .await;
            version = body["data"]["updateChild"]["child"]["version"]
                .as_i64()
                .expect("edit answered");
            acknowledged += 1;
        }
        acknowledged
    };
    let reads = (0..READERS).map(|_| app.gql(Some(&ff), CHILD, json!({ "id": id })));
    let writes = (0..10).map(|i| {
        app.gql(
            Some(&sw),
            CREATE_CHILD,
            json!({ "input": {
                "legalName": format!("Writer {i}"), "dateOfBirth": "2021-01-01",
                "profileName": format!("W{i}"), "gender": "FEMALE"
            }}),
        )
    });
    let (reads, writes, acknowledged_edits) = tokio::join!(
        futures_util::future::join_all(reads),
        futures_util::future::join_all(writes),
        edits
    );
    let acknowledged_reads = reads
        .iter()
        .filter(|b| b["data"]["child"]["id"] == id.as_str())
        .count();
    assert_eq!(
        acknowledged_reads, READERS,
        "every read is answered while the server runs"
    );
    let created: Vec<i64> = writes
        .iter()
        .map(|b| {
            decode_id(
                b["data"]["createChild"]["child"]["id"]
                    .as_str()
                    .expect("created"),
            )
            .1
        })
        .collect();

    app.stop().await;

    let db = permanence::store::connect(&app.database_url)
        .await
        .expect("reconnect");
    let (_, number) = decode_id(&id);
    let views = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("VIEW"))
        .filter(audit_event::Column::EntityType.eq("Child"))
        .filter(audit_event::Column::EntityId.eq(number))
        .count(&db)
        .await
        .expect("count");
    assert_eq!(
        views as usize, acknowledged_reads,
        "one VIEW per acknowledged read, none lost"
    );
    let updates = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("UPDATE"))
        .filter(audit_event::Column::EntityId.eq(decode_id(&edited).1))
        .count(&db)
        .await
        .expect("count");
    assert_eq!(
        updates, acknowledged_edits,
        "one UPDATE per acknowledged edit"
    );
    for child in created {
        let creates = audit_event::Entity::find()
            .filter(audit_event::Column::Action.eq("CREATE"))
            .filter(audit_event::Column::EntityId.eq(child))
            .count(&db)
            .await
            .expect("count");
        assert_eq!(creates, 1, "the CREATE of child {child}");
    }
    db.close().await.ok();
}

both_backends!(reads_answered_while_shutting_down_are_all_audited);

async fn reads_answered_while_shutting_down_are_all_audited(mut app: TestApp) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TASKS: usize = 40;
    const READS_PER_TASK: usize = READERS / TASKS;
    let (id, _) = create_child(&app, "alder", "Yara", json!({})).await;
    let ff = app.role("alder", "FAMILY_FINDER");
    let url = format!("{}/graphql", app.address);
    let acknowledged = Arc::new(AtomicUsize::new(0));

    // Readers that own what they need, so the server can be stopped while they run; each
    // reads several times in a row, so that some reads are in flight when it stops.
    let readers: Vec<_> = (0..TASKS)
        .map(|_| {
            let (client, url, ff, id) = (app.client.clone(), url.clone(), ff.clone(), id.clone());
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                for _ in 0..READS_PER_TASK {
                    let request = client
                        .post(&url)
                        .bearer_auth(&ff)
                        .json(&json!({ "query": CHILD, "variables": { "id": id } }));
                    let Ok(response) = request.send().await else {
                        return;
                    };
                    let Ok(body) = response.json::<Value>().await else {
                        return;
                    };
                    if body["data"]["child"]["id"] == id.as_str() {
                        acknowledged.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    // Stop once a quarter of the reads are answered (or after 10 s at most).
    let started = std::time::Instant::now();
    while acknowledged.load(Ordering::SeqCst) < READERS / 4
        && started.elapsed() < std::time::Duration::from_secs(10)
    {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    app.stop().await;
    for reader in readers {
        reader.await.expect("reader");
    }
    let acknowledged = acknowledged.load(Ordering::SeqCst);
    assert!(
        acknowledged >= READERS / 4,
        "the server answered reads before it stopped"
    );

    let db = permanence::store::connect(&app.database_url)
        .await
        .expect("reconnect");
    let views = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("VIEW"))
        .filter(audit_event::Column::EntityId.eq(decode_id(&id).1))
        .count(&db)
        .await
        .expect("count") as usize;
    assert!(
        views >= acknowledged,
        "{acknowledged} reads answered but only {views} VIEW events written"
    );
    assert!(views <= READERS, "{views} VIEW events for {READERS} reads");
    db.close().await.ok();
}

both_backends!(a_probe_of_a_record_is_shown_to_its_owners_managers_and_answers_like_a_missing_one);

/// The response to `query` for `id`, without the top-level extensions (the cost).
async fn probe(app: &TestApp, token: &str, query: &str, id: &str) -> Value {
    let mut body = app.gql(Some(token), query, json!({ "id": id })).await;
    assert_eq!(error_code(&body).as_deref(), Some("NOT_FOUND"), "{body:#}");
    if let Some(fields) = body.as_object_mut() {
        fields.remove("extensions");
    }
    body
}

/// (entityType, entityId, owning authority, detail) of each event.
fn records(events: &[Value]) -> Vec<(Value, Value, Value, Value)> {
    let mut records: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e["entityType"].clone(),
                e["entityId"].clone(),
                e["owningAuthority"].clone(),
                e["detail"].clone(),
            )
        })
        .collect();
    records.sort_by_key(|r| r.0.to_string() + &r.1.to_string());
    records
}

async fn a_probe_of_a_record_is_shown_to_its_owners_managers_and_answers_like_a_missing_one(
    app: TestApp,
) {
    // Alder's records: a child in the pool (its full record is alder's alone), a household
    // in assessment, and a link between alder's child and an approved alder household.
    let child = pool_child(&app, "alder", "Robin").await;
    let (household, _) = create_household(&app, "alder", "Alder Home").await;
    let approved = approved_household(&app, "alder", "Alder Approved").await;
    let link = app
        .ok(
            &app.role("alder", "FAMILY_FINDER"),
            "mutation($input: ProposeLinkInput!) { proposeLink(input: $input) { link { id } } }",
            json!({ "input": { "childId": child, "householdId": approved } }),
        )
        .await["proposeLink"]["link"]["id"]
        .as_str()
        .expect("link id")
        .to_owned();
    let missing = |kind: &str| encode_id(kind, 987_654);
    let probes = [
        (
            "query($id: ID!) { child(id: $id) { id legalName } }",
            child.clone(),
            missing("Child"),
        ),
        (
            "query($id: ID!) { household(id: $id) { id } }",
            household.clone(),
            missing("Household"),
        ),
        (
            "query($id: ID!) { link(id: $id) { id } }",
            link.clone(),
            missing("Link"),
        ),
    ];

    // A family finder of birch probes each, and a missing id of each kind: the answers are
    // the same.
    let prober = app.role("birch", "FAMILY_FINDER");
    for (query, real, fake) in &probes {
        let to_real = probe(&app, &prober, query, real).await;
        let to_fake = probe(&app, &prober, query, fake).await;
        assert_eq!(to_real, to_fake, "{query}");
    }
    // A member of another consortium probes alder's child.
    let sw_oak = app.token_with("sw-oak", "other", &[("oak", &["SOCIAL_WORKER"])], &[]);
    probe(&app, &sw_oak, probes[0].0, &child).await;

    // Alder's manager sees the probes of its three records, by whom and of what, and
    // nothing of the probes of missing ids or from the other consortium.
    let alder = audit_log(
        &app,
        &app.role("alder", "MANAGER"),
        json!({ "action": "DENIED" }),
    )
    .await;
    assert_eq!(alder.len(), 3, "{alder:#?}");
    for (entity_type, id) in [
        ("Child", &child),
        ("Household", &household),
        ("Link", &link),
    ] {
        let event = alder
            .iter()
            .find(|e| e["entityType"] == entity_type)
            .unwrap_or_else(|| panic!("no DENIED event about the {entity_type}: {alder:#?}"));
        assert_eq!(event["entityId"], id.as_str(), "{event:#}");
        assert_eq!(event["owningAuthority"]["code"], "alder", "{event:#}");
        assert_eq!(event["actingAuthority"]["code"], "birch", "{event:#}");
        assert_eq!(event["subject"], "family_finder-birch", "{event:#}");
        assert_eq!(event["detail"]["code"], "NOT_FOUND", "{event:#}");
    }
    // The probes also show in the audit by entity.
    let about_child = audit_log(
        &app,
        &app.role("alder", "MANAGER"),
        json!({ "entityId": child, "action": "DENIED" }),
    )
    .await;
    assert_eq!(about_child.len(), 1, "{about_child:#?}");

    // Birch's manager sees each of its family finder's refusals alike, whether the record
    // exists or not: no record, no owner.
    let birch = audit_log(
        &app,
        &app.role("birch", "MANAGER"),
        json!({ "action": "DENIED" }),
    )
    .await;
    assert_eq!(birch.len(), 6, "{birch:#?}");
    assert!(
        birch
            .iter()
            .all(|e| e["entityId"].is_null() && e["owningAuthority"].is_null()),
        "{birch:#?}"
    );
    let (real, fake): (Vec<Value>, Vec<Value>) = birch.into_iter().partition(|e| {
        // The probes of real records are those whose requests alder's manager saw too.
        let request = e["requestId"].as_str().unwrap_or_default().to_owned();
        alder.iter().any(|a| a["requestId"] == request.as_str())
    });
    assert_eq!(records(&real), records(&fake));

    // No other authority's manager sees any of it.
    for authority in ["cedar", "damson"] {
        let events = audit_log(
            &app,
            &app.role(authority, "MANAGER"),
            json!({ "action": "DENIED" }),
        )
        .await;
        assert!(events.is_empty(), "{authority}: {events:#?}");
    }
}

both_backends!(a_record_named_to_node_is_audited_as_reached_through_it);

/// A child read through `node` is audited as a `VIEW` noting the way it was reached; read
/// through `child`, as a plain `VIEW`.
async fn a_record_named_to_node_is_audited_as_reached_through_it(app: TestApp) {
    let (id, _) = create_child(&app, "alder", "Nia", json!({})).await;
    let sw = app.role("alder", "SOCIAL_WORKER");
    for query in [
        "query($id: ID!) { node(id: $id) { id } }",
        "query($id: ID!) { child(id: $id) { id } }",
    ] {
        app.ok(&sw, query, json!({ "id": id })).await;
    }
    let views = audit_log(&app, &admin(&app), json!({ "action": "VIEW" })).await;
    let details: Vec<&Value> = views
        .iter()
        .filter(|e| e["entityType"] == "Child")
        .map(|e| &e["detail"])
        .collect();
    assert_eq!(details.len(), 2, "{views:#?}");
    assert!(details.contains(&&json!({ "via": "node" })), "{views:#?}");
    assert!(details.contains(&&json!({})), "{views:#?}");
}

both_backends!(pages_of_the_log_without_a_total_still_say_whether_more_follow);

/// `totalCount` is counted only when asked for; without it, a page still says whether
/// another follows, and the pages together are the whole log: an event written between
/// two pages (at the head of the log) pushes nothing of the first page into the second.
async fn pages_of_the_log_without_a_total_still_say_whether_more_follow(app: TestApp) {
    for name in ["Ash", "Bay", "Cob"] {
        create_child(&app, "alder", name, json!({})).await;
    }
    app.flush_audit().await;
    let admin = admin(&app);
    let counted = app
        .ok(
            &admin,
            AUDIT_LOG,
            json!({ "filter": { "action": "CREATE" }, "first": 100 }),
        )
        .await;
    let all: Vec<Value> = counted["auditLog"]["edges"].as_array().unwrap().clone();
    assert_eq!(all.len(), 3);
    const PAGE: &str = r#"
    query($after: String) {
      auditLog(filter: { action: CREATE }, first: 2, after: $after) {
        pageInfo { hasNextPage endCursor }
        edges { node { requestId } }
      }
    }"#;
    let first = app.ok(&admin, PAGE, json!({})).await;
    assert_eq!(first["auditLog"]["pageInfo"]["hasNextPage"], json!(true));
    let cursor = first["auditLog"]["pageInfo"]["endCursor"].clone();
    create_child(&app, "alder", "Dun", json!({})).await;
    app.flush_audit().await;
    let second = app.ok(&admin, PAGE, json!({ "after": cursor })).await;
    assert_eq!(second["auditLog"]["pageInfo"]["hasNextPage"], json!(false));
    let paged: Vec<Value> = [&first, &second]
        .iter()
        .flat_map(|d| d["auditLog"]["edges"].as_array().unwrap().clone())
        .map(|e| e["node"]["requestId"].clone())
        .collect();
    let whole: Vec<Value> = all.iter().map(|e| e["node"]["requestId"].clone()).collect();
    assert_eq!(paged, whole);

    // A cursor that holds a position alone (the shape of other lists' cursors) would have
    // the database skip that many events: refused.
    use base64::Engine;
    let positional = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("[1000000,null]");
    let body = app
        .gql(Some(&admin), PAGE, json!({ "after": positional }))
        .await;
    assert_refusal(&body, "BAD_USER_INPUT", Some("after"));
}

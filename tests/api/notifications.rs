//! The `notifications` subscription over graphql-transport-ws at `/graphql/ws`: who hears
//! which link events and tracking alerts, authentication at `connection_init` and after,
//! the daily sweep, fan-out across replicas, and closing at shutdown.
//!
//! "Nothing arrived" is never taken from silence alone: after the event a subscriber must
//! not hear, a later event it must hear is caused, and that one has to be the next thing it
//! receives.
use std::time::Duration;

use chrono::NaiveDate;
use entity::audit_event;
use futures_util::{SinkExt, StreamExt};
use permanence::service::events::{SweepReport, sweep};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::both_backends;
use crate::helpers::{CREATE_CHILD, TestApp, create_child, spawn_replicas, test_redis_url};
use crate::matching::{household_approved_on, number, profile_id, waiting_child};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a message that should come may take.
const EXPECTED_WITHIN: Duration = Duration::from_secs(10);
/// How long a subscriber is watched for a message that should not come (before the later
/// event that proves the point).
const QUIET_FOR: Duration = Duration::from_millis(500);

const NOTIFICATIONS: &str = r#"
subscription($kinds: [NotificationKind!]) {
  notifications(kinds: $kinds) {
    id kind occurredAt
    link {
      id version state childAuthority { code } householdAuthority { code }
      children { __typename ... on Child { id legalName } ... on ChildProfile { id profileName } }
    }
    alert { kind since daysOverdue child { id legalName } }
  }
}"#;

const MILESTONES: &str = "mutation($i: RecordChildMilestonesInput!) { recordChildMilestones(input: $i) { child { id version } } }";
const MILESTONES_UPDATE: &str =
    "mutation($i: UpdateChildInput!) { updateChild(input: $i) { child { id version } } }";
const REVOKE: &str = "mutation($i: RevokeSessionsInput!) { revokeSessions(input: $i) { subject } }";

/// What a client reads from the socket.
#[derive(Debug)]
pub(crate) enum Received {
    Message(Value),
    /// The socket closed, with the close code if the server sent one.
    Closed(Option<u16>),
}

/// Opens a websocket to `/graphql/ws` speaking graphql-transport-ws.
pub(crate) async fn connect(app: &TestApp) -> Socket {
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket upgrade");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

pub(crate) async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .expect("sent");
}

/// The next protocol message or the close, if one comes within `limit`.
pub(crate) async fn receive(socket: &mut Socket, limit: Duration) -> Option<Received> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    return Received::Message(serde_json::from_str(text.as_str()).expect("JSON"));
                }
                Some(Ok(Message::Close(frame))) => {
                    return Received::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Received::Closed(None),
            }
        }
    })
    .await
    .ok()
}

/// Sends `connection_init` with `payload`; what the server answers.
async fn init(app: &TestApp, payload: Value) -> (Socket, Received) {
    let mut socket = connect(app).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    let answer = receive(&mut socket, EXPECTED_WITHIN)
        .await
        .expect("an answer to connection_init");
    (socket, answer)
}

/// An acknowledged connection as `token`.
pub(crate) async fn connected(app: &TestApp, token: &str) -> Socket {
    let (socket, answer) = init(app, json!({ "Authorization": format!("Bearer {token}") })).await;
    match answer {
        Received::Message(m) if m["type"] == "connection_ack" => socket,
        other => panic!("connection refused: {other:?}"),
    }
}

/// A subscription to `notifications` (of `kinds`, all if `None`) as `token`, returned once
/// the server holds it.
async fn subscribe(app: &TestApp, token: &str, kinds: Option<&[&str]>) -> Socket {
    let mut socket = connected(app, token).await;
    let open = app.state.subscriptions.count();
    send(
        &mut socket,
        json!({ "id": "n", "type": "subscribe",
                "payload": { "query": NOTIFICATIONS, "variables": { "kinds": kinds } } }),
    )
    .await;
    tokio::time::timeout(EXPECTED_WITHIN, app.state.subscriptions.wait_for(open + 1))
        .await
        .expect("the subscription is held");
    socket
}

/// The next notification; panics on anything else.
async fn notification(socket: &mut Socket) -> Value {
    match receive(socket, EXPECTED_WITHIN).await {
        Some(Received::Message(m)) if m["type"] == "next" && m["payload"]["errors"].is_null() => {
            m["payload"]["data"]["notifications"].clone()
        }
        other => panic!("expected a notification, got {other:?}"),
    }
}

/// Asserts that nothing arrives for a while.
async fn quiet(socket: &mut Socket) {
    if let Some(received) = receive(socket, QUIET_FOR).await {
        panic!("expected nothing, got {received:?}");
    }
}

/// Runs a link mutation as `token`; returns the link.
async fn link_step(
    app: &TestApp,
    token: &str,
    name: &str,
    input_type: &str,
    input: Value,
) -> Value {
    let query = format!(
        "mutation($i: {input_type}!) {{ {name}(input: $i) {{ link {{ id version state }} }} }}"
    );
    app.ok(token, &query, json!({ "i": input })).await[name]["link"].clone()
}

async fn propose(app: &TestApp, token: &str, child: &str, household: &str) -> Value {
    link_step(
        app,
        token,
        "proposeLink",
        "ProposeLinkInput",
        json!({ "childId": child, "householdId": profile_id(household) }),
    )
    .await
}

/// An approved, available household of the pool in `authority`.
async fn pool_household(app: &TestApp, authority: &str, name: &str) -> String {
    household_approved_on(
        app,
        authority,
        name,
        "2024-03-01",
        json!({ "approval": { "capacity": 2, "ageMinMonths": 0, "ageMaxMonths": 120,
                              "acceptsSiblings": true } }),
    )
    .await
}

/// The stable id of a link event.
fn link_event_id(link: &Value) -> String {
    format!(
        "link:{}:{}",
        number(link["id"].as_str().expect("id")),
        link["version"]
    )
}

/// Records, as `social_worker`, an adoption plan and a placement order on
/// `placement_order_on` for `child` (its id and version), in care since 2022-01-10.
async fn record_placement_order(
    app: &TestApp,
    social_worker: &str,
    child: (&str, i64),
    placement_order_on: &str,
) {
    app.ok(
        social_worker,
        MILESTONES,
        json!({ "i": { "id": child.0, "expectedVersion": child.1,
                        "adoptionPlanOn": "2022-05-01", "placementOrderOn": placement_order_on } }),
    )
    .await;
}

both_backends!(
    link_events_reach_both_sides_and_nobody_else,
    a_child_write_that_raises_alerts_notifies_the_childs_authority,
    connection_init_refuses_a_missing_bad_or_revoked_token,
    a_revocation_ends_an_open_subscription,
    the_sweep_announces_a_day_once,
    the_subscription_document_is_held_to_the_limits,
    a_mutation_over_the_websocket_is_refused_and_changes_nothing,
    shutdown_closes_open_subscriptions
);

async fn link_events_reach_both_sides_and_nobody_else(app: TestApp) {
    let kit = waiting_child(&app, "alder", "Kit", json!({})).await;
    let home = pool_household(&app, "birch", "Birch Home").await;
    let ivy = waiting_child(&app, "cedar", "Ivy", json!({})).await;
    let other_home = pool_household(&app, "birch", "Other Home").await;

    let alder_ff = app.role("alder", "FAMILY_FINDER");
    let birch_ff = app.role("birch", "FAMILY_FINDER");
    let alder_dm = app.role("alder", "DECISION_MAKER");
    let cedar_ff = app.role("cedar", "FAMILY_FINDER");
    let oak_ff = app.token_with("ff-oak", "other", &[("oak", &["FAMILY_FINDER"])], &[]);

    let mut child_side = subscribe(&app, &alder_ff, None).await;
    let mut household_side = subscribe(&app, &birch_ff, None).await;
    let mut matches_only = subscribe(&app, &alder_dm, Some(&["LINK_MATCHED"])).await;
    let mut unrelated = subscribe(&app, &cedar_ff, None).await;
    let mut other_consortium = subscribe(&app, &oak_ff, None).await;

    let proposed = propose(&app, &alder_ff, &kit, &home).await;
    for (side, typename) in [
        (&mut child_side, "Child"),
        (&mut household_side, "ChildProfile"),
    ] {
        let n = notification(side).await;
        assert_eq!(n["kind"], "LINK_PROPOSED");
        assert_eq!(n["id"], link_event_id(&proposed));
        assert!(
            n["occurredAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| t.offset().local_minus_utc() == 0),
            "{n}"
        );
        assert_eq!(n["link"]["id"], proposed["id"]);
        assert_eq!(n["link"]["childAuthority"]["code"], "alder");
        assert!(n["alert"].is_null());
        // Each side sees the child as the `link` query shows it to that side.
        let child = &n["link"]["children"][0];
        assert_eq!(child["__typename"], typename, "{n}");
        assert_eq!(child["legalName"].is_string(), typename == "Child", "{n}");
    }

    let accepted = link_step(
        &app,
        &birch_ff,
        "acceptLink",
        "AcceptLinkInput",
        json!({ "id": proposed["id"], "expectedVersion": proposed["version"] }),
    )
    .await;
    let matched = link_step(
        &app,
        &alder_dm,
        "recordMatchDecision",
        "RecordMatchDecisionInput",
        json!({ "id": accepted["id"], "expectedVersion": accepted["version"], "decidedOn": chrono::Utc::now().date_naive().to_string() }),
    )
    .await;
    for side in [&mut child_side, &mut household_side] {
        let n = notification(side).await;
        assert_eq!(n["kind"], "LINK_ACCEPTED");
        assert_eq!(n["id"], link_event_id(&accepted));
        let n = notification(side).await;
        assert_eq!(n["kind"], "LINK_MATCHED");
        assert_eq!(n["id"], link_event_id(&matched));
        assert_eq!(n["link"]["state"], "MATCHED");
    }
    // Only the kind asked for, though the proposal and acceptance came first.
    let n = notification(&mut matches_only).await;
    assert_eq!(n["kind"], "LINK_MATCHED");
    assert_eq!(n["id"], link_event_id(&matched));

    // cedar is not a party; oak is in another consortium.
    quiet(&mut unrelated).await;
    quiet(&mut other_consortium).await;
    let cedar_link = propose(&app, &cedar_ff, &ivy, &other_home).await;
    let n = notification(&mut unrelated).await;
    assert_eq!(n["kind"], "LINK_PROPOSED");
    assert_eq!(
        n["link"]["id"], cedar_link["id"],
        "the alder link never came"
    );
    let oak_sw = app.token_with("sw-oak", "other", &[("oak", &["SOCIAL_WORKER"])], &[]);
    let data = app
        .ok(
            &oak_sw,
            CREATE_CHILD,
            json!({ "input": { "legalName": "Ash Oakchild", "dateOfBirth": "2021-02-03",
                    "profileName": "Ash", "gender": "MALE", "enteredCareOn": "2022-01-10" } }),
        )
        .await;
    let ash = data["createChild"]["child"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let version = data["createChild"]["child"]["version"]
        .as_i64()
        .expect("version");
    record_placement_order(&app, &oak_sw, (&ash, version), "2022-08-01").await;
    let n = notification(&mut other_consortium).await;
    assert_eq!(n["kind"], "TRACKING_ALERT");
    assert_eq!(n["alert"]["child"]["id"], ash, "the demo links never came");

    // Counted in the metrics (process-wide: other tests' subscriptions count too).
    let metrics = app
        .client
        .get(format!(
            "{}/metrics",
            app.metrics_address.as_deref().expect("a metrics listener")
        ))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("permanence_subscriptions_open"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"permanence_notifications_delivered_total{kind="LINK_MATCHED"}"#),
        "{metrics}"
    );

    // Each delivery of a link was audited as a view of it.
    app.flush_audit().await;
    let views = audit_event::Entity::find()
        .filter(audit_event::Column::Subject.eq("family_finder-birch"))
        .filter(audit_event::Column::Action.eq("VIEW"))
        .filter(audit_event::Column::EntityType.eq("Link"))
        .filter(audit_event::Column::EntityId.eq(number(proposed["id"].as_str().expect("id"))))
        .filter(audit_event::Column::Detail.contains("notifications"))
        .all(&app.state.db)
        .await
        .expect("audit");
    assert_eq!(views.len(), 3, "{views:?}");
}

async fn a_child_write_that_raises_alerts_notifies_the_childs_authority(app: TestApp) {
    let (robin, version) = create_child(&app, "alder", "Robin", json!({})).await;
    let (wren, wren_version) = create_child(&app, "birch", "Wren", json!({})).await;
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    let birch_sw = app.role("birch", "SOCIAL_WORKER");
    // Alerts are for the child's own authority: others' family finders do not hear them.
    let mut own = subscribe(&app, &alder_sw, Some(&["TRACKING_ALERT"])).await;
    let mut elsewhere = subscribe(&app, &app.role("birch", "FAMILY_FINDER"), None).await;

    // In care since 2022-01-10 with a placement order of 2022-08-01, and no match.
    record_placement_order(&app, &alder_sw, (&robin, version), "2022-08-01").await;
    let mut kinds = Vec::new();
    for _ in 0..4 {
        let n = notification(&mut own).await;
        assert_eq!(n["kind"], "TRACKING_ALERT");
        assert_eq!(n["alert"]["child"]["id"], robin);
        assert_eq!(n["alert"]["child"]["legalName"], "Robin Testchild");
        let kind = n["alert"]["kind"].as_str().expect("kind").to_owned();
        let since = n["alert"]["since"].as_str().expect("since");
        assert_eq!(n["id"], format!("alert:{}:{kind}:{since}", number(&robin)));
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "EIGHTEEN_MONTHS_SINCE_ENTERING_CARE",
            "IN_CARE_OVER_426_DAYS_NOT_PLACED",
            "PLACEMENT_ORDER_NO_MATCH_121_DAYS",
            "PLACEMENT_ORDER_NO_MATCH_90_DAYS"
        ]
    );

    // A write that raises nothing new announces nothing; the next alert is birch's.
    let data = app
        .ok(
            &alder_sw,
            "mutation($i: UpdateChildInput!) { updateChild(input: $i) { child { version } } }",
            json!({ "i": { "id": robin, "expectedVersion": version + 1, "profileName": "Robbie" } }),
        )
        .await;
    assert!(data["updateChild"]["child"]["version"].is_number());
    quiet(&mut own).await;
    quiet(&mut elsewhere).await;
    record_placement_order(&app, &birch_sw, (&wren, wren_version), "2022-08-01").await;
    let n = notification(&mut elsewhere).await;
    assert_eq!(n["alert"]["child"]["id"], wren, "robin's alerts never came");

    // Audited as reads of the child, like the trackingAlerts query.
    app.flush_audit().await;
    let views = audit_event::Entity::find()
        .filter(audit_event::Column::Subject.eq("social_worker-alder"))
        .filter(audit_event::Column::Action.eq("VIEW"))
        .filter(audit_event::Column::EntityType.eq("Child"))
        .filter(audit_event::Column::EntityId.eq(number(&robin)))
        .filter(audit_event::Column::Detail.contains("notifications"))
        .all(&app.state.db)
        .await
        .expect("audit");
    assert_eq!(views.len(), 4);
}

async fn connection_init_refuses_a_missing_bad_or_revoked_token(app: TestApp) {
    let forbidden = |(_, answer): (Socket, Received)| match answer {
        Received::Closed(Some(4403)) => {}
        other => panic!("expected 4403, got {other:?}"),
    };
    forbidden(init(&app, json!({})).await);
    forbidden(init(&app, json!({ "Authorization": "Bearer not-a-token" })).await);
    forbidden(
        init(
            &app,
            json!({ "Authorization": app.role("alder", "FAMILY_FINDER") }),
        )
        .await,
    );

    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    let doomed = app.role("alder", "FAMILY_FINDER");
    app.ok(
        &admin,
        REVOKE,
        json!({ "i": { "subject": "family_finder-alder" } }),
    )
    .await;
    forbidden(init(&app, json!({ "Authorization": format!("Bearer {doomed}") })).await);

    // The other spellings of the payload.
    let sw = app.role("alder", "SOCIAL_WORKER");
    for payload in [
        json!({ "authorization": format!("Bearer {sw}") }),
        json!({ "token": sw }),
    ] {
        let (_, answer) = init(&app, payload).await;
        assert!(
            matches!(&answer, Received::Message(m) if m["type"] == "connection_ack"),
            "{answer:?}"
        );
    }

    // Another subprotocol is refused at the upgrade.
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("graphql-ws"),
    );
    assert!(tokio_tungstenite::connect_async(request).await.is_err());

    // Roles without the capability of any kind asked for are refused (and audited).
    let mut socket = connected(&app, &app.role("birch", "RECRUITMENT_OFFICER")).await;
    send(
        &mut socket,
        json!({ "id": "a", "type": "subscribe",
                "payload": { "query": NOTIFICATIONS, "variables": { "kinds": ["TRACKING_ALERT"] } } }),
    )
    .await;
    match receive(&mut socket, EXPECTED_WITHIN).await {
        Some(Received::Message(m)) => {
            assert_eq!(
                m["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
                "{m}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// A socket that never sends `connection_init` is closed (4408), and so is a connection
/// whose token expires while it is open (4403).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_end_without_init_and_when_the_token_expires() {
    use permanence::auth::jwt::{Claims, MembershipClaim};
    let app = TestApp::spawn(crate::helpers::Backend::Sqlite).await;
    let mut silent = connect(&app).await;
    match receive(&mut silent, Duration::from_secs(20)).await {
        Some(Received::Closed(code)) => assert_eq!(code, Some(4408)),
        other => panic!("expected the socket to close, got {other:?}"),
    }

    let now = chrono::Utc::now().timestamp();
    let short = app
        .config
        .jwt
        .mint(&Claims {
            sub: "short-lived".into(),
            name: None,
            iss: "permanence".into(),
            aud: "permanence".into(),
            iat: now,
            exp: now + 2,
            jti: None,
            nbf: None,
            consortium: "demo".into(),
            memberships: vec![MembershipClaim {
                authority: "alder".into(),
                roles: vec!["FAMILY_FINDER".into()],
            }],
            consortium_roles: Vec::new(),
        })
        .expect("mint");
    let mut socket = subscribe(&app, &short, None).await;
    match receive(&mut socket, EXPECTED_WITHIN).await {
        Some(Received::Closed(code)) => assert_eq!(code, Some(4403)),
        other => panic!("expected the socket to close, got {other:?}"),
    }
}

async fn a_revocation_ends_an_open_subscription(app: TestApp) {
    let kit = waiting_child(&app, "alder", "Kit", json!({})).await;
    let home = pool_household(&app, "birch", "Birch Home").await;
    let mut socket = subscribe(&app, &app.role("birch", "FAMILY_FINDER"), None).await;
    let admin = app.token_with("admin", "demo", &[], &["CONSORTIUM_ADMIN"]);
    app.ok(
        &admin,
        REVOKE,
        json!({ "i": { "subject": "family_finder-birch" } }),
    )
    .await;
    // An event the subscriber would have heard.
    propose(&app, &app.role("alder", "FAMILY_FINDER"), &kit, &home).await;
    loop {
        match receive(&mut socket, EXPECTED_WITHIN).await {
            Some(Received::Message(m)) => {
                assert!(
                    m["payload"]["data"]["notifications"].is_null(),
                    "delivered after the revocation: {m}"
                );
                if m["type"] == "next" {
                    assert_eq!(
                        m["payload"]["errors"][0]["extensions"]["code"],
                        "UNAUTHENTICATED"
                    );
                }
            }
            Some(Received::Closed(code)) => {
                assert_eq!(code, Some(4403));
                break;
            }
            None => panic!("the connection stayed open after the revocation"),
        }
    }
    let closed =
        tokio::time::timeout(EXPECTED_WITHIN, app.state.subscriptions.wait_for_at_most(0)).await;
    assert!(closed.is_ok(), "the subscription was dropped");
}

async fn the_sweep_announces_a_day_once(app: TestApp) {
    let (robin, version) = create_child(&app, "alder", "Robin", json!({})).await;
    let alder_sw = app.role("alder", "SOCIAL_WORKER");
    record_placement_order(&app, &alder_sw, (&robin, version), "2024-01-02").await;
    let mut socket = subscribe(&app, &alder_sw, None).await;

    // 90 days after 2024-01-02 is 2024-04-01: overdue from 2024-04-02.
    let day: NaiveDate = "2024-04-02".parse().expect("date");
    let first = sweep(&app.state, day).await.expect("sweep");
    assert_eq!(
        first,
        SweepReport {
            swept: 2,
            published: 1
        },
        "both consortia; one alert"
    );
    let n = notification(&mut socket).await;
    assert_eq!(n["kind"], "TRACKING_ALERT");
    assert_eq!(n["alert"]["kind"], "PLACEMENT_ORDER_NO_MATCH_90_DAYS");
    assert_eq!(n["alert"]["daysOverdue"], 1);
    assert_eq!(
        n["id"],
        format!(
            "alert:{}:PLACEMENT_ORDER_NO_MATCH_90_DAYS:2024-01-02",
            number(&robin)
        )
    );

    // The same day again: already swept.
    let again = sweep(&app.state, day).await.expect("sweep");
    assert_eq!(again, SweepReport::default());
    quiet(&mut socket).await;
    // The 121-day timescale passes on 2024-05-03; that is the next thing heard.
    let later = sweep(&app.state, "2024-05-03".parse().expect("date"))
        .await
        .expect("sweep");
    assert_eq!(later.published, 1);
    let n = notification(&mut socket).await;
    assert_eq!(n["alert"]["kind"], "PLACEMENT_ORDER_NO_MATCH_121_DAYS");
}

async fn the_subscription_document_is_held_to_the_limits(app: TestApp) {
    let mut socket = connected(&app, &app.role("alder", "FAMILY_FINDER")).await;
    let padding = format!("# {}\n", "x".repeat(21 * 1024));
    send(
        &mut socket,
        json!({ "id": "big", "type": "subscribe",
                "payload": { "query": format!("{padding}{NOTIFICATIONS}") } }),
    )
    .await;
    match receive(&mut socket, EXPECTED_WITHIN).await {
        Some(Received::Message(m)) => {
            assert_eq!(m["id"], "big");
            assert_eq!(
                m["payload"]["errors"][0]["extensions"]["limit"], "querySize",
                "{m}"
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(app.state.subscriptions.count(), 0);
}

/// Mutations are taken over HTTP only, where an answer lost with its connection can be
/// told apart from a change not made (`OUTCOME_UNKNOWN`).
async fn a_mutation_over_the_websocket_is_refused_and_changes_nothing(app: TestApp) {
    let token = app.role("alder", "SOCIAL_WORKER");
    let (id, version) = create_child(&app, "alder", "Fen", json!({})).await;
    let mut socket = connected(&app, &token).await;
    send(
        &mut socket,
        json!({ "id": "m", "type": "subscribe", "payload": {
            "query": MILESTONES_UPDATE,
            "variables": { "i": { "id": id, "expectedVersion": version, "notes": "by socket" } } } }),
    )
    .await;
    let errors = match receive(&mut socket, EXPECTED_WITHIN).await {
        Some(Received::Message(m)) if m["id"] == "m" => match &m["payload"] {
            Value::Array(errors) => errors.clone(),
            payload => payload["errors"].as_array().cloned().unwrap_or_default(),
        },
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{errors:?}"
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("POST /graphql"),
        "{errors:?}"
    );
    let data = app
        .ok(
            &token,
            "query($id: ID!) { child(id: $id) { version notes } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(data["child"]["version"].as_i64(), Some(version));
    assert!(data["child"]["notes"].is_null(), "{data:#}");
}

async fn shutdown_closes_open_subscriptions(mut app: TestApp) {
    let mut socket = subscribe(&app, &app.role("alder", "FAMILY_FINDER"), None).await;
    tokio::time::timeout(Duration::from_secs(5), app.stop())
        .await
        .expect("the server stops promptly with a subscription open");
    assert_eq!(app.state.open_sockets(), 0);
    match receive(&mut socket, EXPECTED_WITHIN).await {
        Some(Received::Closed(code)) => assert_eq!(code, Some(1001)),
        other => panic!("expected the socket to close, got {other:?}"),
    }
}

/// Two replicas on one database and one Redis: a subscriber of one hears a write made on
/// the other, and a day is swept by one replica only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_replica_hears_a_write_on_the_other() {
    let (a, b) = spawn_replicas(&test_redis_url(), None).await;
    // The replicas' pub/sub relays subscribe to Redis in the background: wait until a
    // message published by one reaches the other.
    let mut probe = b.state.shared.subscribe("probe");
    let relayed = tokio::time::timeout(EXPECTED_WITHIN, async {
        loop {
            a.state.shared.publish("probe", "ping").await;
            if tokio::time::timeout(Duration::from_millis(100), probe.recv())
                .await
                .is_ok()
            {
                break;
            }
        }
    })
    .await;
    assert!(relayed.is_ok(), "Redis pub/sub relays between the replicas");

    let kit = waiting_child(&a, "alder", "Kit", json!({})).await;
    let home = pool_household(&a, "birch", "Birch Home").await;
    let mut on_b = subscribe(&b, &b.role("birch", "FAMILY_FINDER"), None).await;
    let proposed = propose(&a, &a.role("alder", "FAMILY_FINDER"), &kit, &home).await;
    let n = notification(&mut on_b).await;
    assert_eq!(n["kind"], "LINK_PROPOSED");
    assert_eq!(n["id"], link_event_id(&proposed));
    assert_eq!(n["link"]["children"][0]["__typename"], "ChildProfile");

    // Claims are shared by the replicas and expire.
    let short = Duration::from_millis(300);
    assert_eq!(a.state.shared.claim("probe-claim", short).await, Some(true));
    assert_eq!(
        b.state.shared.claim("probe-claim", short).await,
        Some(false)
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(b.state.shared.claim("probe-claim", short).await, Some(true));

    // One replica claims the day; the other skips it.
    let (robin, version) = create_child(&a, "birch", "Robin", json!({})).await;
    let birch_sw = a.role("birch", "SOCIAL_WORKER");
    record_placement_order(&a, &birch_sw, (&robin, version), "2024-01-02").await;
    let mut alerts_on_b = subscribe(&b, &b.role("birch", "SOCIAL_WORKER"), None).await;
    let day: NaiveDate = "2024-04-02".parse().expect("date");
    let on_a = sweep(&a.state, day).await.expect("sweep");
    let on_b_report = sweep(&b.state, day).await.expect("sweep");
    assert_eq!((on_a.published, on_b_report.swept), (1, 0));
    let n = notification(&mut alerts_on_b).await;
    assert_eq!(n["alert"]["child"]["id"], robin);
    quiet(&mut alerts_on_b).await;
    let later = sweep(&b.state, "2024-05-03".parse().expect("date"))
        .await
        .expect("sweep");
    assert_eq!(later.published, 1);
    let n = notification(&mut alerts_on_b).await;
    assert_eq!(
        n["alert"]["kind"], "PLACEMENT_ORDER_NO_MATCH_121_DAYS",
        "the 90-day alert came once"
    );
}

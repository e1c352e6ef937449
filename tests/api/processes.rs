//! Real `permanence serve` processes, as they run in production (DESIGN §1, §7).
//!
//! - Two replicas on different ports sharing one fresh PostgreSQL database and the Redis
//!   of `TEST_REDIS_URL` (under a key prefix of the test's own): a write on one invalidates
//!   a report cached by the other, a revocation on one is enforced by the other within a
//!   second, the rate limit is one bucket for both, and a subscriber of `notifications`
//!   on one receives the link event of a proposal made on the other.
//! - The same pair on a `redis-server` of the test's own, killed mid-test and restarted:
//!   requests keep succeeding meanwhile, and sharing (cache, invalidation, rate limit,
//!   subscription fan-out) resumes without restarting them.
//! - SIGTERM in the middle of a burst of concurrent writes and reads, on SQLite and on
//!   PostgreSQL, with a subscription open: the process closes the websocket as going away
//!   and exits 0, and every write it acknowledged and every audit event of an
//!   acknowledged write or read is in the database afterwards.
//!
//! The databases are seeded with `permanence seed demo` and tokens come from
//! `permanence token`. Tests fail when `TEST_DATABASE_URL` or `TEST_REDIS_URL` is missing.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use entity::{audit_event, child, household, recruitment_event};
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CREATE_CHILD, CREATE_HOUSEHOLD, RECORD_EVENT, after_second_of, cost, decode_id,
    encode_id, error_code, fresh_postgres_database, test_redis_url, within,
};
use crate::process::{OwnRedis, Server, demo_server, role_token, seed_demo, token};
use crate::shared::{
    self, DECISION, MILESTONES, VIEWER, VIEWER_4, one_bucket_spent_from_both, revoke, scorecard,
};

const CHILD: &str = "query($id: ID!) { child(id: $id) { id profileName } }";
const HOUSEHOLD: &str = "query($id: ID!) { household(id: $id) { id profileName } }";

/// Two `permanence serve` processes on one fresh, demo-seeded PostgreSQL database and the
/// Redis at `redis_url`, under a key prefix of their own, with the extra environment `env`.
async fn replicas(redis_url: &str, env: &[(&str, &str)]) -> (Server, Server) {
    let prefix = format!("permanence-test-{}", uuid::Uuid::new_v4().simple());
    replicas_under(redis_url, &prefix, env).await
}

/// As [`replicas`], under the Redis key prefix `prefix`.
async fn replicas_under(redis_url: &str, prefix: &str, env: &[(&str, &str)]) -> (Server, Server) {
    let database_url = fresh_postgres_database().await;
    seed_demo(&database_url);
    let mut shared = vec![("REDIS_URL", redis_url), ("REDIS_KEY_PREFIX", prefix)];
    shared.extend_from_slice(env);
    tokio::join!(
        Server::start(&database_url, &shared, &[]),
        Server::start(&database_url, &shared, &[]),
    )
}

/// The tokens of alder's staff the tests act with.
struct Alder {
    social_worker: String,
    decision_maker: String,
    manager: String,
}

impl Alder {
    fn tokens() -> Alder {
        Alder {
            social_worker: role_token("alder", "SOCIAL_WORKER"),
            decision_maker: role_token("alder", "DECISION_MAKER"),
            manager: role_token("alder", "MANAGER"),
        }
    }
}

/// Creates an alder child through `server`; its global id and version.
async fn create_child(server: &Server, social_worker: &str, name: &str) -> (String, i64) {
    let data = server
        .ok(
            social_worker,
            CREATE_CHILD,
            json!({ "input": {
                "legalName": format!("{name} Testchild"),
                "dateOfBirth": "2021-02-03",
                "profileName": name,
                "gender": "FEMALE",
                "enteredCareOn": "2022-01-10",
            }}),
        )
        .await;
    let child = &data["createChild"]["child"];
    (
        child["id"].as_str().expect("id").to_owned(),
        child["version"].as_i64().expect("version"),
    )
}

/// Records an alder child's journey to an adoption order in 2023 (in the scorecard's
/// period) through `server`.
async fn record_adoption(server: &Server, alder: &Alder, name: &str) {
    let (id, v) = create_child(server, &alder.social_worker, name).await;
    let staff = (alder.social_worker.as_str(), alder.decision_maker.as_str());
    shared::record_adoption(server, staff, &id, v).await;
}

/// A consortium admin of `demo`.
fn admin() -> String {
    token("admin-1", "demo", &[], &["CONSORTIUM_ADMIN"])
}

/// Whether `server` accepts `token` (refusing it, it must be a 401 with UNAUTHENTICATED).
async fn accepted(server: &Server, token: &str) -> bool {
    let answer = server.send(Some(token), VIEWER, json!({})).await;
    match error_code(&answer.body) {
        None => true,
        Some(code) => {
            assert_eq!(code, "UNAUTHENTICATED", "{:#}", answer.body);
            assert_eq!(answer.status, 401, "{:#}", answer.body);
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_process_invalidates_a_report_cached_by_the_other() {
    let (a, b) = replicas(&test_redis_url(), &[]).await;
    let alder = Alder::tokens();
    let (before, status) = scorecard(&b, &alder.manager).await;
    assert_eq!(status, "MISS");
    assert_eq!(scorecard(&b, &alder.manager).await, (before, "HIT".into()));
    assert_eq!(
        scorecard(&a, &alder.manager).await,
        (before, "HIT".into()),
        "the report B cached serves A: one cache"
    );

    record_adoption(&a, &alder, "Replica").await;
    assert_eq!(
        scorecard(&b, &alder.manager).await,
        (before + 1, "MISS".into()),
        "A's write made B's cached scorecard unreachable"
    );
    assert_eq!(
        scorecard(&a, &alder.manager).await,
        (before + 1, "HIT".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_process_is_enforced_by_the_other_within_a_second() {
    let (a, b) = replicas(&test_redis_url(), &[]).await;
    let admin = admin();
    let family_finder = role_token("alder", "FAMILY_FINDER");
    let bystander = role_token("birch", "FAMILY_FINDER");
    assert!(accepted(&b, &family_finder).await);

    let revoked_at = revoke(&a, &admin, "family_finder-alder").await;
    let acknowledged = Instant::now();
    assert!(
        !accepted(&a, &family_finder).await,
        "refused at once where it was revoked"
    );
    // How long after the acknowledgement a request was sent that B refused.
    let mut refused_after = None;
    while acknowledged.elapsed() < Duration::from_secs(5) {
        let sent = acknowledged.elapsed();
        if !accepted(&b, &family_finder).await {
            refused_after = Some(sent);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused_after = refused_after.expect("B refuses the revoked token");
    println!("B refused a request sent {refused_after:?} after the revocation");
    assert!(
        refused_after <= Duration::from_secs(1),
        "B accepted the revoked token for {refused_after:?}"
    );
    assert!(
        accepted(&b, &bystander).await,
        "other subjects are untouched"
    );

    // A token issued after the revocation is accepted by both.
    after_second_of(&revoked_at).await;
    let fresh = role_token("alder", "FAMILY_FINDER");
    assert!(accepted(&b, &fresh).await && accepted(&a, &fresh).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_one_bucket_for_both_processes() {
    // 40 points a subject, one a second back.
    let small_bucket = [
        ("PERMANENCE_MAX_COMPLEXITY", "40"),
        ("PERMANENCE_RATE_LIMIT_CAPACITY", "40"),
        ("PERMANENCE_RATE_LIMIT_LEAK_RATE", "1"),
    ];
    let (a, b) = replicas(&test_redis_url(), &small_bucket).await;
    let token = role_token("alder", "SOCIAL_WORKER");
    one_bucket_spent_from_both(&a, &b, &token).await;

    // Spend the rest on A until it refuses…
    let mut refused = None;
    for _ in 0..40 {
        let answer = a.send(Some(&token), VIEWER, json!({})).await;
        if error_code(&answer.body).is_some() {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("A refuses once the bucket is dry");
    assert_eq!(
        error_code(&refused.body).as_deref(),
        Some("RATE_LIMITED"),
        "{:#}",
        refused.body
    );
    assert_eq!(refused.status, 429);

    // …and B refuses too (a costlier request, so that a moment's leak cannot make room),
    // with a 429 and a Retry-After that says what the error says.
    let answer = b.send(Some(&token), VIEWER_4, json!({})).await;
    assert_eq!(
        error_code(&answer.body).as_deref(),
        Some("RATE_LIMITED"),
        "{:#}",
        answer.body
    );
    assert_eq!(answer.status, 429, "{:#}", answer.body);
    assert!(
        answer.body.get("data").is_none(),
        "a refused operation does not run"
    );
    let retry = answer.body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=5).contains(&retry), "{retry}");
    let header = answer
        .headers
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .expect("ASCII");
    assert_eq!(header, retry.to_string());

    // Someone else still has a full bucket on either.
    let other = b
        .gql(
            Some(&role_token("birch", "SOCIAL_WORKER")),
            VIEWER,
            json!({}),
        )
        .await;
    assert_eq!(cost(&other), (2, 38), "{other:#}");
}

const PROPOSE: &str =
    "mutation($input: ProposeLinkInput!) { proposeLink(input: $input) { link { id state } } }";
const UPDATE_HOUSEHOLD: &str = "mutation($input: UpdateHouseholdInput!) { updateHousehold(input: $input) { household { id } } }";
const NOTIFICATIONS: &str = "subscription { notifications { id kind link { id state } } }";

/// An alder child with an adoption plan, a placement order and a SHOBPA decision: in the
/// pool, waiting for a family. Its global id.
async fn waiting_child(server: &Server, alder: &Alder, name: &str) -> String {
    let (id, v) = create_child(server, &alder.social_worker, name).await;
    let data = server
        .ok(
            &alder.social_worker,
            MILESTONES,
            json!({ "input": { "id": id, "expectedVersion": v,
                "adoptionPlanOn": "2022-05-01", "placementOrderOn": "2022-08-01" } }),
        )
        .await;
    let v = data["recordChildMilestones"]["child"]["version"]
        .as_i64()
        .expect("version");
    server
        .ok(
            &alder.decision_maker,
            DECISION,
            json!({ "input": { "id": id, "expectedVersion": v,
                "decision": "SHOBPA", "decidedOn": "2022-06-01" } }),
        )
        .await;
    id
}

/// A fast-track alder household approved in 2024 for up to two children aged 0-10 years,
/// available for matching. Its global id.
async fn approved_household(server: &Server, alder: &Alder, recruiter: &str, name: &str) -> String {
    let data = server
        .ok(
            recruiter,
            CREATE_HOUSEHOLD,
            json!({ "input": {
                "applicantOneName": format!("{name} Applicant"),
                "address": "1 Synthetic Street",
                "profileName": name,
                "channel": "WEBSITE",
                "enquiryOn": "2023-12-01",
                "fastTrack": true,
            }}),
        )
        .await;
    let household = &data["createHousehold"]["household"];
    let id = household["id"].as_str().expect("id").to_owned();
    let mut v = household["version"].as_i64().expect("version");
    for (token, stage) in [
        (recruiter, "STAGE_TWO_STARTED"),
        (recruiter, "STAGE_TWO_COMPLETED"),
        (recruiter, "PANEL"),
        (alder.decision_maker.as_str(), "APPROVED"),
    ] {
        let data = server
            .ok(
                token,
                RECORD_EVENT,
                json!({ "input": { "householdId": id, "expectedVersion": v,
                    "stage": stage, "occurredOn": "2024-02-20" } }),
            )
            .await;
        v = data["recordRecruitmentEvent"]["household"]["version"]
            .as_i64()
            .expect("version");
    }
    server
        .ok(
            recruiter,
            UPDATE_HOUSEHOLD,
            json!({ "input": { "id": id, "expectedVersion": v,
                "approval": { "capacity": 2, "ageMinMonths": 0, "ageMaxMonths": 120,
                              "acceptsSiblings": true } } }),
        )
        .await;
    id
}

/// A graphql-transport-ws client of a server's `/graphql/ws`.
struct Subscriber {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Subscriber {
    /// Connects and authenticates with `token` in the `connection_init` payload.
    async fn connect(server: &Server, token: &str) -> Subscriber {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::HeaderValue;
        let mut request = format!("ws://127.0.0.1:{}/graphql/ws", server.port)
            .into_client_request()
            .expect("websocket request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static("graphql-transport-ws"),
        );
        let (socket, _) = tokio::time::timeout(
            Duration::from_secs(10),
            tokio_tungstenite::connect_async(request),
        )
        .await
        .expect("websocket handshake in time")
        .expect("websocket handshake");
        let mut subscriber = Subscriber { socket };
        subscriber
            .send(json!({ "type": "connection_init",
                "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
        let ack = subscriber.receive(Duration::from_secs(10)).await;
        assert_eq!(ack["type"], "connection_ack", "{ack:#}");
        subscriber
    }

    async fn send(&mut self, message: Value) {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .expect("websocket send");
    }

    /// Starts the subscription `query` under `id`.
    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    /// The next protocol message (answering pings on the way), within `limit`.
    async fn receive(&mut self, limit: Duration) -> Value {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("no websocket message within {limit:?}"))
                .expect("the websocket stays open")
                .expect("a websocket message");
            let text = match message {
                Message::Text(text) => text.to_string(),
                Message::Close(frame) => panic!("the server closed the websocket: {frame:?}"),
                _ => continue,
            };
            let message: Value = serde_json::from_str(&text).expect("a JSON message");
            if message["type"] == "ping" {
                self.send(json!({ "type": "pong" })).await;
                continue;
            }
            return message;
        }
    }

    /// The code of the Close frame that ends the websocket within `limit`, skipping
    /// whatever is delivered before it (`None` when it ends without one).
    async fn close_code(&mut self, limit: Duration) -> Option<u16> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| panic!("the websocket is still open after {limit:?}"));
            match message {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return None,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_on_one_process_receives_a_link_event_caused_on_the_other() {
    let (a, b) = replicas(&test_redis_url(), &[]).await;
    let alder = Alder::tokens();
    let family_finder = role_token("alder", "FAMILY_FINDER");
    let recruiter = role_token("alder", "RECRUITMENT_OFFICER");
    let child = waiting_child(&a, &alder, "Linked").await;
    let household = approved_household(&a, &alder, &recruiter, "Linking Home").await;

    let mut subscriber = notifications_subscriber(&b, &family_finder).await;

    let link = propose(&a, &family_finder, &child, &household).await;
    receive_link_event(&mut subscriber, &link, Duration::from_secs(10)).await;
}

/// A subscriber of `notifications` (as subscription "1") on `server`, once the server
/// counts the subscription open.
async fn notifications_subscriber(server: &Server, token: &str) -> Subscriber {
    let mut subscriber = Subscriber::connect(server, token).await;
    subscriber.subscribe("1", NOTIFICATIONS).await;
    let open = within(Duration::from_secs(10), || async {
        server
            .metric("permanence_subscriptions_open")
            .await
            .unwrap_or(0.0)
            >= 1.0
    })
    .await;
    assert!(
        open.is_some(),
        "{} reports the subscription open",
        server.address
    );
    subscriber
}

/// Proposes a link between `child` and `household` through `server`; the link's id.
async fn propose(server: &Server, family_finder: &str, child: &str, household: &str) -> String {
    let data = server
        .ok(
            family_finder,
            PROPOSE,
            json!({ "input": { "childId": child, "householdId": household } }),
        )
        .await;
    data["proposeLink"]["link"]["id"]
        .as_str()
        .expect("link id")
        .to_owned()
}

/// Waits (up to `limit`) for the `LINK_PROPOSED` notification of `link` on subscription
/// "1", skipping other events (tracking alerts of the subscriber's children).
async fn receive_link_event(subscriber: &mut Subscriber, link: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let message = subscriber.receive(left).await;
        assert_eq!(message["type"], "next", "{message:#}");
        assert_eq!(message["id"], "1");
        assert!(message["payload"].get("errors").is_none(), "{message:#}");
        let notification = &message["payload"]["data"]["notifications"];
        if notification["link"]["id"] == link {
            assert_eq!(notification["kind"], "LINK_PROPOSED", "{message:#}");
            assert_eq!(notification["link"]["state"], "PROPOSED");
            return;
        }
    }
}

/// Waits until `server`'s `permanence_redis_degraded` gauge is `degraded` (absent counts as
/// not degraded).
async fn wait_for_degraded(server: &Server, degraded: bool, limit: Duration) {
    let want = if degraded { 1.0 } else { 0.0 };
    let reached = within(limit, || async {
        server
            .metric("permanence_redis_degraded")
            .await
            .unwrap_or(0.0)
            == want
    })
    .await;
    assert!(
        reached.is_some(),
        "{} did not report permanence_redis_degraded {want} within {limit:?}:\n{}",
        server.address,
        server.log_tail(20)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_mid_test_keeps_both_processes_serving_and_sharing_resumes_by_itself() {
    let mut redis = OwnRedis::start();
    let prefix = format!("permanence-test-{}", uuid::Uuid::new_v4().simple());
    // A bucket that refills slowly, so that what one process spends shows on the other.
    let (a, b) = replicas_under(
        &redis.url(),
        &prefix,
        &[("PERMANENCE_RATE_LIMIT_LEAK_RATE", "1")],
    )
    .await;
    let alder = Alder::tokens();
    let birch_sw = role_token("birch", "SOCIAL_WORKER");
    let family_finder = role_token("alder", "FAMILY_FINDER");
    let child = waiting_child(&a, &alder, "Through").await;
    let household = approved_household(
        &a,
        &alder,
        &role_token("alder", "RECRUITMENT_OFFICER"),
        "Through Home",
    )
    .await;
    let (before, _) = scorecard(&b, &alder.manager).await;
    assert_eq!(scorecard(&a, &alder.manager).await, (before, "HIT".into()));
    // A subscriber on B, connected before the outage and kept through it.
    let mut subscriber = notifications_subscriber(&b, &family_finder).await;

    // Redis goes away: reads and writes keep succeeding on both.
    redis.kill();
    let (cohort, status) = scorecard(&b, &alder.manager).await;
    assert_eq!(cohort, before);
    assert_ne!(
        status, "HIT",
        "nothing is served from a cache it cannot check"
    );
    record_adoption(&a, &alder, "During").await;
    let (id, _) = create_child(&b, &birch_sw, "Outage").await;
    let read = a.ok(&birch_sw, CHILD, json!({ "id": id })).await;
    assert_eq!(read["child"]["profileName"], "Outage");
    for server in [&a, &b] {
        wait_for_degraded(server, true, Duration::from_secs(10)).await;
        assert_eq!(server.get_status("/readyz").await, 503);
        assert_eq!(
            scorecard(server, &alder.manager).await,
            (before + 1, "BYPASS".into()),
            "no stale report during the outage"
        );
        let body = server.gql(Some(&birch_sw), VIEWER, json!({})).await;
        assert!(body.get("errors").is_none(), "{body:#}");
        assert!(
            body["extensions"]["cost"].is_object(),
            "rate limited in-process meanwhile"
        );
    }

    // Redis comes back, empty, on the same port: both use it again without a restart.
    redis.restart();
    for server in [&a, &b] {
        wait_for_degraded(server, false, Duration::from_secs(15)).await;
        assert_eq!(server.get_status("/readyz").await, 200);
    }
    assert_eq!(
        scorecard(&b, &alder.manager).await,
        (before + 1, "MISS".into())
    );
    assert_eq!(
        scorecard(&a, &alder.manager).await,
        (before + 1, "HIT".into()),
        "the cache is shared again"
    );
    record_adoption(&b, &alder, "After").await;
    assert_eq!(
        scorecard(&a, &alder.manager).await,
        (before + 2, "MISS".into()),
        "a write on B invalidates A's cached report again"
    );
    let cedar = role_token("cedar", "SOCIAL_WORKER");
    let (_, after_a) = cost(&a.gql(Some(&cedar), VIEWER, json!({})).await);
    let (_, after_b) = cost(&b.gql(Some(&cedar), VIEWER, json!({})).await);
    assert!(
        after_b < after_a,
        "the rate limit is shared again: {after_a} then {after_b}"
    );

    // Once both have subscribed to the shared channel again, the subscriber kept through
    // the outage receives a link event caused on A.
    let channel = format!("{prefix}:bus");
    let resubscribed = within(Duration::from_secs(15), || async {
        redis.subscribers(&channel) == 2
    })
    .await;
    assert!(
        resubscribed.is_some(),
        "both processes subscribe to {channel} again"
    );
    let link = propose(&a, &family_finder, &child, &household).await;
    receive_link_event(&mut subscriber, &link, Duration::from_secs(10)).await;
}

/// An audit event an acknowledged operation must have left: action, entity type, id.
type Expected = (&'static str, &'static str, Option<i64>);

/// One write or read a server acknowledged (a 200 with data and no errors).
#[derive(Debug)]
struct Acknowledged {
    request_id: String,
    /// Its audit events: exactly one each for a write, at least one each for a read.
    audit: Vec<Expected>,
    effect: Effect,
}

/// What an acknowledged operation left in the database besides its audit events.
#[derive(Debug)]
enum Effect {
    /// A child with this profile name.
    ChildCreated(i64, String),
    /// The child's adoption plan date, at this version or later.
    AdoptionPlanRecorded(i64, i64),
    /// A household with this profile name and its enquiry.
    HouseholdCreated(i64, String),
    /// The household's Stage One start, at this version or later.
    StageOneStarted(i64, i64),
    /// A read: only audit events.
    Read,
}

impl Acknowledged {
    fn is_write(&self) -> bool {
        !matches!(self.effect, Effect::Read)
    }
}

/// What the burst's clients saw.
#[derive(Default)]
struct Tally {
    acknowledged: Mutex<Vec<Acknowledged>>,
    writes: AtomicUsize,
    /// Acknowledged after SIGTERM was sent.
    after_signal: AtomicUsize,
    /// Answered with errors (e.g. a busy database), by code.
    errors: Mutex<HashMap<String, usize>>,
    /// Not answered: refused, reset or cut off connections.
    unanswered: AtomicUsize,
}

/// A client of the burst: posts operations tagged with request ids of its own.
struct BurstClient {
    n: usize,
    http: reqwest::Client,
    address: String,
    tally: Arc<Tally>,
    signalled: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

/// A record a burst writer creates and then changes.
struct Writes {
    /// `Child` or `Household`; lower-cased, the field the mutations answer the record in.
    entity_type: &'static str,
    /// Its profile name.
    name: String,
    /// The creating mutation, the field it answers in, and its input.
    create: (&'static str, &'static str, Value),
    created: fn(i64, String) -> Effect,
    /// The changing mutation, the field it answers in, the input key naming the record,
    /// and the rest of its input.
    change: (&'static str, &'static str, &'static str, Value),
    changed: fn(i64, i64) -> Effect,
}

/// The number inside the global id at `pointer` of `data`.
fn id_at(data: &Value, pointer: &str) -> i64 {
    let id = data.pointer(pointer).and_then(Value::as_str);
    decode_id(id.unwrap_or_else(|| panic!("an id at {pointer}: {data}"))).1
}

/// The version at `pointer` of `data`.
fn version_at(data: &Value, pointer: &str) -> i64 {
    let version = data.pointer(pointer).and_then(Value::as_i64);
    version.unwrap_or_else(|| panic!("a version at {pointer}: {data}"))
}

const SEARCH_CHILDREN: &str = "{ children(first: 25) { edges { node { id } } } }";

impl BurstClient {
    /// Posts one operation; its `data` if the server acknowledged it.
    async fn post(
        &self,
        token: &str,
        request_id: &str,
        query: &str,
        variables: Value,
    ) -> Option<Value> {
        let sent = self
            .http
            .post(format!("{}/graphql", self.address))
            .bearer_auth(token)
            .header("x-request-id", request_id)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await;
        let body = match sent {
            Ok(response) if response.status() == 200 => response.json::<Value>().await.ok(),
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or_default();
                self.error(error_code(&body).unwrap_or_else(|| format!("HTTP {status}")));
                return None;
            }
            Err(_) => None,
        };
        let Some(body) = body else {
            self.tally.unanswered.fetch_add(1, Ordering::Relaxed);
            // The server is going away: do not spin while it finishes.
            tokio::time::sleep(Duration::from_millis(20)).await;
            return None;
        };
        if body.get("errors").is_some() || !body["data"].is_object() {
            self.error(error_code(&body).unwrap_or_else(|| "no data".into()));
            return None;
        }
        Some(body["data"].clone())
    }

    fn error(&self, code: String) {
        *self
            .tally
            .errors
            .lock()
            .expect("tally")
            .entry(code)
            .or_default() += 1;
    }

    fn acknowledge(&self, request_id: String, audit: Vec<Expected>, effect: Effect) {
        let ack = Acknowledged {
            request_id,
            audit,
            effect,
        };
        if ack.is_write() {
            self.tally.writes.fetch_add(1, Ordering::SeqCst);
        }
        if self.signalled.load(Ordering::SeqCst) {
            self.tally.after_signal.fetch_add(1, Ordering::SeqCst);
        }
        self.tally.acknowledged.lock().expect("tally").push(ack);
    }

    /// Creates a record and then changes it, acknowledging each step the server answers;
    /// the record's id when both were answered.
    async fn create_and_change(&self, tag: &str, token: &str, writes: Writes) -> Option<i64> {
        let record = writes.entity_type.to_lowercase();
        let (document, field, input) = writes.create;
        let request_id = format!("{tag}-{field}");
        let data = self
            .post(token, &request_id, document, json!({ "input": input }))
            .await?;
        let id = id_at(&data, &format!("/{field}/{record}/id"));
        let v = version_at(&data, &format!("/{field}/{record}/version"));
        self.acknowledge(
            request_id,
            vec![("CREATE", writes.entity_type, Some(id))],
            (writes.created)(id, writes.name),
        );

        let (document, field, key, mut input) = writes.change;
        input[key] = json!(encode_id(writes.entity_type, id));
        input["expectedVersion"] = json!(v);
        let request_id = format!("{tag}-{field}");
        let data = self
            .post(token, &request_id, document, json!({ "input": input }))
            .await?;
        let v = version_at(&data, &format!("/{field}/{record}/version"));
        self.acknowledge(
            request_id,
            vec![("UPDATE", writes.entity_type, Some(id))],
            (writes.changed)(id, v),
        );
        Some(id)
    }

    /// Until stopped: creates a child, records its adoption plan, creates a household,
    /// records its Stage One start, and reads both back; starts over after any failure.
    async fn write(self, social_worker: String, recruiter: String) {
        let mut round = 0;
        while !self.stop.load(Ordering::SeqCst) {
            round += 1;
            let tag = format!("burst-{}-{round}", self.n);
            let name = format!("Burst {}-{round}", self.n);

            let child = Writes {
                entity_type: "Child",
                name: name.clone(),
                create: (
                    CREATE_CHILD,
                    "createChild",
                    json!({
                        "legalName": format!("{name} Testchild"),
                        "dateOfBirth": "2021-02-03",
                        "profileName": name,
                        "gender": "MALE",
                        "enteredCareOn": "2022-01-10",
                    }),
                ),
                created: Effect::ChildCreated,
                change: (
                    MILESTONES,
                    "recordChildMilestones",
                    "id",
                    json!({ "adoptionPlanOn": "2022-03-01" }),
                ),
                changed: Effect::AdoptionPlanRecorded,
            };
            let Some(child) = self.create_and_change(&tag, &social_worker, child).await else {
                continue;
            };
            let household = Writes {
                entity_type: "Household",
                name: name.clone(),
                create: (
                    CREATE_HOUSEHOLD,
                    "createHousehold",
                    json!({
                        "applicantOneName": format!("{name} Applicant"),
                        "address": "1 Synthetic Street",
                        "profileName": name,
                        "channel": "WEBSITE",
                        "enquiryOn": "2023-01-05",
                    }),
                ),
                created: Effect::HouseholdCreated,
                change: (
                    RECORD_EVENT,
                    "recordRecruitmentEvent",
                    "householdId",
                    json!({ "stage": "STAGE_ONE_STARTED", "occurredOn": "2023-02-01" }),
                ),
                changed: Effect::StageOneStarted,
            };
            let Some(household) = self.create_and_change(&tag, &recruiter, household).await else {
                continue;
            };

            for (token, query, entity_type, id) in [
                (&social_worker, CHILD, "Child", child),
                (&recruiter, HOUSEHOLD, "Household", household),
            ] {
                let request_id = format!("{tag}-read-{}", entity_type.to_lowercase());
                let variables = json!({ "id": encode_id(entity_type, id) });
                if self
                    .post(token, &request_id, query, variables)
                    .await
                    .is_some()
                {
                    self.acknowledge(
                        request_id,
                        vec![("VIEW", entity_type, Some(id))],
                        Effect::Read,
                    );
                }
            }
        }
    }

    /// Until stopped: searches alder's children, each search audited as a SEARCH and a
    /// VIEW of every child on the page (many events through the batcher at once).
    async fn search(self, manager: String) {
        let mut round = 0;
        while !self.stop.load(Ordering::SeqCst) {
            round += 1;
            let request_id = format!("burst-{}-{round}-search", self.n);
            let Some(data) = self
                .post(&manager, &request_id, SEARCH_CHILDREN, json!({}))
                .await
            else {
                continue;
            };
            let edges = data["children"]["edges"].as_array().expect("edges");
            assert!(!edges.is_empty(), "the demo has alder children: {data}");
            let mut audit = vec![("SEARCH", "Child", None)];
            audit.extend(
                edges
                    .iter()
                    .map(|e| ("VIEW", "Child", Some(id_at(e, "/node/id")))),
            );
            self.acknowledge(request_id, audit, Effect::Read);
        }
    }
}

/// Clients writing at once in the burst, and clients searching.
const BURST_WRITERS: usize = 6;
const BURST_SEARCHERS: usize = 2;
/// Writes acknowledged before SIGTERM is sent.
const WRITES_BEFORE_SIGNAL: usize = 40;

/// SIGTERM in the middle of a burst of writes and reads on `backend`, with a subscription
/// open: the process closes the subscription, exits 0, and every acknowledged write, with
/// its audit event, and every audit event of an acknowledged read, is in the database.
async fn sigterm_during_a_burst(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (database_url, mut server) = demo_server(backend, &dir, "burst.db").await;
    let social_worker = role_token("alder", "SOCIAL_WORKER");
    let recruiter = role_token("alder", "RECRUITMENT_OFFICER");
    let manager = role_token("alder", "MANAGER");
    let mut subscriber =
        notifications_subscriber(&server, &role_token("alder", "FAMILY_FINDER")).await;

    let tally = Arc::new(Tally::default());
    let signalled = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let client = |n| BurstClient {
        n,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client"),
        address: server.address.clone(),
        tally: tally.clone(),
        signalled: signalled.clone(),
        stop: stop.clone(),
    };
    let mut clients = Vec::new();
    for n in 0..BURST_WRITERS {
        clients.push(tokio::spawn(
            client(n).write(social_worker.clone(), recruiter.clone()),
        ));
    }
    for n in BURST_WRITERS..BURST_WRITERS + BURST_SEARCHERS {
        clients.push(tokio::spawn(client(n).search(manager.clone())));
    }

    let burst_going = within(Duration::from_secs(60), || async {
        tally.writes.load(Ordering::SeqCst) >= WRITES_BEFORE_SIGNAL
    })
    .await;
    assert!(
        burst_going.is_some(),
        "only {} writes acknowledged in a minute; errors: {:?}",
        tally.writes.load(Ordering::SeqCst),
        tally.errors.lock().expect("tally")
    );
    signalled.store(true, Ordering::SeqCst);
    server.signal("TERM");
    let signalled_at = Instant::now();
    let status = server.wait_for_exit(crate::process::EXIT_LIMIT).await;
    let exit_took = signalled_at.elapsed();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        tokio::time::timeout(Duration::from_secs(60), client)
            .await
            .expect("a burst client stops once the server is gone")
            .expect("a burst client does not panic");
    }
    assert!(
        status.success(),
        "SIGTERM stops the server with exit status 0, got {status}:\n{}",
        server.log_tail(40)
    );
    assert_eq!(
        subscriber.close_code(Duration::from_secs(5)).await,
        Some(1001),
        "the subscription is closed as the server goes away"
    );

    let acknowledged = std::mem::take(&mut *tally.acknowledged.lock().expect("tally"));
    let writes = acknowledged.iter().filter(|a| a.is_write()).count();
    println!(
        "{backend:?}: exited {exit_took:?} after SIGTERM; acknowledged {writes} writes and {} reads \
         ({} after SIGTERM); {} unanswered; errors {:?}",
        acknowledged.len() - writes,
        tally.after_signal.load(Ordering::SeqCst),
        tally.unanswered.load(Ordering::SeqCst),
        tally.errors.lock().expect("tally"),
    );

    let missing = missing_from_database(&database_url, &acknowledged).await;
    assert!(
        missing.is_empty(),
        "{} things missing from the database after SIGTERM, of {} acknowledged operations:\n{}\n\
         server log:\n{}",
        missing.len(),
        acknowledged.len(),
        missing.join("\n"),
        server.log_tail(30)
    );
}

/// What of `acknowledged` the database at `database_url` lacks, one line each.
async fn missing_from_database(database_url: &str, acknowledged: &[Acknowledged]) -> Vec<String> {
    let db = Database::connect(database_url)
        .await
        .expect("open the database after the server exited");
    let children: HashMap<i64, child::Model> = child::Entity::find()
        .filter(child::Column::ProfileName.starts_with("Burst "))
        .all(&db)
        .await
        .expect("children")
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let households: HashMap<i64, household::Model> = household::Entity::find()
        .filter(household::Column::ProfileName.starts_with("Burst "))
        .all(&db)
        .await
        .expect("households")
        .into_iter()
        .map(|h| (h.id, h))
        .collect();
    let stages: HashSet<(i64, String)> = recruitment_event::Entity::find()
        .filter(recruitment_event::Column::HouseholdId.is_in(households.keys().copied()))
        .all(&db)
        .await
        .expect("recruitment events")
        .into_iter()
        .map(|e| (e.household_id, e.stage))
        .collect();
    let mut audited: HashMap<(String, String, String, Option<i64>), usize> = HashMap::new();
    for e in audit_event::Entity::find()
        .filter(audit_event::Column::RequestId.starts_with("burst-"))
        .all(&db)
        .await
        .expect("audit events")
    {
        *audited
            .entry((e.request_id, e.action, e.entity_type, e.entity_id))
            .or_default() += 1;
    }
    db.close().await.ok();

    let plan_on = chrono::NaiveDate::from_ymd_opt(2022, 3, 1).expect("date");
    let mut missing = Vec::new();
    for ack in acknowledged {
        for &(action, entity_type, entity_id) in &ack.audit {
            let key = (
                ack.request_id.clone(),
                action.to_owned(),
                entity_type.to_owned(),
                entity_id,
            );
            let events = audited.get(&key).copied().unwrap_or(0);
            let expected = if ack.is_write() {
                1..=1
            } else {
                1..=usize::MAX
            };
            if !expected.contains(&events) {
                missing.push(format!(
                    "{}: {events} audit events {action} {entity_type} {entity_id:?} (expected {expected:?})",
                    ack.request_id,
                ));
            }
        }
        let present = match &ack.effect {
            Effect::ChildCreated(id, name) => {
                children.get(id).is_some_and(|c| &c.profile_name == name)
            }
            Effect::AdoptionPlanRecorded(id, version) => children.get(id).is_some_and(|c| {
                c.adoption_plan_on == Some(plan_on) && i64::from(c.version) >= *version
            }),
            Effect::HouseholdCreated(id, name) => {
                households.get(id).is_some_and(|h| &h.profile_name == name)
                    && stages.contains(&(*id, "ENQUIRY".into()))
            }
            Effect::StageOneStarted(id, version) => {
                households
                    .get(id)
                    .is_some_and(|h| i64::from(h.version) >= *version)
                    && stages.contains(&(*id, "STAGE_ONE_STARTED".into()))
            }
            Effect::Read => true,
        };
        if !present {
            missing.push(format!(
                "{}: {:?} not in the database",
                ack.request_id, ack.effect
            ));
        }
    }
    missing
}

mod sigterm_during_a_burst_of_writes_loses_nothing_acknowledged {
    use crate::helpers::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::sigterm_during_a_burst(Backend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::sigterm_during_a_burst(Backend::Postgres).await
    }
}

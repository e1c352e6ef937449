//! Several replicas sharing PostgreSQL and Redis (DESIGN §1): the report cache, session
//! revocation and rate limits hold across replicas, and a Redis outage degrades the service
//! without taking it down. Also the embedded mode (SQLite, in-process), where the same
//! features work in one process.
//!
//! The shared tests use the Redis of `TEST_REDIS_URL` (each pair of replicas under a key
//! prefix of its own) and fail without it. The outage test runs a `redis-server` of its own
//! (from `PATH`) on a free port, and stops and restarts it.
use std::time::Duration;

use entity::audit_event;
use permanence::infra::bucket::LeakyBucket;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, after_second_of, cost, create_child, error_code, spawn_replicas, test_config,
    test_redis_url, within,
};
use crate::process::OwnRedis;
use crate::shared::{
    self, REVOKE, SCORECARD, VIEWER, VIEWER_4, accepted, one_bucket_spent_from_both,
};

/// A small bucket, so that tests can run it dry: 40 points, one a second.
const SMALL_BUCKET: LeakyBucket = LeakyBucket {
    capacity: 40,
    leak_per_second: 1,
};

/// The scorecard's cohort as alder's manager sees it, and the cache status.
async fn scorecard(app: &TestApp) -> (u64, String) {
    shared::scorecard(app, &app.role("alder", "MANAGER")).await
}

/// Records an alder child's journey to an adoption order in 2023 (in the scorecard's
/// period) through `app`.
async fn record_adoption(app: &TestApp, name: &str) {
    let staff = (
        app.role("alder", "SOCIAL_WORKER"),
        app.role("alder", "DECISION_MAKER"),
    );
    let (id, v) = create_child(app, "alder", name, json!({ "enteredCareOn": "2022-01-10" })).await;
    shared::record_adoption(app, (&staff.0, &staff.1), &id, v).await;
}

fn admin(app: &TestApp) -> String {
    app.token_with("admin-1", "demo", &[], &["CONSORTIUM_ADMIN"])
}

/// Revokes `subject`'s sessions through `app`; the revocation instant as returned.
async fn revoke(app: &TestApp, subject: &str) -> String {
    shared::revoke(app, &admin(app), subject).await
}

async fn audited(app: &TestApp, entity_type: &str, action: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::EntityType.eq(entity_type))
        .filter(audit_event::Column::Action.eq(action))
        .count(&app.state.db)
        .await
        .expect("count audit events")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_on_one_replica_invalidates_a_cached_report_on_the_other() {
    let (a, b) = spawn_replicas(&test_redis_url(), None).await;
    assert_eq!(scorecard(&b).await, (0, "MISS".into()));
    assert_eq!(scorecard(&b).await, (0, "HIT".into()));
    assert_eq!(
        scorecard(&a).await,
        (0, "HIT".into()),
        "the cache is shared: B's result serves A"
    );
    // A board analyst sees the same authority from the quarter's publication: never B's
    // entry.
    a.publish("demo", "2024-06-30").await;
    let analyst = a.token_with("analyst-1", "demo", &[], &["BOARD_ANALYST"]);
    let body = b
        .gql(
            Some(&analyst),
            &SCORECARD.replace("2024-06-01", "2024-06-30").replace(
                "scorecard(",
                &format!(
                    "scorecard(authorityIds: [\"{}\"], ",
                    a.authority_id("alder")
                ),
            ),
            json!({}),
        )
        .await;
    assert_eq!(
        body["extensions"]["reportCache"][0]["status"], "PUBLISHED",
        "{body:#}"
    );

    record_adoption(&a, "Replica").await;
    assert_eq!(
        scorecard(&b).await,
        (1, "MISS".into()),
        "A's write made B's cached scorecard unreachable"
    );
    assert_eq!(scorecard(&a).await, (1, "HIT".into()));

    // Every run was audited, cached or not.
    a.flush_audit().await;
    b.flush_audit().await;
    assert_eq!(audited(&a, "Scorecard", "SEARCH").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_one_replica_is_enforced_on_the_other_within_a_second() {
    let (a, b) = spawn_replicas(&test_redis_url(), None).await;
    let token = a.role("alder", "FAMILY_FINDER");
    let other_consortium = a.token_with(
        "family_finder-alder",
        "other",
        &[("oak", &["FAMILY_FINDER"])],
        &[],
    );
    assert!(accepted(&b, &token).await);

    // Only consortium admins revoke.
    let body = a
        .gql(
            Some(&a.role("alder", "MANAGER")),
            REVOKE,
            json!({ "input": { "subject": "x" } }),
        )
        .await;
    assert_eq!(error_code(&body).as_deref(), Some("FORBIDDEN"));

    let revoked_at = revoke(&a, "family_finder-alder").await;
    assert!(
        !accepted(&a, &token).await,
        "refused at once where it was revoked"
    );
    let took = within(Duration::from_secs(1), || async {
        !accepted(&b, &token).await
    })
    .await
    .expect("the other replica refuses the token within a second");
    println!("revocation reached the other replica in {took:?}");
    assert!(
        accepted(&b, &other_consortium).await,
        "the same subject in another consortium is untouched"
    );

    // A token issued after the revocation is fine.
    after_second_of(&revoked_at).await;
    assert!(accepted(&b, &a.role("alder", "FAMILY_FINDER")).await);

    // A replica started later knows it from the database.
    let c = TestApp::spawn_with(b.config.clone(), Backend::Postgres, None, false).await;
    assert!(!accepted(&c, &token).await);

    a.flush_audit().await;
    assert_eq!(audited(&a, "Session", "UPDATE").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_shared_by_the_replicas() {
    let (a, b) = spawn_replicas(&test_redis_url(), Some(SMALL_BUCKET)).await;
    let token = a.role("alder", "SOCIAL_WORKER");
    one_bucket_spent_from_both(&a, &b, &token).await;

    // Spend the rest on A until it refuses…
    let mut refused = None;
    for _ in 0..40 {
        let body = a.gql(Some(&token), VIEWER, json!({})).await;
        if error_code(&body).is_some() {
            refused = Some(body);
            break;
        }
    }
    let refused = refused.expect("A refuses once the bucket is dry");
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("RATE_LIMITED"),
        "{refused:#}"
    );
    assert!(
        refused.get("data").is_none(),
        "a refused operation does not run"
    );
    assert!(refused["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() >= Some(1));
    // …and B refuses too (a costlier request, so a moment's leak cannot make room).
    let body = b.gql(Some(&token), VIEWER_4, json!({})).await;
    assert_eq!(
        error_code(&body).as_deref(),
        Some("RATE_LIMITED"),
        "{body:#}"
    );
    let retry = body["errors"][0]["extensions"]["retryAfterSeconds"]
        .as_u64()
        .expect("retryAfterSeconds");
    assert!((1..=5).contains(&retry), "{retry}");
    // Someone else is not affected.
    let other = b
        .gql(Some(&b.role("birch", "SOCIAL_WORKER")), VIEWER, json!({}))
        .await;
    assert!(other.get("errors").is_none(), "{other:#}");
    assert_eq!(cost(&other), (2, 38));
}

async fn ready(app: &TestApp) -> u16 {
    app.get("/readyz")
        .send()
        .await
        .expect("readyz")
        .status()
        .as_u16()
}

async fn wait_until_shared(apps: [&TestApp; 2]) {
    let back = within(Duration::from_secs(15), || async {
        apps.iter().all(|app| !app.state.shared.is_degraded())
    })
    .await;
    assert!(back.is_some(), "the replicas use Redis again by themselves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_degrades_the_service_and_it_recovers_by_itself() {
    let mut redis = OwnRedis::start();
    let bucket = LeakyBucket {
        capacity: 1000,
        leak_per_second: 1,
    };
    let (a, b) = spawn_replicas(&redis.url(), Some(bucket)).await;
    let ff = a.role("alder", "FAMILY_FINDER");
    revoke(&a, "family_finder-alder").await;
    assert_eq!(scorecard(&b).await, (0, "MISS".into()));
    assert_eq!(scorecard(&b).await, (0, "HIT".into()));

    // 1. Redis stops answering (its data intact): requests keep succeeding.
    redis.signal("STOP");
    let viewer = b
        .gql(Some(&b.role("birch", "MANAGER")), VIEWER, json!({}))
        .await;
    assert!(viewer.get("errors").is_none(), "{viewer:#}");
    assert!(
        viewer["extensions"]["cost"].is_object(),
        "rate limited in-process meanwhile"
    );
    assert_eq!(scorecard(&b).await, (0, "BYPASS".into()));
    record_adoption(&a, "During").await;
    assert_eq!(
        scorecard(&b).await,
        (1, "BYPASS".into()),
        "writes work, reads see them"
    );
    assert!(!accepted(&b, &ff).await, "known revocations stay enforced");
    let sw = a.role("alder", "SOCIAL_WORKER");
    revoke(&a, "social_worker-alder").await;
    assert!(
        within(Duration::from_secs(3), || async {
            !accepted(&b, &sw).await
        })
        .await
        .is_some(),
        "a revocation during the outage reaches the other replica through the database"
    );
    assert_eq!(ready(&a).await, 503, "/readyz reports Redis");
    assert!(a.state.shared.is_degraded() && b.state.shared.is_degraded());

    // 2. It answers again: the replicas pick it up without a restart, and the scorecard
    //    cached before the outage (cohort 0) is not served although Redis still holds it.
    redis.signal("CONT");
    wait_until_shared([&a, &b]).await;
    assert_eq!(ready(&a).await, 200);
    assert_eq!(
        scorecard(&b).await,
        (1, "MISS".into()),
        "no stale report after the outage"
    );
    assert_eq!(scorecard(&a).await, (1, "HIT".into()), "shared again");

    // 3. Redis goes away altogether, and comes back empty.
    redis.kill();
    assert_eq!(scorecard(&a).await.0, 1);
    assert!(
        within(Duration::from_secs(5), || async {
            a.state.shared.is_degraded()
        })
        .await
        .is_some()
    );
    assert!(accepted(&b, &a.role("alder", "DECISION_MAKER")).await);
    redis.restart();
    wait_until_shared([&a, &b]).await;
    assert_eq!(scorecard(&a).await, (1, "MISS".into()));
    assert_eq!(
        scorecard(&b).await,
        (1, "HIT".into()),
        "the cache is shared again"
    );
    record_adoption(&b, "After").await;
    assert_eq!(
        scorecard(&a).await,
        (2, "MISS".into()),
        "writes invalidate across replicas again"
    );
    // Rate limits are shared again: B sees what A spent.
    let token = a.role("cedar", "SOCIAL_WORKER");
    let (_, after_a) = cost(&a.gql(Some(&token), VIEWER, json!({})).await);
    let (_, after_b) = cost(&b.gql(Some(&token), VIEWER, json!({})).await);
    assert!(after_b < after_a, "{after_a} then {after_b}");
    assert!(!accepted(&a, &ff).await && !accepted(&b, &sw).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_one_process_revocation_rate_limits_and_the_cache_work_without_redis() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    let mut config = test_config(&url);
    config.rate_limit = Some(SMALL_BUCKET);
    let mut app = TestApp::spawn_with(config.clone(), Backend::Sqlite, None, true).await;
    assert_eq!(app.state.shared.backend(), "in-process");
    assert_eq!(ready(&app).await, 200);

    // The report cache, invalidated by a write.
    assert_eq!(scorecard(&app).await, (0, "MISS".into()));
    assert_eq!(scorecard(&app).await, (0, "HIT".into()));
    record_adoption(&app, "Local").await;
    assert_eq!(scorecard(&app).await, (1, "MISS".into()));

    // Revocation.
    let token = app.role("birch", "FAMILY_FINDER");
    assert!(accepted(&app, &token).await);
    revoke(&app, "family_finder-birch").await;
    assert!(!accepted(&app, &token).await);

    // The rate limit.
    let other = app.role("cedar", "MANAGER");
    let mut codes = Vec::new();
    for _ in 0..25 {
        let body = app.gql(Some(&other), VIEWER, json!({})).await;
        codes.push(error_code(&body));
        if let Some(code) = error_code(&body) {
            assert_eq!(code, "RATE_LIMITED");
            assert!(body["errors"][0]["extensions"]["retryAfterSeconds"].as_u64() >= Some(1));
            assert_eq!(body["extensions"]["cost"]["limit"], 40);
            break;
        }
    }
    assert_eq!(
        codes.last(),
        Some(&Some("RATE_LIMITED".into())),
        "{codes:?}"
    );
    assert!(
        codes.len() >= 20,
        "40 points allow 20 two-point operations: {codes:?}"
    );

    // A restarted process still refuses the revoked token.
    app.stop().await;
    let restarted = TestApp::spawn_with(config, Backend::Sqlite, None, false).await;
    assert!(!accepted(&restarted, &token).await);
}

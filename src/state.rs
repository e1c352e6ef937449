//! The state every request can reach ([`AppState`]): its start-up (connect, migrate, load
//! the directory and the revocations, start the audit writer and the shared store), the
//! shutdown signal it carries, and the counts of what is open on this replica (websockets,
//! subscriptions).
//!
//! Below `app` and `graphql`, which both use it: it imports neither (see `crate::layering`).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::watch;

use crate::config::Config;
use crate::infra::audit::AuditSink;
use crate::infra::metrics::SUBSCRIPTIONS_OPEN;
use crate::infra::revocations::{self, Revocations};
use crate::infra::shared::SharedStore;
use crate::store::{self, tenancy::DirectoryCache};

/// What every request can reach.
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Config,
    pub directory: DirectoryCache,
    pub audit: AuditSink,
    /// Cache, counters, rate-limit buckets and pub/sub: Redis with `REDIS_URL`, else
    /// in-process.
    pub shared: SharedStore,
    /// The session revocations this replica enforces, kept current from the database and
    /// the shared pub/sub.
    pub revocations: Arc<Revocations>,
    /// Each consortium's matching pool in memory, reloaded when its data version moves.
    pub pools: store::pool::PoolCache,
    /// Each consortium's recruitment journeys in memory, likewise.
    pub journeys: store::recruitment::JourneyCache,
    /// Total counts of the register lists, per consortium data version.
    pub counts: store::lists::CountCache,
    /// The consortiums' publications read so far.
    pub publications: store::publications::PublicationCache,
    /// The `notifications` subscriptions open on this replica.
    pub subscriptions: OpenSubscriptions,
    /// Turns true when the server starts shutting down: websockets close and the
    /// background sweeps stop.
    pub stopping: watch::Sender<bool>,
    /// The reading statements (`SELECT`) run on the serving pool since start-up, by every
    /// task (requests, the revocation poll, the sweeps): what the query-count test reads.
    pub reads: Arc<AtomicU64>,
    /// Websockets open on this replica (the shutdown waits for them to close).
    sockets: Arc<watch::Sender<usize>>,
}

impl AppState {
    /// Connects, migrates, loads the directory and the session revocations, and starts the
    /// audit writer and the shared store (an unreachable Redis is not fatal: the service
    /// starts degraded and picks Redis up when it answers). The tracking-alert sweeps are
    /// started by [`crate::app::Application::build`], which owns the GraphQL side.
    pub async fn start(config: Config) -> anyhow::Result<Arc<AppState>> {
        // Migrations run on a pool of their own, free of the serving statement timeout.
        let migrating = store::connect(&config.database_url).await?;
        store::migrate(&migrating).await?;
        migrating.close().await?;
        let mut db = store::connect_with(
            &config.database_url,
            config.statement_timeout,
            config.availability.db_acquire_timeout,
        )
        .await?;
        let reads = Arc::new(AtomicU64::new(0));
        let counted = reads.clone();
        db.set_metric_callback(move |info| {
            let sql = info.statement.sql.trim_start();
            if sql
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case("select"))
            {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        let directory = DirectoryCache::default();
        directory.reload(&db).await?;
        let audit = AuditSink::start(db.clone());
        let shared =
            SharedStore::start(config.redis_url.as_deref(), &config.redis_key_prefix).await?;
        let revocations = revocations::start(db.clone(), &shared).await?;
        let state = Arc::new(AppState {
            db,
            config,
            directory,
            audit,
            shared,
            revocations,
            pools: Default::default(),
            journeys: Default::default(),
            counts: Default::default(),
            publications: Default::default(),
            subscriptions: OpenSubscriptions::default(),
            stopping: watch::Sender::new(false),
            reads,
            sockets: Arc::new(watch::Sender::new(0)),
        });
        Ok(state)
    }

    /// How many websockets are open on this replica.
    pub fn open_sockets(&self) -> usize {
        *self.sockets.borrow()
    }

    /// Counts a websocket as open until the guard is dropped.
    pub fn socket_opened(&self) -> SocketGuard {
        self.sockets.send_modify(|n| *n += 1);
        SocketGuard(self.sockets.clone())
    }

    /// Resolves once no websocket is open on this replica.
    pub async fn sockets_closed(&self) {
        let mut sockets = self.sockets.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = sockets.wait_for(|n| *n == 0).await;
    }
}

/// An open websocket, counted until dropped.
pub struct SocketGuard(Arc<watch::Sender<usize>>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Resolves once `stopping` is true (or can no longer change).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// The ticks of a background task: at once, then every period (a late tick is not made
/// up), until the server stops or its state is dropped.
pub struct Ticks {
    state: Weak<AppState>,
    stopping: watch::Receiver<bool>,
    tick: tokio::time::Interval,
}

impl Ticks {
    pub fn every(
        state: Weak<AppState>,
        stopping: watch::Receiver<bool>,
        period: Duration,
    ) -> Ticks {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks {
            state,
            stopping,
            tick,
        }
    }

    /// The state at the next tick; `None` once the server stops or the state is gone.
    pub async fn next(&mut self) -> Option<Arc<AppState>> {
        tokio::select! {
            _ = self.tick.tick() => self.state.upgrade(),
            _ = stopped(&mut self.stopping) => None,
        }
    }
}

/// The open subscriptions of this replica (also in the metrics, process-wide).
#[derive(Debug)]
pub struct OpenSubscriptions {
    count: Arc<watch::Sender<usize>>,
}

impl Default for OpenSubscriptions {
    fn default() -> Self {
        OpenSubscriptions {
            count: Arc::new(watch::Sender::new(0)),
        }
    }
}

impl OpenSubscriptions {
    /// How many are open now.
    pub fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// Resolves once at least `n` are open.
    pub async fn wait_for(&self, n: usize) {
        self.wait_until(|open| open >= n).await;
    }

    /// Resolves once at most `n` are open.
    pub async fn wait_for_at_most(&self, n: usize) {
        self.wait_until(|open| open <= n).await;
    }

    async fn wait_until(&self, mut condition: impl FnMut(usize) -> bool) {
        let mut rx = self.count.subscribe();
        // The sender lives as long as `self`: the wait cannot fail.
        let _ = rx.wait_for(|open| condition(*open)).await;
    }

    /// Counts one more subscription as open until the guard is dropped.
    pub fn open(&self) -> OpenSubscription {
        self.count.send_modify(|n| *n += 1);
        metrics::gauge!(SUBSCRIPTIONS_OPEN).increment(1.0);
        OpenSubscription {
            count: self.count.clone(),
        }
    }
}

/// Counts one subscription as open until dropped.
pub struct OpenSubscription {
    count: Arc<watch::Sender<usize>>,
}

impl Drop for OpenSubscription {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
        metrics::gauge!(SUBSCRIPTIONS_OPEN).decrement(1.0);
    }
}

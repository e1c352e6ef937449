//! Per-consortium snapshots of data held in memory and checked against the database before
//! every use: the matching pool ([`super::pool`]) and the recruitment journeys
//! ([`super::recruitment`]).
//!
//! **Freshness.** Every write transaction to a consortium's registers bumps its data version
//! first (`store::begin_consortium_write`), and the database stamps every row a snapshot is
//! made of with the version of the transaction that wrote it (migrations 4 and 5). Each use
//! reads the committed version (one primary-key read); when it is newer than the snapshot
//! held, the snapshot is brought up to date by reading only the rows stamped after it, so
//! a read never misses a committed write, whichever replica made it, and no Redis is
//! involved. The first use in a consortium reads it whole. Concurrent requests that find the
//! snapshot stale wait for one refresh. Rows are never deleted, so changed rows are all a
//! refresh needs.
//!
//! A write made outside the service (a hand-written SQL fix) must bump the version itself,
//! first, in its transaction: `UPDATE consortium SET data_version = data_version + 1`.
//!
//! Nothing here decides who may see what: snapshots hold the whole consortium, and callers
//! select from them what the policy allows, as the SQL scopes do.
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    TransactionTrait,
};

/// Data of one consortium as of a data version.
pub trait Snapshot: Send + Sync + Sized + 'static {
    /// Its name in logs and in the `snapshot` label of the metric.
    const NAME: &'static str;

    /// The consortium's data version the snapshot was read at.
    fn version(&self) -> i64;

    /// Reads the consortium's data whole.
    fn load(
        db: &DatabaseConnection,
        consortium_id: i64,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send;

    /// Brings `old` up to date with the rows written since its version.
    fn refresh(
        db: &DatabaseConnection,
        consortium_id: i64,
        old: &Self,
    ) -> impl Future<Output = Result<Self, DbErr>> + Send;

    /// How big it is, for the log line of a load or refresh.
    fn size(&self) -> usize;
}

/// One slot per consortium: the snapshot in use, and a lock taken to reload it.
struct Slot<S> {
    current: Mutex<Option<Arc<S>>>,
    reload: tokio::sync::Mutex<()>,
}

impl<S> Default for Slot<S> {
    fn default() -> Self {
        Slot {
            current: Mutex::new(None),
            reload: tokio::sync::Mutex::new(()),
        }
    }
}

impl<S: Snapshot> Slot<S> {
    /// The snapshot held, if it is at least at `version`.
    fn at_least(&self, version: i64) -> Option<Arc<S>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|s| s.version() >= version).cloned()
    }
}

/// This replica's snapshots of one kind, one per consortium asked about.
pub struct SnapshotCache<S> {
    slots: Mutex<HashMap<i64, Arc<Slot<S>>>>,
}

impl<S> Default for SnapshotCache<S> {
    fn default() -> Self {
        SnapshotCache {
            slots: Mutex::new(HashMap::new()),
        }
    }
}

impl<S: Snapshot> SnapshotCache<S> {
    /// Consortium `consortium_id`'s snapshot as of its committed data version now.
    pub async fn get(&self, db: &DatabaseConnection, consortium_id: i64) -> Result<Arc<S>, DbErr> {
        let version = super::data_version(db, consortium_id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("consortium".into()))?;
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(consortium_id)
            .or_default()
            .clone();
        if let Some(snapshot) = slot.at_least(version) {
            count(S::NAME, "hit");
            return Ok(snapshot);
        }
        let _reloading = slot.reload.lock().await;
        // Someone else may have reloaded while this request waited.
        if let Some(snapshot) = slot.at_least(version) {
            return Ok(snapshot);
        }
        let started = std::time::Instant::now();
        let held = slot
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (snapshot, outcome) = match held {
            Some(old) => (
                Arc::new(S::refresh(db, consortium_id, &old).await?),
                "refresh",
            ),
            None => (Arc::new(S::load(db, consortium_id).await?), "load"),
        };
        count(S::NAME, outcome);
        tracing::debug!(
            snapshot = S::NAME,
            consortium_id,
            version = snapshot.version(),
            size = snapshot.size(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            outcome,
            "snapshot read"
        );
        *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }
}

fn count(snapshot: &'static str, outcome: &'static str) {
    metrics::counter!(
        crate::infra::metrics::SNAPSHOT_READS,
        "snapshot" => snapshot,
        "outcome" => outcome
    )
    .increment(1);
}

/// A read-only transaction in which every statement sees the same committed state: a
/// snapshot and the version it is filed under are read in one.
pub async fn read_only(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    // SQLite reads a WAL snapshot in any transaction (and warns about these settings).
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}

/// The committed data version of the consortium, within `txn`.
pub async fn version_in(txn: &DatabaseTransaction, consortium_id: i64) -> Result<i64, DbErr> {
    super::data_version(txn, consortium_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("consortium".into()))
}

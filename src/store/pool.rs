//! The matching pool of each consortium, held in memory and checked against the database
//! before every use.
//!
//! Matching weighs every approved household of a consortium (100,000 of them at national
//! scale) against a child, or every waiting child against a household. Reading that many
//! rows per query costs hundreds of milliseconds on either database; holding them costs a
//! few megabytes. So each replica keeps a [`PoolSnapshot`] per consortium: the households
//! in the pool (as [`Candidate`]s) and the waiting and pooled children, with sibling groups
//! and the link holds that matching reads.
//!
//! **Freshness.** Every write transaction to a consortium's registers bumps its data version
//! first (`store::begin_consortium_write`). Each use reads the committed version (one
//! primary-key read) and reloads the snapshot when it is newer than the one held, so a
//! suggestion never misses a committed write, whichever replica made it, and no Redis is
//! involved. A snapshot is read in one read-only transaction (repeatable read on
//! PostgreSQL, a WAL snapshot on SQLite) together with the version it is filed under.
//! Concurrent requests that find the snapshot stale wait for one reload.
//!
//! Nothing here decides who may see what: snapshots hold the whole consortium, and callers
//! select from them what the policy allows (shared with the pool, or of the caller's own
//! authorities), as the SQL scopes do.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use entity::{child, sibling_group};
use sea_orm::{AccessMode, DatabaseConnection, DbBackend, DbErr, IsolationLevel, TransactionTrait};

use super::matching::{self as matching_store, PoolHousehold};
use crate::domain::matching::Candidate;

/// A waiting or pooled child, with how it reached the snapshot.
#[derive(Clone, Debug)]
pub struct PoolChild {
    pub child: child::Model,
    /// In the consortium pool (waiting, unmatched, shared by its authority): anyone who
    /// matches may be offered it.
    pub pooled: bool,
    /// Waiting (whether shared or not): its own authority's staff may be offered it.
    pub waiting: bool,
}

/// One consortium's matching pool as of `version`.
#[derive(Debug, Default)]
pub struct PoolSnapshot {
    /// The consortium's data version the snapshot was read at.
    pub version: i64,
    /// Households approved, available and not on hold, by id.
    pub households: Vec<PoolHousehold>,
    /// Waiting and pooled children, by id.
    pub children: Vec<PoolChild>,
    /// The sibling groups of those children.
    pub groups: HashMap<i64, sibling_group::Model>,
    /// How many children each of those groups has in all.
    pub group_sizes: HashMap<i64, i64>,
    /// Children held by a `MATCHED` or `PLACED` link.
    pub held_children: HashSet<i64>,
}

impl PoolSnapshot {
    /// The households a caller may be offered: shared with the pool, or of `own`
    /// authorities (whose households the caller reads in full).
    pub fn households_for<'a>(&'a self, own: &'a [i64]) -> impl Iterator<Item = &'a Candidate> {
        self.households
            .iter()
            .filter(|h| h.shared || own.contains(&h.candidate.authority_id))
            .map(|h| &h.candidate)
    }

    /// The children a caller may be offered: pooled, or waiting in `own` authorities
    /// (whose children the caller reads in full).
    pub fn children_for<'a>(&'a self, own: &'a [i64]) -> impl Iterator<Item = &'a child::Model> {
        self.children
            .iter()
            .filter(|c| c.pooled || (c.waiting && own.contains(&c.child.authority_id)))
            .map(|c| &c.child)
    }
}

/// One slot per consortium: the snapshot in use, and a lock taken to reload it.
#[derive(Default)]
struct Slot {
    current: Mutex<Option<Arc<PoolSnapshot>>>,
    reload: tokio::sync::Mutex<()>,
}

impl Slot {
    /// The snapshot held, if it is at least at `version`.
    fn at_least(&self, version: i64) -> Option<Arc<PoolSnapshot>> {
        let current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|s| s.version >= version).cloned()
    }
}

/// The snapshots of this replica, one per consortium asked about.
#[derive(Default)]
pub struct PoolCache {
    slots: Mutex<HashMap<i64, Arc<Slot>>>,
}

impl PoolCache {
    /// Consortium `consortium_id`'s pool as of its committed data version now.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        consortium_id: i64,
    ) -> Result<Arc<PoolSnapshot>, DbErr> {
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
            metrics::counter!(crate::infra::metrics::POOL_SNAPSHOTS, "outcome" => "hit")
                .increment(1);
            return Ok(snapshot);
        }
        let _reloading = slot.reload.lock().await;
        // Someone else may have reloaded while this request waited.
        if let Some(snapshot) = slot.at_least(version) {
            return Ok(snapshot);
        }
        let started = std::time::Instant::now();
        let snapshot = Arc::new(load(db, consortium_id).await?);
        metrics::counter!(crate::infra::metrics::POOL_SNAPSHOTS, "outcome" => "load").increment(1);
        tracing::debug!(
            consortium_id,
            version = snapshot.version,
            households = snapshot.households.len(),
            children = snapshot.children.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "matching pool loaded"
        );
        *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }
}

/// Reads a consortium's pool and its data version in one read-only transaction.
async fn load(db: &DatabaseConnection, consortium_id: i64) -> Result<PoolSnapshot, DbErr> {
    // SQLite reads a WAL snapshot in any transaction (and warns about these settings).
    let txn = match db.get_database_backend() {
        DbBackend::Postgres => {
            db.begin_with_config(
                Some(IsolationLevel::RepeatableRead),
                Some(AccessMode::ReadOnly),
            )
            .await?
        }
        _ => db.begin().await?,
    };
    let version = super::data_version(&txn, consortium_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("consortium".into()))?;
    let households = matching_store::pool_households(&txn, consortium_id).await?;
    let children = matching_store::waiting_and_pooled_children(&txn, consortium_id).await?;
    let mut group_ids: Vec<i64> = children
        .iter()
        .filter_map(|c| c.child.sibling_group_id)
        .collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let groups = matching_store::groups(&txn, group_ids.clone())
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    let group_sizes = if group_ids.is_empty() {
        HashMap::new()
    } else {
        super::children::group_sizes(&txn, group_ids)
            .await?
            .into_iter()
            .collect()
    };
    let held_children = matching_store::held_children(&txn, consortium_id)
        .await?
        .into_iter()
        .collect();
    txn.commit().await?;
    Ok(PoolSnapshot {
        version,
        households,
        children,
        groups,
        group_sizes,
        held_children,
    })
}

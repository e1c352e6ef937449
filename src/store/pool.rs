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
//! first (`store::begin_consortium_write`), and the database stamps every child and
//! household row written with that version (migration 4). Each use reads the committed
//! version (one primary-key read); when it is newer than the snapshot held, the snapshot is
//! brought up to date by reading only the rows stamped after it (and the link holds,
//! which are few), so a suggestion never misses a committed write, whichever replica made
//! it, and no Redis is involved. The first use in a consortium reads it whole. Each read
//! runs in one read-only transaction (repeatable read on PostgreSQL, a WAL snapshot on
//! SQLite) together with the version it is filed under. Concurrent requests that find the
//! snapshot stale wait for one refresh. Rows are never deleted, so changed rows are all a
//! refresh needs.
//!
//! Nothing here decides who may see what: snapshots hold the whole consortium, and callers
//! select from them what the policy allows (shared with the pool, or of the caller's own
//! authorities), as the SQL scopes do.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use entity::{child, sibling_group};
use sea_orm::{
    AccessMode, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, IsolationLevel,
    TransactionTrait,
};

use super::matching::{self as matching_store, PoolHousehold};
use crate::domain::matching::Candidate;

/// A waiting or pooled child, with how it reached the snapshot.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolChild {
    pub child: child::Model,
    /// In the consortium pool (waiting, unmatched, shared by its authority): anyone who
    /// matches may be offered it.
    pub pooled: bool,
    /// Waiting (whether shared or not): its own authority's staff may be offered it.
    pub waiting: bool,
}

/// One consortium's matching pool as of `version`.
#[derive(Debug, Default, PartialEq)]
pub struct PoolSnapshot {
    /// The consortium's data version the snapshot was read at.
    pub version: i64,
    /// Households approved, available and not on hold, by id.
    pub households: Vec<Arc<PoolHousehold>>,
    /// Waiting and pooled children, by id.
    pub children: Vec<Arc<PoolChild>>,
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
        let held = slot
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (snapshot, outcome) = match held {
            Some(old) => (Arc::new(refresh(db, consortium_id, &old).await?), "refresh"),
            None => (Arc::new(load(db, consortium_id).await?), "load"),
        };
        metrics::counter!(crate::infra::metrics::POOL_SNAPSHOTS, "outcome" => outcome).increment(1);
        tracing::debug!(
            consortium_id,
            version = snapshot.version,
            households = snapshot.households.len(),
            children = snapshot.children.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            outcome,
            "matching pool read"
        );
        *slot.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        Ok(snapshot)
    }
}

/// A read-only transaction in which every statement sees the same committed state.
async fn read_only(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
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
async fn version_in(txn: &DatabaseTransaction, consortium_id: i64) -> Result<i64, DbErr> {
    super::data_version(txn, consortium_id)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("consortium".into()))
}

/// Reads a consortium's pool whole.
async fn load(db: &DatabaseConnection, consortium_id: i64) -> Result<PoolSnapshot, DbErr> {
    let txn = read_only(db).await?;
    let version = version_in(&txn, consortium_id).await?;
    let households = matching_store::pool_households(&txn, consortium_id, None).await?;
    let (_, children) =
        matching_store::waiting_and_pooled_children(&txn, consortium_id, None).await?;
    let snapshot = complete(
        &txn,
        consortium_id,
        version,
        households.into_iter().map(Arc::new).collect(),
        children.into_iter().map(Arc::new).collect(),
    )
    .await?;
    txn.commit().await?;
    Ok(snapshot)
}

/// Brings `old` up to date: the rows written since its version replace (or join, or
/// leave) the ones it holds.
async fn refresh(
    db: &DatabaseConnection,
    consortium_id: i64,
    old: &PoolSnapshot,
) -> Result<PoolSnapshot, DbErr> {
    let txn = read_only(db).await?;
    let version = version_in(&txn, consortium_id).await?;
    let written = matching_store::pool_households(&txn, consortium_id, Some(old.version)).await?;
    let written_ids: HashSet<i64> = written.iter().map(|h| h.candidate.id).collect();
    let mut households: Vec<Arc<PoolHousehold>> = old
        .households
        .iter()
        .filter(|h| !written_ids.contains(&h.candidate.id))
        .cloned()
        .chain(
            written
                .into_iter()
                .filter(|h| h.candidate.approved && h.candidate.available)
                .map(Arc::new),
        )
        .collect();
    households.sort_unstable_by_key(|h| h.candidate.id);

    let (written_ids, written) =
        matching_store::waiting_and_pooled_children(&txn, consortium_id, Some(old.version)).await?;
    let written_ids: HashSet<i64> = written_ids.into_iter().collect();
    let mut children: Vec<Arc<PoolChild>> = old
        .children
        .iter()
        .filter(|c| !written_ids.contains(&c.child.id))
        .cloned()
        .chain(written.into_iter().map(Arc::new))
        .collect();
    children.sort_unstable_by_key(|c| c.child.id);

    let snapshot = complete(&txn, consortium_id, version, households, children).await?;
    txn.commit().await?;
    Ok(snapshot)
}

/// A snapshot of these households and children, with what is read afresh every time: the
/// link holds (a link step writes no household or child row when it only holds them),
/// and the sibling groups of the children with their sizes.
async fn complete(
    txn: &DatabaseTransaction,
    consortium_id: i64,
    version: i64,
    mut households: Vec<Arc<PoolHousehold>>,
    children: Vec<Arc<PoolChild>>,
) -> Result<PoolSnapshot, DbErr> {
    let held: HashSet<i64> = matching_store::held_households(txn, consortium_id)
        .await?
        .into_iter()
        .collect();
    for h in &mut households {
        let is_held = held.contains(&h.candidate.id);
        if h.candidate.already_matched != is_held {
            Arc::make_mut(h).candidate.already_matched = is_held;
        }
    }
    let mut group_ids: Vec<i64> = children
        .iter()
        .filter_map(|c| c.child.sibling_group_id)
        .collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let groups = matching_store::groups(txn, group_ids.clone())
        .await?
        .into_iter()
        .map(|g| (g.id, g))
        .collect();
    let group_sizes = if group_ids.is_empty() {
        HashMap::new()
    } else {
        super::children::group_sizes(txn, group_ids)
            .await?
            .into_iter()
            .collect()
    };
    let held_children = matching_store::held_children(txn, consortium_id)
        .await?
        .into_iter()
        .collect();
    Ok(PoolSnapshot {
        version,
        households,
        children,
        groups,
        group_sizes,
        held_children,
    })
}

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
//! The snapshot is kept fresh as [`super::snapshots`] describes; besides the household and
//! child rows written since, each refresh reads the link holds afresh (they are few).
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use entity::{child, sibling_group};
use sea_orm::{DatabaseConnection, DatabaseTransaction, DbErr};

use super::matching::{self as matching_store, PoolHousehold};
use super::snapshots::{Snapshot, SnapshotCache, read_only, version_in};
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

/// This replica's matching pools.
pub type PoolCache = SnapshotCache<PoolSnapshot>;

impl Snapshot for PoolSnapshot {
    const NAME: &'static str = "matching_pool";

    fn version(&self) -> i64 {
        self.version
    }

    async fn load(db: &DatabaseConnection, consortium_id: i64) -> Result<Self, DbErr> {
        load(db, consortium_id).await
    }

    async fn refresh(
        db: &DatabaseConnection,
        consortium_id: i64,
        old: &Self,
    ) -> Result<Self, DbErr> {
        refresh(db, consortium_id, old).await
    }

    fn size(&self) -> usize {
        self.households.len() + self.children.len()
    }
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

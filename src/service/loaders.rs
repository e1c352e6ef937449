//! Nested records loaded in batches: a page of children asking for their sibling groups,
//! a page of households asking for their events, a page of links asking for their
//! children and households each cost one statement per kind of record (see
//! [`crate::store::batch`]), not one per row.
//!
//! The loader is async-graphql's [`DataLoader`]: the loads a request's resolvers start
//! together are collected and read at once. It belongs to one operation's
//! [`RequestContext`] (made on first use, see [`PerRequest`]) and keeps no cache — it only
//! batches — so nothing it read for one request, or for an earlier event of a long-lived
//! subscription, is ever served again. Every read stays scoped to the consortium of the record asking for it;
//! the view checks and the `VIEW` audit events stay with the use cases here and in
//! [`super::links`], one event per record shown, as before.
//!
//! [`RequestContext`]: super::RequestContext
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader, NoCache};
use entity::{child, household, recruitment_event, sibling_group};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use futures_util::task::AtomicWaker;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;

use super::Service;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::store::batch;

/// Record `id` of consortium `consortium_id`, read as `R` says (one of the markers below:
/// which record, and what of it).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Key<R> {
    pub consortium_id: i64,
    pub id: i64,
    read: PhantomData<fn() -> R>,
}

impl<R> Key<R> {
    /// Record `id` of consortium `consortium_id`.
    pub fn new(consortium_id: i64, id: i64) -> Self {
        Key {
            consortium_id,
            id,
            read: PhantomData,
        }
    }
}

/// The values of a batch's ids, by id (an id with none is left out).
type Found<V> = Result<HashMap<i64, V>, DbErr>;

/// What a [`Key`] reads, and how a batch of ids of one consortium is read.
pub trait Read: Copy + Hash + Eq + Send + Sync + 'static {
    /// What one key reads.
    type Value: Clone + Send + Sync + 'static;

    /// Reads `ids` of consortium `consortium`.
    fn read(
        db: &DatabaseConnection,
        consortium: i64,
        ids: Vec<i64>,
    ) -> impl Future<Output = Found<Self::Value>> + Send;
}

/// A sibling group.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Group;

impl Read for Group {
    type Value = sibling_group::Model;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        let groups = batch::sibling_groups(db, consortium, &ids).await?;
        Ok(groups.into_iter().map(|g| (g.id, g)).collect())
    }
}

/// The members of a sibling group.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Members;

impl Read for Members {
    type Value = Vec<child::Model>;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        batch::group_members(db, consortium, &ids).await
    }
}

/// How many children a sibling group has.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct GroupSize;

impl Read for GroupSize {
    type Value = i64;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        batch::group_sizes(db, consortium, &ids).await
    }
}

/// The recruitment events of a household.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Events;

impl Read for Events {
    type Value = Vec<recruitment_event::Model>;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        batch::household_events(db, consortium, &ids).await
    }
}

/// A household.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct Household;

impl Read for Household {
    type Value = household::Model;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        let households = batch::households(db, consortium, &ids).await?;
        Ok(households.into_iter().map(|h| (h.id, h)).collect())
    }
}

/// The children a link covers.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LinkChildren;

impl Read for LinkChildren {
    type Value = Vec<child::Model>;
    async fn read(db: &DatabaseConnection, consortium: i64, ids: Vec<i64>) -> Found<Self::Value> {
        batch::link_children(db, consortium, &ids).await
    }
}

/// Reads the keys a batch collected, one consortium at a time (a request only ever asks
/// for its caller's).
pub struct Batch {
    db: DatabaseConnection,
}

impl<R: Read> Loader<Key<R>> for Batch {
    type Value = R::Value;
    type Error = AppError;

    async fn load(&self, keys: &[Key<R>]) -> AppResult<HashMap<Key<R>, R::Value>> {
        let mut by_consortium: HashMap<i64, Vec<i64>> = HashMap::new();
        for key in keys {
            by_consortium
                .entry(key.consortium_id)
                .or_default()
                .push(key.id);
        }
        let mut found = HashMap::new();
        for (consortium_id, ids) in by_consortium {
            for (id, value) in R::read(&self.db, consortium_id, ids).await? {
                found.insert(Key::new(consortium_id, id), value);
            }
        }
        Ok(found)
    }
}

/// How long a batch started outside [`PerRequest::drive`] collects keys before it reads.
const UNDRIVEN_DELAY: Duration = Duration::from_millis(1);

/// One operation's loader.
pub type Loaders = DataLoader<Batch, NoCache>;

/// A batch read, started by the loader.
type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The loader of one [`super::RequestContext`], made on first use, and the batches it
/// started that wait for the operation to ask for everything it can ask for now.
///
/// While an operation runs under [`PerRequest::drive`], a batch starts only once every
/// resolver of the operation that could run has run and waits (its future answered
/// `Pending`): the batch then holds every key the page asked for, whatever the machine's
/// load, so a page costs the same statements whatever its length. Outside `drive` (a use
/// case called with no GraphQL operation around it) batches start on their own after
/// [`UNDRIVEN_DELAY`].
///
/// The loader's own delay is zero: under `drive` the wait is the operation's, and a
/// timer per batch would only add a wake-up (async-graphql's timer runs on a thread of
/// its own) and a millisecond to every nesting level of every request.
#[derive(Clone, Default)]
pub struct PerRequest(Arc<Shared>);

#[derive(Default)]
struct Shared {
    loader: OnceLock<Loaders>,
    driven: AtomicBool,
    waiting: Mutex<Vec<Task>>,
}

impl PerRequest {
    /// The loader, reading from `db`.
    pub fn get(&self, db: &DatabaseConnection) -> &Loaders {
        self.0.loader.get_or_init(|| {
            // Weak: the loader lives in `Shared` and must not keep it alive.
            let shared = Arc::downgrade(&self.0);
            DataLoader::new(Batch { db: db.clone() }, move |task: Task| {
                match shared.upgrade() {
                    Some(s) if s.driven.load(Ordering::Acquire) => s
                        .waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(task),
                    _ => {
                        tokio::spawn(async move {
                            tokio::time::sleep(UNDRIVEN_DELAY).await;
                            task.await
                        });
                    }
                }
            })
            .delay(Duration::ZERO)
        })
    }

    /// Runs `operation`, starting the loader's batches each time it waits.
    pub async fn drive<F: Future>(&self, operation: F) -> F::Output {
        self.0.driven.store(true, Ordering::Release);
        let mut running: FuturesUnordered<Task> = FuturesUnordered::new();
        let mut operation = std::pin::pin!(operation);
        // One waker for every poll of the operation, so that what it waits on sees the
        // same waker each time (and keeps the one it holds).
        let flag = Arc::new(WakeFlag::default());
        let waker = Waker::from(flag.clone());
        let output = std::future::poll_fn(|cx| {
            loop {
                // An operation that wakes itself while it runs (it used up its budget)
                // has more to do before it waits: its batches wait too.
                flag.waker.register(cx.waker());
                flag.woken.store(false, Ordering::Release);
                let polled = operation.as_mut().poll(&mut Context::from_waker(&waker));
                if let Poll::Ready(output) = polled {
                    return Poll::Ready(output);
                }
                if flag.woken.load(Ordering::Acquire) {
                    return Poll::Pending;
                }
                running.extend(
                    self.0
                        .waiting
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drain(..),
                );
                // A batch that finished has answered its resolvers: let them go on.
                let mut finished = false;
                while let Poll::Ready(Some(())) = running.poll_next_unpin(cx) {
                    finished = true;
                }
                if !finished {
                    return Poll::Pending;
                }
            }
        })
        .await;
        self.0.driven.store(false, Ordering::Release);
        output
    }
}

/// A waker that notes whether it was woken, for [`PerRequest::drive`], and passes the
/// wake on to the task driving the operation.
#[derive(Default)]
struct WakeFlag {
    woken: AtomicBool,
    waker: AtomicWaker,
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake();
    }
}

// ---------------------------------------------------------------------------------------
// The nested reads
// ---------------------------------------------------------------------------------------

/// Sibling group `group_id` of a child of `consortium_id` (same authority as the child, so
/// the same access), its read audited as a `VIEW`.
pub async fn sibling_group(
    svc: Service<'_>,
    consortium_id: i64,
    group_id: i64,
) -> AppResult<Option<sibling_group::Model>> {
    let group = svc
        .loaders()
        .load_one(Key::<Group>::new(consortium_id, group_id))
        .await?;
    if let Some(g) = &group {
        svc.audit(
            AuditAction::View,
            "SiblingGroup",
            Some(g.id),
            Some(g.authority_id),
            json!({}),
        );
    }
    Ok(group)
}

/// The members of `group`, oldest first (then by id), each read audited as a `VIEW`.
pub async fn members(
    svc: Service<'_>,
    group: &sibling_group::Model,
) -> AppResult<Vec<child::Model>> {
    let members = svc
        .loaders()
        .load_one(Key::<Members>::new(group.consortium_id, group.id))
        .await?
        .unwrap_or_default();
    for c in &members {
        svc.audit(
            AuditAction::View,
            "Child",
            Some(c.id),
            Some(c.authority_id),
            json!({}),
        );
    }
    Ok(members)
}

/// How many children each sibling group of `children` has (groups are keyed by id; a
/// group without children is left out).
pub async fn group_sizes(
    svc: Service<'_>,
    children: &[child::Model],
) -> AppResult<HashMap<i64, i64>> {
    let keys: Vec<Key<GroupSize>> = children
        .iter()
        .filter_map(|c| c.sibling_group_id.map(|id| Key::new(c.consortium_id, id)))
        .collect();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sizes = svc.loaders().load_many(keys).await?;
    Ok(sizes.into_iter().map(|(k, n)| (k.id, n)).collect())
}

/// `household`'s recruitment events, in the order they were recorded.
pub async fn household_events(
    svc: Service<'_>,
    household: &household::Model,
) -> AppResult<Vec<recruitment_event::Model>> {
    Ok(svc
        .loaders()
        .load_one(Key::<Events>::new(household.consortium_id, household.id))
        .await?
        .unwrap_or_default())
}

/// The children link `link_id` of `consortium_id` covers, ascending by id.
pub async fn link_children(
    svc: Service<'_>,
    consortium_id: i64,
    link_id: i64,
) -> AppResult<Vec<child::Model>> {
    Ok(svc
        .loaders()
        .load_one(Key::<LinkChildren>::new(consortium_id, link_id))
        .await?
        .unwrap_or_default())
}

/// Household `id` of `consortium_id`, if any.
pub async fn household(
    svc: Service<'_>,
    consortium_id: i64,
    id: i64,
) -> AppResult<Option<household::Model>> {
    svc.loaders()
        .load_one(Key::<Household>::new(consortium_id, id))
        .await
}

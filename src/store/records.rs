//! What the registers (children and households) share in the database: the trait each
//! register's table implements ([`Register`]: its columns, the pool's rule in SQL, its
//! filters and orders), the scope a list is read in, one record of a consortium, a page
//! of a scope with its total count; and the end of a write transaction (children, sibling
//! groups, households), which commits the audit event with the change and answers the row
//! as written.
use std::fmt::Debug;

use entity::audit_event;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait,
    PrimaryKeyTrait, QueryFilter, Select,
};

use super::Page;
use super::lists::{CountCache, page_of};
use crate::error::{AppError, AppResult};

/// A register's table as its readers use it. Implemented by `child::Entity` (in
/// `store::children`) and `household::Entity` (in `store::households`); the service layer
/// adds what the store must not know (who may see a record) in `service::records::Record`.
pub trait Register: EntityTrait<Model: Sync> {
    /// The register's name in count-cache keys and stale-version messages (`child`).
    const NAME: &'static str;
    /// The record's id.
    const ID: Self::Column;
    /// The consortium a record lies in: every read is scoped by it.
    const CONSORTIUM: Self::Column;
    /// The authority a record belongs to.
    const AUTHORITY: Self::Column;
    /// The order of a list by id alone (oldest record first), whose pages may seek past
    /// the cursor's id.
    const BY_ID: Self::Order;
    /// Filters on a list, their dates already computed by the caller.
    type Filter: Debug + Send + Sync;
    /// Orderings of a list; each ends with the id so pages are stable.
    type Order: Copy + PartialEq + Debug + Send + Sync;
    /// The SQL form of the policy's rule for the register's records in the pool of
    /// `consortium_id`.
    fn pool(consortium_id: i64) -> Condition;
    /// The SQL form of `filter`.
    fn filter_condition(filter: &Self::Filter) -> Condition;
    /// `query` put in `order` (before the id that ends every order).
    fn order(query: Select<Self>, order: Self::Order) -> Select<Self>;
}

/// Which records of a register a list may return, as decided by the policy.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Full records of these authorities (all of the same consortium).
    Authorities {
        consortium_id: i64,
        authority_ids: Vec<i64>,
    },
    /// The consortium pool, by the register's rule ([`Register::pool`]).
    Pool { consortium_id: i64 },
}

impl Scope {
    /// The consortium the scope lies in.
    pub fn consortium_id(&self) -> i64 {
        match self {
            Scope::Authorities { consortium_id, .. } | Scope::Pool { consortium_id } => {
                *consortium_id
            }
        }
    }

    /// The scope in SQL. The consortium is required here for both kinds of scope, whatever
    /// a register's pool rule says, so that no register can list across consortia.
    fn condition<E: Register>(&self) -> Condition {
        let within = match self {
            Scope::Authorities { authority_ids, .. } => {
                Condition::all().add(E::AUTHORITY.is_in(authority_ids.clone()))
            }
            Scope::Pool { consortium_id } => E::pool(*consortium_id),
        };
        Condition::all()
            .add(E::CONSORTIUM.eq(self.consortium_id()))
            .add(within)
    }
}

/// The record of register `E` with `id` in `consortium_id`, if any.
pub async fn find<E: Register>(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    id: i64,
) -> Result<Option<E::Model>, DbErr> {
    E::find()
        .filter(E::ID.eq(id))
        .filter(E::CONSORTIUM.eq(consortium_id))
        .one(db)
        .await
}

/// A page of the records of register `E` in `scope` matching `filter`, in `order`, with
/// the total count.
pub async fn list<E: Register>(
    db: &impl ConnectionTrait,
    counts: &CountCache,
    scope: &Scope,
    filter: &E::Filter,
    order: E::Order,
    page: Page,
) -> Result<(Vec<E::Model>, u64), DbErr> {
    let query = E::find()
        .filter(scope.condition::<E>())
        .filter(E::filter_condition(filter));
    let key = format!("{}:{scope:?}:{filter:?}", E::NAME);
    let total = counts
        .count(db, scope.consortium_id(), key, query.clone())
        .await?;
    let rows = page_of(db, E::order(query, order), E::ID, order == E::BY_ID, page).await?;
    Ok((rows, total))
}

/// Inserts `audit` in `txn`, reads row `id` of `E` back and commits: the change and its
/// audit event are written together or not at all.
pub async fn commit_audited<E>(
    txn: DatabaseTransaction,
    audit: audit_event::ActiveModel,
    id: i64,
) -> AppResult<E::Model>
where
    E: EntityTrait,
    i64: Into<<E::PrimaryKey as PrimaryKeyTrait>::ValueType>,
{
    super::audit::insert_many(&txn, vec![audit]).await?;
    let written = E::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    txn.commit().await?;
    Ok(written)
}

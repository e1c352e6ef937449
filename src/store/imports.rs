//! Writing an import: the children an authority brought in before, found by their import
//! reference, and everything one import creates or changes written in one transaction with
//! its audit event — all of it or nothing.
use std::collections::HashSet;

use entity::{audit_event, child};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, Iterable, QueryFilter,
    QuerySelect,
};

use super::children::CHILD;
use super::{Writes, begin_consortium_write, update_versioned};
use crate::error::{AppError, AppResult};

/// Bind parameters per statement: under SQLite's limit (32 766) and PostgreSQL's (65 535).
const MAX_BIND_PARAMETERS: usize = 32_000;

/// The children of authority `authority_id` that an import brought in (those with an
/// import reference).
pub async fn imported_children(
    db: &impl ConnectionTrait,
    authority_id: i64,
) -> Result<Vec<child::Model>, DbErr> {
    child::Entity::find()
        .filter(child::Column::AuthorityId.eq(authority_id))
        .filter(child::Column::ImportReference.is_not_null())
        .all(db)
        .await
}

/// A change to a child already held, made at the version it was read at.
pub struct ChildChange {
    pub id: i64,
    pub version: i32,
    pub changes: child::ActiveModel,
}

/// What one import writes to an authority's children.
#[derive(Default)]
pub struct ChildWrites {
    /// New children (each with its import reference set).
    pub created: Vec<child::ActiveModel>,
    pub changed: Vec<ChildChange>,
}

/// Writes `writes` to authority `authority_id` of consortium `consortium_id` and the
/// import's `audit` event in one transaction. A child changed by someone else since it was
/// read, or a new reference another import wrote first, is a `CONFLICT` and nothing is
/// written.
pub async fn write_children(
    db: &DatabaseConnection,
    consortium_id: i64,
    authority_id: i64,
    writes: ChildWrites,
    audit: audit_event::ActiveModel,
) -> AppResult<()> {
    if writes.created.is_empty() && writes.changed.is_empty() {
        // Nothing changes: the consortium's data version stays, only the event is written.
        let txn = super::begin_write(db).await?;
        super::audit::insert_many(&txn, vec![audit]).await?;
        txn.commit().await?;
        return Ok(());
    }
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_id)).await?;
    // Read again under the consortium's write lock: a reference held by now was written by
    // another import after this one was planned.
    let held: HashSet<String> = child::Entity::find()
        .select_only()
        .column(child::Column::ImportReference)
        .filter(child::Column::AuthorityId.eq(authority_id))
        .filter(child::Column::ImportReference.is_not_null())
        .into_tuple::<Option<String>>()
        .all(&txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if writes.created.iter().any(|c| {
        c.import_reference
            .try_as_ref()
            .and_then(Option::as_ref)
            .is_some_and(|r| held.contains(r))
    }) {
        return Err(AppError::Conflict(
            "another import of this authority's children was written while this one was \
             read; run the import again"
                .into(),
        ));
    }
    let per_statement = (MAX_BIND_PARAMETERS / child::Column::iter().count()).max(1);
    let mut created = writes.created.into_iter().peekable();
    while created.peek().is_some() {
        let chunk: Vec<child::ActiveModel> = created.by_ref().take(per_statement).collect();
        child::Entity::insert_many(chunk)
            .exec_without_returning(&txn)
            .await?;
    }
    for change in writes.changed {
        update_versioned::<child::Entity>(&txn, change.changes, CHILD, change.id, change.version)
            .await?;
    }
    super::audit::insert_many(&txn, vec![audit]).await?;
    txn.commit().await?;
    Ok(())
}

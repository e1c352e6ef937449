//! What the writes of the registers (children, sibling groups, households) share: the
//! end of a write transaction, which commits the audit event with the change and answers
//! the row as written.
use entity::audit_event;
use sea_orm::{DatabaseTransaction, EntityTrait, PrimaryKeyTrait};

use crate::error::{AppError, AppResult};

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

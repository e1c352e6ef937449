//! Session revocations: the latest revocation instant per subject and consortium.
use chrono::{DateTime, Utc};
use entity::session_revocation;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder,
};

use super::begin_write;

/// Records that `subject`'s sessions in the consortium were revoked at `revoked_at`
/// (replacing any earlier revocation of the subject), with its audit event.
pub async fn revoke(
    db: &DatabaseConnection,
    consortium_id: i64,
    subject: &str,
    revoked_at: DateTime<Utc>,
    revoked_by: &str,
    audit: entity::audit_event::ActiveModel,
) -> Result<(), DbErr> {
    use session_revocation::Column as C;
    let txn = begin_write(db).await?;
    session_revocation::Entity::insert(session_revocation::ActiveModel {
        consortium_id: Set(consortium_id),
        subject: Set(subject.to_owned()),
        revoked_at: Set(revoked_at),
        revoked_by: Set(revoked_by.to_owned()),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([C::ConsortiumId, C::Subject])
            .update_columns([C::RevokedAt, C::RevokedBy])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    super::audit::insert_many(&txn, vec![audit]).await?;
    txn.commit().await
}

/// Every revocation at or after `since` (all of them without it), oldest first.
pub async fn since(
    db: &impl ConnectionTrait,
    since: Option<DateTime<Utc>>,
) -> Result<Vec<session_revocation::Model>, DbErr> {
    use session_revocation::Column as C;
    let mut query = session_revocation::Entity::find().order_by_asc(C::RevokedAt);
    if let Some(since) = since {
        query = query.filter(C::RevokedAt.gte(since));
    }
    query.all(db).await
}

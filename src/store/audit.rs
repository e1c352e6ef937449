//! The append-only audit log. Nothing here updates or deletes.
use entity::audit_event;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DbBackend, DbErr, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use super::Page;
use crate::domain::AuditAction;

/// The most rows of one insert on SQLite.
const SQLITE_MOST_ROWS: usize = 256;

/// Inserts `events` (their `id`s are ignored: the database numbers them), in order and
/// all or none. On PostgreSQL the columns go as ten arrays
/// (`UNNEST`): one statement, however many rows, with no SQL text or parameter list growing
/// with them. On SQLite, in one transaction, as inserts of a power of two rows (at most
/// 256): every connection keeps the statements it prepared, and a statement of a few
/// thousand rows is megabytes, so the number of different ones is kept to nine.
pub async fn insert_new(
    db: &DatabaseConnection,
    events: &[audit_event::Model],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    if db.get_database_backend() != DbBackend::Postgres {
        let txn = super::begin_write(db).await?;
        let mut rest = events;
        while !rest.is_empty() {
            let n = 1 << rest.len().min(SQLITE_MOST_ROWS).ilog2();
            let (chunk, after) = rest.split_at(n);
            let rows = chunk
                .iter()
                .map(|e| audit_event::ActiveModel {
                    id: NotSet,
                    ..e.clone().into_active_model().reset_all()
                })
                .collect();
            insert_many(&txn, rows).await?;
            rest = after;
        }
        return txn.commit().await;
    }
    fn column<T>(events: &[audit_event::Model], f: impl Fn(&audit_event::Model) -> T) -> Vec<T> {
        events.iter().map(f).collect()
    }
    sea_orm::sqlx::query(
        "INSERT INTO audit_event (occurred_at, consortium_id, subject, acting_authority_id, \
         action, entity_type, entity_id, owning_authority_id, request_id, detail) \
         SELECT occurred_at, consortium_id, subject, acting_authority_id, action, entity_type, \
                entity_id, owning_authority_id, request_id, detail \
         FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int8[], \
                              $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[], $10::text[]) \
         WITH ORDINALITY AS e(occurred_at, consortium_id, subject, acting_authority_id, action, \
                              entity_type, entity_id, owning_authority_id, request_id, detail, n) \
         ORDER BY n",
    )
    .bind(column(events, |e| e.occurred_at))
    .bind(column(events, |e| e.consortium_id))
    .bind(column(events, |e| e.subject.clone()))
    .bind(column(events, |e| e.acting_authority_id))
    .bind(column(events, |e| e.action.clone()))
    .bind(column(events, |e| e.entity_type.clone()))
    .bind(column(events, |e| e.entity_id))
    .bind(column(events, |e| e.owning_authority_id))
    .bind(column(events, |e| e.request_id.clone()))
    .bind(column(events, |e| e.detail.clone()))
    .execute(db.get_postgres_connection_pool())
    .await
    .map_err(|e| DbErr::Custom(format!("audit insert: {e}")))?;
    Ok(())
}

/// Inserts events in one statement (nothing when `events` is empty).
pub async fn insert_many(
    db: &impl ConnectionTrait,
    events: Vec<audit_event::ActiveModel>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    audit_event::Entity::insert_many(events)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Which events a reader may see: a whole consortium (consortium admins), or for
/// managers the events about records of their authorities and the events of their staff
/// that concern no single record (searches, refusals).
#[derive(Clone, Debug)]
pub enum AuditScope {
    Consortium(i64),
    Owners {
        consortium_id: i64,
        authority_ids: Vec<i64>,
    },
}

/// Filters on the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub action: Option<AuditAction>,
    pub entity_type: Option<String>,
    /// An entity, with the entity types its id may be recorded under (a child's events
    /// are recorded as `Child` and as `ChildProfile`).
    pub entity: Option<(Vec<&'static str>, i64)>,
}

/// Events in scope, newest first, with the total count.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &AuditScope,
    filter: &AuditFilter,
    page: Page,
) -> Result<(Vec<audit_event::Model>, u64), DbErr> {
    use audit_event::Column as C;
    let mut query = audit_event::Entity::find();
    query = match scope {
        AuditScope::Consortium(id) => query.filter(C::ConsortiumId.eq(*id)),
        AuditScope::Owners {
            consortium_id,
            authority_ids,
        } => query.filter(C::ConsortiumId.eq(*consortium_id)).filter(
            Condition::any()
                .add(C::OwningAuthorityId.is_in(authority_ids.clone()))
                .add(
                    Condition::all()
                        .add(C::OwningAuthorityId.is_null())
                        .add(C::ActingAuthorityId.is_in(authority_ids.clone())),
                ),
        ),
    };
    if let Some(subject) = &filter.subject {
        query = query.filter(C::Subject.eq(subject.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(C::Action.eq(*action));
    }
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(C::EntityType.eq(entity_type.clone()));
    }
    if let Some((types, id)) = &filter.entity {
        query = query
            .filter(C::EntityId.eq(*id))
            .filter(C::EntityType.is_in(types.clone()));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(C::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

//! The append-only audit log. Nothing here updates or deletes.
use entity::audit_event;
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::Page;

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
    pub action: Option<String>,
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
        query = query.filter(C::Action.eq(action.clone()));
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

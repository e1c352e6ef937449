//! Writing an import: the children and households an authority brought in before, found
//! by their import reference, and everything one import creates or changes written in one
//! transaction with its audit event — all of it or nothing.
use std::collections::{HashMap, HashSet};

use entity::{audit_event, child, household, link, link_child, recruitment_event, sibling_group};
use sea_orm::ActiveValue::Set;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr,
    EntityTrait, Iterable, QueryFilter, QueryOrder, QuerySelect,
};

use super::children::CHILD;
use super::households::HOUSEHOLD;
use super::links::LINK;
use super::{Writes, begin_consortium_write, update_versioned};
use crate::domain::links::LinkState;
use crate::error::{AppError, AppResult, ResultExt};

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
    /// The changed children whose match, placement or adoption order dates change: no
    /// link covered them when the import was planned, and none may when it is written.
    pub link_dates_changed: Vec<i64>,
}

/// Writes `writes` to authority `authority_id` of consortium `consortium_id` and the
/// import's `audit` event in one transaction. A child changed by someone else since it was
/// read, or a new reference another import wrote first, is a `CONFLICT` and nothing is
/// written.
///
/// A link in one of the states `links_holding_dates` covering a child whose link-owned
/// dates change ([`ChildWrites::link_dates_changed`]), recorded since the import was
/// planned, is a `CONFLICT` too.
pub async fn write_children(
    db: &DatabaseConnection,
    consortium_id: i64,
    authority_id: i64,
    writes: ChildWrites,
    links_holding_dates: &[LinkState],
    audit: audit_event::ActiveModel,
) -> AppResult<()> {
    if writes.created.is_empty() && writes.changed.is_empty() {
        return audit_only(db, vec![audit]).await;
    }
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_id)).await?;
    if super::links::any_covering(&txn, &writes.link_dates_changed, links_holding_dates).await? {
        return Err(AppError::Conflict(super::children::LINK_MEANWHILE.into()));
    }
    let created: Vec<&str> = writes
        .created
        .iter()
        .filter_map(|c| c.import_reference.try_as_ref().and_then(Option::as_deref))
        .collect();
    refuse_held::<child::Entity>(
        &txn,
        child::Column::AuthorityId,
        child::Column::ImportReference,
        authority_id,
        &created,
    )
    .await?;
    insert_chunked(&txn, writes.created).await?;
    for change in writes.changed {
        update_versioned::<child::Entity>(&txn, change.changes, CHILD, change.id, change.version)
            .await?;
    }
    super::audit::insert_many(&txn, vec![audit]).await?;
    txn.commit().await?;
    Ok(())
}

/// An import that changes nothing: the consortium's data version stays, only its event is
/// written.
async fn audit_only(
    db: &DatabaseConnection,
    audit: Vec<audit_event::ActiveModel>,
) -> AppResult<()> {
    let txn = super::begin_write(db).await?;
    super::audit::insert_many(&txn, audit).await?;
    txn.commit().await?;
    Ok(())
}

/// Refuses (`CONFLICT`) when any of `references` is held in `authority_id` by now: read
/// again under the consortium's write lock, a reference held was written by another import
/// after this one was planned.
async fn refuse_held<E: EntityTrait>(
    txn: &DatabaseTransaction,
    authority: E::Column,
    reference: E::Column,
    authority_id: i64,
    references: &[&str],
) -> AppResult<()> {
    if references.is_empty() {
        return Ok(());
    }
    let held: HashSet<String> = E::find()
        .select_only()
        .column(reference)
        .filter(authority.eq(authority_id))
        .filter(reference.is_not_null())
        .into_tuple::<Option<String>>()
        .all(txn)
        .await?
        .into_iter()
        .flatten()
        .collect();
    if references.iter().any(|r| held.contains(*r)) {
        return Err(AppError::Conflict(
            "another import of this authority's records was written while this one was \
             read; run the import again"
                .into(),
        ));
    }
    Ok(())
}

/// Inserts `rows` in statements of as many rows as the bind parameter limit allows.
async fn insert_chunked<A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<(), DbErr>
where
    A: ActiveModelTrait + Send,
{
    let per_statement =
        (MAX_BIND_PARAMETERS / <A::Entity as EntityTrait>::Column::iter().count()).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(per_statement).collect();
        <A::Entity as EntityTrait>::insert_many(chunk)
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// The households of authority `authority_id` that an import brought in, each with its
/// recruitment events in the order they were recorded.
pub async fn imported_households(
    db: &impl ConnectionTrait,
    authority_id: i64,
) -> Result<Vec<(household::Model, Vec<recruitment_event::Model>)>, DbErr> {
    let households = household::Entity::find()
        .filter(household::Column::AuthorityId.eq(authority_id))
        .filter(household::Column::ImportReference.is_not_null())
        .all(db)
        .await?;
    let mut events: HashMap<i64, Vec<recruitment_event::Model>> = HashMap::new();
    let imported = sea_orm::sea_query::Query::select()
        .column(household::Column::Id)
        .from(household::Entity)
        .and_where(household::Column::AuthorityId.eq(authority_id))
        .and_where(household::Column::ImportReference.is_not_null())
        .to_owned();
    for event in recruitment_event::Entity::find()
        .filter(recruitment_event::Column::AuthorityId.eq(authority_id))
        .filter(recruitment_event::Column::HouseholdId.in_subquery(imported))
        .order_by_asc(recruitment_event::Column::Id)
        .all(db)
        .await?
    {
        events.entry(event.household_id).or_default().push(event);
    }
    Ok(households
        .into_iter()
        .map(|h| {
            let of = events.remove(&h.id).unwrap_or_default();
            (h, of)
        })
        .collect())
}

/// A new household and its events (their household id is set once it is written).
pub struct NewHousehold {
    pub household: household::ActiveModel,
    pub events: Vec<recruitment_event::ActiveModel>,
}

/// A change to a household already held, made at the version it was read at, with the
/// events it adds.
pub struct HouseholdChange {
    pub id: i64,
    pub version: i32,
    pub changes: household::ActiveModel,
    pub events: Vec<recruitment_event::ActiveModel>,
}

/// What one import writes to an authority's households.
#[derive(Default)]
pub struct HouseholdWrites {
    /// New households, each with its import reference set.
    pub created: Vec<NewHousehold>,
    pub changed: Vec<HouseholdChange>,
}

/// Writes `writes` to authority `authority_id` of consortium `consortium_id` and the
/// import's `audit` event in one transaction, as [`write_children`] does.
pub async fn write_households(
    db: &DatabaseConnection,
    consortium_id: i64,
    authority_id: i64,
    writes: HouseholdWrites,
    audit: audit_event::ActiveModel,
) -> AppResult<()> {
    if writes.created.is_empty() && writes.changed.is_empty() {
        return audit_only(db, vec![audit]).await;
    }
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_id)).await?;
    let mut by_reference: HashMap<String, Vec<recruitment_event::ActiveModel>> = HashMap::new();
    let mut households = Vec::with_capacity(writes.created.len());
    for new in writes.created {
        let reference = new
            .household
            .import_reference
            .try_as_ref()
            .cloned()
            .flatten()
            .ok_or_else(|| {
                AppError::from(anyhow::anyhow!("a new household without its reference"))
            })?;
        by_reference.insert(reference, new.events);
        households.push(new.household);
    }
    let references: Vec<&str> = by_reference.keys().map(String::as_str).collect();
    refuse_held::<household::Entity>(
        &txn,
        household::Column::AuthorityId,
        household::Column::ImportReference,
        authority_id,
        &references,
    )
    .await?;
    insert_chunked(&txn, households).await?;
    // The new households' ids, by reference, to hang their events on.
    let ids: Vec<(i64, Option<String>)> = household::Entity::find()
        .select_only()
        .column(household::Column::Id)
        .column(household::Column::ImportReference)
        .filter(household::Column::AuthorityId.eq(authority_id))
        .filter(household::Column::ImportReference.is_not_null())
        .into_tuple()
        .all(&txn)
        .await?;
    let mut events = Vec::new();
    for (id, reference) in ids {
        if let Some(of) = reference.and_then(|r| by_reference.remove(&r)) {
            events.extend(of.into_iter().map(|mut e| {
                e.household_id = Set(id);
                e
            }));
        }
    }
    write_household_changes(&txn, writes.changed, events).await?;
    super::audit::insert_many(&txn, vec![audit]).await?;
    txn.commit().await?;
    Ok(())
}

/// Writes `changes` to households held, each at the version it was read at, then
/// `events` and the events the changes add.
async fn write_household_changes(
    txn: &DatabaseTransaction,
    changes: Vec<HouseholdChange>,
    mut events: Vec<recruitment_event::ActiveModel>,
) -> AppResult<()> {
    for change in changes {
        update_versioned::<household::Entity>(
            txn,
            change.changes,
            HOUSEHOLD,
            change.id,
            change.version,
        )
        .await?;
        events.extend(change.events);
    }
    insert_chunked(txn, events).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Link histories
// ---------------------------------------------------------------------------------------

/// The households an import brought in to any of `authority_ids` (those with an import
/// reference).
pub async fn referenced_households(
    db: &impl ConnectionTrait,
    authority_ids: &[i64],
) -> Result<Vec<household::Model>, DbErr> {
    household::Entity::find()
        .filter(household::Column::AuthorityId.is_in(authority_ids.iter().copied()))
        .filter(household::Column::ImportReference.is_not_null())
        .all(db)
        .await
}

/// Every link of consortium `consortium_id` whose child is of authority `authority_id`,
/// with the ids of the children it covers.
pub async fn links_of_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_id: i64,
) -> Result<Vec<(link::Model, Vec<i64>)>, DbErr> {
    let links = link::Entity::find()
        .filter(link::Column::ConsortiumId.eq(consortium_id))
        .filter(link::Column::ChildAuthorityId.eq(authority_id))
        .order_by_asc(link::Column::Id)
        .all(db)
        .await?;
    let of_authority = sea_orm::sea_query::Query::select()
        .column(link::Column::Id)
        .from(link::Entity)
        .and_where(link::Column::ConsortiumId.eq(consortium_id))
        .and_where(link::Column::ChildAuthorityId.eq(authority_id))
        .to_owned();
    let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
    let members: Vec<(i64, i64)> = link_child::Entity::find()
        .select_only()
        .column(link_child::Column::LinkId)
        .column(link_child::Column::ChildId)
        .filter(link_child::Column::LinkId.in_subquery(of_authority))
        .order_by_asc(link_child::Column::ChildId)
        .into_tuple()
        .all(db)
        .await?;
    for (link_id, child_id) in members {
        children.entry(link_id).or_default().push(child_id);
    }
    Ok(links
        .into_iter()
        .map(|l| {
            let of = children.remove(&l.id).unwrap_or_default();
            (l, of)
        })
        .collect())
}

/// The members, by id, of each of `group_ids` that must stay together.
pub async fn groups_staying_together(
    db: &impl ConnectionTrait,
    group_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, DbErr> {
    let groups: Vec<i64> = sibling_group::Entity::find()
        .select_only()
        .column(sibling_group::Column::Id)
        .filter(sibling_group::Column::Id.is_in(group_ids.iter().copied()))
        .filter(sibling_group::Column::MustStayTogether.eq(true))
        .into_tuple()
        .all(db)
        .await?;
    let mut members: HashMap<i64, Vec<i64>> = groups.iter().map(|g| (*g, Vec::new())).collect();
    let rows: Vec<(i64, Option<i64>)> = child::Entity::find()
        .select_only()
        .column(child::Column::Id)
        .column(child::Column::SiblingGroupId)
        .filter(child::Column::SiblingGroupId.is_in(groups))
        .order_by_asc(child::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    for (child_id, group) in rows {
        if let Some(of) = group.and_then(|g| members.get_mut(&g)) {
            of.push(child_id);
        }
    }
    Ok(members)
}

/// A link first brought in, in its final state, and the children it covers.
pub struct NewLink {
    pub link: link::ActiveModel,
    pub child_ids: Vec<i64>,
    /// Whether the link holds its children (`MATCHED` or `PLACED`).
    pub holding: bool,
}

/// A link held that the history takes further, made at the version it was read at.
pub struct LinkChange {
    pub id: i64,
    pub version: i32,
    pub changes: link::ActiveModel,
    /// The `holding` flag of its children, when it changes.
    pub holding: Option<bool>,
}

/// What one link history import writes.
#[derive(Default)]
pub struct LinkWrites {
    pub created: Vec<NewLink>,
    pub changed: Vec<LinkChange>,
    pub children: Vec<ChildChange>,
    pub households: Vec<HouseholdChange>,
}

impl LinkWrites {
    fn is_empty(&self) -> bool {
        self.created.is_empty()
            && self.changed.is_empty()
            && self.children.is_empty()
            && self.households.is_empty()
    }
}

/// Writes a link history to consortium `consortium_id` with the import's `audit` events
/// in one transaction: a child whose dates it changes that a link in one of the
/// `open_states` covers by then (proposed meanwhile) refuses it; then the links taken further first (a link that stops holding frees its
/// child and household), then the new links and their children, the children's dates, the
/// households' stages and events. Anything changed by someone else since it was read, or a
/// link another write made meanwhile that holds the same child or household, is a
/// `CONFLICT` and nothing is written.
pub async fn write_links(
    db: &DatabaseConnection,
    consortium_id: i64,
    writes: LinkWrites,
    open_states: &[LinkState],
    audit: Vec<audit_event::ActiveModel>,
) -> AppResult<()> {
    if writes.is_empty() {
        return audit_only(db, audit).await;
    }
    let held_elsewhere = "a child or household of this history is matched or placed through \
                          a link recorded meanwhile; run the import again";
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_id)).await?;
    let children: Vec<i64> = writes.children.iter().map(|c| c.id).collect();
    if super::links::any_covering(&txn, &children, open_states).await? {
        return Err(AppError::Conflict(super::children::LINK_MEANWHILE.into()));
    }
    for change in writes.changed {
        update_versioned::<link::Entity>(&txn, change.changes, LINK, change.id, change.version)
            .await?;
        if let Some(holding) = change.holding {
            link_child::Entity::update_many()
                .col_expr(link_child::Column::Holding, Expr::value(holding))
                .filter(link_child::Column::LinkId.eq(change.id))
                .exec(&txn)
                .await
                .conflict_on_unique(held_elsewhere)?;
        }
    }
    let mut members = Vec::new();
    for new in writes.created {
        let id = link::Entity::insert(new.link)
            .exec(&txn)
            .await
            .conflict_on_unique(held_elsewhere)?
            .last_insert_id;
        members.extend(
            new.child_ids
                .into_iter()
                .map(|child_id| link_child::ActiveModel {
                    link_id: Set(id),
                    child_id: Set(child_id),
                    holding: Set(new.holding),
                    ..Default::default()
                }),
        );
    }
    insert_chunked(&txn, members)
        .await
        .conflict_on_unique(held_elsewhere)?;
    for change in writes.children {
        update_versioned::<child::Entity>(&txn, change.changes, CHILD, change.id, change.version)
            .await?;
    }
    write_household_changes(&txn, writes.households, Vec::new()).await?;
    super::audit::insert_many(&txn, audit).await?;
    txn.commit().await?;
    Ok(())
}

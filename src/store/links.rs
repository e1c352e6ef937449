//! Links and the children they cover. Every step of the workflow is one transaction: the
//! link, the children's milestone dates, the household's stage and recruitment event, and
//! the audit event commit together or not at all.
//!
//! Under concurrency the partial unique indexes of the `link` and `link_child` tables are
//! the last line of defence (see the migration): two match decisions racing for one
//! household or one child both pass their checks in code, but only the first can commit;
//! the second hits the index and answers `CONFLICT`. On PostgreSQL the second writer waits
//! on the first's index entry and fails once it commits; on SQLite write transactions are
//! serialised up front (`BEGIN IMMEDIATE`), so the second sees the first's row.
use chrono::Utc;
use entity::{audit_event, child, household, link, link_child, recruitment_event};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, ExprTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Value,
};

use super::{Page, Versioned, Writes, begin_consortium_write, consortium_of, stale};
use crate::domain::Stage;
use crate::domain::links::LinkState;
use crate::error::{AppError, AppResult, ResultExt};

pub(super) const LINK: Versioned<link::Column> = Versioned {
    id: link::Column::Id,
    version: link::Column::Version,
    updated_at: link::Column::UpdatedAt,
    what: "link",
};

/// Which links a list may return, as decided by the policy: those involving one of the
/// authorities, on either side.
#[derive(Clone, Debug)]
pub struct LinkScope {
    pub consortium_id: i64,
    pub authority_ids: Vec<i64>,
}

/// Filters on links.
#[derive(Clone, Debug, Default)]
pub struct LinkFilter {
    pub states: Option<Vec<LinkState>>,
    /// Links covering this child (alone or with its sibling group).
    pub child_id: Option<i64>,
    pub sibling_group_id: Option<i64>,
    pub household_id: Option<i64>,
    pub cross_boundary: Option<bool>,
}

fn scope_condition(scope: &LinkScope) -> Condition {
    use link::Column as L;
    Condition::all()
        .add(L::ConsortiumId.eq(scope.consortium_id))
        .add(
            Condition::any()
                .add(L::ChildAuthorityId.is_in(scope.authority_ids.clone()))
                .add(L::HouseholdAuthorityId.is_in(scope.authority_ids.clone())),
        )
}

fn filter_condition(filter: &LinkFilter) -> Condition {
    use link::Column as L;
    let mut cond = Condition::all();
    if let Some(states) = &filter.states {
        cond = cond.add(L::State.is_in(states.iter().copied()));
    }
    if let Some(child_id) = filter.child_id {
        cond = cond.add(
            L::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(link_child::Column::LinkId)
                    .from(link_child::Entity)
                    .and_where(link_child::Column::ChildId.eq(child_id))
                    .to_owned(),
            ),
        );
    }
    if let Some(id) = filter.sibling_group_id {
        cond = cond.add(L::SiblingGroupId.eq(id));
    }
    if let Some(id) = filter.household_id {
        cond = cond.add(L::HouseholdId.eq(id));
    }
    if let Some(cross) = filter.cross_boundary {
        cond = cond.add(L::CrossBoundary.eq(cross));
    }
    cond
}

/// A page of links in `scope` matching `filter`, most recently proposed first, with the
/// total count.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &LinkScope,
    filter: &LinkFilter,
    page: Page,
) -> Result<(Vec<link::Model>, u64), DbErr> {
    if scope.authority_ids.is_empty() {
        return Ok((Vec::new(), 0));
    }
    let query = link::Entity::find()
        .filter(scope_condition(scope))
        .filter(filter_condition(filter));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(link::Column::Id)
        .offset(page.offset)
        .limit(page.limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

/// The link with `id` in `consortium_id`, if any.
pub async fn find(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    id: i64,
) -> Result<Option<link::Model>, DbErr> {
    link::Entity::find_by_id(id)
        .filter(link::Column::ConsortiumId.eq(consortium_id))
        .one(db)
        .await
}

/// The children a link covers, ascending.
pub async fn child_ids(db: &impl ConnectionTrait, link_id: i64) -> Result<Vec<i64>, DbErr> {
    link_child::Entity::find()
        .select_only()
        .column(link_child::Column::ChildId)
        .filter(link_child::Column::LinkId.eq(link_id))
        .order_by_asc(link_child::Column::ChildId)
        .into_tuple::<i64>()
        .all(db)
        .await
}

/// `SELECT <column> FROM link_child WHERE <by> = id`, for an `IN (…)`.
fn link_child_subquery(
    column: link_child::Column,
    by: link_child::Column,
    id: i64,
) -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(column)
        .from(link_child::Entity)
        .and_where(by.eq(id))
        .to_owned()
}

/// The children a link covers, ascending by id.
pub async fn children(db: &impl ConnectionTrait, link_id: i64) -> Result<Vec<child::Model>, DbErr> {
    child::Entity::find()
        .filter(child::Column::Id.in_subquery(link_child_subquery(
            link_child::Column::ChildId,
            link_child::Column::LinkId,
            link_id,
        )))
        .order_by_asc(child::Column::Id)
        .all(db)
        .await
}

/// Whether any of `child_ids` is held by a `MATCHED`/`PLACED` link.
pub async fn any_child_held(db: &impl ConnectionTrait, child_ids: &[i64]) -> Result<bool, DbErr> {
    Ok(link_child::Entity::find()
        .filter(link_child::Column::Holding.eq(true))
        .filter(link_child::Column::ChildId.is_in(child_ids.to_vec()))
        .count(db)
        .await?
        > 0)
}

/// The id and state of the links covering child `child_id` whose state is one of `states`,
/// by id.
pub async fn covering_child(
    db: &impl ConnectionTrait,
    child_id: i64,
    states: &[LinkState],
) -> Result<Vec<(i64, LinkState)>, DbErr> {
    link::Entity::find()
        .select_only()
        .column(link::Column::Id)
        .column(link::Column::State)
        .filter(link::Column::State.is_in(states.iter().copied()))
        .filter(link::Column::Id.in_subquery(link_child_subquery(
            link_child::Column::LinkId,
            link_child::Column::ChildId,
            child_id,
        )))
        .order_by_asc(link::Column::Id)
        .into_tuple()
        .all(db)
        .await
}

/// Whether a link whose state is one of `states` covers any of `child_ids`; read within a
/// write transaction, it is what a write that must not touch such a child checks last.
pub async fn any_covering(
    db: &impl ConnectionTrait,
    child_ids: &[i64],
    states: &[LinkState],
) -> Result<bool, DbErr> {
    if states.is_empty() {
        return Ok(false);
    }
    for chunk in child_ids.chunks(10_000) {
        let in_states = sea_orm::sea_query::Query::select()
            .column(link::Column::Id)
            .from(link::Entity)
            .and_where(link::Column::State.is_in(states.iter().copied()))
            .to_owned();
        let covered = link_child::Entity::find()
            .filter(link_child::Column::ChildId.is_in(chunk.iter().copied()))
            .filter(link_child::Column::LinkId.in_subquery(in_states))
            .count(db)
            .await?;
        if covered > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the household is held by a `MATCHED`/`PLACED` link.
pub async fn household_held(db: &impl ConnectionTrait, household_id: i64) -> Result<bool, DbErr> {
    Ok(link::Entity::find()
        .filter(link::Column::HouseholdId.eq(household_id))
        .filter(link::Column::State.is_in(LinkState::HOLDING))
        .count(db)
        .await?
        > 0)
}

/// Inserts a proposed link covering `child_ids`, with its audit event; returns the link.
/// A second open link for the same pair is a `CONFLICT` (the `link_*_open` indexes).
pub async fn create(
    db: &DatabaseConnection,
    model: link::ActiveModel,
    child_ids: &[i64],
    audit: impl FnOnce(i64) -> audit_event::ActiveModel,
) -> AppResult<link::Model> {
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_of(&model.consortium_id)?))
        .await?;
    let id = link::Entity::insert(model)
        .exec(&txn)
        .await
        .conflict_on_unique(
            "this child (or sibling group) and household already have an open link",
        )?
        .last_insert_id;
    let members: Vec<link_child::ActiveModel> = child_ids
        .iter()
        .map(|child_id| link_child::ActiveModel {
            link_id: Set(id),
            child_id: Set(*child_id),
            holding: Set(false),
            ..Default::default()
        })
        .collect();
    link_child::Entity::insert_many(members)
        .exec_without_returning(&txn)
        .await?;
    super::audit::insert_many(&txn, vec![audit(id)]).await?;
    let created = link::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    txn.commit().await?;
    Ok(created)
}

/// What a child must still be for a step to write to it: the guard of a conditional
/// update, so that a child changed since it was read is not written over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChildGuard {
    /// No match decision, placement or adoption order yet.
    Unmatched,
    /// Matched, not yet placed.
    Matched,
    /// Placed, no adoption order yet.
    Placed,
    /// Matched or placed, no adoption order yet.
    MatchedOrPlaced,
}

impl ChildGuard {
    fn condition(self) -> Condition {
        use child::Column as C;
        let base = Condition::all().add(C::AdoptionOrderOn.is_null());
        match self {
            ChildGuard::Unmatched => base
                .add(C::MatchDecisionOn.is_null())
                .add(C::PlacedOn.is_null()),
            ChildGuard::Matched => base
                .add(C::MatchDecisionOn.is_not_null())
                .add(C::PlacedOn.is_null()),
            ChildGuard::Placed => base.add(C::PlacedOn.is_not_null()),
            ChildGuard::MatchedOrPlaced => base.add(C::MatchDecisionOn.is_not_null()),
        }
    }
}

/// A change to one child of a link.
pub struct ChildWrite {
    pub id: i64,
    pub changes: child::ActiveModel,
    pub guard: ChildGuard,
}

/// A change to the household of a link: the new stage (and whatever else `changes`
/// sets), written only if the household is still at `from` (and, for `APPROVED`, not on
/// hold); and the recruitment event the step records, if any.
pub struct HouseholdWrite {
    pub id: i64,
    pub from: Stage,
    pub changes: household::ActiveModel,
    pub event: Option<recruitment_event::ActiveModel>,
}

/// One step of the workflow, written at once.
pub struct StepWrite {
    pub link_id: i64,
    pub expected_version: i32,
    /// The new state, dates and reason.
    pub changes: link::ActiveModel,
    /// Sets the `holding` flag of every child of the link, when given.
    pub holding: Option<bool>,
    pub children: Vec<ChildWrite>,
    pub household: Option<HouseholdWrite>,
    pub audit: Vec<audit_event::ActiveModel>,
}

/// Writes a step of the workflow in one transaction; returns the link after it.
///
/// `CONFLICT` when the link is no longer at `expected_version`, when a child or the
/// household moved on since they were read, or when the step would break an invariant
/// (another link already holds the child, the group or the household).
pub async fn write_step(db: &DatabaseConnection, step: StepWrite) -> AppResult<link::Model> {
    let txn = begin_consortium_write(db, Writes::RowOf("link", step.link_id)).await?;
    write_link(&txn, step.changes, step.link_id, step.expected_version).await?;
    if let Some(holding) = step.holding {
        link_child::Entity::update_many()
            .col_expr(link_child::Column::Holding, Expr::value(holding))
            .filter(link_child::Column::LinkId.eq(step.link_id))
            .exec(&txn)
            .await
            .conflict_on_unique("a child of this link is already matched or placed elsewhere")?;
    }
    let now = Utc::now();
    for c in step.children {
        let result = child::Entity::update_many()
            .set(c.changes)
            .col_expr(
                child::Column::Version,
                Expr::col(child::Column::Version).add(1),
            )
            .col_expr(child::Column::UpdatedAt, Expr::value(now))
            .filter(child::Column::Id.eq(c.id))
            .filter(c.guard.condition())
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            return Err(AppError::Conflict(
                "a child of this link changed meanwhile (its milestones no longer fit this \
                 step); reload and try again"
                    .into(),
            ));
        }
    }
    if let Some(h) = step.household {
        let mut guard = Condition::all()
            .add(household::Column::Id.eq(h.id))
            .add(household::Column::Stage.eq(h.from));
        if h.from == Stage::Approved {
            guard = guard.add(household::Column::OnHold.eq(false));
        }
        let result = household::Entity::update_many()
            .set(h.changes)
            .col_expr(
                household::Column::Version,
                Expr::col(household::Column::Version).add(1),
            )
            .col_expr(household::Column::UpdatedAt, Expr::value(now))
            .filter(guard)
            .exec(&txn)
            .await?;
        if result.rows_affected != 1 {
            return Err(AppError::Conflict(format!(
                "the household is no longer {}{}; reload and try again",
                h.from.code(),
                if h.from == Stage::Approved {
                    " and off hold"
                } else {
                    ""
                }
            )));
        }
        if let Some(event) = h.event {
            recruitment_event::Entity::insert(event)
                .exec_without_returning(&txn)
                .await?;
        }
    }
    super::audit::insert_many(&txn, step.audit).await?;
    let updated = link::Entity::find_by_id(step.link_id)
        .one(&txn)
        .await?
        .ok_or(AppError::NotFound)?;
    txn.commit().await?;
    Ok(updated)
}

/// Applies `changes` to link `id` if it is still at `expected_version`, bumping the
/// version; a unique violation (the step would break an invariant) is a `CONFLICT` too.
async fn write_link(
    txn: &DatabaseTransaction,
    mut changes: link::ActiveModel,
    id: i64,
    expected_version: i32,
) -> AppResult<()> {
    changes.set(link::Column::Version, Value::from(expected_version + 1));
    changes.set(link::Column::UpdatedAt, Value::from(Utc::now()));
    let result = link::Entity::update_many()
        .set(changes)
        .filter(link::Column::Id.eq(id))
        .filter(link::Column::Version.eq(expected_version))
        .exec(txn)
        .await
        .conflict_on_unique(
            "the household, or the child or sibling group, is already matched or placed \
             through another link",
        )?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(AppError::Conflict(stale("link")))
    }
}

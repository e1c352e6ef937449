//! Children and sibling groups.
use chrono::NaiveDate;
use entity::{audit_event, child, sibling_group};
use sea_orm::sea_query::{Expr, Func, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, ExprTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Select,
};

use super::lists::contains;
use super::records::{Register, commit_audited};
use super::{Versioned, Writes, begin_consortium_write, consortium_of, update_versioned};
use crate::domain::links::LinkState;

/// The conflict of a change to dates a link records, when a link covering the child was
/// proposed or moved on after the change was checked.
pub const LINK_MEANWHILE: &str = "a link covering this child was recorded while the change \
was being made, and it records these dates now; reload the child and record them on the link";

pub(super) const CHILD: Versioned<child::Column> = Versioned {
    id: child::Column::Id,
    version: child::Column::Version,
    updated_at: child::Column::UpdatedAt,
    what: "child",
};

const GROUP: Versioned<sibling_group::Column> = Versioned {
    id: sibling_group::Column::Id,
    version: sibling_group::Column::Version,
    updated_at: sibling_group::Column::UpdatedAt,
    what: "sibling group",
};
use crate::domain::{ChildStatus, NeedLevels};
use crate::error::{AppError, AppResult};

/// Filters on children. Date bounds are computed by the caller from `today`.
#[derive(Clone, Debug, Default)]
pub struct ChildFilter {
    pub authority_ids: Option<Vec<i64>>,
    pub statuses: Option<Vec<ChildStatus>>,
    /// Waiting since this date or earlier.
    pub waiting_since_on_or_before: Option<NaiveDate>,
    /// Born on or before (i.e. at least a given age).
    pub born_on_or_before: Option<NaiveDate>,
    /// Born after (i.e. younger than a given age).
    pub born_after: Option<NaiveDate>,
    /// Every need at or below these levels.
    pub needs_at_most: Option<NeedLevels>,
    pub sibling_group_id: Option<i64>,
    /// In a sibling group (or not).
    pub in_sibling_group: Option<bool>,
    pub profile_name_contains: Option<String>,
}

/// Orderings of child lists; each ends with the id so pages are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum ChildOrder {
    /// Oldest record first.
    Created,
    ProfileName,
    /// Entered care longest ago first.
    EnteredCare,
    /// Waiting longest first.
    WaitingLongest,
    /// Oldest child first.
    DateOfBirth,
}

fn waiting_since() -> SimpleExpr {
    Func::coalesce([
        Expr::col(child::Column::ShobpaDecisionOn),
        Expr::col(child::Column::PlacementOrderOn),
    ])
    .into()
}

/// The SQL form of `MilestoneDates::status`.
pub(crate) fn status_condition(status: ChildStatus) -> Condition {
    use child::Column as C;
    let not_adopted = C::AdoptionOrderOn.is_null();
    let unchanged = Condition::all()
        .add(not_adopted.clone())
        .add(C::PlanChangedOn.is_null())
        .add(C::PlacementOrderRevokedOn.is_null());
    match status {
        ChildStatus::Adopted => Condition::all().add(C::AdoptionOrderOn.is_not_null()),
        ChildStatus::PlanChanged => Condition::all().add(not_adopted).add(
            Condition::any()
                .add(C::PlanChangedOn.is_not_null())
                .add(C::PlacementOrderRevokedOn.is_not_null()),
        ),
        ChildStatus::Placed => unchanged.add(C::PlacedOn.is_not_null()),
        ChildStatus::Matched => unchanged
            .add(C::PlacedOn.is_null())
            .add(C::MatchDecisionOn.is_not_null()),
        ChildStatus::Waiting => unchanged
            .add(C::PlacedOn.is_null())
            .add(C::MatchDecisionOn.is_null())
            .add(waiting_since().is_not_null()),
        ChildStatus::AdoptionPlan => unchanged
            .add(C::PlacedOn.is_null())
            .add(C::MatchDecisionOn.is_null())
            .add(waiting_since().is_null())
            .add(C::AdoptionPlanOn.is_not_null()),
        ChildStatus::InCare => unchanged
            .add(C::PlacedOn.is_null())
            .add(C::MatchDecisionOn.is_null())
            .add(waiting_since().is_null())
            .add(C::AdoptionPlanOn.is_null()),
    }
}

/// The SQL form of `policy::child_in_pool`.
pub(crate) fn pool_condition(consortium_id: i64) -> Condition {
    Condition::all()
        .add(child::Column::ConsortiumId.eq(consortium_id))
        .add(child::Column::SharedWithConsortium.eq(true))
        .add(status_condition(ChildStatus::Waiting))
}

impl Register for child::Entity {
    const NAME: &'static str = "child";
    const ID: child::Column = child::Column::Id;
    const CONSORTIUM: child::Column = child::Column::ConsortiumId;
    const AUTHORITY: child::Column = child::Column::AuthorityId;
    const BY_ID: ChildOrder = ChildOrder::Created;
    type Filter = ChildFilter;
    type Order = ChildOrder;

    /// Waiting, unmatched children shared by their authority ([`pool_condition`]).
    fn pool(consortium_id: i64) -> Condition {
        pool_condition(consortium_id)
    }

    fn filter_condition(filter: &ChildFilter) -> Condition {
        use child::Column as C;
        let mut cond = Condition::all();
        if let Some(ids) = &filter.authority_ids {
            cond = cond.add(C::AuthorityId.is_in(ids.clone()));
        }
        if let Some(statuses) = &filter.statuses {
            cond = cond.add(
                statuses
                    .iter()
                    .fold(Condition::any(), |any, s| any.add(status_condition(*s))),
            );
        }
        if let Some(on) = filter.waiting_since_on_or_before {
            cond = cond.add(waiting_since().lte(on));
        }
        if let Some(on) = filter.born_on_or_before {
            cond = cond.add(C::DateOfBirth.lte(on));
        }
        if let Some(on) = filter.born_after {
            cond = cond.add(C::DateOfBirth.gt(on));
        }
        if let Some(needs) = filter.needs_at_most {
            let r = needs.ranks();
            cond = cond
                .add(C::NeedPhysicalHealth.lte(r[0]))
                .add(C::NeedDisability.lte(r[1]))
                .add(C::NeedLearning.lte(r[2]))
                .add(C::NeedDevelopmentalUncertainty.lte(r[3]))
                .add(C::NeedEmotionalBehavioural.lte(r[4]))
                .add(C::NeedPrenatalExposure.lte(r[5]));
        }
        if let Some(id) = filter.sibling_group_id {
            cond = cond.add(C::SiblingGroupId.eq(id));
        }
        match filter.in_sibling_group {
            Some(true) => cond = cond.add(C::SiblingGroupId.is_not_null()),
            Some(false) => cond = cond.add(C::SiblingGroupId.is_null()),
            None => {}
        }
        if let Some(text) = &filter.profile_name_contains {
            cond = cond.add(contains(C::ProfileName, text));
        }
        cond
    }

    fn order(query: Select<Self>, order: ChildOrder) -> Select<Self> {
        use child::Column as C;
        match order {
            ChildOrder::Created => query,
            ChildOrder::ProfileName => query.order_by_asc(C::ProfileName),
            ChildOrder::EnteredCare => query.order_by_asc(C::EnteredCareOn),
            ChildOrder::WaitingLongest => query.order_by(waiting_since(), Order::Asc),
            ChildOrder::DateOfBirth => query.order_by_asc(C::DateOfBirth),
        }
    }
}

/// The children of a sibling group, oldest first.
pub async fn members(db: &impl ConnectionTrait, group_id: i64) -> Result<Vec<child::Model>, DbErr> {
    child::Entity::find()
        .filter(child::Column::SiblingGroupId.eq(group_id))
        .order_by_asc(child::Column::DateOfBirth)
        .order_by_asc(child::Column::Id)
        .all(db)
        .await
}

/// How many children each of `group_ids` has.
pub async fn group_sizes(
    db: &impl ConnectionTrait,
    group_ids: Vec<i64>,
) -> Result<Vec<(i64, i64)>, DbErr> {
    child::Entity::find()
        .select_only()
        .column(child::Column::SiblingGroupId)
        .column_as(child::Column::Id.count(), "n")
        .filter(child::Column::SiblingGroupId.is_in(group_ids))
        .group_by(child::Column::SiblingGroupId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await
}

/// The sibling group with `id` in `consortium_id`, if any.
pub async fn find_group(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    id: i64,
) -> Result<Option<sibling_group::Model>, DbErr> {
    sibling_group::Entity::find_by_id(id)
        .filter(sibling_group::Column::ConsortiumId.eq(consortium_id))
        .one(db)
        .await
}

/// Inserts a child and its audit event together; returns the new child.
pub async fn create(
    db: &DatabaseConnection,
    model: child::ActiveModel,
    audit: impl FnOnce(i64) -> audit_event::ActiveModel,
) -> AppResult<child::Model> {
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_of(&model.consortium_id)?))
        .await?;
    let id = child::Entity::insert(model)
        .exec(&txn)
        .await?
        .last_insert_id;
    commit_audited::<child::Entity>(txn, audit(id), id).await
}

/// Applies `changes` to child `id` if it is still at `expected_version`, bumping the
/// version, and writes the audit event in the same transaction. A stale version is a
/// `CONFLICT`.
///
/// With `refused_while`, the change is refused (`CONFLICT`) if a link in one of those
/// states covers the child by the time the transaction holds the consortium's write lock:
/// a link proposed since the caller checked is not written over.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    expected_version: i32,
    changes: child::ActiveModel,
    refused_while: &[LinkState],
    audit: audit_event::ActiveModel,
) -> AppResult<child::Model> {
    let txn = begin_consortium_write(db, Writes::RowOf("child", id)).await?;
    if super::links::any_covering(&txn, &[id], refused_while).await? {
        return Err(AppError::Conflict(LINK_MEANWHILE.into()));
    }
    update_versioned::<child::Entity>(&txn, changes, CHILD, id, expected_version).await?;
    commit_audited::<child::Entity>(txn, audit, id).await
}

/// Creates a sibling group and puts `child_ids` in it, all in one transaction.
pub async fn create_group(
    db: &DatabaseConnection,
    model: sibling_group::ActiveModel,
    child_ids: &[i64],
    audit: impl FnOnce(i64) -> audit_event::ActiveModel,
) -> AppResult<sibling_group::Model> {
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_of(&model.consortium_id)?))
        .await?;
    let id = sibling_group::Entity::insert(model)
        .exec(&txn)
        .await?
        .last_insert_id;
    set_group(&txn, child_ids, Some(id)).await?;
    commit_audited::<sibling_group::Entity>(txn, audit(id), id).await
}

async fn set_group(
    db: &impl ConnectionTrait,
    child_ids: &[i64],
    group: Option<i64>,
) -> Result<(), DbErr> {
    if child_ids.is_empty() {
        return Ok(());
    }
    child::Entity::update_many()
        .col_expr(child::Column::SiblingGroupId, Expr::value(group))
        .col_expr(
            child::Column::Version,
            Expr::col(child::Column::Version).add(1),
        )
        .filter(child::Column::Id.is_in(child_ids.to_vec()))
        .exec(db)
        .await?;
    Ok(())
}

/// Changes a group (label, flag, membership) if it is still at `expected_version`.
pub async fn update_group(
    db: &DatabaseConnection,
    id: i64,
    expected_version: i32,
    changes: sibling_group::ActiveModel,
    add: &[i64],
    remove: &[i64],
    audit: audit_event::ActiveModel,
) -> AppResult<sibling_group::Model> {
    let txn = begin_consortium_write(db, Writes::RowOf("sibling_group", id)).await?;
    update_versioned::<sibling_group::Entity>(&txn, changes, GROUP, id, expected_version).await?;
    set_group(&txn, add, Some(id)).await?;
    set_group(&txn, remove, None).await?;
    commit_audited::<sibling_group::Entity>(txn, audit, id).await
}

//! Adopter households and their recruitment events.
use entity::{audit_event, household, recruitment_event};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, Select,
};

use super::lists::contains;
use super::records::{Register, commit_audited};
use super::{Versioned, Writes, begin_consortium_write, consortium_of, update_versioned};

pub(super) const HOUSEHOLD: Versioned<household::Column> = Versioned {
    id: household::Column::Id,
    version: household::Column::Version,
    updated_at: household::Column::UpdatedAt,
    what: "household",
};
use crate::domain::Stage;
use crate::error::AppResult;

/// Filters on households.
#[derive(Clone, Debug, Default)]
pub struct HouseholdFilter {
    pub authority_ids: Option<Vec<i64>>,
    pub stages: Option<Vec<Stage>>,
    pub on_hold: Option<bool>,
    /// Approved, available for matching and not on hold.
    pub approved_and_available: Option<bool>,
    pub min_capacity: Option<i16>,
    /// Accepts a child of this age in months.
    pub accepts_age_months: Option<i32>,
    pub accepts_siblings: Option<bool>,
    pub profile_name_contains: Option<String>,
}

/// Orderings of household lists; each ends with the id so pages are stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, async_graphql::Enum)]
pub enum HouseholdOrder {
    /// Oldest record first.
    Created,
    ProfileName,
    /// Earliest enquiry first.
    Enquiry,
    /// Approved longest ago first (waiting longest).
    WaitingLongest,
}

fn available() -> Condition {
    Condition::all()
        .add(household::Column::Stage.eq(Stage::Approved))
        .add(household::Column::OnHold.eq(false))
        .add(household::Column::AvailableForMatching.eq(true))
}

impl Register for household::Entity {
    const NAME: &'static str = "household";
    const ID: household::Column = household::Column::Id;
    const CONSORTIUM: household::Column = household::Column::ConsortiumId;
    const AUTHORITY: household::Column = household::Column::AuthorityId;
    const BY_ID: HouseholdOrder = HouseholdOrder::Created;
    type Filter = HouseholdFilter;
    type Order = HouseholdOrder;

    /// The SQL form of `policy::household_in_pool`: approved, available, not on hold,
    /// shared.
    fn pool(consortium_id: i64) -> Condition {
        available()
            .add(household::Column::ConsortiumId.eq(consortium_id))
            .add(household::Column::SharedWithConsortium.eq(true))
    }

    fn filter_condition(filter: &HouseholdFilter) -> Condition {
        use household::Column as C;
        let mut cond = Condition::all();
        if let Some(ids) = &filter.authority_ids {
            cond = cond.add(C::AuthorityId.is_in(ids.clone()));
        }
        if let Some(stages) = &filter.stages {
            cond = cond.add(C::Stage.is_in(stages.iter().copied()));
        }
        if let Some(on_hold) = filter.on_hold {
            cond = cond.add(C::OnHold.eq(on_hold));
        }
        match filter.approved_and_available {
            Some(true) => cond = cond.add(available()),
            Some(false) => cond = cond.add(available().not()),
            None => {}
        }
        if let Some(n) = filter.min_capacity {
            cond = cond.add(C::Capacity.gte(n));
        }
        if let Some(age) = filter.accepts_age_months {
            cond = cond
                .add(C::AgeMinMonths.lte(age))
                .add(C::AgeMaxMonths.gte(age));
        }
        if let Some(siblings) = filter.accepts_siblings {
            cond = cond.add(C::AcceptsSiblings.eq(siblings));
        }
        if let Some(text) = &filter.profile_name_contains {
            cond = cond.add(contains(C::ProfileName, text));
        }
        cond
    }

    fn order(query: Select<Self>, order: HouseholdOrder) -> Select<Self> {
        use household::Column as C;
        match order {
            HouseholdOrder::Created => query,
            HouseholdOrder::ProfileName => query.order_by_asc(C::ProfileName),
            HouseholdOrder::Enquiry => query.order_by_asc(C::EnquiryOn),
            HouseholdOrder::WaitingLongest => query.order_by_asc(C::ApprovedOn),
        }
    }
}

/// The households with `ids` in `consortium_id`.
pub async fn find_many(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    ids: &[i64],
) -> Result<Vec<household::Model>, DbErr> {
    household::Entity::find()
        .filter(household::Column::ConsortiumId.eq(consortium_id))
        .filter(household::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await
}

/// A household's recruitment events, in the order they were recorded.
pub async fn events(
    db: &impl ConnectionTrait,
    household_id: i64,
) -> Result<Vec<recruitment_event::Model>, DbErr> {
    recruitment_event::Entity::find()
        .filter(recruitment_event::Column::HouseholdId.eq(household_id))
        .order_by_asc(recruitment_event::Column::Id)
        .all(db)
        .await
}

/// Inserts a household with its enquiry event and audit event; returns the household.
pub async fn create(
    db: &DatabaseConnection,
    model: household::ActiveModel,
    enquiry: impl FnOnce(i64) -> recruitment_event::ActiveModel,
    audit: impl FnOnce(i64) -> audit_event::ActiveModel,
) -> AppResult<household::Model> {
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_of(&model.consortium_id)?))
        .await?;
    let id = household::Entity::insert(model)
        .exec(&txn)
        .await?
        .last_insert_id;
    recruitment_event::Entity::insert(enquiry(id))
        .exec_without_returning(&txn)
        .await?;
    commit_audited::<household::Entity>(txn, audit(id), id).await
}

/// Applies `changes` to household `id` if it is still at `expected_version` (bumping the
/// version), appends `event` if given, and writes the audit event — one transaction. A
/// stale version is a `CONFLICT`.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    expected_version: i32,
    changes: household::ActiveModel,
    event: Option<recruitment_event::ActiveModel>,
    audit: audit_event::ActiveModel,
) -> AppResult<household::Model> {
    let txn = begin_consortium_write(db, Writes::RowOf("household", id)).await?;
    update_versioned::<household::Entity>(&txn, changes, HOUSEHOLD, id, expected_version).await?;
    if let Some(event) = event {
        recruitment_event::Entity::insert(event)
            .exec_without_returning(&txn)
            .await?;
    }
    commit_audited::<household::Entity>(txn, audit, id).await
}

//! Compact rows for the board reports: only the dates and codes the figures need, read in
//! one query per report and scoped to the consortium and the authorities asked for.
use chrono::NaiveDate;
use entity::{child, household, sibling_group};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QuerySelect,
};

use crate::domain::scorecard::{ScorecardChild, TrackedChild};
use crate::domain::{MilestoneDates, MilestoneDraft, Period, Stage};

#[derive(FromQueryResult)]
struct ScorecardRow {
    id: i64,
    authority_id: i64,
    entered_care_on: Option<NaiveDate>,
    placement_order_on: Option<NaiveDate>,
    match_decision_on: Option<NaiveDate>,
    placed_on: Option<NaiveDate>,
    adoption_order_on: Option<NaiveDate>,
    foster_placement_started_on: Option<NaiveDate>,
    adopted_by_foster_carers: bool,
}

/// Children of `authority_ids` adopted within `period`.
pub async fn adopted_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_ids: &[i64],
    period: &Period,
) -> Result<Vec<ScorecardChild>, DbErr> {
    use child::Column as C;
    let rows = child::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::AuthorityId,
            C::EnteredCareOn,
            C::PlacementOrderOn,
            C::MatchDecisionOn,
            C::PlacedOn,
            C::AdoptionOrderOn,
            C::FosterPlacementStartedOn,
            C::AdoptedByFosterCarers,
        ])
        .filter(C::ConsortiumId.eq(consortium_id))
        .filter(C::AuthorityId.is_in(authority_ids.to_vec()))
        .filter(C::AdoptionOrderOn.between(period.from(), period.to()))
        .into_model::<ScorecardRow>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| ScorecardChild {
            child_id: r.id,
            authority_id: r.authority_id,
            milestones: MilestoneDates::recorded(MilestoneDraft {
                entered_care_on: r.entered_care_on,
                placement_order_on: r.placement_order_on,
                match_decision_on: r.match_decision_on,
                placed_on: r.placed_on,
                adoption_order_on: r.adoption_order_on,
                foster_placement_started_on: r.foster_placement_started_on,
                adopted_by_foster_carers: r.adopted_by_foster_carers,
                ..Default::default()
            }),
        })
        .collect())
}

/// A child not placed as of a date, with what tracking and sufficiency read.
#[derive(Clone, Debug, FromQueryResult)]
pub struct UnplacedRow {
    pub id: i64,
    pub authority_id: i64,
    pub date_of_birth: NaiveDate,
    pub ethnicity: String,
    pub need_disability: i16,
    pub sibling_group_id: Option<i64>,
    pub entered_care_on: Option<NaiveDate>,
    pub adoption_plan_on: Option<NaiveDate>,
    pub shobpa_decision_on: Option<NaiveDate>,
    pub placement_order_on: Option<NaiveDate>,
    pub match_decision_on: Option<NaiveDate>,
    pub placed_on: Option<NaiveDate>,
    pub plan_changed_on: Option<NaiveDate>,
    pub placement_order_revoked_on: Option<NaiveDate>,
}

impl UnplacedRow {
    /// The milestone dates read (checked when they were written; the adoption order, the
    /// foster placement and its adoption are not read: the child is not placed).
    pub fn milestones(&self) -> MilestoneDates {
        MilestoneDates::recorded(MilestoneDraft {
            entered_care_on: self.entered_care_on,
            adoption_plan_on: self.adoption_plan_on,
            shobpa_decision_on: self.shobpa_decision_on,
            placement_order_on: self.placement_order_on,
            match_decision_on: self.match_decision_on,
            placed_on: self.placed_on,
            plan_changed_on: self.plan_changed_on,
            placement_order_revoked_on: self.placement_order_revoked_on,
            ..Default::default()
        })
    }

    /// The dates tracking reads.
    pub fn tracked(&self) -> TrackedChild {
        TrackedChild {
            child_id: self.id,
            authority_id: self.authority_id,
            milestones: self.milestones(),
        }
    }
}

/// Children of `authority_ids` in care and not placed as of `as_of` (the plan may still
/// have changed: the domain decides what counts).
pub async fn unplaced_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_ids: &[i64],
    as_of: NaiveDate,
) -> Result<Vec<UnplacedRow>, DbErr> {
    use child::Column as C;
    child::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::AuthorityId,
            C::DateOfBirth,
            C::Ethnicity,
            C::NeedDisability,
            C::SiblingGroupId,
            C::EnteredCareOn,
            C::AdoptionPlanOn,
            C::ShobpaDecisionOn,
            C::PlacementOrderOn,
            C::MatchDecisionOn,
            C::PlacedOn,
            C::PlanChangedOn,
            C::PlacementOrderRevokedOn,
        ])
        .filter(C::ConsortiumId.eq(consortium_id))
        .filter(C::AuthorityId.is_in(authority_ids.to_vec()))
        .filter(C::EnteredCareOn.lte(as_of))
        .filter(
            Condition::any()
                .add(C::PlacedOn.is_null())
                .add(C::PlacedOn.gt(as_of)),
        )
        .into_model::<UnplacedRow>()
        .all(db)
        .await
}

/// The sibling groups among `ids` that must be placed together.
pub async fn together_groups(db: &impl ConnectionTrait, ids: Vec<i64>) -> Result<Vec<i64>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sibling_group::Entity::find()
        .select_only()
        .column(sibling_group::Column::Id)
        .filter(sibling_group::Column::Id.is_in(ids))
        .filter(sibling_group::Column::MustStayTogether.eq(true))
        .into_tuple::<i64>()
        .all(db)
        .await
}

/// An approved household waiting, with what sufficiency reads.
#[derive(Clone, Debug, FromQueryResult)]
pub struct WaitingHouseholdRow {
    pub id: i64,
    pub authority_id: i64,
    pub capacity: i16,
    pub age_max_months: i32,
    pub accepts_siblings: bool,
    pub accepts_disability: i16,
    pub ethnicity: String,
}

/// Households of `authority_ids` approved on or before `as_of` and waiting now (approved,
/// available, not on hold): availability has no history, so it is read as it stands.
pub async fn waiting_households(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_ids: &[i64],
    as_of: NaiveDate,
) -> Result<Vec<WaitingHouseholdRow>, DbErr> {
    use household::Column as C;
    household::Entity::find()
        .select_only()
        .columns([
            C::Id,
            C::AuthorityId,
            C::Capacity,
            C::AgeMaxMonths,
            C::AcceptsSiblings,
            C::AcceptsDisability,
            C::Ethnicity,
        ])
        .filter(C::ConsortiumId.eq(consortium_id))
        .filter(C::AuthorityId.is_in(authority_ids.to_vec()))
        .filter(C::Stage.eq(Stage::Approved))
        .filter(C::AvailableForMatching.eq(true))
        .filter(C::OnHold.eq(false))
        .filter(C::ApprovedOn.lte(as_of))
        .into_model::<WaitingHouseholdRow>()
        .all(db)
        .await
}

/// Links of `consortium_id` placed within `period` (the placement stands even if it later
/// ended in an adoption order or a disruption), with the number of children each placed.
pub async fn placements(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    period: &Period,
) -> Result<Vec<crate::domain::flows::Placement>, DbErr> {
    use entity::{link, link_child};
    let links: Vec<(i64, i64, i64, Option<i64>)> = link::Entity::find()
        .select_only()
        .columns([
            link::Column::Id,
            link::Column::ChildAuthorityId,
            link::Column::HouseholdAuthorityId,
            link::Column::InterAgencyFeePence,
        ])
        .filter(link::Column::ConsortiumId.eq(consortium_id))
        .filter(link::Column::PlacedOn.between(period.from(), period.to()))
        .into_tuple()
        .all(db)
        .await?;
    let ids: Vec<i64> = links.iter().map(|l| l.0).collect();
    let counts: std::collections::HashMap<i64, i64> = if ids.is_empty() {
        Default::default()
    } else {
        link_child::Entity::find()
            .select_only()
            .column(link_child::Column::LinkId)
            .column_as(link_child::Column::Id.count(), "n")
            .filter(link_child::Column::LinkId.is_in(ids))
            .group_by(link_child::Column::LinkId)
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?
            .into_iter()
            .collect()
    };
    Ok(links
        .into_iter()
        .map(|(id, child_authority_id, household_authority_id, fee)| {
            crate::domain::flows::Placement {
                child_authority_id,
                household_authority_id,
                children: counts.get(&id).copied().unwrap_or(1).max(1) as u64,
                fee_pence: fee.and_then(|f| u64::try_from(f).ok()),
            }
        })
        .collect())
}

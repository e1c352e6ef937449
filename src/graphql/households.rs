//! Adopter households and their recruitment journey: the register of the recruiting
//! authority or agency. The resolvers decode ids and inputs, call `service::households`
//! and map the records found.
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use entity::household;

use super::children::{authority_ids, change};
use super::connection::{Conn, register_page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::inputs::{AreaInput, NeedsInput};
use super::scalars::Date;
use super::types::{Household, RecruitmentEventView};
use crate::domain::{
    EnquiryChannel, Ethnicity, GenderPreference, NeedLevels, RecruitmentEvent, RecruitmentReason,
    Stage,
};
use crate::error::AppResult;
use crate::service::households::{
    self as service, ApprovalChanges, HouseholdChanges, HouseholdCriteria, HouseholdOrder,
    NewHousehold,
};
use crate::service::records;

/// Filters on the households register.
#[derive(InputObject, Default)]
pub struct HouseholdFilterInput {
    pub authority_ids: Option<Vec<ID>>,
    pub stages: Option<Vec<Stage>>,
    pub on_hold: Option<bool>,
    /// Approved, available for matching and not on hold.
    pub approved_and_available: Option<bool>,
    pub min_capacity: Option<i32>,
    /// Accepts a child of this age, in months.
    pub accepts_age_months: Option<i32>,
    pub accepts_siblings: Option<bool>,
    pub profile_name_contains: Option<String>,
}

impl From<HouseholdFilterInput> for HouseholdCriteria {
    fn from(f: HouseholdFilterInput) -> Self {
        HouseholdCriteria {
            authority_ids: authority_ids(f.authority_ids),
            stages: f.stages,
            on_hold: f.on_hold,
            approved_and_available: f.approved_and_available,
            min_capacity: f.min_capacity,
            accepts_age_months: f.accepts_age_months,
            accepts_siblings: f.accepts_siblings,
            profile_name_contains: f.profile_name_contains,
        }
    }
}

/// A new household, registered at its enquiry.
#[derive(InputObject)]
pub struct CreateHouseholdInput {
    /// The recruiting authority; may be left out by staff of a single authority.
    pub authority_id: Option<ID>,
    pub applicant_one_name: String,
    pub applicant_two_name: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    /// The name used when the household's profile is shared.
    pub profile_name: String,
    #[graphql(default_with = "Ethnicity::NotRecorded")]
    pub ethnicity: Ethnicity,
    pub channel: EnquiryChannel,
    pub enquiry_on: Date,
    /// Second-time adopters and the child's foster carers may go straight to Stage Two.
    #[graphql(default)]
    pub fast_track: bool,
}

/// What a household is approved for; fields left out stay as they are.
#[derive(InputObject, Default)]
pub struct ApprovalProfileInput {
    pub capacity: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    pub accepts_needs: Option<NeedsInput>,
    pub accepts_siblings: Option<bool>,
    pub gender_preference: Option<GenderPreference>,
    pub early_permanence_approved: Option<bool>,
    pub religion: MaybeUndefined<String>,
    pub languages: Option<Vec<String>>,
    pub culture: MaybeUndefined<String>,
}

impl From<ApprovalProfileInput> for ApprovalChanges {
    fn from(a: ApprovalProfileInput) -> Self {
        ApprovalChanges {
            capacity: a.capacity,
            age_min_months: a.age_min_months,
            age_max_months: a.age_max_months,
            accepts_needs: a.accepts_needs.map(NeedLevels::from),
            accepts_siblings: a.accepts_siblings,
            gender_preference: a.gender_preference,
            early_permanence_approved: a.early_permanence_approved,
            religion: change(a.religion, |v| v),
            languages: a.languages,
            culture: change(a.culture, |v| v),
        }
    }
}

/// Changes to a household; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateHouseholdInput {
    pub id: ID,
    pub expected_version: i32,
    pub applicant_one_name: Option<String>,
    pub applicant_two_name: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
    pub profile_name: Option<String>,
    pub ethnicity: Option<Ethnicity>,
    pub approval: Option<ApprovalProfileInput>,
    pub location: MaybeUndefined<AreaInput>,
    pub profile_text: Option<String>,
    pub available_for_matching: Option<bool>,
    pub shared_with_consortium: Option<bool>,
}

/// The next step of a household's journey.
#[derive(InputObject)]
pub struct RecordRecruitmentEventInput {
    pub household_id: ID,
    pub expected_version: i32,
    pub stage: Stage,
    pub occurred_on: Date,
    /// Required for `WITHDRAWN` and `ENDED_BY_AGENCY`; optional for `ON_HOLD`.
    pub reason: Option<RecruitmentReason>,
}

/// The household after a change.
#[derive(SimpleObject)]
pub struct HouseholdPayload {
    pub household: Household,
}

/// The household and the event just recorded.
#[derive(SimpleObject)]
pub struct RecruitmentEventPayload {
    pub household: Household,
    pub event: RecruitmentEventView,
}

/// Household queries.
#[derive(Default)]
pub struct HouseholdQuery;

#[Object]
impl HouseholdQuery {
    /// Full records of households of the authorities where the actor may read them.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn households(
        &self,
        ctx: &Context<'_>,
        filter: Option<HouseholdFilterInput>,
        #[graphql(default_with = "HouseholdOrder::Created")] order_by: HouseholdOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<Household>> {
        let criteria = filter.unwrap_or_default().into();
        register_page::<household::Entity, _>(ctx, criteria, order_by, first, after, Household)
            .await
    }

    /// One household's full record.
    async fn household(&self, ctx: &Context<'_>, id: ID) -> AppResult<Household> {
        let id = decode(&id, "id", &[IdKind::Household]);
        records::view::<household::Entity>(ctx.service(), id)
            .await
            .map(Household)
    }
}

/// Household mutations.
#[derive(Default)]
pub struct HouseholdMutation;

#[Object]
impl HouseholdMutation {
    /// Registers a household at its enquiry (RECRUITMENT_OFFICER); records the `ENQUIRY`.
    async fn create_household(
        &self,
        ctx: &Context<'_>,
        input: CreateHouseholdInput,
    ) -> AppResult<HouseholdPayload> {
        let input = NewHousehold {
            authority_id: input
                .authority_id
                .map(|id| decode(&id, "authorityId", &[IdKind::Authority])),
            applicant_one_name: input.applicant_one_name,
            applicant_two_name: input.applicant_two_name,
            address: input.address,
            notes: input.notes,
            profile_name: input.profile_name,
            ethnicity: input.ethnicity,
            channel: input.channel,
            enquiry_on: input.enquiry_on.0,
            fast_track: input.fast_track,
        };
        let created = service::create_household(ctx.service(), input).await?;
        Ok(HouseholdPayload {
            household: Household(created),
        })
    }

    /// Changes a household's details, approval profile, availability or sharing
    /// (RECRUITMENT_OFFICER).
    async fn update_household(
        &self,
        ctx: &Context<'_>,
        input: UpdateHouseholdInput,
    ) -> AppResult<HouseholdPayload> {
        let id = decode(&input.id, "id", &[IdKind::Household]);
        let changes = HouseholdChanges {
            applicant_one_name: input.applicant_one_name,
            applicant_two_name: change(input.applicant_two_name, |v| v),
            address: change(input.address, |v| v),
            notes: change(input.notes, |v| v),
            profile_name: input.profile_name,
            ethnicity: input.ethnicity,
            approval: input.approval.map(ApprovalChanges::from),
            location: change(input.location, |a| (a.lat, a.lon)),
            profile_text: input.profile_text,
            available_for_matching: input.available_for_matching,
            shared_with_consortium: input.shared_with_consortium,
        };
        let updated =
            service::update_household(ctx.service(), id, input.expected_version, changes).await?;
        Ok(HouseholdPayload {
            household: Household(updated),
        })
    }

    /// Records the next step of a household's journey. `APPROVED` is a decision
    /// (DECISION_MAKER); `MATCHED`, `PLACED` and `ADOPTION_ORDER` come from the link
    /// workflow; everything else is for RECRUITMENT_OFFICERs.
    async fn record_recruitment_event(
        &self,
        ctx: &Context<'_>,
        input: RecordRecruitmentEventInput,
    ) -> AppResult<RecruitmentEventPayload> {
        let id = decode(&input.household_id, "householdId", &[IdKind::Household]);
        let event = RecruitmentEvent {
            stage: input.stage,
            occurred_on: input.occurred_on.0,
            reason: input.reason,
        };
        let (household, event) =
            service::record_recruitment_event(ctx.service(), id, input.expected_version, event)
                .await?;
        Ok(RecruitmentEventPayload {
            household: Household(household),
            event: RecruitmentEventView(event),
        })
    }
}

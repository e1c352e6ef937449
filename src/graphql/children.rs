//! Children and sibling groups: the register of the child's authority. The resolvers
//! decode ids and inputs, call `service::children` and map the records found.
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use entity::child;

use super::connection::{Conn, register_page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::inputs::{AreaInput, NeedsInput};
use super::links;
use super::scalars::Date;
use super::types::{Child, SiblingGroup};
use crate::domain::{ChildStatus, Ethnicity, Gender, NeedLevels, PlanChangeReason};
use crate::error::AppResult;
use crate::service::children::{
    self as service, BirthFamilyArea, ChildChanges, ChildCriteria, ChildOrder, Decision,
    GroupChanges, Identity, MilestoneChanges, NewChild,
};
use crate::service::records::{self, Decoded};

/// Filters on the children register.
#[derive(InputObject, Default)]
pub struct ChildFilterInput {
    pub authority_ids: Option<Vec<ID>>,
    pub statuses: Option<Vec<ChildStatus>>,
    /// Waiting (since SHOBPA decision or placement order) for more than this many days.
    pub waiting_longer_than_days: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    /// Every need at or below these levels.
    pub needs_at_most: Option<NeedsInput>,
    pub sibling_group_id: Option<ID>,
    pub in_sibling_group: Option<bool>,
    /// Case-insensitive text in the profile name.
    pub profile_name_contains: Option<String>,
}

/// The ids of a list, each decoded as a child's on `field`.
fn child_ids(ids: &[ID], field: &str) -> Vec<Decoded<i64>> {
    ids.iter()
        .map(|id| decode(id, field, &[IdKind::Child]))
        .collect()
}

/// The authority ids named in a filter, decoded.
pub fn authority_ids(ids: Option<Vec<ID>>) -> Option<Vec<Decoded<i64>>> {
    ids.map(|ids| {
        ids.iter()
            .map(|id| decode(id, "filter.authorityIds", &[IdKind::Authority]))
            .collect()
    })
}

impl From<ChildFilterInput> for ChildCriteria {
    fn from(f: ChildFilterInput) -> Self {
        ChildCriteria {
            authority_ids: authority_ids(f.authority_ids),
            statuses: f.statuses,
            waiting_longer_than_days: f.waiting_longer_than_days,
            age_min_months: f.age_min_months,
            age_max_months: f.age_max_months,
            needs_at_most: f.needs_at_most.map(NeedLevels::from),
            sibling_group_id: f
                .sibling_group_id
                .map(|id| decode(&id, "filter.siblingGroupId", &[IdKind::SiblingGroup])),
            in_sibling_group: f.in_sibling_group,
            profile_name_contains: f.profile_name_contains,
        }
    }
}

/// Religion, language and culture codes for matching, and notes for the profile.
#[derive(InputObject, Default)]
pub struct IdentityInput {
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    pub notes: Option<String>,
}

impl From<IdentityInput> for Identity {
    fn from(i: IdentityInput) -> Self {
        Identity {
            religion: i.religion,
            language: i.language,
            culture: i.culture,
            notes: i.notes,
        }
    }
}

/// Where the birth family lives and how far away adopters must be.
#[derive(InputObject)]
pub struct BirthFamilyAreaInput {
    pub location: AreaInput,
    pub min_distance_km: Option<f64>,
}

impl From<BirthFamilyAreaInput> for BirthFamilyArea {
    fn from(a: BirthFamilyAreaInput) -> Self {
        BirthFamilyArea {
            location: (a.location.lat, a.location.lon),
            min_distance_km: a.min_distance_km,
        }
    }
}

/// A change of a field that may be cleared: `None` leaves it, `Some(None)` clears it.
pub fn change<T, U>(value: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(f(v))),
    }
}

/// Names a link in a refusal by its global id.
fn link_name(id: i64) -> String {
    links::link_id(id).to_string()
}

fn child_payload(c: child::Model) -> ChildPayload {
    ChildPayload { child: Child(c) }
}

/// A new child.
#[derive(InputObject)]
pub struct CreateChildInput {
    /// The child's authority; may be left out by staff of a single authority.
    pub authority_id: Option<ID>,
    pub legal_name: String,
    pub date_of_birth: Date,
    pub profile_name: String,
    pub gender: Gender,
    #[graphql(default_with = "Ethnicity::NotRecorded")]
    pub ethnicity: Ethnicity,
    pub needs: Option<NeedsInput>,
    pub identity: Option<IdentityInput>,
    #[graphql(default)]
    pub requires_early_permanence: bool,
    pub birth_family_area: Option<BirthFamilyAreaInput>,
    pub birth_family_details: Option<String>,
    pub notes: Option<String>,
    #[graphql(default)]
    pub profile_text: String,
    #[graphql(default = true)]
    pub shared_with_consortium: bool,
    pub entered_care_on: Option<Date>,
}

/// Changes to a child's record; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateChildInput {
    pub id: ID,
    pub expected_version: i32,
    pub legal_name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub profile_name: Option<String>,
    pub gender: Option<Gender>,
    pub ethnicity: Option<Ethnicity>,
    pub needs: Option<NeedsInput>,
    pub identity: Option<IdentityInput>,
    pub requires_early_permanence: Option<bool>,
    /// `null` clears it.
    pub birth_family_area: MaybeUndefined<BirthFamilyAreaInput>,
    pub birth_family_details: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
    pub profile_text: Option<String>,
    pub shared_with_consortium: Option<bool>,
}

/// Milestone dates other than decisions; `null` clears a date (a correction). While a
/// link covers the child, `placedOn` and `adoptionOrderOn` are recorded by the link's steps
/// and changing them here is a `CONFLICT`.
#[derive(InputObject)]
pub struct RecordChildMilestonesInput {
    pub id: ID,
    pub expected_version: i32,
    pub entered_care_on: MaybeUndefined<Date>,
    pub adoption_plan_on: MaybeUndefined<Date>,
    pub placement_order_on: MaybeUndefined<Date>,
    pub placed_on: MaybeUndefined<Date>,
    pub adoption_order_on: MaybeUndefined<Date>,
    pub foster_placement_started_on: MaybeUndefined<Date>,
    pub adopted_by_foster_carers: Option<bool>,
    pub placement_order_revoked_on: MaybeUndefined<Date>,
}

/// A decision recorded by a decision maker.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ChildDecision {
    /// The agency decision that the child should be placed for adoption.
    Shobpa,
    /// The match decision, for a match made without a link (adopters outside the
    /// registers, a foster carer adoption). While a link covers the child, the match is
    /// recorded on the link (`recordMatchDecision`) and this is a `CONFLICT`.
    Match,
}

/// A decision on a child.
#[derive(InputObject)]
pub struct RecordChildDecisionInput {
    pub id: ID,
    pub expected_version: i32,
    pub decision: ChildDecision,
    pub decided_on: Date,
}

/// A change of plan away from adoption.
#[derive(InputObject)]
pub struct ChangeChildPlanInput {
    pub id: ID,
    pub expected_version: i32,
    pub changed_on: Date,
    pub reason: PlanChangeReason,
}

/// The child after a change.
#[derive(SimpleObject)]
pub struct ChildPayload {
    pub child: Child,
}

/// A new sibling group of children of one authority.
#[derive(InputObject)]
pub struct CreateSiblingGroupInput {
    pub child_ids: Vec<ID>,
    pub label: String,
    #[graphql(default = true)]
    pub must_stay_together: bool,
}

/// Changes to a sibling group.
#[derive(InputObject)]
pub struct UpdateSiblingGroupInput {
    pub id: ID,
    pub expected_version: i32,
    pub label: Option<String>,
    pub must_stay_together: Option<bool>,
    pub add_child_ids: Option<Vec<ID>>,
    pub remove_child_ids: Option<Vec<ID>>,
}

/// The sibling group after a change.
#[derive(SimpleObject)]
pub struct SiblingGroupPayload {
    pub sibling_group: SiblingGroup,
}

/// Child queries.
#[derive(Default)]
pub struct ChildQuery;

#[Object]
impl ChildQuery {
    /// Full records of children of the authorities where the actor may read them.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChildFilterInput>,
        #[graphql(default_with = "ChildOrder::Created")] order_by: ChildOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<Child>> {
        let criteria = filter.unwrap_or_default().into();
        register_page::<child::Entity, _>(ctx, criteria, order_by, first, after, Child).await
    }

    /// One child's full record.
    async fn child(&self, ctx: &Context<'_>, id: ID) -> AppResult<Child> {
        let id = decode(&id, "id", &[IdKind::Child]);
        records::view::<child::Entity>(ctx.service(), id)
            .await
            .map(Child)
    }

    /// A sibling group of the actor's authority.
    async fn sibling_group(&self, ctx: &Context<'_>, id: ID) -> AppResult<SiblingGroup> {
        let id = decode(&id, "id", &[IdKind::SiblingGroup]);
        service::view_group(ctx.service(), id)
            .await
            .map(SiblingGroup)
    }
}

/// Child mutations.
#[derive(Default)]
pub struct ChildMutation;

#[Object]
impl ChildMutation {
    /// Registers a child (SOCIAL_WORKER of the child's authority).
    async fn create_child(
        &self,
        ctx: &Context<'_>,
        input: CreateChildInput,
    ) -> AppResult<ChildPayload> {
        let input = NewChild {
            authority_id: input
                .authority_id
                .map(|id| decode(&id, "authorityId", &[IdKind::Authority])),
            legal_name: input.legal_name,
            date_of_birth: input.date_of_birth.0,
            profile_name: input.profile_name,
            gender: input.gender,
            ethnicity: input.ethnicity,
            needs: input.needs.map(NeedLevels::from).unwrap_or_default(),
            identity: input.identity.map(Identity::from).unwrap_or_default(),
            requires_early_permanence: input.requires_early_permanence,
            birth_family_area: input.birth_family_area.map(BirthFamilyArea::from),
            birth_family_details: input.birth_family_details,
            notes: input.notes,
            profile_text: input.profile_text,
            shared_with_consortium: input.shared_with_consortium,
            entered_care_on: input.entered_care_on.map(|d| d.0),
        };
        service::create_child(ctx.service(), input)
            .await
            .map(child_payload)
    }

    /// Changes a child's record (SOCIAL_WORKER).
    async fn update_child(
        &self,
        ctx: &Context<'_>,
        input: UpdateChildInput,
    ) -> AppResult<ChildPayload> {
        let id = decode(&input.id, "id", &[IdKind::Child]);
        let changes = ChildChanges {
            legal_name: input.legal_name,
            date_of_birth: input.date_of_birth.map(|d| d.0),
            profile_name: input.profile_name,
            gender: input.gender,
            ethnicity: input.ethnicity,
            needs: input.needs.map(NeedLevels::from),
            identity: input.identity.map(Identity::from),
            requires_early_permanence: input.requires_early_permanence,
            birth_family_area: change(input.birth_family_area, BirthFamilyArea::from),
            birth_family_details: change(input.birth_family_details, |v| v),
            notes: change(input.notes, |v| v),
            profile_text: input.profile_text,
            shared_with_consortium: input.shared_with_consortium,
        };
        service::update_child(ctx.service(), id, input.expected_version, changes)
            .await
            .map(child_payload)
    }

    /// Records or corrects milestone dates other than decisions (SOCIAL_WORKER). The
    /// ordering rules apply to the whole set after the change.
    async fn record_child_milestones(
        &self,
        ctx: &Context<'_>,
        input: RecordChildMilestonesInput,
    ) -> AppResult<ChildPayload> {
        let id = decode(&input.id, "id", &[IdKind::Child]);
        let date = |d: Date| d.0;
        let changes = MilestoneChanges {
            entered_care_on: change(input.entered_care_on, date),
            adoption_plan_on: change(input.adoption_plan_on, date),
            placement_order_on: change(input.placement_order_on, date),
            placed_on: change(input.placed_on, date),
            adoption_order_on: change(input.adoption_order_on, date),
            foster_placement_started_on: change(input.foster_placement_started_on, date),
            adopted_by_foster_carers: input.adopted_by_foster_carers,
            placement_order_revoked_on: change(input.placement_order_revoked_on, date),
        };
        service::record_milestones(
            ctx.service(),
            id,
            input.expected_version,
            changes,
            link_name,
        )
        .await
        .map(child_payload)
    }

    /// Records the SHOBPA or match decision (DECISION_MAKER of the child's authority).
    async fn record_child_decision(
        &self,
        ctx: &Context<'_>,
        input: RecordChildDecisionInput,
    ) -> AppResult<ChildPayload> {
        let id = decode(&input.id, "id", &[IdKind::Child]);
        let decision = match input.decision {
            ChildDecision::Shobpa => Decision::Shobpa,
            ChildDecision::Match => Decision::Match,
        };
        service::record_decision(
            ctx.service(),
            id,
            input.expected_version,
            decision,
            input.decided_on.0,
            link_name,
        )
        .await
        .map(child_payload)
    }

    /// Records that the plan changed away from adoption (SOCIAL_WORKER).
    async fn change_child_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangeChildPlanInput,
    ) -> AppResult<ChildPayload> {
        let id = decode(&input.id, "id", &[IdKind::Child]);
        service::change_plan(
            ctx.service(),
            id,
            input.expected_version,
            input.changed_on.0,
            input.reason,
        )
        .await
        .map(child_payload)
    }

    /// Puts two or more children of one authority into a new sibling group (SOCIAL_WORKER).
    async fn create_sibling_group(
        &self,
        ctx: &Context<'_>,
        input: CreateSiblingGroupInput,
    ) -> AppResult<SiblingGroupPayload> {
        let ids = child_ids(&input.child_ids, "childIds");
        let group =
            service::create_group(ctx.service(), ids, &input.label, input.must_stay_together)
                .await?;
        Ok(SiblingGroupPayload {
            sibling_group: SiblingGroup(group),
        })
    }

    /// Renames a group, changes its together flag, or adds and removes children.
    async fn update_sibling_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateSiblingGroupInput,
    ) -> AppResult<SiblingGroupPayload> {
        let id = decode(&input.id, "id", &[IdKind::SiblingGroup]);
        let changes = GroupChanges {
            label: input.label,
            must_stay_together: input.must_stay_together,
            add_child_ids: input
                .add_child_ids
                .map(|ids| child_ids(&ids, "addChildIds")),
            remove_child_ids: input
                .remove_child_ids
                .map(|ids| child_ids(&ids, "removeChildIds")),
        };
        let group =
            service::update_group(ctx.service(), id, input.expected_version, changes).await?;
        Ok(SiblingGroupPayload {
            sibling_group: SiblingGroup(group),
        })
    }
}

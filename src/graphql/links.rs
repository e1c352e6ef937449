//! Links between a child (or a must-stay-together sibling group) and an approved household,
//! and the workflow `propose → accept → match → place → adoption order` (DESIGN §2).
//!
//! Each authority sees the links that involve it; the other side's child or household is
//! shown as its shared profile. Every step takes the link's `expectedVersion` and is one
//! transaction with its effects: the child's milestone dates, the household's stage,
//! availability and `MATCHED`/`PLACED`/`ADOPTION_ORDER` recruitment events, and the audit
//! events.
//!
//! The use cases — proposing, the steps, the reads, and the decisions they take (dates,
//! disruptions, sibling groups, fees) — are [`crate::service::links`]'s; this module
//! decodes the input and shows the links.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::link;
use serde_json::json;

use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode, encode};
use super::matching::unit_ids;
use super::scalars::Date;
use super::types::{Authority, ChildRecord, HouseholdRecord, authority, child_records};
use crate::domain::links::LinkState;
use crate::error::AppResult;
use crate::service::codes;
use crate::service::links::{self, LinkFilter, Proposal, Step};

/// The global id of link `id`.
pub fn link_id(id: i64) -> ID {
    encode(IdKind::Link, id)
}

/// The number of a link's global id; an id of another kind answers `NOT_FOUND`, a
/// malformed one is bad input on `field`.
pub fn decode_link(id: &str, field: &str) -> AppResult<i64> {
    decode(id, field, &[IdKind::Link])
}

/// A link as its parties see it.
#[derive(Clone)]
pub struct LinkView(pub link::Model);

#[Object(name = "Link")]
impl LinkView {
    pub async fn id(&self) -> ID {
        link_id(self.0.id)
    }
    /// Bumped by every step; pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn state(&self) -> LinkState {
        codes::link_state(&self.0).unwrap_or(LinkState::Proposed)
    }
    /// The child, or every member of the sibling group linked as one unit: full records in
    /// the child's authority, shared profiles for the household's side.
    async fn children(&self, ctx: &Context<'_>) -> AppResult<Vec<ChildRecord>> {
        let viewed = links::children(ctx.service(), &self.0).await?;
        child_records(ctx, viewed).await
    }
    /// The sibling group linked as one unit, if it is one.
    async fn sibling_group_id(&self) -> Option<ID> {
        self.0
            .sibling_group_id
            .map(|g| encode(IdKind::SiblingGroup, g))
    }
    /// The household: its full record for its own authority, its shared profile for the
    /// child's side.
    async fn household(&self, ctx: &Context<'_>) -> AppResult<Option<HouseholdRecord>> {
        let found = links::household(ctx.service(), &self.0).await?;
        Ok(found.and_then(|(h, view)| super::types::household_record(ctx, h, view)))
    }
    async fn child_authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.child_authority_id)
    }
    async fn household_authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.household_authority_id)
    }
    /// The side that proposed the link.
    async fn proposed_by(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.proposed_by_authority_id)
    }
    /// The child's and the household's authorities differ.
    async fn cross_boundary(&self) -> bool {
        self.0.cross_boundary
    }
    /// The inter-agency fee agreed, in pence.
    async fn inter_agency_fee_pence(&self) -> Option<i64> {
        self.0.inter_agency_fee_pence
    }
    /// Why the link was declined, withdrawn or disrupted.
    async fn end_reason(&self) -> Option<&str> {
        self.0.end_reason.as_deref()
    }
    async fn proposed_on(&self) -> Date {
        Date(self.0.proposed_on)
    }
    async fn accepted_on(&self) -> Option<Date> {
        self.0.accepted_on.map(Date)
    }
    async fn matched_on(&self) -> Option<Date> {
        self.0.matched_on.map(Date)
    }
    async fn placed_on(&self) -> Option<Date> {
        self.0.placed_on.map(Date)
    }
    async fn adoption_order_on(&self) -> Option<Date> {
        self.0.adoption_order_on.map(Date)
    }
    /// When the link was declined, withdrawn or disrupted.
    async fn ended_on(&self) -> Option<Date> {
        self.0.ended_on.map(Date)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Filters on links.
#[derive(InputObject, Default)]
pub struct LinkFilterInput {
    pub states: Option<Vec<LinkState>>,
    /// Links covering this child, alone or with its sibling group.
    pub child_id: Option<ID>,
    pub sibling_group_id: Option<ID>,
    pub household_id: Option<ID>,
    pub cross_boundary: Option<bool>,
}

fn link_filter(input: &LinkFilterInput) -> AppResult<LinkFilter> {
    Ok(LinkFilter {
        states: input.states.clone(),
        child_id: input
            .child_id
            .as_ref()
            .map(|id| decode(id, "filter.childId", &[IdKind::Child, IdKind::ChildProfile]))
            .transpose()?,
        sibling_group_id: input
            .sibling_group_id
            .as_ref()
            .map(|id| decode(id, "filter.siblingGroupId", &[IdKind::SiblingGroup]))
            .transpose()?,
        household_id: input
            .household_id
            .as_ref()
            .map(|id| {
                decode(
                    id,
                    "filter.householdId",
                    &[IdKind::Household, IdKind::HouseholdProfile],
                )
            })
            .transpose()?,
        cross_boundary: input.cross_boundary,
    })
}

/// Link queries.
#[derive(Default)]
pub struct LinkQuery;

#[Object]
impl LinkQuery {
    /// Links involving the caller's authorities, on either side, most recent first.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn links(
        &self,
        ctx: &Context<'_>,
        filter: Option<LinkFilterInput>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<LinkView>> {
        let filter = link_filter(&filter.unwrap_or_default());
        let (rows, page, total) = links::list(ctx.service(), page(first, after), filter).await?;
        Ok(connection(
            rows.into_iter().map(LinkView).collect(),
            page,
            total,
        ))
    }

    /// One link involving the caller's authorities.
    async fn link(&self, ctx: &Context<'_>, id: ID) -> AppResult<LinkView> {
        let l = links::view(ctx.service(), decode_link(&id, "id"), json!({})).await?;
        Ok(LinkView(l))
    }
}

/// A new link between a child (or a must-stay-together sibling group) and an approved
/// household. Name either `childId` or `siblingGroupId`.
#[derive(InputObject)]
pub struct ProposeLinkInput {
    pub child_id: Option<ID>,
    pub sibling_group_id: Option<ID>,
    pub household_id: ID,
    /// The inter-agency fee, in pence, of a cross-boundary link.
    pub inter_agency_fee_pence: Option<i64>,
}

/// A step that needs nothing but the link.
#[derive(InputObject)]
pub struct AcceptLinkInput {
    pub id: ID,
    pub expected_version: i32,
}

/// A step that ends an open link.
#[derive(InputObject)]
pub struct EndLinkInput {
    pub id: ID,
    pub expected_version: i32,
    /// Why; seen by both authorities, so no personal details.
    pub reason: String,
}

/// The match decision.
#[derive(InputObject)]
pub struct RecordMatchDecisionInput {
    pub id: ID,
    pub expected_version: i32,
    pub decided_on: Date,
    /// The inter-agency fee, in pence, of a cross-boundary link, if agreed now.
    pub inter_agency_fee_pence: Option<i64>,
}

/// The child moved in with the family.
#[derive(InputObject)]
pub struct RecordPlacementInput {
    pub id: ID,
    pub expected_version: i32,
    pub placed_on: Date,
}

/// The adoption order was made.
#[derive(InputObject)]
pub struct RecordAdoptionOrderInput {
    pub id: ID,
    pub expected_version: i32,
    pub made_on: Date,
}

/// The match or placement broke down before the adoption order.
#[derive(InputObject)]
pub struct RecordDisruptionInput {
    pub id: ID,
    pub expected_version: i32,
    pub disrupted_on: Date,
    /// Why; seen by both authorities, so no personal details.
    pub reason: String,
}

/// The link after a step.
#[derive(SimpleObject)]
pub struct LinkPayload {
    pub link: LinkView,
}

/// Takes `step` on the link `id` names and answers with the link after it.
async fn take_step(
    ctx: &Context<'_>,
    id: &ID,
    expected_version: i32,
    step: Step,
) -> AppResult<LinkPayload> {
    let l = links::take_step(ctx.service(), decode_link(id, "id"), expected_version, step).await?;
    Ok(LinkPayload { link: LinkView(l) })
}

/// Link mutations.
#[derive(Default)]
pub struct LinkMutation;

#[Object]
impl LinkMutation {
    /// Proposes a link (FAMILY_FINDER or DECISION_MAKER of the child's or the household's
    /// authority; the other side must be visible to the caller). The child must be waiting
    /// and the household approved and available. A child of a must-stay-together sibling
    /// group is linked only with its group (`siblingGroupId`).
    async fn propose_link(
        &self,
        ctx: &Context<'_>,
        input: ProposeLinkInput,
    ) -> AppResult<LinkPayload> {
        let (child_id, sibling_group_id) =
            unit_ids(input.child_id.as_ref(), input.sibling_group_id.as_ref());
        let proposal = Proposal {
            child_id,
            sibling_group_id,
            household_id: decode(
                &input.household_id,
                "householdId",
                &[IdKind::Household, IdKind::HouseholdProfile],
            ),
            inter_agency_fee_pence: input.inter_agency_fee_pence,
        };
        let created = links::propose(ctx.service(), proposal).await?;
        Ok(LinkPayload {
            link: LinkView(created),
        })
    }

    /// Accepts a proposed link: both sides now explore the match (FAMILY_FINDER or
    /// DECISION_MAKER of the side that did not propose).
    async fn accept_link(
        &self,
        ctx: &Context<'_>,
        input: AcceptLinkInput,
    ) -> AppResult<LinkPayload> {
        take_step(ctx, &input.id, input.expected_version, Step::Accept).await
    }

    /// Declines a link; the pair is not suggested again (FAMILY_FINDER or DECISION_MAKER:
    /// of the side that did not propose while `PROPOSED`, of either side while
    /// `EXPLORING`).
    async fn decline_link(&self, ctx: &Context<'_>, input: EndLinkInput) -> AppResult<LinkPayload> {
        let step = Step::Decline {
            reason: input.reason,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }

    /// Withdraws an open link (FAMILY_FINDER or DECISION_MAKER of either side).
    async fn withdraw_link(
        &self,
        ctx: &Context<'_>,
        input: EndLinkInput,
    ) -> AppResult<LinkPayload> {
        let step = Step::Withdraw {
            reason: input.reason,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }

    /// Records the match decision on an `EXPLORING` link (DECISION_MAKER of the child's
    /// authority): sets the children's `matchDecisionOn`, records the household's `MATCHED`
    /// event and takes it off the market — all at once. At most one matched or placed link
    /// per child, sibling group and household: a second answers `CONFLICT`.
    async fn record_match_decision(
        &self,
        ctx: &Context<'_>,
        input: RecordMatchDecisionInput,
    ) -> AppResult<LinkPayload> {
        let step = Step::DecideMatch {
            decided_on: input.decided_on.0,
            inter_agency_fee_pence: input.inter_agency_fee_pence,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }

    /// Records that the child (or group) moved in with the family (SOCIAL_WORKER or
    /// DECISION_MAKER of the child's authority): the children's `placedOn` and the
    /// household's `PLACED` event.
    async fn record_placement(
        &self,
        ctx: &Context<'_>,
        input: RecordPlacementInput,
    ) -> AppResult<LinkPayload> {
        let step = Step::RecordPlacement {
            placed_on: input.placed_on.0,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }

    /// Records the adoption order (SOCIAL_WORKER or DECISION_MAKER of the child's
    /// authority): the children's `adoptionOrderOn` and the household's `ADOPTION_ORDER`
    /// event. The link is then `ADOPTED`.
    async fn record_adoption_order(
        &self,
        ctx: &Context<'_>,
        input: RecordAdoptionOrderInput,
    ) -> AppResult<LinkPayload> {
        let step = Step::RecordAdoptionOrder {
            made_on: input.made_on.0,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }

    /// Records that a match or placement broke down before the adoption order (SOCIAL_WORKER
    /// or DECISION_MAKER of the child's authority). The child is waiting again (its match
    /// and placement dates are cleared; the link keeps them); the household is back to
    /// `APPROVED` but not available for matching until its agency makes it available again
    /// after reviewing the approval.
    async fn record_disruption(
        &self,
        ctx: &Context<'_>,
        input: RecordDisruptionInput,
    ) -> AppResult<LinkPayload> {
        let step = Step::RecordDisruption {
            disrupted_on: input.disrupted_on.0,
            reason: input.reason,
        };
        take_step(ctx, &input.id, input.expected_version, step).await
    }
}

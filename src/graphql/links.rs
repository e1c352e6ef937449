//! Links between a child (or a must-stay-together sibling group) and an approved household,
//! and the workflow `propose → accept → match → place → adoption order` (DESIGN §2).
//!
//! Each authority sees the links that involve it; the other side's child or household is
//! shown as its shared profile. Every step takes the link's `expectedVersion` and is one
//! transaction with its effects: the child's milestone dates, the household's stage,
//! availability and `MATCHED`/`PLACED`/`ADOPTION_ORDER` recruitment events, and the audit
//! events.
//!
//! Decisions taken here:
//! * **Dates.** Proposal, acceptance, decline and withdrawal happen in the system and are
//!   dated today. The match decision, placement, adoption order and disruption record
//!   events of the child's journey and carry their date, which may not be in the future
//!   nor before the link's previous step, and must fit the child's milestones.
//! * **A disruption** (of a `MATCHED` or `PLACED` link, before the adoption order) returns
//!   the child to waiting: the link keeps the match and placement dates, the child's
//!   `matchDecisionOn` and `placedOn` are cleared, so the child is back in the pool and the
//!   scorecard later measures the placement that led to the adoption. The household returns
//!   to `APPROVED` (its events keep the history of the stages it reached) but is not
//!   available for matching until its agency has reviewed the approval and makes it
//!   available again (`updateHousehold`). This is the one way back from `MATCHED`/`PLACED`
//!   to `APPROVED`, and it exists only on this path.
//! * **Sibling groups.** A must-stay-together group is linked as one unit (one link for
//!   the group); its members cannot be linked alone. A group that may be placed apart is
//!   not a unit: its children are linked one by one.
//! * **Inter-agency fee**, in pence, may be recorded on a cross-boundary link when it is
//!   proposed or when the match is decided.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{child, household, link, recruitment_event};
use sea_orm::ActiveValue::Set;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode, encode};
use super::inputs::text;
use super::matching::load_unit;
use super::scalars::Date;
use super::types::{Authority, ChildRecord, HouseholdRecord, authority, child_records};
use crate::auth::policy::milestones_of;
use crate::auth::{Actor, Capability, View};
use crate::domain::links::{LinkDates, LinkState, LinkStep};
use crate::domain::{AuditAction, RecruitmentEvent, Stage, StageMachine};
use crate::error::{AppError, AppResult};
use crate::service::events;
use crate::store;
use crate::store::links::{
    ChildGuard, ChildWrite, HouseholdWrite, LinkFilter, LinkScope, StepWrite,
};

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
        LinkState::from_code(&self.0.state).unwrap_or(LinkState::Proposed)
    }
    /// The child, or every member of the sibling group linked as one unit: full records in
    /// the child's authority, shared profiles for the household's side.
    async fn children(&self, ctx: &Context<'_>) -> AppResult<Vec<ChildRecord>> {
        let actor = ctx.actor()?;
        let children = store::links::children(&ctx.state().db, self.0.id).await?;
        let viewed = children
            .into_iter()
            .map(|c| {
                let view = actor.linked_child_view(&self.0, &c);
                (c, view)
            })
            .collect();
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
        let actor = ctx.actor()?;
        let found =
            store::households::find(&ctx.state().db, self.0.consortium_id, self.0.household_id)
                .await?;
        Ok(found.and_then(|h| {
            let view = actor.linked_household_view(&self.0, &h);
            super::types::household_record(ctx, h, view)
        }))
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

/// The authority a link event is filed under: the side the actor acts for.
pub fn owner(actor: &Actor, l: &link::Model) -> i64 {
    if !actor.is_member_of(l.child_authority_id) && actor.is_member_of(l.household_authority_id) {
        l.household_authority_id
    } else {
        l.child_authority_id
    }
}

/// Loads a link the actor sees, or answers `NOT_FOUND`.
pub async fn visible_link(ctx: &Context<'_>, actor: &Actor, id: i64) -> AppResult<link::Model> {
    find_visible_link(&ctx.state().db, actor, id).await
}

/// Loads a link the actor sees, or answers `NOT_FOUND`: the one visibility rule of the
/// `link` query, the workflow steps and the `notifications` subscription.
pub async fn find_visible_link(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<link::Model> {
    match store::links::find(db, actor.consortium_id, id).await? {
        Some(l) if actor.sees_link(&l) => Ok(l),
        // Recorded under the child's authority, whose record the link is first of all.
        Some(l) => Err(AppError::hidden("Link", l.id, l.child_authority_id)),
        None => Err(AppError::NotFound),
    }
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
        let actor = ctx.actor()?;
        let authority_ids = actor.require_anywhere(Capability::ReadLinks)?;
        let page = page(first, after)?;
        let input = filter.unwrap_or_default();
        let filter = link_filter(&input)?;
        let scope = LinkScope {
            consortium_id: actor.consortium_id,
            authority_ids,
        };
        let (rows, total) = store::links::list(&ctx.state().db, &scope, &filter, page).await?;
        let used: Vec<&str> = [
            (input.states.is_some(), "states"),
            (input.child_id.is_some(), "childId"),
            (input.sibling_group_id.is_some(), "siblingGroupId"),
            (input.household_id.is_some(), "householdId"),
            (input.cross_boundary.is_some(), "crossBoundary"),
        ]
        .into_iter()
        .filter_map(|(u, n)| u.then_some(n))
        .collect();
        ctx.audit(
            AuditAction::Search,
            "Link",
            None,
            None,
            json!({ "filters": used }),
        );
        for l in &rows {
            ctx.audit(
                AuditAction::View,
                "Link",
                Some(l.id),
                Some(owner(actor, l)),
                json!({}),
            );
        }
        Ok(connection(
            rows.into_iter().map(LinkView).collect(),
            page,
            total,
        ))
    }

    /// One link involving the caller's authorities.
    async fn link(&self, ctx: &Context<'_>, id: ID) -> AppResult<LinkView> {
        let actor = ctx.actor()?;
        let l = visible_link(ctx, actor, decode_link(&id, "id")?).await?;
        ctx.audit(
            AuditAction::View,
            "Link",
            Some(l.id),
            Some(owner(actor, &l)),
            json!({}),
        );
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

fn fee(value: Option<i64>, cross_boundary: bool) -> AppResult<Option<i64>> {
    match value {
        Some(v) if v < 0 => Err(AppError::bad_input(
            "interAgencyFeePence",
            "the fee cannot be negative",
        )),
        Some(_) if !cross_boundary => Err(AppError::bad_input(
            "interAgencyFeePence",
            "a link within one authority has no inter-agency fee",
        )),
        v => Ok(v),
    }
}

/// Loads the link for `step`: seen by the actor (else `NOT_FOUND`), the step allowed to
/// the actor (else `FORBIDDEN`), still at `expected_version` (else `CONFLICT`).
async fn link_for_step(
    ctx: &Context<'_>,
    actor: &Actor,
    id: &ID,
    expected_version: i32,
    step: LinkStep,
) -> AppResult<link::Model> {
    let l = visible_link(ctx, actor, decode_link(id, "id")?).await?;
    actor.require_link_step(&l, step)?;
    if l.version != expected_version {
        return Err(AppError::Conflict(store::stale("link")));
    }
    Ok(l)
}

/// The state `step` leads `l` to, dated `on`: a step that no longer fits the link's state
/// is a `CONFLICT` (someone else moved it on), a date out of order bad input on `field`.
fn next_state(
    l: &link::Model,
    step: LinkStep,
    (field, on): (&'static str, NaiveDate),
    today: NaiveDate,
) -> AppResult<LinkState> {
    let state = LinkState::from_code(&l.state)
        .ok_or_else(|| AppError::from(anyhow::anyhow!("link {} has state {}", l.id, l.state)))?;
    let dates = LinkDates {
        proposed_on: Some(l.proposed_on),
        accepted_on: l.accepted_on,
        matched_on: l.matched_on,
        placed_on: l.placed_on,
        adoption_order_on: l.adoption_order_on,
    };
    crate::domain::links::step(state, step, &dates, (field, on), today).map_err(|e| {
        if e.field == "id" {
            AppError::Conflict(e.message)
        } else {
            AppError::bad_input(e.field, e.message)
        }
    })
}

/// The household's next stage, dated `on`, through its stage machine: a household that
/// cannot take it (left, on hold, moved on) is a `CONFLICT`, a date before its previous
/// event bad input on `field`.
fn household_step(
    h: &household::Model,
    stage: Stage,
    (field, on): (&'static str, NaiveDate),
    today: NaiveDate,
) -> AppResult<()> {
    let machine = StageMachine {
        stage: Stage::from_code(&h.stage).unwrap_or(Stage::Enquiry),
        on_hold: h.on_hold,
        last_on: h.stage_on,
        fast_track: h.fast_track,
    };
    let event = RecruitmentEvent {
        stage,
        occurred_on: on,
        reason: None,
    };
    machine.record(event, today).map(|_| ()).map_err(|e| {
        if e.field == "occurredOn" {
            AppError::bad_input(field, format!("for the household: {}", e.message))
        } else {
            AppError::Conflict(format!(
                "the household cannot move to {}: {}",
                stage.code(),
                e.message
            ))
        }
    })
}

/// What a step that moves the household writes: the guarded stage change and its event.
fn household_write(
    actor: &Actor,
    h: &household::Model,
    stage: Stage,
    on: NaiveDate,
    mut changes: household::ActiveModel,
) -> HouseholdWrite {
    changes.stage = Set(stage.code().into());
    changes.stage_on = Set(on);
    HouseholdWrite {
        id: h.id,
        from: Stage::from_code(&h.stage).unwrap_or(Stage::Enquiry),
        changes,
        event: Some(recruitment_event::ActiveModel {
            consortium_id: Set(h.consortium_id),
            authority_id: Set(h.authority_id),
            household_id: Set(h.id),
            stage: Set(stage.code().into()),
            occurred_on: Set(on),
            reason: Set(None),
            recorded_by: Set(actor.subject.clone()),
            recorded_at: Set(Utc::now()),
            ..Default::default()
        }),
    }
}

/// The link's children and household, as they are now.
async fn parties(
    ctx: &Context<'_>,
    l: &link::Model,
) -> AppResult<(Vec<child::Model>, household::Model)> {
    let db = &ctx.state().db;
    let children = store::links::children(db, l.id).await?;
    let household = store::households::find(db, l.consortium_id, l.household_id)
        .await?
        .ok_or(AppError::NotFound)?;
    if children.is_empty() {
        return Err(AppError::from(anyhow::anyhow!(
            "link {} covers no child",
            l.id
        )));
    }
    Ok((children, household))
}

/// Sets one milestone on each child (`None` clears it) and checks the whole set; a date
/// that does not fit is bad input on `field`.
fn child_writes(
    children: &[child::Model],
    field: &'static str,
    today: NaiveDate,
    guard: ChildGuard,
    set: impl Fn(&mut crate::domain::MilestoneDates),
) -> AppResult<Vec<ChildWrite>> {
    let mut writes = Vec::with_capacity(children.len());
    for c in children {
        let mut m = milestones_of(c);
        set(&mut m);
        let m = m
            .validate(c.date_of_birth, today)
            .map_err(|e| AppError::bad_input(field, e.message))?;
        writes.push(ChildWrite {
            id: c.id,
            changes: child::ActiveModel {
                match_decision_on: Set(m.match_decision_on),
                placed_on: Set(m.placed_on),
                adoption_order_on: Set(m.adoption_order_on),
                ..Default::default()
            },
            guard,
        });
    }
    Ok(writes)
}

/// A dated outcome of a link (placement, adoption order): the date, its input field, what
/// the children must already have, the household's stage, and whether the link then holds
/// the child and household.
struct Outcome {
    field: &'static str,
    on: NaiveDate,
    guard: ChildGuard,
    stage: Stage,
    holding: Option<bool>,
}

/// Records a dated outcome on a link: the link's state and date (`changes`), each child's
/// milestone (`set_child`) and the household's recruitment event, in one transaction.
async fn outcome_step(
    ctx: &Context<'_>,
    (id, expected_version): (&ID, i32),
    step: LinkStep,
    outcome: Outcome,
    set_child: impl Fn(&mut crate::domain::MilestoneDates),
    mut changes: link::ActiveModel,
) -> AppResult<LinkPayload> {
    let actor = ctx.actor()?;
    let l = link_for_step(ctx, actor, id, expected_version, step).await?;
    let today = ctx.request().today;
    let date = (outcome.field, outcome.on);
    let state = next_state(&l, step, date, today)?;
    let (children, h) = parties(ctx, &l).await?;
    let writes = child_writes(&children, outcome.field, today, outcome.guard, set_child)?;
    household_step(&h, outcome.stage, date, today)?;
    let household = household_write(actor, &h, outcome.stage, outcome.on, Default::default());
    changes.state = Set(state.code().into());
    let audit = step_audit(
        ctx,
        actor,
        &l,
        AuditAction::Update,
        step,
        &children,
        Some((&h, outcome.stage)),
    );
    write(
        ctx,
        StepWrite {
            link_id: l.id,
            expected_version,
            changes,
            holding: outcome.holding,
            children: writes,
            household: Some(household),
            audit,
        },
    )
    .await
}

/// The audit events of a step: the link, and each record it changed.
fn step_audit(
    ctx: &Context<'_>,
    actor: &Actor,
    l: &link::Model,
    action: AuditAction,
    step: LinkStep,
    children: &[child::Model],
    household: Option<(&household::Model, Stage)>,
) -> Vec<entity::audit_event::ActiveModel> {
    let mut rows = vec![ctx.audit_row(
        action,
        "Link",
        Some(l.id),
        Some(owner(actor, l)),
        json!({ "step": step.name(), "state": step.target().code() }),
    )];
    for c in children {
        rows.push(ctx.audit_row(
            AuditAction::Update,
            "Child",
            Some(c.id),
            Some(c.authority_id),
            json!({ "linkStep": step.name() }),
        ));
    }
    if let Some((h, stage)) = household {
        rows.push(ctx.audit_row(
            AuditAction::Update,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({ "linkStep": step.name(), "stage": stage.code() }),
        ));
    }
    rows
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
        let actor = ctx.actor()?;
        actor.require_anywhere(Capability::ProgressLinks)?;
        let db = &ctx.state().db;
        let household_id = decode(
            &input.household_id,
            "householdId",
            &[IdKind::Household, IdKind::HouseholdProfile],
        )?;
        let h = match store::households::find(db, actor.consortium_id, household_id).await? {
            Some(h) if actor.household_view(&h) != View::Hidden => h,
            Some(h) => return Err(AppError::hidden("Household", h.id, h.authority_id)),
            None => return Err(AppError::NotFound),
        };
        let unit = load_unit(
            ctx,
            actor,
            input.child_id.as_ref(),
            input.sibling_group_id.as_ref(),
        )
        .await?;
        if input.child_id.is_some() && unit.group.is_some() {
            return Err(AppError::bad_input(
                "childId",
                "this child must stay with its sibling group: link the group as one unit \
                 (siblingGroupId)",
            ));
        }
        let child_authority = unit.children[0].authority_id;
        let proposed_by = actor.proposing_authority(child_authority, h.authority_id)?;
        if !unit.children.iter().all(|c| milestones_of(c).is_waiting()) {
            return Err(AppError::bad_input(
                if unit.group.is_some() {
                    "siblingGroupId"
                } else {
                    "childId"
                },
                "only a child waiting for a family (active adoption plan, not matched) can be \
                 linked",
            ));
        }
        let approved = Stage::from_code(&h.stage) == Some(Stage::Approved);
        if !(approved && h.available_for_matching && !h.on_hold) {
            return Err(AppError::bad_input(
                "householdId",
                "only an approved household available for matching can be linked",
            ));
        }
        let child_ids: Vec<i64> = unit.children.iter().map(|c| c.id).collect();
        if store::links::any_child_held(db, &child_ids).await?
            || store::links::household_held(db, h.id).await?
        {
            return Err(AppError::Conflict(
                "the child or the household is already matched".into(),
            ));
        }
        let cross_boundary = child_authority != h.authority_id;
        let now = Utc::now();
        let model = link::ActiveModel {
            consortium_id: Set(actor.consortium_id),
            child_id: Set(unit.group.is_none().then(|| unit.children[0].id)),
            sibling_group_id: Set(unit.group.as_ref().map(|g| g.id)),
            household_id: Set(h.id),
            child_authority_id: Set(child_authority),
            household_authority_id: Set(h.authority_id),
            proposed_by_authority_id: Set(proposed_by),
            state: Set(LinkState::Proposed.code().into()),
            cross_boundary: Set(cross_boundary),
            inter_agency_fee_pence: Set(fee(input.inter_agency_fee_pence, cross_boundary)?),
            end_reason: Set(None),
            proposed_on: Set(ctx.request().today),
            accepted_on: Set(None),
            matched_on: Set(None),
            placed_on: Set(None),
            adoption_order_on: Set(None),
            ended_on: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let request = ctx.request().clone();
        let detail = json!({
            "step": "proposeLink",
            "crossBoundary": cross_boundary,
            "children": child_ids.len(),
        });
        let created = store::links::create(db, model, &child_ids, |id| {
            super::context::audit_row(
                &request,
                AuditAction::Create,
                "Link",
                Some(id),
                Some(proposed_by),
                detail,
            )
        })
        .await?;
        events::link_changed(ctx.state(), &created).await;
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
        let actor = ctx.actor()?;
        let step = LinkStep::Accept;
        let l = link_for_step(ctx, actor, &input.id, input.expected_version, step).await?;
        let today = ctx.request().today;
        let state = next_state(&l, step, ("id", today), today)?;
        let changes = link::ActiveModel {
            state: Set(state.code().into()),
            accepted_on: Set(Some(today)),
            ..Default::default()
        };
        let audit = step_audit(ctx, actor, &l, AuditAction::Update, step, &[], None);
        write(
            ctx,
            StepWrite {
                link_id: l.id,
                expected_version: input.expected_version,
                changes,
                holding: None,
                children: Vec::new(),
                household: None,
                audit,
            },
        )
        .await
    }

    /// Declines a link; the pair is not suggested again (FAMILY_FINDER or DECISION_MAKER:
    /// of the side that did not propose while `PROPOSED`, of either side while
    /// `EXPLORING`).
    async fn decline_link(&self, ctx: &Context<'_>, input: EndLinkInput) -> AppResult<LinkPayload> {
        end_open_link(ctx, input, LinkStep::Decline).await
    }

    /// Withdraws an open link (FAMILY_FINDER or DECISION_MAKER of either side).
    async fn withdraw_link(
        &self,
        ctx: &Context<'_>,
        input: EndLinkInput,
    ) -> AppResult<LinkPayload> {
        end_open_link(ctx, input, LinkStep::Withdraw).await
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
        let actor = ctx.actor()?;
        let step = LinkStep::DecideMatch;
        let l = link_for_step(ctx, actor, &input.id, input.expected_version, step).await?;
        let today = ctx.request().today;
        let on = input.decided_on.0;
        let state = next_state(&l, step, ("decidedOn", on), today)?;
        let fee = fee(input.inter_agency_fee_pence, l.cross_boundary)?;
        let (children, h) = parties(ctx, &l).await?;
        if let Some(group) = l.sibling_group_id {
            let members = store::children::members(&ctx.state().db, group).await?;
            let mut now: Vec<i64> = members.iter().map(|c| c.id).collect();
            now.sort_unstable();
            if now != children.iter().map(|c| c.id).collect::<Vec<_>>() {
                return Err(AppError::Conflict(
                    "the sibling group changed since the link was proposed; withdraw it and \
                     propose the group again"
                        .into(),
                ));
            }
        }
        if !children.iter().all(|c| milestones_of(c).is_waiting()) {
            return Err(AppError::Conflict(
                "the child is no longer waiting for a family".into(),
            ));
        }
        let writes = child_writes(&children, "decidedOn", today, ChildGuard::Unmatched, |m| {
            m.match_decision_on = Some(on);
        })?;
        household_step(&h, Stage::Matched, ("decidedOn", on), today)?;
        let household = household_write(
            actor,
            &h,
            Stage::Matched,
            on,
            household::ActiveModel {
                available_for_matching: Set(false),
                ..Default::default()
            },
        );
        let mut changes = link::ActiveModel {
            state: Set(state.code().into()),
            matched_on: Set(Some(on)),
            ..Default::default()
        };
        if fee.is_some() {
            changes.inter_agency_fee_pence = Set(fee);
        }
        let audit = step_audit(
            ctx,
            actor,
            &l,
            AuditAction::Decide,
            step,
            &children,
            Some((&h, Stage::Matched)),
        );
        write(
            ctx,
            StepWrite {
                link_id: l.id,
                expected_version: input.expected_version,
                changes,
                holding: Some(true),
                children: writes,
                household: Some(household),
                audit,
            },
        )
        .await
    }

    /// Records that the child (or group) moved in with the family (SOCIAL_WORKER or
    /// DECISION_MAKER of the child's authority): the children's `placedOn` and the
    /// household's `PLACED` event.
    async fn record_placement(
        &self,
        ctx: &Context<'_>,
        input: RecordPlacementInput,
    ) -> AppResult<LinkPayload> {
        let on = input.placed_on.0;
        outcome_step(
            ctx,
            (&input.id, input.expected_version),
            LinkStep::RecordPlacement,
            Outcome {
                field: "placedOn",
                on,
                guard: ChildGuard::Matched,
                stage: Stage::Placed,
                holding: None,
            },
            |m| m.placed_on = Some(on),
            link::ActiveModel {
                placed_on: Set(Some(on)),
                ..Default::default()
            },
        )
        .await
    }

    /// Records the adoption order (SOCIAL_WORKER or DECISION_MAKER of the child's
    /// authority): the children's `adoptionOrderOn` and the household's `ADOPTION_ORDER`
    /// event. The link is then `ADOPTED`.
    async fn record_adoption_order(
        &self,
        ctx: &Context<'_>,
        input: RecordAdoptionOrderInput,
    ) -> AppResult<LinkPayload> {
        let on = input.made_on.0;
        outcome_step(
            ctx,
            (&input.id, input.expected_version),
            LinkStep::RecordAdoptionOrder,
            Outcome {
                field: "madeOn",
                on,
                guard: ChildGuard::Placed,
                stage: Stage::AdoptionOrder,
                holding: Some(false),
            },
            |m| m.adoption_order_on = Some(on),
            link::ActiveModel {
                adoption_order_on: Set(Some(on)),
                ..Default::default()
            },
        )
        .await
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
        let actor = ctx.actor()?;
        let step = LinkStep::RecordDisruption;
        let l = link_for_step(ctx, actor, &input.id, input.expected_version, step).await?;
        let today = ctx.request().today;
        let on = input.disrupted_on.0;
        let state = next_state(&l, step, ("disruptedOn", on), today)?;
        let reason = text("reason", &input.reason, 500)?;
        let (children, h) = parties(ctx, &l).await?;
        let writes = child_writes(
            &children,
            "disruptedOn",
            today,
            ChildGuard::MatchedOrPlaced,
            |m| {
                m.match_decision_on = None;
                m.placed_on = None;
            },
        )?;
        let from = match Stage::from_code(&h.stage) {
            Some(stage @ (Stage::Matched | Stage::Placed)) => stage,
            _ => {
                return Err(AppError::Conflict(
                    "the household is no longer matched or placed".into(),
                ));
            }
        };
        if on < h.stage_on {
            return Err(AppError::bad_input(
                "disruptedOn",
                format!(
                    "for the household: the date cannot be before the previous event ({})",
                    h.stage_on
                ),
            ));
        }
        // The one way back to APPROVED (see the module header): no recruitment event, as
        // the household reaches no new stage; its events keep the stages it reached.
        let household = HouseholdWrite {
            id: h.id,
            from,
            changes: household::ActiveModel {
                stage: Set(Stage::Approved.code().into()),
                stage_on: Set(on),
                available_for_matching: Set(false),
                ..Default::default()
            },
            event: None,
        };
        let changes = link::ActiveModel {
            state: Set(state.code().into()),
            ended_on: Set(Some(on)),
            end_reason: Set(Some(reason)),
            ..Default::default()
        };
        let audit = step_audit(
            ctx,
            actor,
            &l,
            AuditAction::Update,
            step,
            &children,
            Some((&h, Stage::Approved)),
        );
        write(
            ctx,
            StepWrite {
                link_id: l.id,
                expected_version: input.expected_version,
                changes,
                holding: Some(false),
                children: writes,
                household: Some(household),
                audit,
            },
        )
        .await
    }
}

/// Declines or withdraws an open link.
async fn end_open_link(
    ctx: &Context<'_>,
    input: EndLinkInput,
    step: LinkStep,
) -> AppResult<LinkPayload> {
    let actor = ctx.actor()?;
    let l = link_for_step(ctx, actor, &input.id, input.expected_version, step).await?;
    let today = ctx.request().today;
    let state = next_state(&l, step, ("id", today), today)?;
    let reason = text("reason", &input.reason, 500)?;
    let changes = link::ActiveModel {
        state: Set(state.code().into()),
        ended_on: Set(Some(today)),
        end_reason: Set(Some(reason)),
        ..Default::default()
    };
    let audit = step_audit(ctx, actor, &l, AuditAction::Update, step, &[], None);
    write(
        ctx,
        StepWrite {
            link_id: l.id,
            expected_version: input.expected_version,
            changes,
            holding: None,
            children: Vec::new(),
            household: None,
            audit,
        },
    )
    .await
}

/// Writes a step and answers with the link. Once it has committed, the step is announced
/// to the subscribers of both sides, and so is every tracking alert it raised on a child
/// (a disruption returns the child to waiting).
async fn write(ctx: &Context<'_>, step: StepWrite) -> AppResult<LinkPayload> {
    let state = ctx.state();
    let link_id = step.link_id;
    let before = if step.children.is_empty() {
        Vec::new()
    } else {
        store::links::children(&state.db, link_id).await?
    };
    let updated = store::links::write_step(&state.db, step).await?;
    events::link_changed(state, &updated).await;
    if !before.is_empty() {
        match store::links::children(&state.db, link_id).await {
            Ok(after) => {
                let today = ctx.request().today;
                for c in &after {
                    let earlier = before.iter().find(|b| b.id == c.id);
                    events::child_changed(state, earlier, c, today).await;
                }
            }
            // The step itself has committed: it is answered; only the alerts are missed.
            Err(e) => {
                tracing::warn!(error = %e, "could not re-read a link's children for tracking alerts")
            }
        }
    }
    Ok(LinkPayload {
        link: LinkView(updated),
    })
}

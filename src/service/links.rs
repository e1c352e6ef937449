//! Links between a child (or a must-stay-together sibling group) and an approved household:
//! proposing, the workflow steps `propose → accept → match → place → adoption order`, and
//! reading them (DESIGN §2).
//!
//! Each authority sees the links that involve it ([`crate::auth::Actor::sees_link`]); who
//! may take which step, and which side an actor's events on a link are filed under, is the
//! policy's (the "Links" section of `auth::policy`). Every step takes the link's expected
//! version and is one transaction with its effects: the child's milestone dates, the
//! household's stage, availability and `MATCHED`/`PLACED`/`ADOPTION_ORDER` recruitment
//! events, and the audit events. Once it has committed, the step is announced
//! ([`super::events`]).
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
//!
//! Ids arrive decoded, each as the outcome of its decoding: a malformed id is refused at
//! the point where the use case first needs it, so the order of refusals does not depend
//! on the entry point.
use chrono::{NaiveDate, Utc};
use entity::{audit_event, child, household, link, recruitment_event};
use sea_orm::ActiveValue::Set;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::Service;
use super::events;
use super::input::text;
use super::matching::load_unit;
use super::records::find_seen;
use crate::auth::policy::milestones_of;
use crate::auth::{Actor, Capability, View};
use crate::domain::links::{LinkDates, LinkState, LinkStep};
use crate::domain::{AuditAction, MilestoneDraft, RecruitmentEvent, Stage, StageMachine};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::Page;
use crate::store::codes::{self, HouseholdCodes};
pub use crate::store::links::LinkFilter;
use crate::store::links::{ChildGuard, ChildWrite, HouseholdWrite, LinkScope, StepWrite};

// ---------------------------------------------------------------------------------------
// Reading links
// ---------------------------------------------------------------------------------------

/// Loads a link the actor sees, or answers `NOT_FOUND`: the one visibility rule of the
/// `link` query, the workflow steps and the `notifications` subscription.
pub async fn visible_link(
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

/// One link the actor sees, its read audited as a `VIEW` with `detail`.
pub async fn view(
    svc: Service<'_>,
    id: AppResult<i64>,
    detail: serde_json::Value,
) -> AppResult<link::Model> {
    let actor = svc.actor()?;
    let l = visible_link(svc.db(), actor, id?).await?;
    svc.audit(
        AuditAction::View,
        "Link",
        Some(l.id),
        Some(actor.link_side(&l)),
        detail,
    );
    Ok(l)
}

/// A page of the links involving the actor's authorities, on either side, most recent
/// first, with the total; the search and each link returned are audited.
pub async fn list(
    svc: Service<'_>,
    page: AppResult<Page>,
    filter: AppResult<LinkFilter>,
) -> AppResult<(Vec<link::Model>, Page, u64)> {
    let actor = svc.actor()?;
    let authority_ids = actor.require_anywhere(Capability::ReadLinks)?;
    let page = page?;
    let filter = filter?;
    let scope = LinkScope {
        consortium_id: actor.consortium_id,
        authority_ids,
    };
    let (rows, total) = store::links::list(svc.db(), &scope, &filter, page).await?;
    let used: Vec<&str> = [
        (filter.states.is_some(), "states"),
        (filter.child_id.is_some(), "childId"),
        (filter.sibling_group_id.is_some(), "siblingGroupId"),
        (filter.household_id.is_some(), "householdId"),
        (filter.cross_boundary.is_some(), "crossBoundary"),
    ]
    .into_iter()
    .filter_map(|(u, n)| u.then_some(n))
    .collect();
    svc.audit(
        AuditAction::Search,
        "Link",
        None,
        None,
        json!({ "filters": used }),
    );
    for l in &rows {
        svc.audit(
            AuditAction::View,
            "Link",
            Some(l.id),
            Some(actor.link_side(l)),
            json!({}),
        );
    }
    Ok((rows, page, total))
}

/// The child, or every member of the sibling group, that `link` covers, each at the view
/// the actor has of it as a party to the link.
pub async fn children(
    svc: Service<'_>,
    link: &link::Model,
) -> AppResult<Vec<(child::Model, View)>> {
    let actor = svc.actor()?;
    let children = super::loaders::link_children(svc, link.consortium_id, link.id).await?;
    Ok(children
        .into_iter()
        .map(|c| {
            let view = actor.linked_child_view(link, &c);
            (c, view)
        })
        .collect())
}

/// The household of `link`, at the view the actor has of it as a party to the link.
pub async fn household(
    svc: Service<'_>,
    link: &link::Model,
) -> AppResult<Option<(household::Model, View)>> {
    let actor = svc.actor()?;
    let found = super::loaders::household(svc, link.consortium_id, link.household_id).await?;
    Ok(found.map(|h| {
        let view = actor.linked_household_view(link, &h);
        (h, view)
    }))
}

// ---------------------------------------------------------------------------------------
// Proposing
// ---------------------------------------------------------------------------------------

/// A new link: either a child or a must-stay-together sibling group, and a household.
pub struct Proposal {
    /// Input `childId`.
    pub child_id: Option<AppResult<i64>>,
    /// Input `siblingGroupId`.
    pub sibling_group_id: Option<AppResult<i64>>,
    /// Input `householdId`.
    pub household_id: AppResult<i64>,
    /// The inter-agency fee, in pence, of a cross-boundary link.
    pub inter_agency_fee_pence: Option<i64>,
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

/// Proposes a link (FAMILY_FINDER or DECISION_MAKER of the child's or the household's
/// authority; the other side must be visible to the actor). The child must be waiting and
/// the household approved and available; neither may be held by another link.
pub async fn propose(svc: Service<'_>, input: Proposal) -> AppResult<link::Model> {
    let actor = svc.actor()?;
    actor.require_anywhere(Capability::ProgressLinks)?;
    let db = svc.db();
    let household_id = input.household_id?;
    let h = find_seen::<household::Entity>(db, actor, household_id).await?;
    let named_child = input.child_id.is_some();
    let unit = load_unit(svc, actor, input.child_id, input.sibling_group_id).await?;
    if named_child && unit.group.is_some() {
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
    let approved = h.stage_code() == Stage::Approved;
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
        proposed_on: Set(svc.today()),
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
    let detail = json!({
        "step": "proposeLink",
        "crossBoundary": cross_boundary,
        "children": child_ids.len(),
    });
    let created = store::links::create(db, model, &child_ids, |id| {
        svc.audit_row(
            AuditAction::Create,
            "Link",
            Some(id),
            Some(proposed_by),
            detail,
        )
    })
    .await?;
    events::link_changed(svc.state, &created).await;
    Ok(created)
}

// ---------------------------------------------------------------------------------------
// The workflow steps
// ---------------------------------------------------------------------------------------

/// A step of the workflow after the proposal, with what it carries. The dates are those of
/// the child's journey the step records; a reason is seen by both authorities.
pub enum Step {
    /// The side that did not propose accepts: both explore the match.
    Accept,
    /// The link is declined; the pair is not suggested again.
    Decline { reason: String },
    /// An open link is withdrawn.
    Withdraw { reason: String },
    /// The match decision, with the inter-agency fee if agreed now.
    DecideMatch {
        decided_on: NaiveDate,
        inter_agency_fee_pence: Option<i64>,
    },
    /// The child moved in with the family.
    RecordPlacement { placed_on: NaiveDate },
    /// The adoption order was made.
    RecordAdoptionOrder { made_on: NaiveDate },
    /// The match or placement broke down before the adoption order.
    RecordDisruption {
        disrupted_on: NaiveDate,
        reason: String,
    },
}

impl Step {
    /// The workflow step.
    fn kind(&self) -> LinkStep {
        match self {
            Step::Accept => LinkStep::Accept,
            Step::Decline { .. } => LinkStep::Decline,
            Step::Withdraw { .. } => LinkStep::Withdraw,
            Step::DecideMatch { .. } => LinkStep::DecideMatch,
            Step::RecordPlacement { .. } => LinkStep::RecordPlacement,
            Step::RecordAdoptionOrder { .. } => LinkStep::RecordAdoptionOrder,
            Step::RecordDisruption { .. } => LinkStep::RecordDisruption,
        }
    }

    /// The step's date and its input field: steps that happen in the system are dated
    /// `today` (a refusal of the step itself is then about the link, `id`).
    fn date(&self, today: NaiveDate) -> (&'static str, NaiveDate) {
        match self {
            Step::Accept | Step::Decline { .. } | Step::Withdraw { .. } => ("id", today),
            Step::DecideMatch { decided_on, .. } => ("decidedOn", *decided_on),
            Step::RecordPlacement { placed_on } => ("placedOn", *placed_on),
            Step::RecordAdoptionOrder { made_on } => ("madeOn", *made_on),
            Step::RecordDisruption { disrupted_on, .. } => ("disruptedOn", *disrupted_on),
        }
    }
}

/// Takes `step` on link `id` (input `id`), which must still be at `expected_version`, and
/// answers with the link after it. In order: the link must be seen by the actor (else
/// `NOT_FOUND`), the step allowed to the actor (else `FORBIDDEN`), the version current
/// (else `CONFLICT`), the step fit the link's state (else `CONFLICT`) and its date be in
/// order (else bad input on the date's field); then what the step itself checks.
pub async fn take_step(
    svc: Service<'_>,
    id: AppResult<i64>,
    expected_version: i32,
    step: Step,
) -> AppResult<link::Model> {
    let actor = svc.actor()?;
    let kind = step.kind();
    let l = link_for_step(svc, actor, id, expected_version, kind).await?;
    let today = svc.today();
    let state = next_state(&l, kind, step.date(today), today)?;
    let mut changes = link::ActiveModel {
        state: Set(state.code().into()),
        ..Default::default()
    };
    let step_write = |changes, holding, children, household, audit| StepWrite {
        link_id: l.id,
        expected_version,
        changes,
        holding,
        children,
        household,
        audit,
    };
    let written = match step {
        Step::Accept => {
            changes.accepted_on = Set(Some(today));
            let audit = step_audit(svc, actor, &l, AuditAction::Update, kind, &[], None);
            step_write(changes, None, Vec::new(), None, audit)
        }
        Step::Decline { reason } | Step::Withdraw { reason } => {
            let reason = text("reason", &reason, 500)?;
            changes.ended_on = Set(Some(today));
            changes.end_reason = Set(Some(reason));
            let audit = step_audit(svc, actor, &l, AuditAction::Update, kind, &[], None);
            step_write(changes, None, Vec::new(), None, audit)
        }
        Step::DecideMatch {
            decided_on: on,
            inter_agency_fee_pence,
        } => {
            let fee = fee(inter_agency_fee_pence, l.cross_boundary)?;
            let (children, h) = parties(svc, &l).await?;
            if let Some(group) = l.sibling_group_id {
                let members = store::children::members(svc.db(), group).await?;
                let mut now: Vec<i64> = members.iter().map(|c| c.id).collect();
                now.sort_unstable();
                if now != children.iter().map(|c| c.id).collect::<Vec<_>>() {
                    return Err(AppError::Conflict(
                        "the sibling group changed since the link was proposed; withdraw it \
                         and propose the group again"
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
            changes.matched_on = Set(Some(on));
            if fee.is_some() {
                changes.inter_agency_fee_pence = Set(fee);
            }
            let audit = step_audit(
                svc,
                actor,
                &l,
                AuditAction::Decide,
                kind,
                &children,
                Some((&h, Stage::Matched)),
            );
            step_write(changes, Some(true), writes, Some(household), audit)
        }
        Step::RecordPlacement { placed_on: on } => {
            changes.placed_on = Set(Some(on));
            let outcome = Outcome {
                field: "placedOn",
                on,
                guard: ChildGuard::Matched,
                stage: Stage::Placed,
                holding: None,
            };
            let (writes, household, audit) =
                outcome_step(svc, actor, &l, kind, &outcome, |m| m.placed_on = Some(on)).await?;
            step_write(changes, outcome.holding, writes, Some(household), audit)
        }
        Step::RecordAdoptionOrder { made_on: on } => {
            changes.adoption_order_on = Set(Some(on));
            let outcome = Outcome {
                field: "madeOn",
                on,
                guard: ChildGuard::Placed,
                stage: Stage::AdoptionOrder,
                holding: Some(false),
            };
            let (writes, household, audit) = outcome_step(svc, actor, &l, kind, &outcome, |m| {
                m.adoption_order_on = Some(on)
            })
            .await?;
            step_write(changes, outcome.holding, writes, Some(household), audit)
        }
        Step::RecordDisruption {
            disrupted_on: on,
            reason,
        } => {
            let reason = text("reason", &reason, 500)?;
            let (children, h) = parties(svc, &l).await?;
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
            let from = match h.stage_code() {
                stage @ (Stage::Matched | Stage::Placed) => stage,
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
            // The one way back to APPROVED (see the module header): no recruitment event,
            // as the household reaches no new stage; its events keep the stages it reached.
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
            changes.ended_on = Set(Some(on));
            changes.end_reason = Set(Some(reason));
            let audit = step_audit(
                svc,
                actor,
                &l,
                AuditAction::Update,
                kind,
                &children,
                Some((&h, Stage::Approved)),
            );
            step_write(changes, Some(false), writes, Some(household), audit)
        }
    };
    write(svc, written).await
}

/// Loads the link for `step`: seen by the actor (else `NOT_FOUND`), the step allowed to
/// the actor (else `FORBIDDEN`), still at `expected_version` (else `CONFLICT`).
async fn link_for_step(
    svc: Service<'_>,
    actor: &Actor,
    id: AppResult<i64>,
    expected_version: i32,
    step: LinkStep,
) -> AppResult<link::Model> {
    let l = visible_link(svc.db(), actor, id?).await?;
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
    let state = codes::link_state(l)
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
        stage: h.stage_code(),
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
        from: h.stage_code(),
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
    svc: Service<'_>,
    l: &link::Model,
) -> AppResult<(Vec<child::Model>, household::Model)> {
    let db = svc.db();
    let children = store::links::children(db, l.id).await?;
    let household = store::records::find::<household::Entity>(db, l.consortium_id, l.household_id)
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
    set: impl Fn(&mut MilestoneDraft),
) -> AppResult<Vec<ChildWrite>> {
    let mut writes = Vec::with_capacity(children.len());
    for c in children {
        let mut m = milestones_of(c).edit();
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

/// What a dated outcome writes besides the link: each child's milestone (`set_child`), the
/// household's recruitment event, and the audit events.
async fn outcome_step(
    svc: Service<'_>,
    actor: &Actor,
    l: &link::Model,
    step: LinkStep,
    outcome: &Outcome,
    set_child: impl Fn(&mut MilestoneDraft),
) -> AppResult<(
    Vec<ChildWrite>,
    HouseholdWrite,
    Vec<audit_event::ActiveModel>,
)> {
    let today = svc.today();
    let (children, h) = parties(svc, l).await?;
    let writes = child_writes(&children, outcome.field, today, outcome.guard, set_child)?;
    household_step(&h, outcome.stage, (outcome.field, outcome.on), today)?;
    let household = household_write(actor, &h, outcome.stage, outcome.on, Default::default());
    let audit = step_audit(
        svc,
        actor,
        l,
        AuditAction::Update,
        step,
        &children,
        Some((&h, outcome.stage)),
    );
    Ok((writes, household, audit))
}

/// The audit events of a step: the link, and each record it changed.
fn step_audit(
    svc: Service<'_>,
    actor: &Actor,
    l: &link::Model,
    action: AuditAction,
    step: LinkStep,
    children: &[child::Model],
    household: Option<(&household::Model, Stage)>,
) -> Vec<audit_event::ActiveModel> {
    let mut rows = vec![svc.audit_row(
        action,
        "Link",
        Some(l.id),
        Some(actor.link_side(l)),
        json!({ "step": step.name(), "state": step.target().code() }),
    )];
    for c in children {
        rows.push(svc.audit_row(
            AuditAction::Update,
            "Child",
            Some(c.id),
            Some(c.authority_id),
            json!({ "linkStep": step.name() }),
        ));
    }
    if let Some((h, stage)) = household {
        rows.push(svc.audit_row(
            AuditAction::Update,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({ "linkStep": step.name(), "stage": stage.code() }),
        ));
    }
    rows
}

/// Writes a step and answers with the link. Once it has committed, the step is announced
/// to the subscribers of both sides, and so is every tracking alert it raised on a child
/// (a disruption returns the child to waiting).
async fn write(svc: Service<'_>, step: StepWrite) -> AppResult<link::Model> {
    let state = svc.state;
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
                let today = svc.today();
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
    Ok(updated)
}

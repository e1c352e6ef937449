//! Match suggestions (DESIGN §4): households for a child or a must-stay-together sibling
//! group, children for a household, each explained criterion by criterion, with the pool
//! size and the exclusions tallied by rule; and the consortium's default weights.
//!
//! Who may ask: family finders and decision makers (`ProgressLinks`). What they get: only
//! records they may see — their own authorities' in full, other authorities' shared
//! profiles from the pool. The search is audited as a `SEARCH` (with no personal data,
//! and whether the weights were overridden), and every record returned as a `VIEW`.
use std::collections::HashMap;

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use entity::{child, sibling_group};
use serde_json::json;

use super::context::ContextExt;
use super::ids::{IdKind, decode, encode};
use super::scalars::Date;
use super::types::{ChildRecord, HouseholdRecord, child_records, household_record};
use crate::auth::{Actor, Capability, View};
use crate::domain::matching::{
    Criterion, CriterionScore, Exclusion, HardRule, MatchSubject, ValidWeights, Weights, evaluate,
    evaluate_children,
};
use crate::domain::{AuditAction, Role};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::matching::SubjectKey;

/// Suggestions returned when `first` is not given.
const DEFAULT_SUGGESTIONS: i32 = 10;
/// The most suggestions one query returns.
const MAX_SUGGESTIONS: i32 = 100;

/// One weight per soft criterion.
#[derive(SimpleObject, Clone, Copy)]
pub struct MatchWeights {
    pub needs_headroom: f64,
    pub age_fit: f64,
    pub identity: f64,
    pub distance: f64,
    pub waiting_time: f64,
    pub same_authority: f64,
}

impl From<Weights> for MatchWeights {
    fn from(w: Weights) -> Self {
        MatchWeights {
            needs_headroom: w.needs_headroom,
            age_fit: w.age_fit,
            identity: w.identity,
            distance: w.distance,
            waiting_time: w.waiting_time,
            same_authority: w.same_authority,
        }
    }
}

/// Weights to change; those left out keep their current value. Each is a finite number of
/// at least 0, and they may not all be 0.
#[derive(InputObject, Default, Clone, Copy)]
pub struct MatchWeightsInput {
    pub needs_headroom: Option<f64>,
    pub age_fit: Option<f64>,
    pub identity: Option<f64>,
    pub distance: Option<f64>,
    pub waiting_time: Option<f64>,
    pub same_authority: Option<f64>,
}

impl MatchWeightsInput {
    /// `base` with the weights given here replacing its own.
    fn over(&self, base: Weights) -> Weights {
        [
            (Criterion::NeedsHeadroom, self.needs_headroom),
            (Criterion::AgeFit, self.age_fit),
            (Criterion::Identity, self.identity),
            (Criterion::Distance, self.distance),
            (Criterion::WaitingTime, self.waiting_time),
            (Criterion::SameAuthority, self.same_authority),
        ]
        .into_iter()
        .fold(base, |w, (c, v)| v.map_or(w, |v| w.with(c, v)))
    }

    fn is_empty(&self) -> bool {
        [
            self.needs_headroom,
            self.age_fit,
            self.identity,
            self.distance,
            self.waiting_time,
            self.same_authority,
        ]
        .iter()
        .all(Option::is_none)
    }
}

/// Checks weights, naming the input field at fault (`{prefix}.{weight}`, or `prefix` when
/// the set as a whole is refused).
fn checked(weights: Weights, prefix: &str) -> AppResult<ValidWeights> {
    weights.validate().map_err(|e| {
        let field = if e.field == "weights" {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", e.field)
        };
        AppError::bad_input(field, e.message)
    })
}

/// The consortium's weights, or a valid fallback when the stored ones are not.
async fn consortium_weights(ctx: &Context<'_>, consortium_id: i64) -> AppResult<ValidWeights> {
    let stored = store::matching::weights(&ctx.state().db, consortium_id).await?;
    Ok(stored.validate().unwrap_or_else(|e| {
        tracing::warn!(consortium_id, error = %e, "stored match weights refused; using defaults");
        ValidWeights::default()
    }))
}

/// The weights of one query: the consortium's, with the caller's override if any.
async fn query_weights(
    ctx: &Context<'_>,
    actor: &Actor,
    input: Option<&MatchWeightsInput>,
) -> AppResult<(ValidWeights, bool)> {
    let base = consortium_weights(ctx, actor.consortium_id).await?;
    match input.filter(|i| !i.is_empty()) {
        None => Ok((base, false)),
        Some(input) => Ok((checked(input.over(base.weights()), "weights")?, true)),
    }
}

/// How many suggestions to return.
fn suggestion_count(first: Option<i32>) -> AppResult<usize> {
    match first.unwrap_or(DEFAULT_SUGGESTIONS) {
        n if n < 0 => Err(AppError::bad_input("first", "first cannot be negative")),
        n => Ok(n.min(MAX_SUGGESTIONS) as usize),
    }
}

/// The matching date: `asOf` (not in the future), or today.
fn matching_date(ctx: &Context<'_>, as_of: Option<Date>) -> AppResult<NaiveDate> {
    let today = ctx.request().today;
    match as_of {
        Some(d) if d.0 > today => Err(AppError::bad_input("asOf", "asOf cannot be in the future")),
        Some(d) if !crate::domain::report_bounds::in_report_range(d.0) => Err(AppError::bad_input(
            "asOf",
            format!(
                "asOf cannot be before {}-01-01",
                crate::domain::report_bounds::EARLIEST_REPORT_YEAR
            ),
        )),
        Some(d) => Ok(d.0),
        None => Ok(today),
    }
}

/// How many pairs one rule excluded.
#[derive(SimpleObject)]
pub struct ExclusionCount {
    pub rule: HardRule,
    /// A few words, e.g. "age range".
    pub label: String,
    pub count: u64,
}

fn exclusions(excluded: &[Exclusion]) -> Vec<ExclusionCount> {
    excluded
        .iter()
        .map(|e| ExclusionCount {
            rule: e.rule,
            label: e.rule.label().into(),
            count: e.count,
        })
        .collect()
}

/// One criterion of a suggestion.
#[derive(SimpleObject)]
pub struct CriterionExplanation {
    pub criterion: Criterion,
    /// 0 to 1. DISTANCE is banded, never exact: both locations are snapped to their square
    /// of a fixed 50 km grid and the distance between the squares' centres scores 1 within
    /// 50 km, 0.875 for 50–100 km, 0.625 for 100–150 km, 0.375 for 150–200 km, 0.125 for
    /// 200–250 km and 0 from 250 km (0.5 when a location is not recorded).
    pub score: f64,
    pub weight: f64,
    /// One line, with no personal data.
    pub reason: String,
}

fn explanations(criteria: Vec<CriterionScore>) -> Vec<CriterionExplanation> {
    criteria
        .into_iter()
        .map(|c| CriterionExplanation {
            criterion: c.criterion,
            score: c.score,
            weight: c.weight,
            reason: c.reason,
        })
        .collect()
}

/// A household suggested for a child or sibling group.
#[derive(SimpleObject)]
pub struct HouseholdSuggestion {
    /// The full record for a household of the caller's authority, else its shared profile.
    pub household: HouseholdRecord,
    /// 0 to 100: `100 × Σ weight·score / Σ weight` over the criteria (DISTANCE banded),
    /// rounded to 0.1, halves up. Suggestions are ranked on this rounded score.
    pub score: f64,
    /// Every criterion, weight 0 included.
    pub criteria: Vec<CriterionExplanation>,
}

/// Households for a child or sibling group, best first.
#[derive(SimpleObject)]
pub struct HouseholdSuggestions {
    /// The children matched as one unit: the child, or every member of its
    /// must-stay-together sibling group.
    pub children: Vec<ChildRecord>,
    /// The sibling group matched as one unit, if any.
    pub sibling_group_id: Option<ID>,
    pub as_of: Date,
    /// Households considered: approved, available, shared with the pool (or of the caller's
    /// authorities).
    pub pool_size: u64,
    /// Households passing every hard rule (suggestions may be fewer: see `first`).
    pub eligible: u64,
    /// Households excluded, by the first hard rule each failed; they sum to
    /// `poolSize − eligible`.
    pub excluded: Vec<ExclusionCount>,
    pub weights: MatchWeights,
    /// Whether the query's `weights` replaced some of the consortium's.
    pub weights_overridden: bool,
    pub suggestions: Vec<HouseholdSuggestion>,
}

/// A child or sibling group suggested for a household.
#[derive(SimpleObject)]
pub struct ChildSuggestion {
    /// The child, or every member of a must-stay-together sibling group: full records for
    /// the caller's authority, else shared profiles.
    pub children: Vec<ChildRecord>,
    pub sibling_group_id: Option<ID>,
    /// 0 to 100: `100 × Σ weight·score / Σ weight` over the criteria (DISTANCE banded),
    /// rounded to 0.1, halves up. Suggestions are ranked on this rounded score.
    pub score: f64,
    pub criteria: Vec<CriterionExplanation>,
}

/// Children for a household, best first (longest waiting first among equals).
#[derive(SimpleObject)]
pub struct ChildSuggestions {
    pub household: Option<HouseholdRecord>,
    pub as_of: Date,
    /// Children and sibling groups considered (a group counts once).
    pub pool_size: u64,
    pub eligible: u64,
    pub excluded: Vec<ExclusionCount>,
    pub weights: MatchWeights,
    pub weights_overridden: bool,
    pub suggestions: Vec<ChildSuggestion>,
}

/// What is matched: one child, or a must-stay-together sibling group.
pub struct Unit {
    pub children: Vec<child::Model>,
    pub group: Option<sibling_group::Model>,
}

impl Unit {
    fn key(&self) -> SubjectKey {
        match &self.group {
            Some(g) => SubjectKey::Group(g.id),
            None => SubjectKey::Child(self.children[0].id),
        }
    }
}

/// A [`Unit`] borrowed from the pool in memory.
struct UnitRef<'a> {
    children: Vec<&'a child::Model>,
    group: Option<&'a sibling_group::Model>,
}

impl UnitRef<'_> {
    fn key(&self) -> SubjectKey {
        match self.group {
            Some(g) => SubjectKey::Group(g.id),
            None => SubjectKey::Child(self.children[0].id),
        }
    }

    fn to_unit(&self) -> Unit {
        Unit {
            children: self.children.iter().map(|c| (*c).clone()).collect(),
            group: self.group.cloned(),
        }
    }
}

/// Loads the unit named by `childId` or `siblingGroupId`, every child of which the actor
/// must see (in full or as a shared profile); `NOT_FOUND` otherwise. A child of a
/// must-stay-together group stands for its whole group; a group that may be placed apart
/// is not a unit (`BAD_USER_INPUT`: its children are matched one by one).
pub async fn load_unit(
    ctx: &Context<'_>,
    actor: &Actor,
    child_id: Option<&ID>,
    sibling_group_id: Option<&ID>,
) -> AppResult<Unit> {
    let db = &ctx.state().db;
    let group_id = match (child_id, sibling_group_id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(AppError::bad_input(
                "childId",
                "name either a child (childId) or a sibling group (siblingGroupId)",
            ));
        }
        (Some(id), None) => {
            let id = decode(id, "childId", &[IdKind::Child, IdKind::ChildProfile])?;
            let c = match store::children::find(db, actor.consortium_id, id).await? {
                Some(c) if actor.child_view(&c) != View::Hidden => c,
                Some(c) => return Err(AppError::hidden("Child", c.id, c.authority_id)),
                None => return Err(AppError::NotFound),
            };
            let group = match c.sibling_group_id {
                Some(g) => store::children::find_group(db, actor.consortium_id, g).await?,
                None => None,
            };
            match group {
                Some(g) if g.must_stay_together => g.id,
                _ => {
                    return Ok(Unit {
                        children: vec![c],
                        group: None,
                    });
                }
            }
        }
        (None, Some(id)) => decode(id, "siblingGroupId", &[IdKind::SiblingGroup])?,
    };
    let group = store::children::find_group(db, actor.consortium_id, group_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let members = store::children::members(db, group.id).await?;
    if members.is_empty() || members.iter().any(|c| actor.child_view(c) == View::Hidden) {
        return Err(AppError::hidden(
            "SiblingGroup",
            group.id,
            group.authority_id,
        ));
    }
    if !group.must_stay_together {
        return Err(AppError::bad_input(
            "siblingGroupId",
            "this sibling group may be placed apart: its children are matched and linked one \
             by one",
        ));
    }
    Ok(Unit {
        children: members,
        group: Some(group),
    })
}

/// The children of `unit` at the views the actor has of them (audited).
async fn unit_records(
    ctx: &Context<'_>,
    actor: &Actor,
    unit: &Unit,
) -> AppResult<Vec<ChildRecord>> {
    let viewed = unit
        .children
        .iter()
        .map(|c| (c.clone(), actor.child_view(c)))
        .collect();
    child_records(ctx, viewed).await
}

/// Matching queries.
#[derive(Default)]
pub struct MatchingQuery;

#[Object]
impl MatchingQuery {
    /// Households for a child — or for its must-stay-together sibling group, matched as one
    /// unit — ranked by score (rounded to 0.1); ties go to the household waiting longest
    /// since approval, then the lowest id (FAMILY_FINDER, DECISION_MAKER). Name either
    /// `childId` or `siblingGroupId`. `weights` overrides some of the consortium's weights
    /// for this query (audited). `asOf` (not in the future, not before 1900) is the date
    /// ages, waiting days and the time since approval are counted to; nothing else is
    /// turned back: who is in the pool, the records' needs, preferences and locations,
    /// declined pairs and holding links are as they stand now, so an earlier result is
    /// reproduced only while none of those has changed since.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, DEFAULT_SUGGESTIONS, child_complexity)"
    )]
    #[tracing::instrument(skip_all, fields(first))]
    async fn match_suggestions(
        &self,
        ctx: &Context<'_>,
        child_id: Option<ID>,
        sibling_group_id: Option<ID>,
        first: Option<i32>,
        weights: Option<MatchWeightsInput>,
        as_of: Option<Date>,
    ) -> AppResult<HouseholdSuggestions> {
        let actor = ctx.actor()?;
        actor.require_anywhere(Capability::ProgressLinks)?;
        let first = suggestion_count(first)?;
        let as_of = matching_date(ctx, as_of)?;
        let (weights, overridden) = query_weights(ctx, actor, weights.as_ref()).await?;
        let unit = load_unit(ctx, actor, child_id.as_ref(), sibling_group_id.as_ref()).await?;
        let db = &ctx.state().db;

        let child_ids: Vec<i64> = unit.children.iter().map(|c| c.id).collect();
        let declined = store::matching::declined_households(db, unit.key()).await?;
        let already_matched = store::links::any_child_held(db, &child_ids).await?
            || unit
                .children
                .iter()
                .any(|c| c.match_decision_on.is_some() || c.placed_on.is_some());
        let match_children: Vec<_> = unit
            .children
            .iter()
            .map(store::matching::match_child)
            .collect();
        let subject = MatchSubject::new(&match_children)
            .map_err(|e| AppError::from(anyhow::anyhow!("match subject: {e}")))?
            .with_declined(declined.iter().copied())
            .with_already_matched(already_matched);
        let pool = ctx.state().pools.get(db, actor.consortium_id).await?;
        let own = actor.authorities_with(Capability::ReadHouseholds);
        let candidates: Vec<_> = pool.households_for(&own).collect();
        let result = evaluate(&subject, &candidates, &weights, as_of, first);

        let (owner, entity, entity_id) = match &unit.group {
            Some(g) => (g.authority_id, "SiblingGroup", g.id),
            None => (unit.children[0].authority_id, "Child", unit.children[0].id),
        };
        ctx.audit(
            AuditAction::Search,
            entity,
            Some(entity_id),
            Some(owner),
            json!({
                "search": "matchSuggestions",
                "first": first,
                "asOf": as_of.to_string(),
                "weightsOverridden": overridden,
                "returned": result.suggestions.len(),
            }),
        );

        let ids: Vec<i64> = result.suggestions.iter().map(|s| s.household_id).collect();
        let mut households = store::households::find_many(db, actor.consortium_id, &ids).await?;
        let mut suggestions = Vec::with_capacity(result.suggestions.len());
        for s in result.suggestions {
            let Some(at) = households.iter().position(|h| h.id == s.household_id) else {
                continue;
            };
            let h = households.swap_remove(at);
            let view = actor.household_view(&h);
            let Some(household) = household_record(ctx, h, view) else {
                continue;
            };
            suggestions.push(HouseholdSuggestion {
                household,
                score: s.score,
                criteria: explanations(s.criteria),
            });
        }
        Ok(HouseholdSuggestions {
            children: unit_records(ctx, actor, &unit).await?,
            sibling_group_id: unit
                .group
                .as_ref()
                .map(|g| encode(IdKind::SiblingGroup, g.id)),
            as_of: Date(as_of),
            pool_size: result.pool_size,
            eligible: result.eligible,
            excluded: exclusions(&result.excluded),
            weights: weights.weights().into(),
            weights_overridden: overridden,
            suggestions,
        })
    }

    /// Waiting children — single children, and must-stay-together sibling groups as one
    /// unit — for a household, ranked by score (rounded to 0.1); ties go to the child
    /// waiting longest, then the lowest id (FAMILY_FINDER, DECISION_MAKER). The same
    /// rules and scores as `matchSuggestions`, and the same `asOf`: ages and waiting
    /// counted to that date, everything else as it stands now.
    #[graphql(
        complexity = "crate::graphql::limits::page_cost(first, DEFAULT_SUGGESTIONS, child_complexity)"
    )]
    #[tracing::instrument(skip_all, fields(first))]
    async fn child_suggestions(
        &self,
        ctx: &Context<'_>,
        household_id: ID,
        first: Option<i32>,
        weights: Option<MatchWeightsInput>,
        as_of: Option<Date>,
    ) -> AppResult<ChildSuggestions> {
        let actor = ctx.actor()?;
        actor.require_anywhere(Capability::ProgressLinks)?;
        let first = suggestion_count(first)?;
        let as_of = matching_date(ctx, as_of)?;
        let (weights, overridden) = query_weights(ctx, actor, weights.as_ref()).await?;
        let db = &ctx.state().db;
        let id = decode(
            &household_id,
            "householdId",
            &[IdKind::Household, IdKind::HouseholdProfile],
        )?;
        let household = match store::households::find(db, actor.consortium_id, id).await? {
            Some(h) if actor.household_view(&h) != View::Hidden => h,
            Some(h) => return Err(AppError::hidden("Household", h.id, h.authority_id)),
            None => return Err(AppError::NotFound),
        };
        let candidate = store::matching::candidate(
            &household,
            store::links::household_held(db, household.id).await?,
        );

        // The units: single children, and must-stay-together groups whose every member
        // is here (a group some of whose members the caller cannot see, or who are not
        // waiting, is not offered).
        let pool = ctx.state().pools.get(db, actor.consortium_id).await?;
        let own = actor.authorities_with(Capability::ReadChildren);
        let together = |c: &child::Model| {
            c.sibling_group_id
                .and_then(|g| pool.groups.get(&g))
                .filter(|g| g.must_stay_together)
        };
        // Units borrow from the pool; only those suggested are copied out.
        let mut units: Vec<UnitRef> = Vec::new();
        let mut unit_of_group: HashMap<i64, usize> = HashMap::new();
        for c in pool.children_for(&own) {
            match together(c) {
                None => units.push(UnitRef {
                    children: vec![c],
                    group: None,
                }),
                Some(g) => match unit_of_group.get(&g.id) {
                    Some(&at) => units[at].children.push(c),
                    None => {
                        unit_of_group.insert(g.id, units.len());
                        units.push(UnitRef {
                            children: vec![c],
                            group: Some(g),
                        });
                    }
                },
            }
        }
        units.retain(|u| match u.group {
            None => true,
            Some(g) => pool.group_sizes.get(&g.id) == Some(&(u.children.len() as i64)),
        });

        let declined = store::matching::declined_subjects(db, household.id).await?;
        let held = &pool.held_children;
        let mut subjects = Vec::with_capacity(units.len());
        let mut kept = Vec::with_capacity(units.len());
        for unit in units {
            let match_children: Vec<_> = unit
                .children
                .iter()
                .map(|c| store::matching::match_child(c))
                .collect();
            let Ok(subject) = MatchSubject::new(&match_children) else {
                tracing::warn!("a sibling group spans authorities; left out of suggestions");
                continue;
            };
            let declined_here = declined.contains(&unit.key());
            subjects.push(
                subject
                    .with_declined(declined_here.then_some(household.id))
                    .with_already_matched(unit.children.iter().any(|c| held.contains(&c.id))),
            );
            kept.push(unit);
        }
        let result = evaluate_children(&candidate, &subjects, &weights, as_of, first);

        ctx.audit(
            AuditAction::Search,
            "Household",
            Some(household.id),
            Some(household.authority_id),
            json!({
                "search": "childSuggestions",
                "first": first,
                "asOf": as_of.to_string(),
                "weightsOverridden": overridden,
                "returned": result.suggestions.len(),
            }),
        );
        let mut suggestions = Vec::with_capacity(result.suggestions.len());
        for s in result.suggestions {
            let Some(unit) = kept
                .iter()
                .find(|u| u.children.iter().map(|c| c.id).min() == s.child_ids.first().copied())
                .map(UnitRef::to_unit)
            else {
                continue;
            };
            suggestions.push(ChildSuggestion {
                children: unit_records(ctx, actor, &unit).await?,
                sibling_group_id: unit
                    .group
                    .as_ref()
                    .map(|g| encode(IdKind::SiblingGroup, g.id)),
                score: s.score,
                criteria: explanations(s.criteria),
            });
        }
        let view = actor.household_view(&household);
        Ok(ChildSuggestions {
            household: household_record(ctx, household, view),
            as_of: Date(as_of),
            pool_size: result.pool_size,
            eligible: result.eligible,
            excluded: exclusions(&result.excluded),
            weights: weights.weights().into(),
            weights_overridden: overridden,
            suggestions,
        })
    }

    /// The consortium's default match weights.
    async fn match_weights(&self, ctx: &Context<'_>) -> AppResult<MatchWeights> {
        let actor = ctx.actor()?;
        Ok(consortium_weights(ctx, actor.consortium_id)
            .await?
            .weights()
            .into())
    }
}

/// New default weights for the consortium.
#[derive(InputObject)]
pub struct UpdateMatchWeightsInput {
    pub weights: MatchWeightsInput,
}

/// The consortium's default weights after a change.
#[derive(SimpleObject)]
pub struct MatchWeightsPayload {
    pub weights: MatchWeights,
}

/// Matching mutations.
#[derive(Default)]
pub struct MatchingMutation;

#[Object]
impl MatchingMutation {
    /// Changes the consortium's default match weights (CONSORTIUM_ADMIN); weights left out
    /// keep their value.
    async fn update_match_weights(
        &self,
        ctx: &Context<'_>,
        input: UpdateMatchWeightsInput,
    ) -> AppResult<MatchWeightsPayload> {
        let actor = ctx.actor()?;
        actor.require_consortium_role(Role::ConsortiumAdmin)?;
        let current = consortium_weights(ctx, actor.consortium_id).await?;
        let weights = checked(input.weights.over(current.weights()), "input.weights")?;
        let view = MatchWeights::from(weights.weights());
        let audit = ctx.audit_row(
            AuditAction::Update,
            "Consortium",
            Some(actor.consortium_id),
            None,
            json!({ "matchWeights": {
                "needsHeadroom": view.needs_headroom,
                "ageFit": view.age_fit,
                "identity": view.identity,
                "distance": view.distance,
                "waitingTime": view.waiting_time,
                "sameAuthority": view.same_authority,
            } }),
        );
        store::matching::set_weights(
            &ctx.state().db,
            actor.consortium_id,
            weights.weights(),
            audit,
        )
        .await?;
        Ok(MatchWeightsPayload { weights: view })
    }
}

//! Match suggestions: the pool each side is matched against, explained (DESIGN §4), and
//! the consortium's default weights.
//!
//! Who may ask: family finders and decision makers (`ProgressLinks`). What they get: only
//! records they may see — their own authorities' in full, other authorities' shared
//! profiles from the pool — each returned with the view the actor has of it. The search is
//! audited as a `SEARCH` (with no personal data, and whether the weights were overridden);
//! the records returned are audited as `VIEW`s by whoever shows them.
//!
//! Ids arrive decoded, each as the outcome of its decoding: a malformed id is refused at
//! the point where the use case first needs it, so a caller that may not ask at all hears
//! that first, whatever the id.
use std::collections::HashMap;

use chrono::NaiveDate;
use entity::{child, household, sibling_group};
use serde_json::json;

use super::Service;
use super::records::find_seen;
use crate::auth::{Actor, Capability, View};
use crate::domain::matching::{
    Criterion, CriterionScore, Exclusion, MatchResult, MatchSubject, Suggestion, ValidWeights,
    Weights, evaluate, evaluate_children,
};
use crate::domain::{AuditAction, Role};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::matching::SubjectKey;

/// Suggestions returned when `first` is not given.
pub const DEFAULT_SUGGESTIONS: i32 = 10;
/// The most suggestions one query returns.
const MAX_SUGGESTIONS: i32 = 100;

/// Weights to change, each with its new value; the others keep theirs.
pub type WeightChanges = Vec<(Criterion, f64)>;

/// `base` with `changes` replacing its own weights.
fn over(changes: &[(Criterion, f64)], base: Weights) -> Weights {
    changes.iter().fold(base, |w, (c, v)| w.with(*c, *v))
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
async fn consortium_weights(svc: Service<'_>, consortium_id: i64) -> AppResult<ValidWeights> {
    let stored = store::matching::weights(svc.db(), consortium_id).await?;
    Ok(stored.validate().unwrap_or_else(|e| {
        tracing::warn!(consortium_id, error = %e, "stored match weights refused; using defaults");
        ValidWeights::default()
    }))
}

/// The weights of one query: the consortium's, with the caller's override if any.
async fn query_weights(
    svc: Service<'_>,
    actor: &Actor,
    changes: &[(Criterion, f64)],
) -> AppResult<(ValidWeights, bool)> {
    let base = consortium_weights(svc, actor.consortium_id).await?;
    if changes.is_empty() {
        Ok((base, false))
    } else {
        Ok((checked(over(changes, base.weights()), "weights")?, true))
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
fn matching_date(svc: Service<'_>, as_of: Option<NaiveDate>) -> AppResult<NaiveDate> {
    let today = svc.today();
    match as_of {
        Some(d) if d > today => Err(AppError::bad_input("asOf", "asOf cannot be in the future")),
        Some(d) if !crate::domain::report_bounds::in_report_range(d) => Err(AppError::bad_input(
            "asOf",
            format!(
                "asOf cannot be before {}-01-01",
                crate::domain::report_bounds::EARLIEST_REPORT_YEAR
            ),
        )),
        Some(d) => Ok(d),
        None => Ok(today),
    }
}

/// What is matched: one child, or a must-stay-together sibling group.
pub struct Unit {
    pub children: Vec<child::Model>,
    pub group: Option<sibling_group::Model>,
}

/// How declined pairs name a unit: its group, else its one child.
fn subject_key(group: Option<&sibling_group::Model>, first_child: &child::Model) -> SubjectKey {
    match group {
        Some(g) => SubjectKey::Group(g.id),
        None => SubjectKey::Child(first_child.id),
    }
}

impl Unit {
    fn key(&self) -> SubjectKey {
        subject_key(self.group.as_ref(), &self.children[0])
    }

    /// The children at the views `actor` has of them.
    fn viewed(&self, actor: &Actor) -> Vec<(child::Model, View)> {
        self.children
            .iter()
            .map(|c| (c.clone(), actor.child_view(c)))
            .collect()
    }
}

/// A [`Unit`] borrowed from the pool in memory.
struct UnitRef<'a> {
    children: Vec<&'a child::Model>,
    group: Option<&'a sibling_group::Model>,
}

impl UnitRef<'_> {
    fn key(&self) -> SubjectKey {
        subject_key(self.group, self.children[0])
    }

    fn to_unit(&self) -> Unit {
        Unit {
            children: self.children.iter().map(|c| (*c).clone()).collect(),
            group: self.group.cloned(),
        }
    }
}

/// Loads the unit named by `child_id` (input `childId`) or `sibling_group_id` (input
/// `siblingGroupId`), every child of which the actor must see (in full or as a shared
/// profile); `NOT_FOUND` otherwise. A child of a must-stay-together group stands for its
/// whole group; a group that may be placed apart is not a unit (`BAD_USER_INPUT`: its
/// children are matched one by one).
pub async fn load_unit(
    svc: Service<'_>,
    actor: &Actor,
    child_id: Option<AppResult<i64>>,
    sibling_group_id: Option<AppResult<i64>>,
) -> AppResult<Unit> {
    let db = svc.db();
    let group_id = match (child_id, sibling_group_id) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(AppError::bad_input(
                "childId",
                "name either a child (childId) or a sibling group (siblingGroupId)",
            ));
        }
        (Some(id), None) => {
            let id = id?;
            let c = find_seen::<child::Entity>(db, actor, id).await?;
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
        (None, Some(id)) => id?,
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

/// What a query asks for besides its subject.
pub struct MatchQuery {
    pub first: Option<i32>,
    /// Weights replacing the consortium's for this query.
    pub weights: WeightChanges,
    pub as_of: Option<NaiveDate>,
}

/// What a search found, besides its suggestions.
pub struct MatchTally {
    pub as_of: NaiveDate,
    pub pool_size: u64,
    pub eligible: u64,
    pub excluded: Vec<Exclusion>,
    pub weights: Weights,
    pub weights_overridden: bool,
}

impl MatchTally {
    /// The tally of `result`, and its suggestions.
    fn split(
        result: MatchResult,
        as_of: NaiveDate,
        weights: &ValidWeights,
        weights_overridden: bool,
    ) -> (MatchTally, Vec<Suggestion>) {
        let tally = MatchTally {
            as_of,
            pool_size: result.pool_size,
            eligible: result.eligible,
            excluded: result.excluded,
            weights: weights.weights(),
            weights_overridden,
        };
        (tally, result.suggestions)
    }
}

/// A household suggested for a unit, at the view the actor has of it.
pub struct HouseholdMatch {
    pub household: household::Model,
    pub view: View,
    pub score: f64,
    pub criteria: Vec<CriterionScore>,
}

/// Households for a child or sibling group, best first.
pub struct HouseholdMatches {
    /// The unit's children at the actor's views of them.
    pub children: Vec<(child::Model, View)>,
    pub sibling_group_id: Option<i64>,
    pub tally: MatchTally,
    pub suggestions: Vec<HouseholdMatch>,
}

/// A child or sibling group suggested for a household.
pub struct ChildMatch {
    pub children: Vec<(child::Model, View)>,
    pub sibling_group_id: Option<i64>,
    pub score: f64,
    pub criteria: Vec<CriterionScore>,
}

/// Children for a household, best first.
pub struct ChildMatches {
    pub household: (household::Model, View),
    pub tally: MatchTally,
    pub suggestions: Vec<ChildMatch>,
}

/// Households for the unit named by `child_id` or `sibling_group_id` (see [`load_unit`]),
/// ranked by score; the search is audited.
pub async fn match_suggestions(
    svc: Service<'_>,
    child_id: Option<AppResult<i64>>,
    sibling_group_id: Option<AppResult<i64>>,
    query: MatchQuery,
) -> AppResult<HouseholdMatches> {
    let actor = svc.actor()?;
    actor.require_anywhere(Capability::ProgressLinks)?;
    let first = suggestion_count(query.first)?;
    let as_of = matching_date(svc, query.as_of)?;
    let (weights, overridden) = query_weights(svc, actor, &query.weights).await?;
    let unit = load_unit(svc, actor, child_id, sibling_group_id).await?;
    let db = svc.db();

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
    let pool = svc.state.pools.get(db, actor.consortium_id).await?;
    let own = actor.authorities_with(Capability::ReadHouseholds);
    let candidates: Vec<_> = pool.households_for(&own).collect();
    let result = evaluate(&subject, &candidates, &weights, as_of, first);

    let (owner, entity, entity_id) = match &unit.group {
        Some(g) => (g.authority_id, "SiblingGroup", g.id),
        None => (unit.children[0].authority_id, "Child", unit.children[0].id),
    };
    svc.audit(
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

    let (tally, found) = MatchTally::split(result, as_of, &weights, overridden);
    let ids: Vec<i64> = found.iter().map(|s| s.household_id).collect();
    let mut households = store::households::find_many(db, actor.consortium_id, &ids).await?;
    let mut suggestions = Vec::with_capacity(found.len());
    for s in found {
        let Some(at) = households.iter().position(|h| h.id == s.household_id) else {
            continue;
        };
        let h = households.swap_remove(at);
        let view = actor.household_view(&h);
        suggestions.push(HouseholdMatch {
            household: h,
            view,
            score: s.score,
            criteria: s.criteria,
        });
    }
    Ok(HouseholdMatches {
        children: unit.viewed(actor),
        sibling_group_id: unit.group.as_ref().map(|g| g.id),
        tally,
        suggestions,
    })
}

/// Waiting children — single children, and must-stay-together sibling groups as one unit —
/// for household `household_id` (input `householdId`), ranked by score; the search is
/// audited.
pub async fn child_suggestions(
    svc: Service<'_>,
    household_id: AppResult<i64>,
    query: MatchQuery,
) -> AppResult<ChildMatches> {
    let actor = svc.actor()?;
    actor.require_anywhere(Capability::ProgressLinks)?;
    let first = suggestion_count(query.first)?;
    let as_of = matching_date(svc, query.as_of)?;
    let (weights, overridden) = query_weights(svc, actor, &query.weights).await?;
    let db = svc.db();
    let id = household_id?;
    let household = find_seen::<household::Entity>(db, actor, id).await?;
    let candidate = store::matching::candidate(
        &household,
        store::links::household_held(db, household.id).await?,
    );

    // The units: single children, and must-stay-together groups whose every member is
    // here (a group some of whose members the caller cannot see, or who are not waiting,
    // is not offered).
    let pool = svc.state.pools.get(db, actor.consortium_id).await?;
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

    svc.audit(
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
    let (tally, found) = MatchTally::split(result, as_of, &weights, overridden);
    let mut suggestions = Vec::with_capacity(found.len());
    for s in found {
        let Some(unit) = kept
            .iter()
            .find(|u| u.children.iter().map(|c| c.id).min() == s.child_ids.first().copied())
            .map(UnitRef::to_unit)
        else {
            continue;
        };
        suggestions.push(ChildMatch {
            children: unit.viewed(actor),
            sibling_group_id: unit.group.as_ref().map(|g| g.id),
            score: s.score,
            criteria: s.criteria,
        });
    }
    let view = actor.household_view(&household);
    Ok(ChildMatches {
        household: (household, view),
        tally,
        suggestions,
    })
}

/// The consortium's default match weights.
pub async fn weights(svc: Service<'_>) -> AppResult<Weights> {
    let actor = svc.actor()?;
    Ok(consortium_weights(svc, actor.consortium_id)
        .await?
        .weights())
}

/// Changes the consortium's default match weights (CONSORTIUM_ADMIN), audited; a refused
/// weight is bad input on `input.weights.{weight}`.
pub async fn update_weights(svc: Service<'_>, changes: &[(Criterion, f64)]) -> AppResult<Weights> {
    let actor = svc.actor()?;
    actor.require_consortium_role(Role::ConsortiumAdmin)?;
    let current = consortium_weights(svc, actor.consortium_id).await?;
    let weights = checked(over(changes, current.weights()), "input.weights")?;
    let w = weights.weights();
    let audit = svc.audit_row(
        AuditAction::Update,
        "Consortium",
        Some(actor.consortium_id),
        None,
        json!({ "matchWeights": {
            "needsHeadroom": w.needs_headroom,
            "ageFit": w.age_fit,
            "identity": w.identity,
            "distance": w.distance,
            "waitingTime": w.waiting_time,
            "sameAuthority": w.same_authority,
        } }),
    );
    store::matching::set_weights(svc.db(), actor.consortium_id, w, audit).await?;
    Ok(w)
}

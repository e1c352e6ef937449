//! Match suggestions (DESIGN §4): households for a child or a must-stay-together sibling
//! group, children for a household, each explained criterion by criterion, with the pool
//! size and the exclusions tallied by rule; and the consortium's default weights.
//!
//! Who may ask: family finders and decision makers (`ProgressLinks`). What they get: only
//! records they may see — their own authorities' in full, other authorities' shared
//! profiles from the pool. The search is audited as a `SEARCH` (with no personal data,
//! and whether the weights were overridden), and every record returned as a `VIEW`.
//!
//! The use cases are [`crate::service::matching`]'s; this module decodes the arguments and
//! shows what they found.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};

use super::context::ContextExt;
use super::ids::{IdKind, decode, encode};
use super::scalars::Date;
use super::types::{ChildRecord, HouseholdRecord, child_records, household_record};
use crate::domain::matching::{Criterion, CriterionScore, Exclusion, HardRule, Weights};
use crate::error::AppResult;
use crate::service::matching::{self, DEFAULT_SUGGESTIONS, MatchQuery, WeightChanges};

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
    /// The weights given here, each with its criterion.
    fn changes(&self) -> WeightChanges {
        [
            (Criterion::NeedsHeadroom, self.needs_headroom),
            (Criterion::AgeFit, self.age_fit),
            (Criterion::Identity, self.identity),
            (Criterion::Distance, self.distance),
            (Criterion::WaitingTime, self.waiting_time),
            (Criterion::SameAuthority, self.same_authority),
        ]
        .into_iter()
        .filter_map(|(c, v)| v.map(|v| (c, v)))
        .collect()
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

/// Decodes the unit a query or proposal names (`childId` or `siblingGroupId`); each
/// refusal is raised by the service where it first needs the id.
pub fn unit_ids(
    child_id: Option<&ID>,
    sibling_group_id: Option<&ID>,
) -> (Option<AppResult<i64>>, Option<AppResult<i64>>) {
    (
        child_id.map(|id| decode(id, "childId", &[IdKind::Child, IdKind::ChildProfile])),
        sibling_group_id.map(|id| decode(id, "siblingGroupId", &[IdKind::SiblingGroup])),
    )
}

/// The query's options, for the service.
fn match_query(
    first: Option<i32>,
    weights: Option<&MatchWeightsInput>,
    as_of: Option<Date>,
) -> MatchQuery {
    MatchQuery {
        first,
        weights: weights.map(MatchWeightsInput::changes).unwrap_or_default(),
        as_of: as_of.map(|d| d.0),
    }
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
        let (child_id, sibling_group_id) = unit_ids(child_id.as_ref(), sibling_group_id.as_ref());
        let query = match_query(first, weights.as_ref(), as_of);
        let found =
            matching::match_suggestions(ctx.service(), child_id, sibling_group_id, query).await?;
        let mut suggestions = Vec::with_capacity(found.suggestions.len());
        for s in found.suggestions {
            let Some(household) = household_record(ctx, s.household, s.view) else {
                continue;
            };
            suggestions.push(HouseholdSuggestion {
                household,
                score: s.score,
                criteria: explanations(s.criteria),
            });
        }
        let tally = found.tally;
        Ok(HouseholdSuggestions {
            children: child_records(ctx, found.children).await?,
            sibling_group_id: found
                .sibling_group_id
                .map(|g| encode(IdKind::SiblingGroup, g)),
            as_of: Date(tally.as_of),
            pool_size: tally.pool_size,
            eligible: tally.eligible,
            excluded: exclusions(&tally.excluded),
            weights: tally.weights.into(),
            weights_overridden: tally.weights_overridden,
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
        let household_id = decode(
            &household_id,
            "householdId",
            &[IdKind::Household, IdKind::HouseholdProfile],
        );
        let query = match_query(first, weights.as_ref(), as_of);
        let found = matching::child_suggestions(ctx.service(), household_id, query).await?;
        let mut suggestions = Vec::with_capacity(found.suggestions.len());
        for s in found.suggestions {
            suggestions.push(ChildSuggestion {
                children: child_records(ctx, s.children).await?,
                sibling_group_id: s.sibling_group_id.map(|g| encode(IdKind::SiblingGroup, g)),
                score: s.score,
                criteria: explanations(s.criteria),
            });
        }
        let (household, view) = found.household;
        let tally = found.tally;
        Ok(ChildSuggestions {
            household: household_record(ctx, household, view),
            as_of: Date(tally.as_of),
            pool_size: tally.pool_size,
            eligible: tally.eligible,
            excluded: exclusions(&tally.excluded),
            weights: tally.weights.into(),
            weights_overridden: tally.weights_overridden,
            suggestions,
        })
    }

    /// The consortium's default match weights.
    async fn match_weights(&self, ctx: &Context<'_>) -> AppResult<MatchWeights> {
        Ok(matching::weights(ctx.service()).await?.into())
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
        let weights = matching::update_weights(ctx.service(), &input.weights.changes()).await?;
        Ok(MatchWeightsPayload {
            weights: weights.into(),
        })
    }
}

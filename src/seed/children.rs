//! Generated children and sibling groups.
//!
//! Each child (or sibling group, who share one journey) gets an outcome from the
//! [`Mix`](super::generator::Mix); the milestones are laid out forward from entering care
//! with plausible gaps, then the whole journey is slid back in time so that its last
//! milestone falls a little before the reference date. The child's age on entering care is
//! drawn separately (many babies, some older children). The result is checked with
//! [`MilestoneDraft::validate`]; a journey that fails is drawn again, and after a few
//! failures the child is recorded as simply in care, which is always valid. (With the gaps
//! used here no journey fails; the check is what makes that a guarantee.)
use chrono::NaiveDate;
use entity::{child, sibling_group};
use rand::Rng;

use super::generator::{
    Spec, days, identity, near, need_ranks, pick, recent, recorded_on, shift, word,
};
use super::vocabulary::{
    CHILD_ACTIVITIES, CHILD_PROFILE_ADJECTIVES, CHILD_PROFILE_ANIMALS, CHILD_TRAITS, FIRST_NAMES,
    IdentityProfile, SURNAMES,
};
use crate::domain::{Gender, MilestoneDates, MilestoneDraft, PlanChangeReason};

/// Where a generated child's journey stands at the reference date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildOutcome {
    /// In care, no adoption plan.
    InCare,
    /// Adoption plan agreed, no SHOBPA decision yet.
    AdoptionPlan,
    /// SHOBPA decision made, placement order not yet (waiting).
    AwaitingPlacementOrder,
    /// Placement order made, not matched (waiting).
    WaitingWithOrder,
    /// Match decided, not yet placed.
    Matched,
    /// Placed, no adoption order yet.
    Placed,
    /// Adoption order made.
    Adopted,
    /// Plan changed away from adoption (RD1–RD4).
    PlanChanged,
    /// Placement order revoked (and the plan changed with it).
    OrderRevoked,
}

/// How many draws a journey gets before the child is recorded as simply in care.
const ATTEMPTS: usize = 8;

/// Sibling groups and children for every authority of `spec`, numbered from its first ids.
pub(super) fn generate_children(
    spec: &Spec<'_>,
    rng: &mut impl Rng,
) -> (Vec<sibling_group::Model>, Vec<child::Model>) {
    let mix = spec.mix;
    // A unit is a single child or a sibling group (2–4, 2.5 on average). Starting a group
    // with probability p puts p·2.5 / (p·2.5 + 1 − p) of the children in groups.
    let share = mix.siblings.clamp(0.0, 0.9);
    let group_start = share / (2.5 * (1.0 - share) + share);
    let mut groups = Vec::new();
    let mut children = Vec::new();
    let mut next_group = spec.first_ids.sibling_group;
    let mut next_child = spec.first_ids.child;
    for authority in spec.authorities {
        let mut remaining = authority.children;
        let mut label = 0;
        while remaining > 0 {
            let size = if remaining >= 2 && rng.random_bool(group_start) {
                pick(rng, &[(2usize, 6), (3, 3), (4, 1)]).min(remaining)
            } else {
                1
            };
            let unit = journey_unit(spec, rng, size);
            let group_id = (size > 1).then(|| {
                label += 1;
                let id = next_group;
                next_group += 1;
                let created = recorded_on(unit.dates.entered_care_on.unwrap_or(spec.as_of));
                groups.push(sibling_group::Model {
                    id,
                    consortium_id: authority.consortium_id,
                    authority_id: authority.authority_id,
                    label: format!("Sibling group {}-{label:03}", authority.code),
                    must_stay_together: rng.random_bool(mix.must_stay_together),
                    version: 1,
                    created_at: created,
                    updated_at: created,
                });
                id
            });
            let identity = identity(rng);
            let surname = word(rng, SURNAMES);
            let (birth_lat, birth_lon) = near(rng, authority.centre, 0.12);
            let min_distance_km = rng.random_bool(0.7).then(|| pick(rng, &DISTANCES));
            let shared = rng.random_bool(mix.child_shared);
            for dob in &unit.dates_of_birth {
                // Checked for every date of birth of the unit when it was drawn.
                let dates = MilestoneDates::recorded(unit.dates);
                let age_months = crate::domain::months_between(*dob, spec.as_of);
                let requires_early_permanence = unit.early_permanence
                    || (dates.is_waiting() && age_months < 24 && rng.random_bool(0.3));
                let profile_name = format!(
                    "{} {}",
                    word(rng, CHILD_PROFILE_ADJECTIVES),
                    word(rng, CHILD_PROFILE_ANIMALS)
                );
                let profile_text = format!(
                    "{profile_name} loves {}. {}",
                    word(rng, CHILD_ACTIVITIES),
                    word(rng, CHILD_TRAITS)
                );
                let needs = if age_months < 24 {
                    need_ranks(rng, [60, 20, 15, 5])
                } else {
                    need_ranks(rng, [50, 25, 17, 8])
                };
                let last = dates.latest().unwrap_or(spec.as_of);
                children.push(child::Model {
                    id: next_child,
                    consortium_id: authority.consortium_id,
                    authority_id: authority.authority_id,
                    version: 1,
                    legal_name: format!("{} {surname}", word(rng, FIRST_NAMES)),
                    date_of_birth: *dob,
                    profile_name,
                    gender: pick(
                        rng,
                        &[(Gender::Female, 48), (Gender::Male, 50), (Gender::Other, 2)],
                    )
                    .code()
                    .into(),
                    ethnicity: identity.ethnicity.code().into(),
                    need_physical_health: needs[0],
                    need_disability: needs[1],
                    need_learning: needs[2],
                    need_developmental_uncertainty: needs[3],
                    need_emotional_behavioural: needs[4],
                    need_prenatal_exposure: needs[5],
                    religion: identity.religion.map(Into::into),
                    language: identity.language.map(Into::into),
                    culture: identity.culture.map(Into::into),
                    identity_notes: identity_notes(&identity),
                    requires_early_permanence,
                    birth_family_lat: Some(birth_lat),
                    birth_family_lon: Some(birth_lon),
                    min_distance_km,
                    birth_family_details: Some(
                        "Invented for the demonstration: no real birth family is described.".into(),
                    ),
                    notes: None,
                    sibling_group_id: group_id,
                    profile_text,
                    shared_with_consortium: shared,
                    entered_care_on: dates.entered_care_on,
                    adoption_plan_on: dates.adoption_plan_on,
                    shobpa_decision_on: dates.shobpa_decision_on,
                    placement_order_on: dates.placement_order_on,
                    match_decision_on: dates.match_decision_on,
                    placed_on: dates.placed_on,
                    adoption_order_on: dates.adoption_order_on,
                    foster_placement_started_on: dates.foster_placement_started_on,
                    adopted_by_foster_carers: dates.adopted_by_foster_carers,
                    plan_changed_on: dates.plan_changed_on,
                    plan_change_reason: unit.plan_change_reason.map(|r| r.code().into()),
                    placement_order_revoked_on: dates.placement_order_revoked_on,
                    import_reference: None,
                    created_at: recorded_on(dates.entered_care_on.unwrap_or(*dob)),
                    updated_at: recorded_on(last),
                });
                next_child += 1;
            }
            remaining -= size;
        }
    }
    (groups, children)
}

/// Minimum distances from the birth family, in km, by weight.
const DISTANCES: [(f64, u32); 7] = [
    (5.0, 2),
    (10.0, 4),
    (15.0, 3),
    (20.0, 4),
    (25.0, 2),
    (30.0, 2),
    (40.0, 1),
];

/// A journey shared by one child or a sibling group.
struct JourneyUnit {
    dates: MilestoneDraft,
    plan_change_reason: Option<PlanChangeReason>,
    early_permanence: bool,
    /// Youngest first.
    dates_of_birth: Vec<NaiveDate>,
}

/// Draws a valid journey for `size` children: an outcome, then its dates (again, with the
/// same outcome, should they fail the checks).
fn journey_unit(spec: &Spec<'_>, rng: &mut impl Rng, size: usize) -> JourneyUnit {
    let outcome = pick(rng, spec.mix.children);
    for _ in 0..ATTEMPTS {
        let unit = draw_journey(spec, rng, outcome, size);
        let valid = unit
            .dates_of_birth
            .iter()
            .all(|dob| is_minor(*dob, spec.as_of) && unit.dates.validate(*dob, spec.as_of).is_ok());
        if valid {
            return unit;
        }
    }
    in_care_only(spec, rng, size)
}

/// The fallback: children who entered care recently, which is always valid.
fn in_care_only(spec: &Spec<'_>, rng: &mut impl Rng, size: usize) -> JourneyUnit {
    let entered = shift(spec.as_of, -days(rng, 0, 300));
    let youngest = shift(entered, -days(rng, 0, 365));
    JourneyUnit {
        dates: MilestoneDraft {
            entered_care_on: Some(entered),
            ..Default::default()
        },
        plan_change_reason: None,
        early_permanence: false,
        dates_of_birth: (0..size)
            .map(|k| shift(youngest, -400 * k as i64))
            .collect(),
    }
}

/// Whether someone born on `dob` is under 18 on `as_of`.
fn is_minor(dob: NaiveDate, as_of: NaiveDate) -> bool {
    dob <= as_of && as_of.years_since(dob).is_some_and(|years| years < 18)
}

/// Offsets in days from entering care; `None` where the milestone is not reached.
#[derive(Default)]
struct Offsets {
    plan: Option<i64>,
    shobpa: Option<i64>,
    order: Option<i64>,
    matched: Option<i64>,
    placed: Option<i64>,
    adopted: Option<i64>,
    foster: Option<i64>,
    changed: Option<i64>,
    revoked: Option<i64>,
}

/// Lays out one journey with `outcome`, ending at or before the reference date.
fn draw_journey(
    spec: &Spec<'_>,
    rng: &mut impl Rng,
    outcome: ChildOutcome,
    size: usize,
) -> JourneyUnit {
    use ChildOutcome::*;
    let mix = spec.mix;
    let plan = days(rng, 60, 300);
    let shobpa = plan + days(rng, 20, 120);
    let order = shobpa + days(rng, 30, 240);
    let early_permanence =
        matches!(outcome, Matched | Placed | Adopted) && rng.random_bool(mix.early_permanence);
    let foster_carers = matches!(outcome, Placed | Adopted)
        && !early_permanence
        && rng.random_bool(mix.foster_carers);
    // Early permanence: matched soon after the SHOBPA decision, placement order later.
    let (matched, order_after_match) = if early_permanence {
        let matched = shobpa + days(rng, 10, 60);
        (matched, matched + days(rng, 20, 150))
    } else {
        (order + recent(rng, 540) + 30, order)
    };
    let placed = if early_permanence {
        order_after_match + days(rng, 0, 14)
    } else {
        matched + days(rng, 7, 60)
    };
    let adopted = placed + days(rng, 150, 450);

    let mut o = Offsets::default();
    let mut reason = None;
    // How long before the reference date the last milestone falls.
    let recency;
    match outcome {
        InCare => recency = days(rng, 0, 400),
        AdoptionPlan => {
            o.plan = Some(plan);
            recency = days(rng, 0, 150);
        }
        AwaitingPlacementOrder => {
            (o.plan, o.shobpa) = (Some(plan), Some(shobpa));
            recency = recent(rng, 240);
        }
        WaitingWithOrder => {
            (o.plan, o.shobpa, o.order) = (Some(plan), Some(shobpa), Some(order));
            recency = recent(rng, 720);
        }
        Matched | Placed | Adopted => {
            (o.plan, o.shobpa, o.matched) = (Some(plan), Some(shobpa), Some(matched));
            o.order = Some(order_after_match);
            if matches!(outcome, Placed | Adopted) {
                o.placed = Some(placed);
            }
            if outcome == Adopted {
                o.adopted = Some(adopted);
            }
            if foster_carers {
                o.foster = Some(days(rng, 0, 60));
            }
            recency = match outcome {
                Matched => days(rng, 0, 60),
                Placed => days(rng, 0, 400),
                _ => days(rng, 0, 1460),
            };
        }
        PlanChanged => {
            let r = pick(
                rng,
                &[
                    (PlanChangeReason::Rd1, 30),
                    (PlanChangeReason::Rd2, 20),
                    (PlanChangeReason::Rd3, 25),
                    (PlanChangeReason::Rd4, 25),
                ],
            );
            o.plan = Some(plan);
            let last = match r {
                PlanChangeReason::Rd2 => {
                    o.shobpa = Some(shobpa);
                    shobpa + days(rng, 60, 300)
                }
                PlanChangeReason::Rd3 => {
                    (o.shobpa, o.order) = (Some(shobpa), Some(order));
                    order + days(rng, 300, 900)
                }
                PlanChangeReason::Rd1 | PlanChangeReason::Rd4 => {
                    if rng.random_bool(0.5) {
                        o.shobpa = Some(shobpa);
                        shobpa + days(rng, 30, 300)
                    } else {
                        plan + days(rng, 30, 300)
                    }
                }
            };
            o.changed = Some(last);
            reason = Some(r);
            recency = days(rng, 0, 1460);
        }
        OrderRevoked => {
            (o.plan, o.shobpa, o.order) = (Some(plan), Some(shobpa), Some(order));
            let revoked = order + days(rng, 60, 500);
            (o.revoked, o.changed) = (Some(revoked), Some(revoked));
            reason = Some(pick(
                rng,
                &[(PlanChangeReason::Rd1, 1), (PlanChangeReason::Rd4, 1)],
            ));
            recency = days(rng, 0, 1460);
        }
    }

    // The last milestone that must be reached; an early-permanence placement order that
    // would fall after the reference date is simply not made yet.
    let order_is_optional = outcome == Matched && early_permanence;
    let last = [
        o.plan, o.shobpa, o.matched, o.placed, o.adopted, o.changed, o.revoked,
    ]
    .into_iter()
    .chain((!order_is_optional).then_some(o.order))
    .flatten()
    .max()
    .unwrap_or(0);
    let entered = shift(spec.as_of, -(recency + last));
    let on = |offset: Option<i64>| {
        offset
            .map(|d| shift(entered, d))
            .filter(|d| *d <= spec.as_of)
    };
    let dates = MilestoneDraft {
        entered_care_on: Some(entered),
        adoption_plan_on: on(o.plan),
        shobpa_decision_on: on(o.shobpa),
        placement_order_on: on(o.order),
        match_decision_on: on(o.matched),
        placed_on: on(o.placed),
        adoption_order_on: on(o.adopted),
        foster_placement_started_on: on(o.foster),
        adopted_by_foster_carers: foster_carers,
        plan_changed_on: on(o.changed),
        placement_order_revoked_on: on(o.revoked),
    };

    // Age on entering care: many babies, some toddlers, some older children. Siblings are
    // older than the youngest by a year or more each.
    let age_at_entry = pick(
        rng,
        &[
            ((0, 60), 35),
            ((60, 365), 20),
            ((365, 1095), 25),
            ((1095, 2555), 20),
        ],
    );
    let youngest = shift(entered, -days(rng, age_at_entry.0, age_at_entry.1));
    // Well under 18 at the reference date, whatever the leap years.
    let oldest_allowed = shift(spec.as_of, -(17 * 365 + 300));
    let mut dates_of_birth = vec![youngest];
    for _ in 1..size {
        let previous = dates_of_birth.last().copied().unwrap_or(youngest);
        dates_of_birth.push(shift(previous, -days(rng, 300, 1500)).max(oldest_allowed));
    }
    JourneyUnit {
        dates,
        plan_change_reason: reason,
        early_permanence,
        dates_of_birth,
    }
}

/// A line of identity notes for children with identity codes.
fn identity_notes(p: &IdentityProfile) -> Option<String> {
    match (p.religion, p.language, p.culture) {
        (None, None, None) => None,
        (religion, language, culture) => {
            let mut parts = Vec::new();
            if let Some(l) = language {
                parts.push(format!("hears {} at family time", l.to_lowercase()));
            }
            if let Some(r) = religion {
                parts.push(format!("{} heritage to be kept alive", r.to_lowercase()));
            }
            if let Some(c) = culture {
                parts.push(format!(
                    "celebrates {} festivals",
                    c.to_lowercase().replace('_', " ")
                ));
            }
            Some(format!("Invented example: {}.", parts.join("; ")))
        }
    }
}

/// Checks a generated child the way the API would, for tests.
#[cfg(test)]
pub(super) fn check_child(c: &child::Model, as_of: NaiveDate) -> Result<(), String> {
    crate::auth::policy::milestones_of(c)
        .edit()
        .validate(c.date_of_birth, as_of)
        .map_err(|e| e.message)?;
    if !is_minor(c.date_of_birth, as_of) {
        return Err(format!("child {} is not under 18", c.id));
    }
    if c.entered_care_on.is_some_and(|d| d < c.date_of_birth) {
        return Err(format!("child {} entered care before birth", c.id));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::domain::ChildStatus;
    use crate::seed::generator::Mix;

    /// Every outcome is valid as drawn, without the retries: the journeys are right by
    /// construction, and the status is the one intended.
    #[test]
    fn every_outcome_is_valid_at_the_first_draw() {
        let as_of = NaiveDate::from_ymd_opt(2026, 3, 31).expect("a valid date");
        let spec = Spec {
            as_of,
            authorities: &[],
            mix: &Mix::DEMO,
            event_target: None,
            first_ids: Default::default(),
        };
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for (outcome, _) in Mix::DEMO.children {
            let expected = match outcome {
                ChildOutcome::InCare => ChildStatus::InCare,
                ChildOutcome::AdoptionPlan => ChildStatus::AdoptionPlan,
                ChildOutcome::AwaitingPlacementOrder | ChildOutcome::WaitingWithOrder => {
                    ChildStatus::Waiting
                }
                ChildOutcome::Matched => ChildStatus::Matched,
                ChildOutcome::Placed => ChildStatus::Placed,
                ChildOutcome::Adopted => ChildStatus::Adopted,
                ChildOutcome::PlanChanged | ChildOutcome::OrderRevoked => ChildStatus::PlanChanged,
            };
            for _ in 0..2000 {
                let unit = draw_journey(&spec, &mut rng, *outcome, 4);
                for dob in &unit.dates_of_birth {
                    assert!(is_minor(*dob, as_of), "{outcome:?}: born {dob}");
                    match unit.dates.validate(*dob, as_of) {
                        Ok(dates) => assert_eq!(dates.status(), expected, "{outcome:?}"),
                        Err(e) => panic!("{outcome:?}: {} in {:?}", e.message, unit.dates),
                    }
                }
            }
        }
    }
}

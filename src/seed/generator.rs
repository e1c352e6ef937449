//! The one generator behind both seeds: invented children, sibling groups, households and
//! recruitment histories for a list of authorities, as rows ready to insert.
//!
//! The demo and the synthetic seed differ only in what they hand in: how many records per
//! authority, the [`Mix`] of journeys, the reference date and the random generator. Given
//! the same [`Spec`] and a generator in the same state, [`generate`] returns the same rows.
//!
//! Every row is valid by construction and checked before it is returned:
//! - a child's milestones pass [`MilestoneDraft::validate`](crate::domain::MilestoneDraft::validate) as of the reference date, the
//!   child is under 18 then and entered care on or after birth;
//! - a household's events replay with [`StageMachine::replay`](crate::domain::StageMachine::replay) and the household row says
//!   what the events say (stage, stage date, hold, approval date, enquiry, fast track);
//! - sibling groups have two to four members, all of the group's authority.
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use entity::{child, household, recruitment_event, sibling_group};
use rand::Rng;

use super::children::{ChildOutcome, generate_children};
use super::households::{HouseholdOutcome, generate_households};
use super::vocabulary::{IDENTITIES, IdentityProfile};
use crate::auth::policy::milestones_of;
use crate::domain::Stage;

/// Who the seeds record as having written every event.
pub const RECORDED_BY: &str = "seed";

/// One authority to generate records for.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorityPlan {
    pub consortium_id: i64,
    pub authority_id: i64,
    /// The authority's short code, used in internal labels.
    pub code: String,
    /// The middle of the area it serves, `(lat, lon)`; locations are scattered around it.
    pub centre: (f64, f64),
    /// Children to generate (give voluntary agencies none: children belong to local
    /// authorities).
    pub children: usize,
    pub households: usize,
}

/// The first free id of each table; rows are numbered from these, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirstIds {
    pub sibling_group: i64,
    pub child: i64,
    pub household: i64,
    pub event: i64,
}

impl Default for FirstIds {
    fn default() -> Self {
        FirstIds {
            sibling_group: 1,
            child: 1,
            household: 1,
            event: 1,
        }
    }
}

/// Everything [`generate`] needs besides the random generator.
#[derive(Clone, Debug)]
pub struct Spec<'a> {
    /// The reference date: no date after it, every history ends on or before it.
    pub as_of: NaiveDate,
    pub authorities: &'a [AuthorityPlan],
    pub mix: &'a Mix,
    /// Total recruitment events to aim for, if any (see
    /// [`super::households`] for how the histories are fitted to it).
    pub event_target: Option<usize>,
    pub first_ids: FirstIds,
}

/// The shares of journeys: which outcomes, and how often each feature occurs. Shares are
/// fractions between 0 and 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Mix {
    /// Where children's journeys stand, with relative weights.
    pub children: &'static [(ChildOutcome, u32)],
    /// Where households' journeys stand, with relative weights.
    pub households: &'static [(HouseholdOutcome, u32)],
    /// Share of matched, placed and adopted children matched before the placement order.
    pub early_permanence: f64,
    /// Share of placed and adopted children placed with their foster carers.
    pub foster_carers: f64,
    /// Share of children in sibling groups.
    pub siblings: f64,
    /// Share of sibling groups that must stay together.
    pub must_stay_together: f64,
    /// Share of waiting children shared with the consortium pool.
    pub child_shared: f64,
    /// Share of households on the fast track (second-time adopters, foster carers).
    pub fast_track: f64,
    /// Share of households that came to an information event.
    pub information_event: f64,
    /// Share of households with a pause (`ON_HOLD` then `RESUMED`) in their history.
    pub paused: f64,
    /// Share of households still in the process that are on hold at the reference date.
    pub ends_on_hold: f64,
    /// Share of approved households not on hold that are available for matching.
    pub available: f64,
    /// Share of households their authority shares with the consortium.
    pub household_shared: f64,
}

impl Mix {
    /// The demo: every stage and exit well represented, so every report has something to
    /// show.
    pub const DEMO: Mix = Mix {
        children: &[
            (ChildOutcome::InCare, 10),
            (ChildOutcome::AdoptionPlan, 7),
            (ChildOutcome::AwaitingPlacementOrder, 8),
            (ChildOutcome::WaitingWithOrder, 17),
            (ChildOutcome::Matched, 5),
            (ChildOutcome::Placed, 9),
            (ChildOutcome::Adopted, 30),
            (ChildOutcome::PlanChanged, 11),
            (ChildOutcome::OrderRevoked, 3),
        ],
        households: &[
            (HouseholdOutcome::At(Stage::Enquiry), 8),
            (HouseholdOutcome::At(Stage::InformationEvent), 4),
            (HouseholdOutcome::At(Stage::StageOneStarted), 6),
            (HouseholdOutcome::At(Stage::StageOneCompleted), 4),
            (HouseholdOutcome::At(Stage::StageTwoStarted), 8),
            (HouseholdOutcome::At(Stage::StageTwoCompleted), 4),
            (HouseholdOutcome::At(Stage::Panel), 2),
            (HouseholdOutcome::At(Stage::Approved), 18),
            (HouseholdOutcome::At(Stage::Matched), 4),
            (HouseholdOutcome::At(Stage::Placed), 5),
            (HouseholdOutcome::At(Stage::AdoptionOrder), 12),
            (HouseholdOutcome::Withdrew(Stage::Enquiry), 6),
            (HouseholdOutcome::Withdrew(Stage::InformationEvent), 2),
            (HouseholdOutcome::Withdrew(Stage::StageOneStarted), 4),
            (HouseholdOutcome::Withdrew(Stage::StageOneCompleted), 2),
            (HouseholdOutcome::Withdrew(Stage::StageTwoStarted), 3),
            (HouseholdOutcome::Withdrew(Stage::StageTwoCompleted), 1),
            (HouseholdOutcome::Withdrew(Stage::Approved), 2),
            (HouseholdOutcome::Ended(Stage::StageOneStarted), 2),
            (HouseholdOutcome::Ended(Stage::StageOneCompleted), 1),
            (HouseholdOutcome::Ended(Stage::StageTwoStarted), 2),
            (HouseholdOutcome::Ended(Stage::StageTwoCompleted), 1),
            (HouseholdOutcome::Ended(Stage::Panel), 1),
        ],
        early_permanence: 0.12,
        foster_carers: 0.12,
        siblings: 0.22,
        must_stay_together: 0.7,
        child_shared: 0.85,
        fast_track: 0.06,
        information_event: 0.55,
        paused: 0.10,
        ends_on_hold: 0.06,
        available: 0.9,
        household_shared: 0.9,
    };

    /// The synthetic set: a large pool of approved, available, shared households and many
    /// waiting children, for benchmarks.
    pub const SYNTHETIC: Mix = Mix {
        children: &[
            (ChildOutcome::InCare, 8),
            (ChildOutcome::AdoptionPlan, 6),
            (ChildOutcome::AwaitingPlacementOrder, 12),
            (ChildOutcome::WaitingWithOrder, 28),
            (ChildOutcome::Matched, 4),
            (ChildOutcome::Placed, 7),
            (ChildOutcome::Adopted, 25),
            (ChildOutcome::PlanChanged, 9),
            (ChildOutcome::OrderRevoked, 1),
        ],
        households: &[
            (HouseholdOutcome::At(Stage::Enquiry), 20),
            (HouseholdOutcome::At(Stage::InformationEvent), 8),
            (HouseholdOutcome::At(Stage::StageOneStarted), 15),
            (HouseholdOutcome::At(Stage::StageOneCompleted), 8),
            (HouseholdOutcome::At(Stage::StageTwoStarted), 20),
            (HouseholdOutcome::At(Stage::StageTwoCompleted), 7),
            (HouseholdOutcome::At(Stage::Panel), 4),
            (HouseholdOutcome::At(Stage::Approved), 680),
            (HouseholdOutcome::At(Stage::Matched), 25),
            (HouseholdOutcome::At(Stage::Placed), 25),
            (HouseholdOutcome::At(Stage::AdoptionOrder), 55),
            (HouseholdOutcome::Withdrew(Stage::Enquiry), 25),
            (HouseholdOutcome::Withdrew(Stage::InformationEvent), 5),
            (HouseholdOutcome::Withdrew(Stage::StageOneStarted), 15),
            (HouseholdOutcome::Withdrew(Stage::StageOneCompleted), 5),
            (HouseholdOutcome::Withdrew(Stage::StageTwoStarted), 12),
            (HouseholdOutcome::Withdrew(Stage::StageTwoCompleted), 3),
            (HouseholdOutcome::Withdrew(Stage::Approved), 10),
            (HouseholdOutcome::Ended(Stage::StageOneStarted), 10),
            (HouseholdOutcome::Ended(Stage::StageOneCompleted), 5),
            (HouseholdOutcome::Ended(Stage::StageTwoStarted), 10),
            (HouseholdOutcome::Ended(Stage::StageTwoCompleted), 5),
            (HouseholdOutcome::Ended(Stage::Panel), 5),
        ],
        early_permanence: 0.10,
        foster_carers: 0.10,
        siblings: 0.15,
        must_stay_together: 0.7,
        child_shared: 0.9,
        fast_track: 0.05,
        information_event: 0.5,
        paused: 0.08,
        ends_on_hold: 0.03,
        available: 0.97,
        household_shared: 0.96,
    };
}

/// Generated rows, in id order, ready to insert (groups before children, households
/// before their events).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub sibling_groups: Vec<sibling_group::Model>,
    pub children: Vec<child::Model>,
    pub households: Vec<household::Model>,
    pub events: Vec<recruitment_event::Model>,
}

impl Dataset {
    /// Households in the consortium pool: approved, available, not on hold and shared.
    pub fn pool_households(&self) -> usize {
        self.households
            .iter()
            .filter(|h| {
                h.stage == Stage::Approved.code()
                    && h.available_for_matching
                    && !h.on_hold
                    && h.shared_with_consortium
            })
            .count()
    }

    /// Children waiting for a family (active plan, not yet matched).
    pub fn waiting_children(&self) -> usize {
        self.children
            .iter()
            .filter(|c| milestones_of(c).is_waiting())
            .count()
    }
}

/// Generates the rows for `spec`, drawing every choice from `rng`.
pub fn generate(spec: &Spec<'_>, rng: &mut impl Rng) -> Dataset {
    let (sibling_groups, children) = generate_children(spec, rng);
    let (households, events) = generate_households(spec, rng);
    Dataset {
        sibling_groups,
        children,
        households,
        events,
    }
}

/// The time of day the seeds stamp on records: 09:00 UTC.
const RECORDING_TIME: NaiveTime = match NaiveTime::from_hms_opt(9, 0, 0) {
    Some(t) => t,
    None => panic!("09:00 is a time of day"),
};

/// The timestamp of something recorded on `day`.
pub(super) fn recorded_on(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(RECORDING_TIME).and_utc()
}

/// `day` moved by `days` (negative: earlier).
pub(super) fn shift(day: NaiveDate, days: i64) -> NaiveDate {
    day + TimeDelta::days(days)
}

/// A whole number of days in `lo..=hi`.
pub(super) fn days(rng: &mut impl Rng, lo: i64, hi: i64) -> i64 {
    rng.random_range(lo..=hi.max(lo))
}

/// Days in `0..=max`, most of them small: the lower of two draws.
pub(super) fn recent(rng: &mut impl Rng, max: i64) -> i64 {
    days(rng, 0, max).min(days(rng, 0, max))
}

/// One of `items`, by weight.
pub(super) fn pick<T: Copy>(rng: &mut impl Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut n = rng.random_range(0..total.max(1));
    for (item, weight) in items {
        if n < *weight {
            return *item;
        }
        n -= weight;
    }
    // Only reached with an empty list or all-zero weights; the mixes are constants.
    items
        .first()
        .map(|(item, _)| *item)
        .expect("a weighted list is never empty")
}

/// One word of a constant list.
pub(super) fn word(rng: &mut impl Rng, list: &[&'static str]) -> &'static str {
    list[rng.random_range(0..list.len())]
}

/// A coarse location (two decimal places, about a kilometre) within `spread` degrees of
/// `centre`.
pub(super) fn near(rng: &mut impl Rng, centre: (f64, f64), spread: f64) -> (f64, f64) {
    let coarse = |x: f64| (x * 100.0).round() / 100.0;
    let lat = centre.0 + rng.random_range(-spread..=spread);
    let lon = centre.1 + rng.random_range(-spread * 1.6..=spread * 1.6);
    (coarse(lat), coarse(lon))
}

/// Need ranks (0 = NONE .. 3 = HIGH) for six categories, each drawn with `weights`.
pub(super) fn need_ranks(rng: &mut impl Rng, weights: [u32; 4]) -> [i16; 6] {
    let levels = [
        (0i16, weights[0]),
        (1, weights[1]),
        (2, weights[2]),
        (3, weights[3]),
    ];
    std::array::from_fn(|_| pick(rng, &levels))
}

/// Draws an identity profile by weight.
pub(super) fn identity(rng: &mut impl Rng) -> IdentityProfile {
    let total: u32 = IDENTITIES.iter().map(|p| p.weight).sum();
    let mut n = rng.random_range(0..total);
    for profile in IDENTITIES {
        if n < profile.weight {
            return *profile;
        }
        n -= profile.weight;
    }
    IDENTITIES[0]
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::seed::children::check_child;
    use crate::seed::households::check_household;

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 3, 31).expect("a valid date")
    }

    fn authorities() -> Vec<AuthorityPlan> {
        [
            (1, 1, "one", 300, 400),
            (1, 2, "two", 250, 400),
            (1, 3, "vaa", 0, 300),
            (2, 4, "other", 100, 200),
        ]
        .into_iter()
        .map(
            |(consortium_id, authority_id, code, children, households)| AuthorityPlan {
                consortium_id,
                authority_id,
                code: code.into(),
                centre: (52.48, -1.9),
                children,
                households,
            },
        )
        .collect()
    }

    fn data(mix: &Mix, seed: u64, target: Option<usize>) -> Dataset {
        let authorities = authorities();
        let first_ids = FirstIds {
            sibling_group: 7,
            child: 100,
            household: 1000,
            event: 5,
        };
        let spec = Spec {
            as_of: as_of(),
            authorities: &authorities,
            mix,
            event_target: target,
            first_ids,
        };
        generate(&spec, &mut ChaCha8Rng::seed_from_u64(seed))
    }

    #[test]
    fn every_child_is_valid_and_sibling_groups_hold_together() {
        for (mix, seed) in [(&Mix::DEMO, 1), (&Mix::SYNTHETIC, 2), (&Mix::SYNTHETIC, 3)] {
            let data = data(mix, seed, None);
            assert_eq!(data.children.len(), 650);
            for c in &data.children {
                check_child(c, as_of()).unwrap_or_else(|e| panic!("child {}: {e}", c.id));
                assert_eq!(c.version, 1);
                assert_eq!(c.consortium_id, if c.authority_id == 4 { 2 } else { 1 });
                assert_ne!(c.authority_id, 3, "no children in the voluntary agency");
                assert_eq!(c.plan_change_reason.is_some(), c.plan_changed_on.is_some());
            }
            let mut members: HashMap<i64, Vec<&child::Model>> = HashMap::new();
            for c in &data.children {
                if let Some(g) = c.sibling_group_id {
                    members.entry(g).or_default().push(c);
                }
            }
            assert_eq!(members.len(), data.sibling_groups.len());
            for g in &data.sibling_groups {
                let m = &members[&g.id];
                assert!((2..=4).contains(&m.len()), "group {} has {}", g.id, m.len());
                assert!(m.iter().all(
                    |c| c.authority_id == g.authority_id && c.consortium_id == g.consortium_id
                ));
            }
            assert_eq!(data.children.first().map(|c| c.id), Some(100));
            assert_eq!(data.sibling_groups.first().map(|g| g.id), Some(7));
        }
    }

    #[test]
    fn every_household_history_replays_and_the_row_says_what_it_says() {
        for (mix, seed, target) in [
            (&Mix::DEMO, 1, None),
            (&Mix::SYNTHETIC, 2, Some(13_000)),
            (&Mix::SYNTHETIC, 3, Some(4_000)),
        ] {
            let data = data(mix, seed, target);
            assert_eq!(data.households.len(), 1300);
            let mut events: HashMap<i64, Vec<&recruitment_event::Model>> = HashMap::new();
            for e in &data.events {
                events.entry(e.household_id).or_default().push(e);
            }
            for h in &data.households {
                let history = events.get(&h.id).map(Vec::as_slice).unwrap_or_default();
                check_household(h, history, as_of()).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(h.version, 1);
                if h.stage == Stage::Approved.code() && h.available_for_matching {
                    assert!(history.iter().all(|e| !matches!(
                        e.stage.as_str(),
                        "MATCHED" | "PLACED" | "ADOPTION_ORDER"
                    )));
                }
                assert!(h.approved_on.is_some() || h.capacity == 1 && h.profile_text.is_empty());
            }
            assert!(data.events.windows(2).all(|w| w[1].id == w[0].id + 1));
            if let Some(target) = target {
                assert!(
                    data.events.len().abs_diff(target) <= 1,
                    "{} events for {target}",
                    data.events.len()
                );
            }
        }
    }

    #[test]
    fn the_synthetic_mix_makes_a_large_pool() {
        let data = data(&Mix::SYNTHETIC, 5, Some(13_000));
        let pool = data.pool_households() as f64 / data.households.len() as f64;
        assert!((0.55..0.7).contains(&pool), "pool share {pool}");
        let waiting = data.waiting_children() as f64 / data.children.len() as f64;
        assert!((0.3..0.5).contains(&waiting), "waiting share {waiting}");
    }

    #[test]
    fn the_same_seed_gives_the_same_data_and_another_seed_other_data() {
        assert_eq!(
            data(&Mix::SYNTHETIC, 9, Some(9_000)),
            data(&Mix::SYNTHETIC, 9, Some(9_000))
        );
        assert_ne!(
            data(&Mix::SYNTHETIC, 9, Some(9_000)),
            data(&Mix::SYNTHETIC, 10, Some(9_000))
        );
    }
}

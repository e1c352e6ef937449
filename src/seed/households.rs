//! Generated households and their recruitment histories.
//!
//! A household's journey is first drawn as a plan: its outcome from the
//! [`Mix`](super::generator::Mix) (the stage it stands at, or the stage after which it
//! withdrew or the agency ended it), fast track or not, whether it came to an information
//! event, how many pauses (`ON_HOLD` then `RESUMED`) it had and whether it is on hold now.
//! A plan knows exactly how many events it makes.
//!
//! **The event target.** When the seed asks for a total number of recruitment events, the
//! plans are fitted to it before any date is drawn:
//! - if the plans make more events than the target, households taken in random order are
//!   cut back to an enquiry that went no further (one event each) until the total is at or
//!   under the target; a target below one event per household therefore gives every
//!   household just its `ENQUIRY`, and the total is the number of households;
//! - if they make fewer, pauses are added to households drawn at random (two events each,
//!   at most [`MAX_PAUSES`] per household), and a last odd event is an information event
//!   added to a household that had none. A target beyond what the caps allow is missed.
//!
//! Then each plan becomes dated events: plausible gaps between steps (Stage One about two
//! months, Stage Two about four, pauses one to six months), slid back in time so that the
//! last event falls a little before the reference date (recently for households still in
//! the process, up to four years back for adoptions and exits). The events are stepped
//! through a [`StageMachine`], which both checks them and gives the household row its
//! stage, stage date and hold flag.
use chrono::NaiveDate;
use entity::{household, recruitment_event};

use rand::Rng;
use rand::seq::SliceRandom;

use super::generator::{
    RECORDED_BY, Spec, days, identity, near, need_ranks, pick, recent, recorded_on, shift, word,
};
use super::vocabulary::{
    FIRST_NAMES, HOUSEHOLD_ACTIVITIES, HOUSEHOLD_PROFILE_NAMES, STREETS, SURNAMES, TOWNS,
};
use crate::domain::funnel::FUNNEL_STAGES;
use crate::domain::{
    EnquiryChannel, GenderPreference, RecruitmentEvent, RecruitmentReason, Stage, StageError,
    StageMachine,
};

/// Where a generated household's journey stands at the reference date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HouseholdOutcome {
    /// Still at this progress stage (for `APPROVED`: waiting for a match).
    At(Stage),
    /// Withdrew after reaching this stage.
    Withdrew(Stage),
    /// The agency ended the process after this stage.
    Ended(Stage),
}

/// The most pauses the event target may give one household.
pub const MAX_PAUSES: u32 = 6;

/// How many draws of dates a plan gets before the household is recorded as an enquiry.
const ATTEMPTS: usize = 4;

/// The route of an ordinary application, after the enquiry and information event.
const ROUTE: &[Stage] = FUNNEL_STAGES.split_at(2).1;

/// The fast-track route: straight to Stage Two.
const FAST_ROUTE: &[Stage] = FUNNEL_STAGES.split_at(4).1;

/// A household's journey before dates are drawn.
#[derive(Clone, Debug, PartialEq)]
struct Plan {
    /// Index into the spec's authorities.
    authority: usize,
    channel: EnquiryChannel,
    fast_track: bool,
    information_event: bool,
    /// The last progress stage reached.
    reached: Stage,
    exit: Option<(Stage, RecruitmentReason)>,
    pauses: u32,
    /// On hold at the end (before the exit, if any).
    ends_on_hold: bool,
    /// Cut back to its enquiry to meet the event target.
    enquiry_only: bool,
}

impl Plan {
    fn draw(spec: &Spec<'_>, rng: &mut impl Rng, authority: usize) -> Plan {
        let mix = spec.mix;
        let (reached, exit) = match pick(rng, mix.households) {
            HouseholdOutcome::At(stage) => (stage, None),
            HouseholdOutcome::Withdrew(stage) => (stage, Some(Stage::Withdrawn)),
            HouseholdOutcome::Ended(stage) => (stage, Some(Stage::EndedByAgency)),
        };
        // Fast-track households skip Stage One, so none stands there.
        let fast_track = reached >= Stage::StageTwoStarted && rng.random_bool(mix.fast_track);
        let information_event = reached == Stage::InformationEvent
            || (reached > Stage::InformationEvent && rng.random_bool(mix.information_event));
        let exit = exit.map(|stage| (stage, exit_reason(rng, stage)));
        let pauses = if rng.random_bool(mix.paused) {
            pick(rng, &[(1, 4), (2, 1)])
        } else {
            0
        };
        // A matched household cannot be put on hold. One in ten exits comes during a pause.
        let hold_share = if exit.is_some() {
            0.1
        } else {
            mix.ends_on_hold
        };
        let ends_on_hold = reached <= Stage::Approved && rng.random_bool(hold_share);
        let channel = pick(
            rng,
            &[
                (EnquiryChannel::Website, 40),
                (EnquiryChannel::InformationEvent, 15),
                (EnquiryChannel::ActivityDay, 5),
                (EnquiryChannel::Campaign, 15),
                (EnquiryChannel::Referral, 15),
                (EnquiryChannel::Other, 10),
            ],
        );
        Plan {
            authority,
            channel,
            fast_track,
            information_event,
            reached,
            exit,
            pauses,
            ends_on_hold,
            enquiry_only: false,
        }
    }

    /// The progress stages, in order, from the enquiry to the stage reached.
    fn progress(&self) -> Vec<Stage> {
        let route = if self.fast_track { FAST_ROUTE } else { ROUTE };
        let mut stages = vec![Stage::Enquiry];
        if self.information_event {
            stages.push(Stage::InformationEvent);
        }
        stages.extend(route.iter().copied().filter(|s| *s <= self.reached));
        stages
    }

    /// How many events the plan makes.
    fn event_count(&self) -> usize {
        self.progress().len()
            + 2 * self.pauses as usize
            + usize::from(self.ends_on_hold)
            + usize::from(self.exit.is_some())
    }

    /// Makes the plan an enquiry that went no further.
    fn cut_to_enquiry(&mut self) {
        self.reached = Stage::Enquiry;
        self.information_event = false;
        self.exit = None;
        self.pauses = 0;
        self.ends_on_hold = false;
        self.enquiry_only = true;
    }

    /// The steps of the history, undated.
    fn steps(&self, rng: &mut impl Rng) -> Vec<(Stage, Option<RecruitmentReason>)> {
        let progress = self.progress();
        // Pauses may follow any step up to approval (not once matched).
        let holdable = progress
            .iter()
            .filter(|s| **s <= Stage::Approved)
            .count()
            .max(1);
        let mut pauses_after = vec![0u32; progress.len()];
        for _ in 0..self.pauses {
            pauses_after[rng.random_range(0..holdable)] += 1;
        }
        let mut steps = Vec::with_capacity(self.event_count());
        for (stage, pauses) in progress.iter().zip(pauses_after) {
            steps.push((*stage, None));
            for _ in 0..pauses {
                steps.push((Stage::OnHold, hold_reason(rng)));
                steps.push((Stage::Resumed, None));
            }
        }
        if self.ends_on_hold {
            steps.push((Stage::OnHold, hold_reason(rng)));
        }
        if let Some((stage, reason)) = self.exit {
            steps.push((stage, Some(reason)));
        }
        steps
    }

    /// Days before the reference date on which the last event falls.
    fn recency(&self, rng: &mut impl Rng) -> i64 {
        if self.enquiry_only {
            return days(rng, 0, 365);
        }
        if self.exit.is_some() {
            return days(rng, 0, 1460);
        }
        if self.ends_on_hold {
            return days(rng, 0, 150);
        }
        match self.reached {
            Stage::Enquiry | Stage::StageOneStarted => days(rng, 0, 60),
            Stage::InformationEvent => days(rng, 0, 45),
            Stage::StageOneCompleted => days(rng, 0, 75),
            Stage::StageTwoStarted => days(rng, 0, 120),
            Stage::StageTwoCompleted => days(rng, 0, 30),
            Stage::Panel => days(rng, 0, 14),
            Stage::Approved => recent(rng, 900),
            Stage::Matched => days(rng, 0, 60),
            Stage::Placed => days(rng, 0, 300),
            _ => days(rng, 0, 1460),
        }
    }

    /// Dates the plan's steps and steps them through a [`StageMachine`].
    fn history(
        &self,
        rng: &mut impl Rng,
        as_of: NaiveDate,
    ) -> Result<(Vec<RecruitmentEvent>, StageMachine), StageError> {
        let steps = self.steps(rng);
        let gaps: Vec<i64> = steps.windows(2).map(|w| gap(rng, w[0].0, w[1].0)).collect();
        let last = shift(as_of, -self.recency(rng));
        let mut on = shift(last, -gaps.iter().sum::<i64>());
        let mut events = Vec::with_capacity(steps.len());
        let mut machine = StageMachine::at_enquiry(on, self.fast_track);
        events.push(RecruitmentEvent {
            stage: Stage::Enquiry,
            occurred_on: on,
            reason: None,
        });
        for ((stage, reason), gap) in steps.iter().skip(1).zip(&gaps) {
            on = shift(on, *gap);
            let event = RecruitmentEvent {
                stage: *stage,
                occurred_on: on,
                reason: *reason,
            };
            machine = machine.record(event, as_of)?;
            events.push(event);
        }
        Ok((events, machine))
    }
}

/// Days between two consecutive steps.
fn gap(rng: &mut impl Rng, previous: Stage, next: Stage) -> i64 {
    use Stage::*;
    match (previous, next) {
        (OnHold, Resumed) => days(rng, 30, 180),
        (OnHold, Withdrawn | EndedByAgency) => days(rng, 20, 200),
        (_, OnHold) => days(rng, 3, 60),
        (_, Withdrawn | EndedByAgency) => days(rng, 7, 150),
        (_, InformationEvent) => days(rng, 5, 45),
        (_, StageOneStarted) => days(rng, 10, 75),
        (_, StageOneCompleted) => days(rng, 35, 85),
        (StageOneCompleted, StageTwoStarted) => days(rng, 7, 150),
        (_, StageTwoStarted) => days(rng, 14, 90),
        (_, StageTwoCompleted) => days(rng, 90, 160),
        (_, Panel) => days(rng, 10, 45),
        (_, Approved) => days(rng, 2, 21),
        (_, Matched) => days(rng, 20, 400),
        (_, Placed) => days(rng, 7, 60),
        (_, AdoptionOrder) => days(rng, 150, 400),
        _ => days(rng, 1, 30),
    }
}

fn exit_reason(rng: &mut impl Rng, exit: Stage) -> RecruitmentReason {
    use RecruitmentReason::*;
    if exit == Stage::EndedByAgency {
        pick(
            rng,
            &[
                (SuitabilityConcerns, 5),
                (Safeguarding, 2),
                (NoContact, 3),
                (Health, 1),
                (Other, 1),
            ],
        )
    } else {
        pick(
            rng,
            &[
                (ChangeOfCircumstances, 5),
                (Health, 2),
                (Relationship, 2),
                (Financial, 2),
                (AnotherAgency, 2),
                (AnotherRoute, 1),
                (NotReady, 4),
                (NoContact, 3),
                (Other, 1),
            ],
        )
    }
}

fn hold_reason(rng: &mut impl Rng) -> Option<RecruitmentReason> {
    use RecruitmentReason::*;
    rng.random_bool(0.85).then(|| {
        pick(
            rng,
            &[
                (ChangeOfCircumstances, 4),
                (Health, 3),
                (NotReady, 2),
                (Financial, 1),
                (Other, 1),
            ],
        )
    })
}

/// Fits the plans to `target` events (see the module documentation).
fn fit_to_target(plans: &mut [Plan], target: usize, rng: &mut impl Rng) {
    let mut total: usize = plans.iter().map(Plan::event_count).sum();
    if total > target {
        let mut order: Vec<usize> = (0..plans.len()).collect();
        order.shuffle(rng);
        for i in order {
            if total <= target {
                break;
            }
            let before = plans[i].event_count();
            plans[i].cut_to_enquiry();
            total -= before - 1;
        }
    }
    let mut open: Vec<usize> = (0..plans.len())
        .filter(|i| plans[*i].pauses < MAX_PAUSES)
        .collect();
    while total + 2 <= target && !open.is_empty() {
        let k = rng.random_range(0..open.len());
        let plan = &mut plans[open[k]];
        plan.pauses += 1;
        total += 2;
        if plan.pauses >= MAX_PAUSES {
            open.swap_remove(k);
        }
    }
    if total < target && !plans.is_empty() {
        let start = rng.random_range(0..plans.len());
        let candidate = (start..plans.len())
            .chain(0..start)
            .find(|i| !plans[*i].information_event && plans[*i].reached > Stage::InformationEvent);
        if let Some(i) = candidate {
            plans[i].information_event = true;
        }
    }
}

/// Households and their events for every authority of `spec`, numbered from its first ids.
pub(super) fn generate_households(
    spec: &Spec<'_>,
    rng: &mut impl Rng,
) -> (Vec<household::Model>, Vec<recruitment_event::Model>) {
    let mut plans = Vec::with_capacity(spec.authorities.iter().map(|a| a.households).sum());
    for (i, authority) in spec.authorities.iter().enumerate() {
        for _ in 0..authority.households {
            plans.push(Plan::draw(spec, rng, i));
        }
    }
    if let Some(target) = spec.event_target {
        fit_to_target(&mut plans, target, rng);
    }
    let mut households = Vec::with_capacity(plans.len());
    let mut events = Vec::with_capacity(plans.iter().map(Plan::event_count).sum());
    let mut next_event = spec.first_ids.event;
    for (n, plan) in plans.iter().enumerate() {
        let id = spec.first_ids.household + n as i64;
        let authority = &spec.authorities[plan.authority];
        let (history, machine) = (0..ATTEMPTS)
            .find_map(|_| plan.history(rng, spec.as_of).ok())
            .unwrap_or_else(|| enquiry_only(rng, spec.as_of, plan.fast_track));
        households.push(household_row(spec, rng, plan, id, &history, &machine));
        for event in &history {
            events.push(recruitment_event::Model {
                id: next_event,
                consortium_id: authority.consortium_id,
                authority_id: authority.authority_id,
                household_id: id,
                stage: event.stage.code().into(),
                occurred_on: event.occurred_on,
                reason: event.reason.map(|r| r.code().into()),
                recorded_by: RECORDED_BY.into(),
                recorded_at: recorded_on(event.occurred_on),
            });
            next_event += 1;
        }
    }
    (households, events)
}

/// The fallback history: a recent enquiry, which is always valid.
fn enquiry_only(
    rng: &mut impl Rng,
    as_of: NaiveDate,
    fast_track: bool,
) -> (Vec<RecruitmentEvent>, StageMachine) {
    let on = shift(as_of, -days(rng, 0, 365));
    (
        vec![RecruitmentEvent {
            stage: Stage::Enquiry,
            occurred_on: on,
            reason: None,
        }],
        StageMachine::at_enquiry(on, fast_track),
    )
}

/// The household row: what the events say, and an invented profile.
fn household_row(
    spec: &Spec<'_>,
    rng: &mut impl Rng,
    plan: &Plan,
    id: i64,
    history: &[RecruitmentEvent],
    machine: &StageMachine,
) -> household::Model {
    let authority = &spec.authorities[plan.authority];
    let enquiry_on = history.first().map_or(machine.last_on, |e| e.occurred_on);
    let approved_on = history
        .iter()
        .find(|e| e.stage == Stage::Approved)
        .map(|e| e.occurred_on);
    let identity = identity(rng);
    let surname = word(rng, SURNAMES);
    let couple = rng.random_bool(0.7);
    let applicant_two_name = couple.then(|| {
        let surname = if rng.random_bool(0.7) {
            surname
        } else {
            word(rng, SURNAMES)
        };
        format!("{} {surname}", word(rng, FIRST_NAMES))
    });
    let profile_name = format!("Household {}", word(rng, HOUSEHOLD_PROFILE_NAMES));
    let (lat, lon) = near(rng, authority.centre, 0.3);
    let languages = match identity.language {
        Some(language) => format!("ENGLISH,{language}"),
        None => "ENGLISH".into(),
    };

    // The approval profile, for households that were approved; the defaults of a new
    // household otherwise.
    let mut profile = Approval::default();
    if approved_on.is_some() {
        let capacity = pick(rng, &[(1i16, 55), (2, 33), (3, 9), (4, 3)]);
        let age_min_months = pick(rng, &[(0, 60), (12, 20), (24, 12), (36, 8)]);
        let age_max_months = (age_min_months + 12 * days(rng, 2, 8) as i32).min(216);
        profile = Approval {
            capacity,
            age_min_months,
            age_max_months,
            accepts: need_ranks(rng, [15, 35, 35, 15]),
            accepts_siblings: capacity >= 2 && rng.random_bool(0.9),
            gender_preference: pick(
                rng,
                &[
                    (GenderPreference::Any, 70),
                    (GenderPreference::Female, 18),
                    (GenderPreference::Male, 12),
                ],
            ),
            early_permanence_approved: rng.random_bool(if age_min_months == 0 {
                0.35
            } else {
                0.05
            }),
            profile_text: format!(
                "{profile_name}: {} who enjoy {}. Invented for the demonstration.",
                if couple {
                    "a couple"
                } else {
                    "a single adopter"
                },
                word(rng, HOUSEHOLD_ACTIVITIES)
            ),
        };
    }
    let available = approved_on.is_some()
        && machine.stage == Stage::Approved
        && !machine.on_hold
        && rng.random_bool(spec.mix.available);
    household::Model {
        id,
        consortium_id: authority.consortium_id,
        authority_id: authority.authority_id,
        version: 1,
        applicant_one_name: format!("{} {surname}", word(rng, FIRST_NAMES)),
        applicant_two_name,
        address: Some(format!(
            "{} {}, {}",
            days(rng, 1, 199),
            word(rng, STREETS),
            word(rng, TOWNS)
        )),
        notes: None,
        profile_name,
        ethnicity: identity.ethnicity.code().into(),
        enquiry_channel: plan.channel.code().into(),
        enquiry_on,
        fast_track: machine.fast_track,
        stage: machine.stage.code().into(),
        stage_on: machine.last_on,
        on_hold: machine.on_hold,
        approved_on,
        capacity: profile.capacity,
        age_min_months: profile.age_min_months,
        age_max_months: profile.age_max_months,
        accepts_physical_health: profile.accepts[0],
        accepts_disability: profile.accepts[1],
        accepts_learning: profile.accepts[2],
        accepts_developmental_uncertainty: profile.accepts[3],
        accepts_emotional_behavioural: profile.accepts[4],
        accepts_prenatal_exposure: profile.accepts[5],
        accepts_siblings: profile.accepts_siblings,
        gender_preference: profile.gender_preference.code().into(),
        early_permanence_approved: profile.early_permanence_approved,
        religion: identity.religion.map(Into::into),
        languages: Some(languages),
        culture: identity.culture.map(Into::into),
        lat: Some(lat),
        lon: Some(lon),
        profile_text: profile.profile_text,
        available_for_matching: available,
        shared_with_consortium: rng.random_bool(spec.mix.household_shared),
        import_reference: None,
        created_at: recorded_on(enquiry_on),
        updated_at: recorded_on(machine.last_on),
    }
}

/// What a household is approved for.
struct Approval {
    capacity: i16,
    age_min_months: i32,
    age_max_months: i32,
    accepts: [i16; 6],
    accepts_siblings: bool,
    gender_preference: GenderPreference,
    early_permanence_approved: bool,
    profile_text: String,
}

impl Default for Approval {
    /// What a newly registered household has (as the API creates it).
    fn default() -> Self {
        Approval {
            capacity: 1,
            age_min_months: 0,
            age_max_months: 60,
            accepts: [0; 6],
            accepts_siblings: false,
            gender_preference: GenderPreference::Any,
            early_permanence_approved: false,
            profile_text: String::new(),
        }
    }
}

/// Replays a household's stored events and checks the row says what they say, for tests.
#[cfg(test)]
pub(super) fn check_household(
    h: &household::Model,
    events: &[&recruitment_event::Model],
    as_of: NaiveDate,
) -> Result<(), String> {
    use crate::store::codes::EventCodes;
    let parsed: Vec<RecruitmentEvent> = events
        .iter()
        .map(|e| RecruitmentEvent {
            stage: e.stage_code(),
            occurred_on: e.occurred_on,
            reason: e.reason_code(),
        })
        .collect();
    let m = StageMachine::replay(&parsed, h.fast_track, as_of)
        .ok_or_else(|| format!("household {} does not replay", h.id))?;
    let first = parsed.first().ok_or("no events")?;
    let approved_on = parsed
        .iter()
        .find(|e| e.stage == Stage::Approved)
        .map(|e| e.occurred_on);
    let checks = [
        (h.stage == m.stage.code(), "stage"),
        (h.stage_on == m.last_on, "stage_on"),
        (h.on_hold == m.on_hold, "on_hold"),
        (h.approved_on == approved_on, "approved_on"),
        (h.enquiry_on == first.occurred_on, "enquiry_on"),
        (
            EnquiryChannel::from_code(&h.enquiry_channel).is_some(),
            "enquiry_channel",
        ),
        (
            !h.available_for_matching
                || (h.approved_on.is_some() && h.stage == Stage::Approved.code()),
            "available",
        ),
        (
            events
                .iter()
                .all(|e| e.authority_id == h.authority_id && e.consortium_id == h.consortium_id),
            "tenancy",
        ),
    ];
    match checks.iter().find(|(ok, _)| !ok) {
        Some((_, field)) => Err(format!(
            "household {}: {field} does not match its events",
            h.id
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::generator::{AuthorityPlan, Mix};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn spec_with(authorities: &[AuthorityPlan], target: Option<usize>) -> Spec<'_> {
        Spec {
            as_of: NaiveDate::from_ymd_opt(2026, 3, 31).unwrap_or_default(),
            authorities,
            mix: &Mix::SYNTHETIC,
            event_target: target,
            first_ids: Default::default(),
        }
    }

    fn one_authority(households: usize) -> Vec<AuthorityPlan> {
        vec![AuthorityPlan {
            consortium_id: 1,
            authority_id: 1,
            code: "test".into(),
            centre: (52.48, -1.9),
            children: 0,
            households,
        }]
    }

    #[test]
    fn the_event_target_is_met_by_pausing_or_cutting_back() {
        let authorities = one_authority(1000);
        for target in [10_000, 5_000, 3_001, 1_500] {
            let spec = spec_with(&authorities, Some(target));
            let (households, events) =
                generate_households(&spec, &mut ChaCha8Rng::seed_from_u64(3));
            assert_eq!(households.len(), 1000);
            assert!(
                events.len().abs_diff(target) <= 1,
                "{} events for a target of {target}",
                events.len()
            );
        }
        // Below one event per household, every household keeps its enquiry.
        let spec = spec_with(&authorities, Some(10));
        let (_, events) = generate_households(&spec, &mut ChaCha8Rng::seed_from_u64(3));
        assert_eq!(events.len(), 1000);
        assert!(events.iter().all(|e| e.stage == Stage::Enquiry.code()));
    }

    #[test]
    fn plans_count_their_events_exactly() {
        let authorities = one_authority(1);
        let spec = spec_with(&authorities, None);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for _ in 0..2000 {
            let mut plan = Plan::draw(&spec, &mut rng, 0);
            plan.pauses = rng.random_range(0..=MAX_PAUSES);
            let (events, _) = plan
                .history(&mut rng, spec.as_of)
                .expect("a drawn plan is valid");
            assert_eq!(events.len(), plan.event_count());
        }
    }
}

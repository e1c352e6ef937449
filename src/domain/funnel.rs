//! The recruitment funnel: from each household's journey (the first date it reached every
//! stage, as of a date) to stage counts, cohort conversion and timeliness, and to the
//! adopter tracking alerts. One pass over compact rows; no clock (`as_of` is an argument).
//! [`publish`] gives the funnel as a caller sees it, with disclosure control over the whole
//! breakdown.
//!
//! Definitions, for a period and an `as_of` date:
//! - **Stage counts**: households that first reached each stage within the period (exits
//!   count under their exit stage).
//! - **Cohort**: households whose enquiry is in the period. For each later stage: how many
//!   reached it by `as_of`, and the population it could be reached from (`eligible`): the
//!   cohort for the enquiry and the optional information event; the cohort less fast-track
//!   households for Stage One (they skip it, so they are never Stage One drop-outs); those who
//!   completed Stage One plus the fast-track households for Stage Two started; the previous
//!   stage's count afterwards. Each cohort household is exactly one of: approved by `as_of`,
//!   left before approval, or still in progress (of which some are on hold).
//! - **Timeliness**: for each step, over the households whose step ended within the period,
//!   the days it took; the mean, the median, and the share within the statutory target
//!   (Stage One ≤ 2 months, gap between stages ≤ 6 months, Stage Two ≤ 4 months, matched
//!   ≤ 3 months after approval). Months are calendar months.
use super::codes::coded;
use std::borrow::Borrow;
use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};

use serde::{Deserialize, Serialize};

use super::codes::as_graphql;
use super::disclosure::{self, Audience, Shown};
use super::period::Period;
use super::{EnquiryChannel, RecruitmentReason, Stage};

/// The stages of the funnel, in order.
pub const FUNNEL_STAGES: [Stage; 11] = [
    Stage::Enquiry,
    Stage::InformationEvent,
    Stage::StageOneStarted,
    Stage::StageOneCompleted,
    Stage::StageTwoStarted,
    Stage::StageTwoCompleted,
    Stage::Panel,
    Stage::Approved,
    Stage::Matched,
    Stage::Placed,
    Stage::AdoptionOrder,
];

fn index(stage: Stage) -> Option<usize> {
    FUNNEL_STAGES.iter().position(|s| *s == stage)
}

/// How a household left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    /// `WITHDRAWN` or `ENDED_BY_AGENCY`.
    pub stage: Stage,
    pub on: NaiveDate,
    pub reason: Option<RecruitmentReason>,
}

/// One household's journey as of a date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Journey {
    pub household_id: i64,
    pub authority_id: i64,
    pub channel: EnquiryChannel,
    pub enquiry_on: NaiveDate,
    pub fast_track: bool,
    /// The first date each stage of [`FUNNEL_STAGES`] was reached, on or before `as_of`.
    pub reached: [Option<NaiveDate>; 11],
    pub exit: Option<Exit>,
    /// On hold at `as_of`.
    pub on_hold: bool,
}

impl Journey {
    /// The first date `stage` was reached.
    pub fn reached(&self, stage: Stage) -> Option<NaiveDate> {
        index(stage).and_then(|i| self.reached[i])
    }

    /// The furthest stage reached.
    pub fn current_stage(&self) -> Stage {
        FUNNEL_STAGES
            .iter()
            .zip(self.reached.iter())
            .rev()
            .find(|(_, on)| on.is_some())
            .map(|(s, _)| *s)
            .unwrap_or(Stage::Enquiry)
    }
}

coded! {
    /// What the funnel may be broken down by.
    pub enum FunnelGroupBy {
        Authority,
        Channel,
        EnquiryMonth,
    }
}

/// One group of a breakdown; a field is `None` when the breakdown is not by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKey {
    pub authority_id: Option<i64>,
    pub channel: Option<EnquiryChannel>,
    /// (year, month) of the enquiry.
    pub enquiry_month: Option<(i32, u32)>,
}

impl GroupKey {
    fn of(journey: &Journey, group_by: &[FunnelGroupBy]) -> GroupKey {
        let by = |g| group_by.contains(&g);
        GroupKey {
            authority_id: by(FunnelGroupBy::Authority).then_some(journey.authority_id),
            channel: by(FunnelGroupBy::Channel).then_some(journey.channel),
            enquiry_month: by(FunnelGroupBy::EnquiryMonth)
                .then_some((journey.enquiry_on.year(), journey.enquiry_on.month())),
        }
    }
}

coded! {
    /// A step whose duration is measured.
    pub enum Step {
        /// Enquiry to Stage One started.
        EnquiryToStageOne,
        /// Stage One started to completed (target 2 months).
        StageOne,
        /// Stage One completed to Stage Two started (target 6 months).
        GapBetweenStages,
        /// Stage Two started to completed (target 4 months).
        StageTwo,
        /// Stage Two completed to approval.
        StageTwoToApproval,
        /// Approval to match (target 3 months).
        ApprovalToMatch,
    }
}

impl Step {
    /// Every step, in journey order.
    pub const ALL: [Step; 6] = [
        Step::EnquiryToStageOne,
        Step::StageOne,
        Step::GapBetweenStages,
        Step::StageTwo,
        Step::StageTwoToApproval,
        Step::ApprovalToMatch,
    ];

    /// The stages the step runs between.
    pub fn stages(self) -> (Stage, Stage) {
        match self {
            Step::EnquiryToStageOne => (Stage::Enquiry, Stage::StageOneStarted),
            Step::StageOne => (Stage::StageOneStarted, Stage::StageOneCompleted),
            Step::GapBetweenStages => (Stage::StageOneCompleted, Stage::StageTwoStarted),
            Step::StageTwo => (Stage::StageTwoStarted, Stage::StageTwoCompleted),
            Step::StageTwoToApproval => (Stage::StageTwoCompleted, Stage::Approved),
            Step::ApprovalToMatch => (Stage::Approved, Stage::Matched),
        }
    }

    /// The statutory target in months, where there is one.
    pub fn target_months(self) -> Option<u32> {
        match self {
            Step::StageOne => Some(2),
            Step::GapBetweenStages => Some(6),
            Step::StageTwo => Some(4),
            Step::ApprovalToMatch => Some(3),
            Step::EnquiryToStageOne | Step::StageTwoToApproval => None,
        }
    }

    /// Whether a step from `start` to `end` is within target.
    pub fn within_target(self, start: NaiveDate, end: NaiveDate) -> Option<bool> {
        let months = self.target_months()?;
        Some(
            start
                .checked_add_months(Months::new(months))
                .is_none_or(|limit| end <= limit),
        )
    }
}

/// One stage of the cohort.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CohortStage {
    /// Cohort households that reached the stage by `as_of`.
    pub reached: u64,
    /// The population the stage could be reached from (see the module header).
    pub eligible: u64,
}

/// Durations of one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StepFigures {
    /// Days each household took, ascending.
    pub days: Vec<i64>,
    /// How many were within target (0 where the step has no target).
    pub within_target: u64,
}

impl StepFigures {
    /// How many households completed the step in the period.
    pub fn count(&self) -> u64 {
        self.days.len() as u64
    }

    /// The mean duration in days.
    pub fn mean(&self) -> Option<f64> {
        (!self.days.is_empty())
            .then(|| self.days.iter().sum::<i64>() as f64 / self.days.len() as f64)
    }

    /// The median duration in days (the mean of the middle two for an even count).
    pub fn median(&self) -> Option<f64> {
        let n = self.days.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(self.days[n / 2] as f64),
            _ => Some((self.days[n / 2 - 1] + self.days[n / 2]) as f64 / 2.0),
        }
    }
}

/// The figures of one group (or of the whole).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FunnelFigures {
    /// Households first reaching each stage within the period, by stage (exits included).
    pub stage_counts: BTreeMap<Stage, u64>,
    pub cohort_size: u64,
    /// Per stage of [`FUNNEL_STAGES`].
    pub cohort_stages: [CohortStage; 11],
    /// Cohort households that left by `as_of`, by exit stage and reason.
    pub exits: BTreeMap<(Stage, Option<RecruitmentReason>), u64>,
    /// Cohort households that left, by the last stage they had reached.
    pub left_after: BTreeMap<Stage, u64>,
    pub approved: u64,
    pub left_before_approval: u64,
    pub in_progress: u64,
    pub on_hold: u64,
    pub fast_track: u64,
    pub steps: BTreeMap<Step, StepFigures>,
}

impl FunnelFigures {
    fn add(&mut self, j: &Journey, period: &Period) {
        for (stage, on) in FUNNEL_STAGES.iter().zip(j.reached.iter()) {
            if on.is_some_and(|d| period.contains(d)) {
                *self.stage_counts.entry(*stage).or_default() += 1;
            }
        }
        if let Some(exit) = j.exit
            && period.contains(exit.on)
        {
            *self.stage_counts.entry(exit.stage).or_default() += 1;
        }
        if period.contains(j.enquiry_on) {
            self.add_to_cohort(j);
        }
        for step in Step::ALL {
            let (from, to) = step.stages();
            if let (Some(start), Some(end)) = (j.reached(from), j.reached(to))
                && period.contains(end)
            {
                let figures = self.steps.entry(step).or_default();
                figures.days.push((end - start).num_days());
                if step.within_target(start, end) == Some(true) {
                    figures.within_target += 1;
                }
            }
        }
    }

    fn add_to_cohort(&mut self, j: &Journey) {
        self.cohort_size += 1;
        if j.fast_track {
            self.fast_track += 1;
        }
        for (i, on) in j.reached.iter().enumerate() {
            if on.is_some() {
                self.cohort_stages[i].reached += 1;
            }
        }
        match (j.exit, j.reached(Stage::Approved)) {
            (_, Some(_)) => self.approved += 1,
            (Some(exit), None) => {
                self.left_before_approval += 1;
                *self.exits.entry((exit.stage, exit.reason)).or_default() += 1;
                *self.left_after.entry(j.current_stage()).or_default() += 1;
            }
            (None, None) => {
                self.in_progress += 1;
                if j.on_hold {
                    self.on_hold += 1;
                }
            }
        }
        if let (Some(exit), Some(_)) = (j.exit, j.reached(Stage::Approved)) {
            // Approved households that later left still show among the exits by reason.
            *self.exits.entry((exit.stage, exit.reason)).or_default() += 1;
        }
    }

    /// Sorts durations and fills in each cohort stage's eligible population.
    fn finish(&mut self) {
        for figures in self.steps.values_mut() {
            figures.days.sort_unstable();
        }
        let reached = |s: Stage| index(s).map(|i| self.cohort_stages[i].reached).unwrap_or(0);
        let mut eligible = [0u64; 11];
        for (i, stage) in FUNNEL_STAGES.iter().enumerate() {
            eligible[i] = match stage {
                Stage::Enquiry | Stage::InformationEvent => self.cohort_size,
                Stage::StageOneStarted => self.cohort_size - self.fast_track,
                Stage::StageTwoStarted => reached(Stage::StageOneCompleted) + self.fast_track,
                Stage::StageOneCompleted => reached(Stage::StageOneStarted),
                Stage::StageTwoCompleted => reached(Stage::StageTwoStarted),
                _ => self.cohort_stages[i - 1].reached,
            };
        }
        for (stage, e) in self.cohort_stages.iter_mut().zip(eligible) {
            stage.eligible = e;
        }
    }

    /// Households that reached `stage` by `as_of` in the cohort, with its population.
    pub fn cohort_stage(&self, stage: Stage) -> CohortStage {
        index(stage)
            .map(|i| self.cohort_stages[i])
            .unwrap_or_default()
    }
}

/// The funnel over `journeys`: per group (when `group_by` is not empty) and in total.
pub fn funnel<J: Borrow<Journey>>(
    journeys: impl IntoIterator<Item = J>,
    period: &Period,
    group_by: &[FunnelGroupBy],
) -> (BTreeMap<GroupKey, FunnelFigures>, FunnelFigures) {
    let mut groups: BTreeMap<GroupKey, FunnelFigures> = BTreeMap::new();
    let mut total = FunnelFigures::default();
    for j in journeys {
        let j = j.borrow();
        total.add(j, period);
        if !group_by.is_empty() {
            groups
                .entry(GroupKey::of(j, group_by))
                .or_default()
                .add(j, period);
        }
    }
    total.finish();
    for figures in groups.values_mut() {
        figures.finish();
    }
    (groups, total)
}

/// An adopter tracking alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, async_graphql::Enum)]
pub enum AdopterAlertKind {
    /// In Stage One for more than 2 months.
    StageOneOverTwoMonths,
    /// More than 6 months since Stage One completed, Stage Two not started.
    GapOverSixMonths,
    /// In Stage Two for more than 4 months.
    StageTwoOverFourMonths,
    /// Approved more than 3 months ago and not matched.
    ApprovedUnmatchedOverThreeMonths,
}

/// A household past a timescale as of a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdopterAlert {
    pub household_id: i64,
    pub authority_id: i64,
    pub kind: AdopterAlertKind,
    /// The date the clock started (the stage's first date).
    pub since: NaiveDate,
    /// Days past the timescale as of the date.
    pub days_overdue: i64,
    pub on_hold: bool,
}

/// The alert of a household still in the process as of `as_of`, if it is past a timescale.
pub fn adopter_alert(j: &Journey, as_of: NaiveDate) -> Option<AdopterAlert> {
    if j.exit.is_some() {
        return None;
    }
    let (kind, months) = match j.current_stage() {
        Stage::StageOneStarted => (AdopterAlertKind::StageOneOverTwoMonths, 2),
        Stage::StageOneCompleted => (AdopterAlertKind::GapOverSixMonths, 6),
        Stage::StageTwoStarted => (AdopterAlertKind::StageTwoOverFourMonths, 4),
        Stage::Approved => (AdopterAlertKind::ApprovedUnmatchedOverThreeMonths, 3),
        _ => return None,
    };
    let since = j.reached(j.current_stage())?;
    let limit = since.checked_add_months(Months::new(months))?;
    (as_of > limit).then(|| AdopterAlert {
        household_id: j.household_id,
        authority_id: j.authority_id,
        kind,
        since,
        days_overdue: (as_of - limit).num_days(),
        on_hold: j.on_hold,
    })
}

/// A stage and how many households reached it, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedStageCount {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub count: Shown<u64>,
}

/// A cohort stage, as published: reached by `as_of`, and the conversion rates into it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedCohortStage {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub reached: Shown<u64>,
    /// The population the stage could be reached from.
    pub eligible: Shown<u64>,
    /// Percentage of `eligible` that reached the stage.
    pub from_previous: Shown<f64>,
    /// Percentage of the cohort that reached the stage.
    pub from_enquiry: Shown<f64>,
}

/// Households that left, by exit and reason, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedExit {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    #[serde(with = "as_graphql")]
    pub reason: Option<RecruitmentReason>,
    pub count: Shown<u64>,
}

/// Households that left after reaching a stage (and no later one), as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedLeftAfter {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub count: Shown<u64>,
}

/// The cohort of a group (households whose enquiry is in the period, followed to
/// `as_of`), as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedCohort {
    pub size: Shown<u64>,
    pub fast_track: Shown<u64>,
    pub stages: Vec<PublishedCohortStage>,
    pub approved: Shown<u64>,
    pub left_before_approval: Shown<u64>,
    pub in_progress: Shown<u64>,
    pub on_hold: Shown<u64>,
    pub exits: Vec<PublishedExit>,
    pub left_after: Vec<PublishedLeftAfter>,
}

/// How long a step took, for steps completed in the period, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedStep {
    #[serde(with = "as_graphql")]
    pub step: Step,
    pub target_months: Option<u32>,
    pub count: Shown<u64>,
    pub mean_days: Shown<f64>,
    pub median_days: Shown<f64>,
    /// Percentage completed within the target (absent where the step has no target).
    pub within_target: Shown<f64>,
}

/// The figures of one group of the breakdown (or of the whole), as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedGroup {
    pub authority: Option<i64>,
    #[serde(with = "as_graphql")]
    pub channel: Option<EnquiryChannel>,
    /// `YYYY-MM` of the enquiry.
    pub enquiry_month: Option<String>,
    pub stage_counts: Vec<PublishedStageCount>,
    pub cohort: PublishedCohort,
    pub timeliness: Vec<PublishedStep>,
}

/// The funnel ([`funnel`]'s groups and total) as published to `audience`: every count of
/// every group suppressed as one breakdown whose total row is the whole's, in a column
/// order shared by all groups; the populations and rates derived from the counts withheld
/// wherever a count they are made of is, and nothing about a step whose count is withheld.
/// The total first, then the groups.
pub fn publish(
    groups: &BTreeMap<GroupKey, FunnelFigures>,
    total: &FunnelFigures,
    audience: Audience,
) -> (PublishedGroup, Vec<PublishedGroup>) {
    let all: Vec<&FunnelFigures> = groups.values().chain(std::iter::once(total)).collect();
    let columns = Columns::of(&all);
    let rows: Vec<Vec<u64>> = groups.values().map(|f| columns.counts(f)).collect();
    let suppressed = breakdown(&rows, &columns.counts(total), audience);
    let published = groups
        .iter()
        .zip(suppressed.rows.iter())
        .map(|((key, f), counts)| columns.group(Some(key), f, counts, audience))
        .collect();
    (
        columns.group(None, total, &suppressed.total, audience),
        published,
    )
}

/// The exits a cohort household can leave by.
pub const EXIT_STAGES: [Stage; 2] = [Stage::Withdrawn, Stage::EndedByAgency];

/// Counts of several groups and their total, suppressed as one breakdown: the groups are
/// the rows, the figures the columns, and the total row holds the column totals.
struct Breakdown {
    rows: Vec<Vec<Shown<u64>>>,
    total: Vec<Shown<u64>>,
}

fn breakdown(rows: &[Vec<u64>], total: &[u64], audience: Audience) -> Breakdown {
    if rows.is_empty() {
        let table = disclosure::suppress_table(&[total.to_vec()], audience);
        return Breakdown {
            rows: Vec::new(),
            total: table.cells.into_iter().next().unwrap_or_default(),
        };
    }
    let table = disclosure::suppress_table(rows, audience);
    Breakdown {
        rows: table.cells,
        total: table.column_totals,
    }
}

/// The counts of a funnel group, in a fixed column order shared by all groups.
struct Columns {
    exits: Vec<(Stage, Option<RecruitmentReason>)>,
    left_after: Vec<Stage>,
}

impl Columns {
    fn of(figures: &[&FunnelFigures]) -> Columns {
        let mut exits: Vec<_> = figures
            .iter()
            .flat_map(|f| f.exits.keys().copied())
            .collect();
        exits.sort();
        exits.dedup();
        let mut left_after: Vec<_> = figures
            .iter()
            .flat_map(|f| f.left_after.keys().copied())
            .collect();
        left_after.sort();
        left_after.dedup();
        Columns { exits, left_after }
    }

    /// Every count of `f`, in column order.
    fn counts(&self, f: &FunnelFigures) -> Vec<u64> {
        let mut v = Vec::new();
        for stage in FUNNEL_STAGES.iter().chain(EXIT_STAGES.iter()) {
            v.push(f.stage_counts.get(stage).copied().unwrap_or(0));
        }
        v.extend(f.cohort_stages.iter().map(|s| s.reached));
        v.extend([
            f.cohort_size,
            f.fast_track,
            f.approved,
            f.left_before_approval,
            f.in_progress,
            f.on_hold,
        ]);
        v.extend(
            self.exits
                .iter()
                .map(|k| f.exits.get(k).copied().unwrap_or(0)),
        );
        v.extend(
            self.left_after
                .iter()
                .map(|k| f.left_after.get(k).copied().unwrap_or(0)),
        );
        v.extend(
            Step::ALL
                .iter()
                .map(|s| f.steps.get(s).map(|x| x.count()).unwrap_or(0)),
        );
        v
    }

    fn group(
        &self,
        key: Option<&GroupKey>,
        f: &FunnelFigures,
        counts: &[Shown<u64>],
        audience: Audience,
    ) -> PublishedGroup {
        let mut next = counts.iter().copied();
        let mut take = || next.next().unwrap_or_else(Shown::absent);
        let stage_counts = FUNNEL_STAGES
            .iter()
            .chain(EXIT_STAGES.iter())
            .map(|stage| PublishedStageCount {
                stage: *stage,
                count: take(),
            })
            .collect();
        let reached: Vec<Shown<u64>> = FUNNEL_STAGES.iter().map(|_| take()).collect();
        let [
            size,
            fast_track,
            approved,
            left_before_approval,
            in_progress,
            on_hold,
        ] = std::array::from_fn(|_| take());
        // `eligible` and the rates are derived from counts of the suppressed breakdown, so
        // they are withheld wherever a count they are made of is: a figure withheld next to
        // a small one must not show through a population or a percentage.
        let derived = |parts: &[Shown<u64>], value: u64| {
            if parts.iter().any(|p| p.suppressed) {
                Shown::withheld()
            } else {
                Shown::visible(value)
            }
        };
        let at = |stage: Stage| FUNNEL_STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        let rate =
            |reached: Shown<u64>, of: Shown<u64>, numerator: u64, denominator: u64| -> Shown<f64> {
                if (reached.suppressed || of.suppressed) && denominator > 0 {
                    Shown::withheld()
                } else {
                    disclosure::rate(numerator, denominator, audience)
                }
            };
        let stages = FUNNEL_STAGES
            .iter()
            .enumerate()
            .zip(f.cohort_stages.iter())
            .map(|((i, stage), raw)| {
                let eligible = match stage {
                    Stage::Enquiry | Stage::InformationEvent => size,
                    Stage::StageOneStarted => derived(&[size, fast_track], raw.eligible),
                    Stage::StageOneCompleted => reached[at(Stage::StageOneStarted)],
                    Stage::StageTwoStarted => derived(
                        &[reached[at(Stage::StageOneCompleted)], fast_track],
                        raw.eligible,
                    ),
                    _ => reached[i - 1],
                };
                PublishedCohortStage {
                    stage: *stage,
                    reached: reached[i],
                    eligible,
                    from_previous: rate(reached[i], eligible, raw.reached, raw.eligible),
                    from_enquiry: rate(reached[i], size, raw.reached, f.cohort_size),
                }
            })
            .collect();
        let exits = self
            .exits
            .iter()
            .map(|(stage, reason)| PublishedExit {
                stage: *stage,
                reason: *reason,
                count: take(),
            })
            .collect();
        let left_after = self
            .left_after
            .iter()
            .map(|stage| PublishedLeftAfter {
                stage: *stage,
                count: take(),
            })
            .collect();
        let timeliness = Step::ALL
            .iter()
            .map(|step| {
                let count = take();
                let figures = f.steps.get(step).cloned().unwrap_or_default();
                let n = figures.count();
                // Nothing about a step whose count is withheld.
                let hide = count.suppressed && n > 0;
                PublishedStep {
                    step: *step,
                    target_months: step.target_months(),
                    count,
                    mean_days: match figures.mean() {
                        Some(_) if hide => Shown::withheld(),
                        Some(m) => disclosure::mean(n, m, audience),
                        None => Shown::absent(),
                    },
                    median_days: match figures.median() {
                        Some(_) if hide => Shown::withheld(),
                        Some(m) => disclosure::median(n, m, audience),
                        None => Shown::absent(),
                    },
                    within_target: match step.target_months() {
                        Some(_) if hide => Shown::withheld(),
                        Some(_) => disclosure::rate(figures.within_target, n, audience),
                        None => Shown::absent(),
                    },
                }
            })
            .collect();
        PublishedGroup {
            authority: key.and_then(|k| k.authority_id),
            channel: key.and_then(|k| k.channel),
            enquiry_month: key
                .and_then(|k| k.enquiry_month)
                .map(|(y, m)| format!("{y:04}-{m:02}")),
            stage_counts,
            cohort: PublishedCohort {
                size,
                fast_track,
                stages,
                approved,
                left_before_approval,
                in_progress,
                on_hold,
                exits,
                left_after,
            },
            timeliness,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A journey through `stages` on the given dates.
    fn journey(id: i64, fast_track: bool, steps: &[(Stage, &str)]) -> Journey {
        let mut reached = [None; 11];
        for (stage, on) in steps {
            reached[index(*stage).unwrap()] = Some(d(on));
        }
        Journey {
            household_id: id,
            authority_id: 1,
            channel: EnquiryChannel::Website,
            enquiry_on: reached[0].unwrap(),
            fast_track,
            reached,
            exit: None,
            on_hold: false,
        }
    }

    fn year() -> Period {
        Period::new(d("2024-01-01"), d("2024-12-31")).unwrap()
    }

    #[test]
    fn fast_track_households_are_not_stage_one_drop_outs() {
        use Stage::*;
        let journeys = [
            journey(
                1,
                false,
                &[
                    (Enquiry, "2024-01-10"),
                    (StageOneStarted, "2024-02-01"),
                    (StageOneCompleted, "2024-03-20"),
                ],
            ),
            journey(
                2,
                true,
                &[(Enquiry, "2024-01-11"), (StageTwoStarted, "2024-02-01")],
            ),
            journey(3, false, &[(Enquiry, "2024-01-12")]),
        ];
        let (_, total) = funnel(&journeys, &year(), &[]);
        assert_eq!(total.cohort_size, 3);
        assert_eq!(
            total.cohort_stage(StageOneStarted),
            CohortStage {
                reached: 1,
                eligible: 2
            }
        );
        assert_eq!(
            total.cohort_stage(StageTwoStarted),
            CohortStage {
                reached: 1,
                eligible: 2
            }
        );
        assert_eq!(total.in_progress, 3);
    }

    #[test]
    fn timeliness_counts_steps_ending_in_the_period_with_calendar_month_targets() {
        use Stage::*;
        let journeys = [
            // Stage One exactly 2 months: within target.
            journey(
                1,
                false,
                &[
                    (Enquiry, "2023-11-01"),
                    (StageOneStarted, "2023-12-31"),
                    (StageOneCompleted, "2024-02-29"),
                ],
            ),
            // One day over.
            journey(
                2,
                false,
                &[
                    (Enquiry, "2023-11-01"),
                    (StageOneStarted, "2024-01-15"),
                    (StageOneCompleted, "2024-03-16"),
                ],
            ),
            // Ends after the period: not counted.
            journey(
                3,
                false,
                &[
                    (Enquiry, "2024-11-01"),
                    (StageOneStarted, "2024-12-01"),
                    (StageOneCompleted, "2025-01-05"),
                ],
            ),
        ];
        let (_, total) = funnel(&journeys, &year(), &[]);
        let stage_one = &total.steps[&Step::StageOne];
        assert_eq!(stage_one.days, vec![60, 61]);
        assert_eq!(stage_one.within_target, 1);
        assert_eq!(stage_one.mean(), Some(60.5));
        assert_eq!(stage_one.median(), Some(60.5));
    }

    #[test]
    fn alerts_fire_the_day_after_the_timescale() {
        use Stage::*;
        let j = journey(
            1,
            false,
            &[(Enquiry, "2024-01-01"), (StageOneStarted, "2024-01-31")],
        );
        // 2 months after 31 January is 31 March (clamped from 31 March): not yet overdue.
        assert_eq!(adopter_alert(&j, d("2024-03-31")), None);
        let alert = adopter_alert(&j, d("2024-04-01")).unwrap();
        assert_eq!(alert.kind, AdopterAlertKind::StageOneOverTwoMonths);
        assert_eq!(alert.days_overdue, 1);
        let left = Journey {
            exit: Some(Exit {
                stage: Withdrawn,
                on: d("2024-02-01"),
                reason: None,
            }),
            ..j
        };
        assert_eq!(adopter_alert(&left, d("2024-06-01")), None);
    }

    fn arbitrary_journey() -> impl Strategy<Value = Journey> {
        (
            0i64..1000,
            0u32..730,
            any::<bool>(),
            0usize..11,
            proptest::collection::vec(0u32..200, 11),
            0u8..4,
            0i64..5,
        )
            .prop_map(
                |(id, offset, fast_track, furthest, gaps, exit_kind, authority)| {
                    let start = d("2023-01-01") + chrono::Days::new(offset as u64);
                    let mut reached = [None; 11];
                    let mut on = start;
                    for (i, stage) in FUNNEL_STAGES.iter().enumerate().take(furthest + 1) {
                        let skipped = (fast_track
                            && matches!(stage, Stage::StageOneStarted | Stage::StageOneCompleted))
                            || (*stage == Stage::InformationEvent && gaps[i] % 2 == 0);
                        if i > 0 && skipped {
                            continue;
                        }
                        on = on + chrono::Days::new(gaps[i] as u64);
                        reached[i] = Some(on);
                    }
                    reached[0] = Some(start);
                    let exit = (exit_kind == 0).then(|| Exit {
                        stage: Stage::Withdrawn,
                        on: on + chrono::Days::new(3),
                        reason: Some(RecruitmentReason::Health),
                    });
                    Journey {
                        household_id: id,
                        authority_id: authority,
                        channel: if authority % 2 == 0 {
                            EnquiryChannel::Website
                        } else {
                            EnquiryChannel::Referral
                        },
                        enquiry_on: start,
                        fast_track,
                        reached,
                        exit,
                        on_hold: exit_kind == 1,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn cohort_counts_never_exceed_their_population(journeys in proptest::collection::vec(arbitrary_journey(), 0..60)) {
            let period = Period::new(d("2023-03-01"), d("2024-02-29")).unwrap();
            let (groups, total) = funnel(&journeys, &period, &[FunnelGroupBy::Authority, FunnelGroupBy::Channel]);
            for figures in groups.values().chain(std::iter::once(&total)) {
                for stage in figures.cohort_stages {
                    prop_assert!(stage.reached <= stage.eligible, "{:?}", figures.cohort_stages);
                }
                prop_assert_eq!(figures.approved + figures.left_before_approval + figures.in_progress, figures.cohort_size);
                prop_assert!(figures.on_hold <= figures.in_progress);
            }
            // Groups add up to the total.
            let sum: u64 = groups.values().map(|g| g.cohort_size).sum();
            prop_assert_eq!(sum, total.cohort_size);
        }

        #[test]
        fn a_period_split_in_two_gives_stage_counts_that_add_up(
            journeys in proptest::collection::vec(arbitrary_journey(), 0..60),
            split in 1u64..700,
        ) {
            let whole = Period::new(d("2023-01-01"), d("2024-12-31")).unwrap();
            let middle = d("2023-01-01") + chrono::Days::new(split);
            let first = Period::new(d("2023-01-01"), middle).unwrap();
            let second = Period::new(middle + chrono::Days::new(1), d("2024-12-31")).unwrap();
            let (_, w) = funnel(&journeys, &whole, &[]);
            let (_, a) = funnel(&journeys, &first, &[]);
            let (_, b) = funnel(&journeys, &second, &[]);
            for stage in FUNNEL_STAGES.iter().chain([Stage::Withdrawn].iter()) {
                let get = |f: &FunnelFigures| f.stage_counts.get(stage).copied().unwrap_or(0);
                prop_assert_eq!(get(&w), get(&a) + get(&b), "{:?}", stage);
            }
            prop_assert_eq!(w.cohort_size, a.cohort_size + b.cohort_size);
        }
    }
}

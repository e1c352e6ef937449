//! The adoption scorecard and the child tracking alerts (DESIGN §5). Pure: compact rows of
//! milestone dates in, figures out; the period and `as_of` are arguments.
//!
//! Cohort: children whose adoption order falls in the period.
//! - **A1**: mean days from entering care to moving in with the adoptive family.
//! - **A10**: as A1, but for children adopted by their foster carers the date the foster
//!   placement started replaces the placement date.
//! - **A2**: mean days from the placement order to the match decision, over cohort children
//!   with a placement order who were placed before the adoption order; a match decided
//!   before the placement order counts 0 days.
//! - **A3**: how many of the cohort (and what share) moved in within 426 days of entering care.
//!
//! Means are rounded to the nearest day, halves up. [`publish`] gives the scorecard as a
//! caller sees it, with disclosure control over the whole grid of authorities and years.
use super::codes::coded;
use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

use super::disclosure::{self, Audience, Shown};
use super::milestones::MilestoneDates;
use super::period::Period;

/// A1's threshold in days (also A10's, and A3's limit per child).
pub const A1_THRESHOLD_DAYS: i64 = 426;
/// A2's threshold in days.
pub const A2_THRESHOLD_DAYS: i64 = 121;

/// A child's dates as the scorecard reads them (entering care, the placement order, the
/// match, the placement, the adoption order and a foster placement adopted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScorecardChild {
    pub child_id: i64,
    pub authority_id: i64,
    pub milestones: MilestoneDates,
}

/// A mean over a cohort, and its threshold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeanFigure {
    /// Children the mean is over.
    pub cohort: u64,
    /// Sum of their days.
    pub total_days: i64,
}

impl std::ops::AddAssign for MeanFigure {
    fn add_assign(&mut self, other: MeanFigure) {
        self.cohort += other.cohort;
        self.total_days += other.total_days;
    }
}

/// The scorecard of two sets of children together (authorities into a consortium).
impl std::ops::AddAssign<&Scorecard> for Scorecard {
    fn add_assign(&mut self, other: &Scorecard) {
        self.cohort += other.cohort;
        self.a1 += other.a1;
        self.a10 += other.a10;
        self.a2 += other.a2;
        self.a3_within += other.a3_within;
        self.a3_cohort += other.a3_cohort;
    }
}

impl MeanFigure {
    fn add(&mut self, days: i64) {
        self.cohort += 1;
        self.total_days += days;
    }

    /// The mean, rounded to the nearest day, halves up; `None` for an empty cohort.
    pub fn mean_days(&self) -> Option<i64> {
        round_half_up(self.total_days, self.cohort)
    }
}

/// `total / n` rounded to the nearest integer, halves up (towards +∞).
pub fn round_half_up(total: i64, n: u64) -> Option<i64> {
    let n = i64::try_from(n).ok().filter(|n| *n > 0)?;
    Some((2 * total + n).div_euclid(2 * n))
}

/// The scorecard of a set of children over a period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scorecard {
    /// Children adopted in the period.
    pub cohort: u64,
    pub a1: MeanFigure,
    pub a10: MeanFigure,
    pub a2: MeanFigure,
    /// Cohort children placed within 426 days of entering care.
    pub a3_within: u64,
    /// Cohort children A3 is over (both dates known).
    pub a3_cohort: u64,
}

impl Scorecard {
    /// Adds one child (ignored unless adopted within `period`).
    pub fn add(&mut self, c: &ScorecardChild, period: &Period) {
        let Some(adopted) = c
            .milestones
            .adoption_order_on
            .filter(|d| period.contains(*d))
        else {
            return;
        };
        self.cohort += 1;
        if let (Some(entered), Some(placed)) =
            (c.milestones.entered_care_on, c.milestones.placed_on)
        {
            let days = (placed - entered).num_days();
            self.a1.add(days);
            self.a3_cohort += 1;
            if days <= A1_THRESHOLD_DAYS {
                self.a3_within += 1;
            }
            let a10_end = match (
                c.milestones.adopted_by_foster_carers,
                c.milestones.foster_placement_started_on,
            ) {
                (true, Some(started)) => started,
                _ => placed,
            };
            self.a10.add((a10_end - entered).num_days());
        }
        if let (Some(order), Some(matched), Some(placed)) = (
            c.milestones.placement_order_on,
            c.milestones.match_decision_on,
            c.milestones.placed_on,
        ) && placed < adopted
        {
            self.a2.add((matched - order).num_days().max(0));
        }
    }

    /// The scorecard of `children` over `period`.
    pub fn of<'a>(
        children: impl IntoIterator<Item = &'a ScorecardChild>,
        period: &Period,
    ) -> Scorecard {
        let mut s = Scorecard::default();
        for c in children {
            s.add(c, period);
        }
        s
    }
}

/// The one-year windows (1 April to 31 March) that make up a multi-year statutory period,
/// oldest first. A period that is not a run of whole years gives no windows.
pub fn yearly_windows(period: &Period) -> Vec<Period> {
    let mut windows = Vec::new();
    let mut from = period.from();
    while let Some(next) = from.checked_add_months(Months::new(12)) {
        let to = next.pred_opt().unwrap_or(next);
        if to > period.to() {
            break;
        }
        if let Some(p) = Period::new(from, to) {
            windows.push(p);
        }
        from = next;
    }
    if windows.last().is_some_and(|w| w.to() == period.to()) {
        windows
    } else {
        Vec::new()
    }
}

coded! {
    /// A child tracking alert of the adoption tracking meeting.
    pub enum ChildAlertKind {
        /// Placement order and no match after 90 days: refer wider.
        #[strum(serialize = "PLACEMENT_ORDER_NO_MATCH_90_DAYS")]
        PlacementOrderNoMatch90Days,
        /// Placement order and no match after 121 days (A2's threshold).
        #[strum(serialize = "PLACEMENT_ORDER_NO_MATCH_121_DAYS")]
        PlacementOrderNoMatch121Days,
        /// In care more than 426 days and not placed (A1's threshold).
        #[strum(serialize = "IN_CARE_OVER_426_DAYS_NOT_PLACED")]
        InCareOver426DaysNotPlaced,
        /// 18 months since entering care and not placed.
        EighteenMonthsSinceEnteringCare,
    }
}

/// The dates tracking reads, as of a date (all but the adoption order and a foster
/// placement: the child is not placed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackedChild {
    pub child_id: i64,
    pub authority_id: i64,
    pub milestones: MilestoneDates,
}

/// One alert: which, since when, how many days past the timescale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildAlert {
    pub kind: ChildAlertKind,
    pub since: NaiveDate,
    pub days_overdue: i64,
}

impl TrackedChild {
    fn by(date: Option<NaiveDate>, as_of: NaiveDate) -> Option<NaiveDate> {
        date.filter(|d| *d <= as_of)
    }

    /// Whether the child is on an adoption plan as of the date (a plan recorded, not changed
    /// away, placement order not revoked) and not yet placed.
    pub fn waiting_for_placement(&self, as_of: NaiveDate) -> bool {
        let planned = Self::by(self.milestones.adoption_plan_on, as_of)
            .or(Self::by(self.milestones.shobpa_decision_on, as_of))
            .or(Self::by(self.milestones.placement_order_on, as_of))
            .is_some();
        planned
            && Self::by(self.milestones.plan_changed_on, as_of).is_none()
            && Self::by(self.milestones.placement_order_revoked_on, as_of).is_none()
            && Self::by(self.milestones.placed_on, as_of).is_none()
    }

    /// Days in care as of the date: A1's figure for this child were it placed that day.
    pub fn days_in_care(&self, as_of: NaiveDate) -> Option<i64> {
        Self::by(self.milestones.entered_care_on, as_of).map(|e| (as_of - e).num_days())
    }

    /// Every alert the child raises as of the date.
    pub fn alerts(&self, as_of: NaiveDate) -> Vec<ChildAlert> {
        if !self.waiting_for_placement(as_of) {
            return Vec::new();
        }
        let mut alerts = Vec::new();
        let past = |kind, since: NaiveDate, limit: Option<NaiveDate>| {
            let limit = limit?;
            (as_of > limit).then(|| ChildAlert {
                kind,
                since,
                days_overdue: (as_of - limit).num_days(),
            })
        };
        if let Some(order) = Self::by(self.milestones.placement_order_on, as_of)
            && Self::by(self.milestones.match_decision_on, as_of).is_none()
        {
            alerts.extend(past(
                ChildAlertKind::PlacementOrderNoMatch90Days,
                order,
                order.checked_add_days(chrono::Days::new(90)),
            ));
            alerts.extend(past(
                ChildAlertKind::PlacementOrderNoMatch121Days,
                order,
                order.checked_add_days(chrono::Days::new(121)),
            ));
        }
        if let Some(entered) = Self::by(self.milestones.entered_care_on, as_of) {
            alerts.extend(past(
                ChildAlertKind::InCareOver426DaysNotPlaced,
                entered,
                entered.checked_add_days(chrono::Days::new(A1_THRESHOLD_DAYS as u64)),
            ));
            alerts.extend(past(
                ChildAlertKind::EighteenMonthsSinceEnteringCare,
                entered,
                entered.checked_add_months(Months::new(18)),
            ));
        }
        alerts
    }
}

/// A mean number of days with its cohort and threshold, as published.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedMean {
    /// Mean days, rounded to the nearest day (halves up).
    pub days: Shown<u64>,
    pub cohort: Shown<u64>,
    pub threshold_days: i64,
    /// Whether the mean is within the threshold; `None` when the mean is not shown.
    pub met: Option<bool>,
}

/// A3 (children placed within 426 days of entering care), as published.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedShare {
    pub count: Shown<u64>,
    pub percent: Shown<f64>,
    pub cohort: Shown<u64>,
    pub threshold_days: i64,
}

/// The scorecard of one authority, or of all those asked for together (`authority`
/// `None`), as published.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedFigures {
    pub authority: Option<i64>,
    /// Whether disclosure control applies to these figures.
    pub suppression_applied: bool,
    /// Children adopted in the period.
    pub cohort: Shown<u64>,
    pub a1: PublishedMean,
    pub a10: PublishedMean,
    pub a2: PublishedMean,
    pub a3: PublishedShare,
}

/// The scorecard over one period, as published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedPeriod {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub total: PublishedFigures,
    pub authorities: Vec<PublishedFigures>,
}

/// The scorecard figures of every authority, for each window of the report (the years, or
/// the period alone when it is not made of whole years).
struct ScorecardGrid {
    /// `[authority][window]`.
    cells: Vec<Vec<Scorecard>>,
}

/// The count measures of a scorecard, each suppressed as its own breakdown.
const COUNTS: [fn(&Scorecard) -> u64; 6] = [
    |s| s.cohort,
    |s| s.a1.cohort,
    |s| s.a10.cohort,
    |s| s.a2.cohort,
    |s| s.a3_within,
    |s| s.a3_cohort,
];

/// The mean measures.
const MEANS: [fn(&Scorecard) -> &MeanFigure; 3] = [|s| &s.a1, |s| &s.a10, |s| &s.a2];

/// One published figure set: per authority and in total, for the whole period and per
/// window.
struct GridFigures<T> {
    authority_period: Vec<T>,
    total_period: T,
    authority_window: Vec<Vec<T>>,
    total_window: Vec<T>,
}

impl ScorecardGrid {
    /// Suppresses `table` (`[authority][window]`) as one breakdown whose row totals are the
    /// authorities' whole-period figures, whose column totals are the windows' totals, and
    /// whose grand total is the period's total: every additive relation a reader could
    /// subtract along is in the one grid, with the caller's own rows known to them.
    fn publish(table: &[Vec<u64>], known: &[bool]) -> GridFigures<Shown<u64>> {
        let t = disclosure::suppress_table_known(table, known);
        let single = table.first().is_some_and(|r| r.len() == 1);
        GridFigures {
            // With one window the period is that window: its cell and row total coincide.
            authority_period: if single {
                t.cells.iter().map(|r| r[0]).collect()
            } else {
                t.row_totals.clone()
            },
            total_period: if single {
                t.column_totals[0]
            } else {
                t.grand_total
            },
            authority_window: t.cells,
            total_window: t.column_totals,
        }
    }

    fn counts(&self, measure: fn(&Scorecard) -> u64, known: &[bool]) -> GridFigures<Shown<u64>> {
        let table: Vec<Vec<u64>> = self
            .cells
            .iter()
            .map(|r| r.iter().map(measure).collect())
            .collect();
        Self::publish(&table, known)
    }

    /// Which means may be shown: a restricted mean over 10 cases or fewer is withheld, and
    /// more are withheld wherever a withheld mean could be worked back from the others
    /// through the case counts and day totals along a row or column. Each case count is
    /// mapped to 1 when it is 1–10 (so the table's "small" rule is the mean rule) and the
    /// grid's suppression then protects it like a count.
    fn means(
        &self,
        measure: fn(&Scorecard) -> &MeanFigure,
        known: &[bool],
    ) -> GridFigures<Shown<i64>> {
        let small = |n: u64| if (1..=10).contains(&n) { 1 } else { n };
        let table: Vec<Vec<u64>> = self
            .cells
            .iter()
            .map(|r| r.iter().map(|s| small(measure(s).cohort)).collect())
            .collect();
        let pattern = Self::publish(&table, known);
        let sum = |figures: &mut dyn Iterator<Item = &Scorecard>| {
            figures.fold(MeanFigure::default(), |mut acc, s| {
                acc.cohort += measure(s).cohort;
                acc.total_days += measure(s).total_days;
                acc
            })
        };
        let show = |m: MeanFigure, shown: Shown<u64>| match m.mean_days() {
            None => Shown::absent(),
            Some(_) if shown.suppressed => Shown::withheld(),
            Some(days) => Shown::visible(days),
        };
        let windows = self.cells.first().map(Vec::len).unwrap_or(0);
        GridFigures {
            authority_period: self
                .cells
                .iter()
                .zip(&pattern.authority_period)
                .map(|(row, p)| show(sum(&mut row.iter()), *p))
                .collect(),
            total_period: show(sum(&mut self.cells.iter().flatten()), pattern.total_period),
            authority_window: self
                .cells
                .iter()
                .zip(&pattern.authority_window)
                .map(|(row, p)| {
                    row.iter()
                        .zip(p)
                        .map(|(s, p)| show(*measure(s), *p))
                        .collect()
                })
                .collect(),
            total_window: (0..windows)
                .map(|w| {
                    show(
                        sum(&mut self.cells.iter().map(|r| &r[w])),
                        pattern.total_window[w],
                    )
                })
                .collect(),
        }
    }
}

/// Which figure of a published set: an authority or the total, the period or a window.
#[derive(Clone, Copy)]
enum At {
    Period(Option<usize>),
    Window(Option<usize>, usize),
}

fn pick<T: Copy>(p: &GridFigures<T>, at: At) -> T {
    match at {
        At::Period(Some(a)) => p.authority_period[a],
        At::Period(None) => p.total_period,
        At::Window(Some(a), w) => p.authority_window[a][w],
        At::Window(None, w) => p.total_window[w],
    }
}

/// The scorecard as published: the period, and the years when the period is made of them,
/// per authority and in total. The counts and the means are each suppressed as one grid
/// ([`ScorecardGrid`]) with the caller's `known` rows (of `authorities`) treated as known to
/// it; A3's percentage is shown only with both its counts, and by the rate rule.
pub fn publish(
    authorities: &[i64],
    children: &BTreeMap<i64, Vec<ScorecardChild>>,
    period: &Period,
    known: &[bool],
) -> (PublishedPeriod, Vec<PublishedPeriod>) {
    let years = yearly_windows(period);
    let windows = if years.is_empty() {
        vec![*period]
    } else {
        years.clone()
    };
    let grid = ScorecardGrid {
        cells: authorities
            .iter()
            .map(|a| {
                windows
                    .iter()
                    .map(|w| Scorecard::of(children.get(a).into_iter().flatten(), w))
                    .collect()
            })
            .collect(),
    };
    let counts: Vec<GridFigures<Shown<u64>>> =
        COUNTS.iter().map(|m| grid.counts(*m, known)).collect();
    let means: Vec<GridFigures<Shown<i64>>> = MEANS.iter().map(|m| grid.means(*m, known)).collect();
    let figures = |authority: Option<usize>, at: At| -> PublishedFigures {
        let c: Vec<Shown<u64>> = counts.iter().map(|p| pick(p, at)).collect();
        let m: Vec<Shown<i64>> = means.iter().map(|p| pick(p, at)).collect();
        let restricted = authority
            .map(|a| !known[a])
            .unwrap_or_else(|| known.iter().any(|k| !k));
        // A3's percentage is shown only with both its counts, and by the rate rule.
        let percent = disclosure::share_of_shown(
            c[4],
            c[5],
            if restricted {
                Audience::Restricted
            } else {
                Audience::Unrestricted
            },
        );
        PublishedFigures {
            authority: authority.map(|a| authorities[a]),
            suppression_applied: restricted,
            cohort: c[0],
            a1: mean_figure(m[0], c[1], A1_THRESHOLD_DAYS),
            a10: mean_figure(m[1], c[2], A1_THRESHOLD_DAYS),
            a2: mean_figure(m[2], c[3], A2_THRESHOLD_DAYS),
            a3: PublishedShare {
                count: c[4],
                percent,
                cohort: c[5],
                threshold_days: A1_THRESHOLD_DAYS,
            },
        }
    };
    let whole = PublishedPeriod {
        from: period.from(),
        to: period.to(),
        total: figures(None, At::Period(None)),
        authorities: (0..authorities.len())
            .map(|a| figures(Some(a), At::Period(Some(a))))
            .collect(),
    };
    let by_year = years
        .iter()
        .enumerate()
        .map(|(w, y)| PublishedPeriod {
            from: y.from(),
            to: y.to(),
            total: figures(None, At::Window(None, w)),
            authorities: (0..authorities.len())
                .map(|a| figures(Some(a), At::Window(Some(a), w)))
                .collect(),
        })
        .collect();
    (whole, by_year)
}

/// A mean of days as published, with its cases and threshold (met only where it is shown).
pub fn mean_figure(mean: Shown<i64>, cohort: Shown<u64>, threshold: i64) -> PublishedMean {
    PublishedMean {
        days: Shown {
            value: mean.value.map(|d| d.max(0) as u64),
            suppressed: mean.suppressed,
        },
        cohort,
        threshold_days: threshold,
        met: mean.value.map(|d| d <= threshold),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::MilestoneDraft;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn child(
        entered: &str,
        order: Option<&str>,
        matched: Option<&str>,
        placed: &str,
        adopted: &str,
    ) -> ScorecardChild {
        ScorecardChild {
            child_id: 1,
            authority_id: 1,
            milestones: MilestoneDates::recorded(MilestoneDraft {
                entered_care_on: Some(d(entered)),
                placement_order_on: order.map(d),
                match_decision_on: matched.map(d),
                placed_on: Some(d(placed)),
                adoption_order_on: Some(d(adopted)),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn halves_round_up() {
        assert_eq!(round_half_up(5, 2), Some(3));
        assert_eq!(round_half_up(7, 3), Some(2));
        assert_eq!(round_half_up(8, 3), Some(3));
        assert_eq!(round_half_up(0, 0), None);
    }

    #[test]
    fn a_scorecard_by_hand() {
        let period = Period::new(d("2023-04-01"), d("2024-03-31")).unwrap();
        let children = [
            // 2023-01-01 → 2023-12-01: 334 days. Order → match 2023-05-01 → 2023-08-01: 92.
            child(
                "2023-01-01",
                Some("2023-05-01"),
                Some("2023-08-01"),
                "2023-12-01",
                "2024-03-01",
            ),
            // 2022-01-01 → 2023-06-01: 516 days. Match before the order: A2 counts 0.
            child(
                "2022-01-01",
                Some("2023-03-01"),
                Some("2023-02-01"),
                "2023-06-01",
                "2023-12-01",
            ),
            // Adopted after the period: not in the cohort.
            child(
                "2022-01-01",
                Some("2022-05-01"),
                Some("2022-08-01"),
                "2023-06-01",
                "2024-04-01",
            ),
        ];
        let mut foster = child(
            "2022-06-01",
            Some("2023-01-01"),
            Some("2023-02-01"),
            "2023-07-01",
            "2023-07-01",
        );
        // Placed on the day of the order: not placed before it, so not in A2.
        foster.milestones = MilestoneDates::recorded(MilestoneDraft {
            adopted_by_foster_carers: true,
            foster_placement_started_on: Some(d("2022-07-01")),
            ..*foster.milestones
        });
        let all: Vec<_> = children.iter().chain(std::iter::once(&foster)).collect();
        let s = Scorecard::of(all, &period);
        assert_eq!(s.cohort, 3);
        // A1: 334 + 516 + 395 (2022-06-01 → 2023-07-01) = 1245 / 3 = 415.
        assert_eq!(s.a1.mean_days(), Some(415));
        // A10: 334 + 516 + 30 (foster placement 2022-07-01) = 880 / 3 = 293.33 → 293.
        assert_eq!(s.a10.mean_days(), Some(293));
        // A2: 92 and 0 over 2 children = 46.
        assert_eq!((s.a2.cohort, s.a2.mean_days()), (2, Some(46)));
        // A3: 334 and 395 within 426 days; 516 not.
        assert_eq!((s.a3_within, s.a3_cohort), (2, 3));
    }

    #[test]
    fn a_three_year_period_splits_into_three_years() {
        let p = Period::years_to_march(d("2026-11-23"), 3);
        let years = yearly_windows(&p);
        assert_eq!(years.len(), 3);
        assert_eq!(
            (years[0].from(), years[0].to()),
            (d("2023-04-01"), d("2024-03-31"))
        );
        assert_eq!(years[2].to(), d("2026-03-31"));
        assert!(yearly_windows(&Period::new(d("2024-01-01"), d("2024-06-30")).unwrap()).is_empty());
    }

    fn tracked(entered: &str, order: Option<&str>) -> TrackedChild {
        TrackedChild {
            child_id: 1,
            authority_id: 1,
            milestones: MilestoneDates::recorded(MilestoneDraft {
                entered_care_on: Some(d(entered)),
                adoption_plan_on: Some(d(entered)),
                placement_order_on: order.map(d),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn alerts_start_the_day_after_each_timescale() {
        let c = tracked("2024-01-01", Some("2024-03-01"));
        let kinds = |as_of: &str| {
            c.alerts(d(as_of))
                .iter()
                .map(|a| (a.kind, a.days_overdue))
                .collect::<Vec<_>>()
        };
        // Day 90 after the order (2024-05-30): nothing yet; day 91: refer wider.
        assert!(kinds("2024-05-30").is_empty());
        assert_eq!(
            kinds("2024-05-31"),
            vec![(ChildAlertKind::PlacementOrderNoMatch90Days, 1)]
        );
        // 121 days after the order is 2024-06-30: the second alert starts the day after.
        assert_eq!(kinds("2024-06-30").len(), 1);
        assert_eq!(kinds("2024-07-01").len(), 2);
        // 426 days in care on 2025-03-02; 427 on 2025-03-03.
        let on = |s: &str| {
            c.alerts(d(s))
                .iter()
                .any(|a| a.kind == ChildAlertKind::InCareOver426DaysNotPlaced)
        };
        assert!(!on("2025-03-02"));
        assert!(on("2025-03-03"));
        // A placed child raises nothing.
        let placed = TrackedChild {
            milestones: MilestoneDates::recorded(MilestoneDraft {
                placed_on: Some(d("2024-06-01")),
                ..*c.milestones
            }),
            ..c
        };
        assert!(placed.alerts(d("2025-06-01")).is_empty());
        assert_eq!(c.days_in_care(d("2024-01-31")), Some(30));
    }
}

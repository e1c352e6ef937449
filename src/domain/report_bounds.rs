//! How large a report may be asked to be: the bounds on report periods, breakdowns and
//! authority lists, in one place (README "Limits" lists them).
//!
//! A report's work and its answer grow with its period (a scorecard has one figure set per
//! year and authority, a funnel by enquiry month one group per month) and with the lists it
//! is given. Without bounds one cheap query for `0001-04-01`..`9999-03-31` made ten thousand
//! yearly periods. The bounds cover what boards ask — the statutory scorecard window is
//! three years, a funnel is read by year or quarter — with room to spare.
use chrono::{Datelike, Months, NaiveDate};

use super::Period;

/// The earliest year a report date may fall in (children in care today were born after it).
pub const EARLIEST_REPORT_YEAR: i32 = 1900;
/// The latest year a report date may fall in.
pub const LATEST_REPORT_YEAR: i32 = 2199;
/// The longest report period, in years (scorecard, funnel, flows): ten financial years.
pub const MAX_REPORT_YEARS: u32 = 10;
/// The most calendar months a funnel broken down by enquiry month may touch: five years.
pub const MAX_ENQUIRY_MONTHS: u32 = 60;
/// The most entries an `authorityIds` list of a report may have.
pub const MAX_REPORT_AUTHORITIES: usize = 50;

/// Why a report period was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeriodError {
    /// `to` is before `from`.
    EndsBeforeStart,
    /// `from` (`true`) or `to` (`false`) is outside the years reports cover.
    OutOfRange { from: bool },
    /// The period is longer than [`MAX_REPORT_YEARS`].
    TooLong,
}

impl PeriodError {
    /// The part of the period input at fault: `from`, `to`, or the period as a whole (`None`).
    pub fn part(self) -> Option<&'static str> {
        match self {
            PeriodError::OutOfRange { from: true } => Some("from"),
            PeriodError::OutOfRange { from: false } => Some("to"),
            PeriodError::EndsBeforeStart | PeriodError::TooLong => None,
        }
    }

    /// What is wrong, naming the bound.
    pub fn message(self) -> String {
        match self {
            PeriodError::EndsBeforeStart => "the period ends before it starts".into(),
            PeriodError::OutOfRange { from } => format!(
                "the period's {} must fall between {EARLIEST_REPORT_YEAR}-01-01 and \
                 {LATEST_REPORT_YEAR}-12-31",
                if from { "first day" } else { "last day" }
            ),
            PeriodError::TooLong => format!(
                "the period is too long: at most {MAX_REPORT_YEARS} years (e.g. \
                 2016-04-01 to 2026-03-31)"
            ),
        }
    }
}

/// Whether `date` falls in the years reports cover.
pub fn in_report_range(date: NaiveDate) -> bool {
    (EARLIEST_REPORT_YEAR..=LATEST_REPORT_YEAR).contains(&date.year())
}

/// A report period from `from` to `to`: both days in the years reports cover, in order, and
/// at most [`MAX_REPORT_YEARS`] long (`to` before the same day ten years after `from`).
pub fn report_period(from: NaiveDate, to: NaiveDate) -> Result<Period, PeriodError> {
    if !in_report_range(from) {
        return Err(PeriodError::OutOfRange { from: true });
    }
    if !in_report_range(to) {
        return Err(PeriodError::OutOfRange { from: false });
    }
    let period = Period::new(from, to).ok_or(PeriodError::EndsBeforeStart)?;
    let limit = from.checked_add_months(Months::new(12 * MAX_REPORT_YEARS));
    if limit.is_none_or(|limit| to >= limit) {
        return Err(PeriodError::TooLong);
    }
    Ok(period)
}

/// The calendar months `period` touches (its enquiry-month groups at most).
pub fn calendar_months(period: &Period) -> u32 {
    let index = |d: NaiveDate| d.year() as i64 * 12 + d.month0() as i64;
    (index(period.to()) - index(period.from()) + 1).max(1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn ten_financial_years_are_the_longest_period() {
        let ten = report_period(d("2016-04-01"), d("2026-03-31")).expect("ten years");
        assert_eq!(crate::domain::scorecard::yearly_windows(&ten).len(), 10);
        assert_eq!(
            report_period(d("2016-04-01"), d("2026-04-01")),
            Err(PeriodError::TooLong)
        );
        // A leap day start: ten years later is 2030-02-28, so the last day is the 27th.
        assert!(report_period(d("2020-02-29"), d("2030-02-27")).is_ok());
        assert_eq!(
            report_period(d("2020-02-29"), d("2030-02-28")),
            Err(PeriodError::TooLong)
        );
    }

    #[test]
    fn dates_outside_the_covered_years_are_refused_naming_the_end() {
        let e = report_period(d("0001-04-01"), d("9999-03-31")).unwrap_err();
        assert_eq!(
            (e, e.part()),
            (PeriodError::OutOfRange { from: true }, Some("from"))
        );
        let e = report_period(d("2024-04-01"), d("2200-01-01")).unwrap_err();
        assert_eq!(e.part(), Some("to"));
        assert!(report_period(d("1900-01-01"), d("1900-12-31")).is_ok());
        assert!(report_period(d("2199-01-01"), d("2199-12-31")).is_ok());
        assert_eq!(
            report_period(d("2024-04-01"), d("2024-03-31")),
            Err(PeriodError::EndsBeforeStart)
        );
    }

    #[test]
    fn a_period_touches_the_calendar_months_it_overlaps() {
        let p = |a, b| report_period(d(a), d(b)).unwrap();
        assert_eq!(calendar_months(&p("2024-01-01", "2024-12-31")), 12);
        assert_eq!(calendar_months(&p("2024-01-31", "2024-02-01")), 2);
        assert_eq!(calendar_months(&p("2020-01-15", "2025-01-14")), 61);
        assert_eq!(calendar_months(&p("2024-03-05", "2024-03-05")), 1);
    }
}

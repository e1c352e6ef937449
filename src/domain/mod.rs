//! Pure domain logic: no I/O and no clock. Dates come in as arguments (`today`, `as_of`),
//! numbers and verdicts go out. Most unit tests of the service live here.

pub mod asglb;
pub mod audit_months;
pub mod codes;
pub mod disclosure;
pub mod flows;
pub mod funnel;
pub mod links;
pub mod matching;
pub mod milestones;
pub mod needs;
pub mod period;
pub mod publication;
pub mod published;
pub mod recruitment;
pub mod report_bounds;
pub mod scorecard;
pub mod sufficiency;
pub mod suppression;

pub use codes::*;
pub use milestones::{ChildStatus, MilestoneDates, MilestoneDraft, MilestoneError, MilestoneField};
pub use needs::{NeedCategory, NeedLevel, NeedLevels};
pub use period::Period;
pub use recruitment::{RecruitmentEvent, Stage, StageError, StageMachine};

use chrono::{Datelike, NaiveDate};

/// Whole months from `from` to `to` (0 when `to` is earlier), counting a month only once
/// its day-of-month is reached, the way ages are told.
pub fn months_between(from: NaiveDate, to: NaiveDate) -> i32 {
    if to < from {
        return 0;
    }
    let mut months = (to.year() - from.year()) * 12 + (to.month() as i32 - from.month() as i32);
    if to.day() < from.day() {
        months -= 1;
    }
    months.max(0)
}

/// Days from `from` to `to` (negative when `to` is earlier).
pub fn days_between(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn months_count_only_once_the_day_is_reached() {
        assert_eq!(months_between(d("2020-01-31"), d("2020-02-29")), 0);
        assert_eq!(months_between(d("2020-01-15"), d("2020-02-15")), 1);
        assert_eq!(months_between(d("2020-01-15"), d("2021-01-14")), 11);
        assert_eq!(months_between(d("2020-01-15"), d("2021-01-15")), 12);
        assert_eq!(months_between(d("2021-01-15"), d("2020-01-15")), 0);
    }
}

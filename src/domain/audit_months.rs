//! The months of the audit log on PostgreSQL, where it is partitioned by month (UTC): the
//! months that get a partition before any event of theirs is written, and the months a
//! retention setting takes out of the log. A month is named by its first day.
use chrono::{Datelike, Months, NaiveDate};

/// Months after the current one whose partitions are made ahead of time: a partition is
/// attached only while no event of its month can yet be written.
pub const MONTHS_AHEAD: u32 = 3;

/// The most months a retention setting counts back (a hundred years; more keeps every
/// month as well).
const LONGEST_RETENTION: u32 = 1200;

/// The month of `day`.
pub fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day)
}

/// The month after `month`'s.
pub fn next_month(month: NaiveDate) -> NaiveDate {
    month_of(month) + Months::new(1)
}

/// The months whose partitions must exist before the server writes an event on `today`:
/// today's month and the [`MONTHS_AHEAD`] after it, in order.
pub fn months_ahead(today: NaiveDate) -> Vec<NaiveDate> {
    let this_month = month_of(today);
    (0..=MONTHS_AHEAD)
        .map(|ahead| this_month + Months::new(ahead))
        .collect()
}

/// The first month kept in the log on `today` when `retain_months` months are kept besides
/// the current one; every earlier month leaves it. With 12 on 7 December 2026, December
/// 2025 is the oldest month kept and November 2025 the first to go.
pub fn first_month_kept(today: NaiveDate, retain_months: u32) -> NaiveDate {
    month_of(today) - Months::new(retain_months.min(LONGEST_RETENTION))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn months_are_named_by_their_first_day() {
        assert_eq!(month_of(d(2026, 12, 31)), d(2026, 12, 1));
        assert_eq!(month_of(d(2026, 12, 1)), d(2026, 12, 1));
        assert_eq!(month_of(d(2028, 2, 29)), d(2028, 2, 1));
        assert_eq!(next_month(d(2026, 12, 31)), d(2027, 1, 1));
        assert_eq!(next_month(d(2026, 1, 31)), d(2026, 2, 1));
    }

    #[test]
    fn partitions_ahead_cross_the_year_end() {
        assert_eq!(
            months_ahead(d(2026, 11, 30)),
            vec![d(2026, 11, 1), d(2026, 12, 1), d(2027, 1, 1), d(2027, 2, 1)]
        );
        assert_eq!(
            months_ahead(d(2026, 12, 31)),
            vec![d(2026, 12, 1), d(2027, 1, 1), d(2027, 2, 1), d(2027, 3, 1)]
        );
        assert_eq!(months_ahead(d(2027, 1, 1))[0], d(2027, 1, 1));
    }

    #[test]
    fn retention_keeps_the_current_month_and_that_many_before_it() {
        assert_eq!(first_month_kept(d(2026, 12, 7), 12), d(2025, 12, 1));
        assert_eq!(first_month_kept(d(2026, 12, 31), 1), d(2026, 11, 1));
        // On the first and on the last day of a month alike, across the year's end.
        assert_eq!(first_month_kept(d(2027, 1, 1), 1), d(2026, 12, 1));
        assert_eq!(first_month_kept(d(2027, 1, 31), 1), d(2026, 12, 1));
        assert_eq!(first_month_kept(d(2027, 3, 31), 3), d(2026, 12, 1));
        assert_eq!(first_month_kept(d(2028, 2, 29), 24), d(2026, 2, 1));
        // A setting beyond a century keeps a century.
        assert_eq!(first_month_kept(d(2026, 12, 7), u32::MAX), d(1926, 12, 1));
    }
}

//! A reporting period: two dates, both included, the first not after the second; and the
//! dates the API takes at all ([`parse_date`]).
use chrono::{Datelike, NaiveDate};

/// The earliest date the API takes (year 0000 and before are refused outright).
pub const EARLIEST: NaiveDate = NaiveDate::from_ymd_opt(1, 1, 1).expect("a date");
/// The latest date the API takes.
pub const LATEST: NaiveDate = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date");

/// `text` as a date if it is exactly `YYYY-MM-DD`, a real day, within the accepted range.
/// chrono alone would also take `2026-1-1`, `+2026-01-01` and years such as `0000`.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .filter(|d| (EARLIEST..=LATEST).contains(d))
}

/// A period of days, `from` and `to` both included. Built only through [`Period::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Period {
    from: NaiveDate,
    to: NaiveDate,
}

impl Period {
    /// The period from `from` to `to`, or `None` when `to` is before `from`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Period> {
        (from <= to).then_some(Period { from, to })
    }

    /// The first day.
    pub fn from(&self) -> NaiveDate {
        self.from
    }

    /// The last day.
    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Whether `date` falls in the period.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.from <= date && date <= self.to
    }

    /// The `years` years ending on the latest 31 March on or before `as_of`
    /// (1 April `years` years earlier to that 31 March): the statutory reporting window.
    pub fn years_to_march(as_of: NaiveDate, years: i32) -> Period {
        let march_year = if (as_of.month(), as_of.day()) >= (3, 31) {
            as_of.year()
        } else {
            as_of.year() - 1
        };
        let to = NaiveDate::from_ymd_opt(march_year, 3, 31).unwrap_or(as_of);
        let from = NaiveDate::from_ymd_opt(march_year - years, 4, 1).unwrap_or(as_of);
        Period { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_period_cannot_end_before_it_starts() {
        assert!(Period::new(d("2024-02-01"), d("2024-01-31")).is_none());
        let p = Period::new(d("2024-01-01"), d("2024-01-01")).unwrap();
        assert!(p.contains(d("2024-01-01")));
        assert!(!p.contains(d("2024-01-02")));
    }

    #[test]
    fn the_statutory_window_ends_on_the_latest_31_march() {
        let p = Period::years_to_march(d("2026-11-23"), 3);
        assert_eq!((p.from(), p.to()), (d("2023-04-01"), d("2026-03-31")));
        let p = Period::years_to_march(d("2026-03-31"), 3);
        assert_eq!(p.to(), d("2026-03-31"));
        let p = Period::years_to_march(d("2026-03-30"), 1);
        assert_eq!((p.from(), p.to()), (d("2024-04-01"), d("2025-03-31")));
    }
}

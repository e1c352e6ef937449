//! The `Date` scalar (`YYYY-MM-DD`). `DateTime` (RFC 3339, UTC) is async-graphql's own.
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

pub use crate::domain::period::{EARLIEST, LATEST, parse_date as parse};

/// A calendar date, exactly `YYYY-MM-DD` (four-digit year from 0001, two-digit month and
/// day, nothing around them). Narrower bounds belong to the fields that take dates, which
/// refuse with their own name in `extensions.field`: report dates fall in 1900–2199
/// (`domain::report_bounds`), nothing is recorded in the future, a child's dates are not
/// before its birth, and a household's enquiry is not before 1900.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => parse(s).map(Date).ok_or_else(|| {
                InputValueError::custom("expected a date as YYYY-MM-DD (year 0001 or later)")
            }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        // `NaiveDate`'s `Display` is `%Y-%m-%d` (a date is within 0001–9999), without
        // interpreting a format string for every date of a page.
        Value::String(self.0.to_string())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_written_as_yyyy_mm_dd() {
        let mut day = EARLIEST;
        for _ in 0..400 {
            let written = Date(day).to_value();
            assert_eq!(written, Value::String(day.format("%Y-%m-%d").to_string()));
            day = day + chrono::Days::new(9_113);
            if day > LATEST {
                break;
            }
        }
        assert_eq!(Date(LATEST).to_value(), Value::String("9999-12-31".into()));
        assert_eq!(
            Date(EARLIEST).to_value(),
            Value::String("0001-01-01".into())
        );
    }

    #[test]
    fn only_four_digit_years_two_digit_months_and_days_in_range_are_dates() {
        assert_eq!(parse("2026-01-31"), NaiveDate::from_ymd_opt(2026, 1, 31));
        assert_eq!(parse("0001-01-01"), Some(EARLIEST));
        assert_eq!(parse("9999-12-31"), Some(LATEST));
        for bad in [
            "0000-01-01",
            "-0001-01-01",
            "10000-01-01",
            "2026-1-1",
            "2026-01-1",
            " 2026-01-01",
            "2026-01-01 ",
            "+2026-01-01",
            "2026-02-30",
            "2026/01/01",
            "２０２６-01-01",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}

//! A history of past links, read from the CSV template into links in the state they ended
//! in (or stand in now), their dates in the past.
//!
//! An agency's case system knows which household each child was matched with, placed with
//! and adopted by; the SSDA903 return does not say (its `ad1` file describes the adopters,
//! not who they are). The template (`docs/templates/link-history.csv`, with a filled
//! example) has one row per child per link:
//!
//! | column | what it holds |
//! | --- | --- |
//! | `CHILD` | the child's reference in the importing authority: the SSDA903 `CHILD` it was imported under (required) |
//! | `HOUSEHOLD` | the household's reference in its authority's adopter register (required) |
//! | `HOUSEHOLD_AUTHORITY` | the code of the household's authority in the consortium, for a household of another member (blank: the importing authority) |
//! | `MATCHED` | the date of the match decision (required) |
//! | `PLACED` | the date the child moved in, blank if not placed |
//! | `ADOPTION_ORDER` | the date of the adoption order, blank if none |
//! | `DISRUPTED`, `DISRUPTION_REASON` | the date the match or placement broke down before the adoption order, and why (both or neither) |
//! | `INTER_AGENCY_FEE` | the inter-agency fee agreed, in pounds (`27000` or `27,000.00`), for a household of another authority |
//!
//! A link's state follows from its dates: `DISRUPTED` if it broke down, otherwise
//! `ADOPTED`, `PLACED` or `MATCHED` by the last step it reached. Its steps must be in the
//! order the API takes them ([`crate::domain::links::step`]): a placement after the match,
//! an adoption order after the placement, a disruption before any adoption order, no date
//! in the future. The proposal and the acceptance are not in any case system; a link
//! brought in is recorded as proposed and accepted on its match date.
//!
//! Children placed together as a must-stay-together sibling group have one row each, with
//! the same household and dates: the service records them as one link of the group.

use std::io::Read;

use chrono::NaiveDate;

use super::Problem;
use super::table::{Codes, Columns, Duplicate, Row, Table, codes_of, read_template};
use crate::domain::links::{self, LinkDates, LinkState, LinkStep};

/// The stable codes of the problems a link history import reports.
pub mod code {
    /// A line or the file is beyond the import's bounds (error).
    pub const TOO_LARGE: &str = "LINKS_TOO_LARGE";
    /// The file could not be read, or has no column names (error).
    pub const UNREADABLE: &str = "LINKS_UNREADABLE";
    /// Bytes that are not UTF-8 (error; save the file as UTF-8 CSV).
    pub const BAD_ENCODING: &str = "LINKS_BAD_ENCODING";
    /// The same column twice (error).
    pub const DUPLICATE_COLUMN: &str = "LINKS_DUPLICATE_COLUMN";
    /// A column the template does not define (warning; ignored).
    pub const UNKNOWN_COLUMN: &str = "LINKS_UNKNOWN_COLUMN";
    /// A required column is missing (error; nothing of the file is read).
    pub const MISSING_COLUMN: &str = "LINKS_MISSING_COLUMN";
    /// A blank line (warning; skipped).
    pub const BLANK_LINE: &str = "LINKS_BLANK_LINE";
    /// A row with more or fewer values than there are columns (error).
    pub const FIELD_COUNT: &str = "LINKS_FIELD_COUNT";
    /// A required value is blank (error).
    pub const MISSING_VALUE: &str = "LINKS_MISSING_VALUE";
    /// A date that is neither `dd/mm/yyyy` nor `yyyy-mm-dd`, or no such day (error).
    pub const BAD_DATE: &str = "LINKS_BAD_DATE";
    /// A value outside its column's code set (error).
    pub const BAD_CODE: &str = "LINKS_BAD_CODE";
    /// The same child, household and match date twice (error).
    pub const DUPLICATE_LINK: &str = "LINKS_DUPLICATE_LINK";
    /// A fee that is not an amount in pounds, or is negative or beyond £1,000,000 (error).
    pub const BAD_FEE: &str = "LINKS_BAD_FEE";
    /// A reason longer than the API takes (error).
    pub const TOO_LONG: &str = "LINKS_TOO_LONG";
    /// A reason with a control character, which the API refuses (error).
    pub const BAD_TEXT: &str = "LINKS_BAD_TEXT";
    /// The row's dates do not make a link the API would record: a step out of order or
    /// missing, a date in the future, a disruption after the adoption order (error).
    pub const HISTORY_INVALID: &str = "LINKS_HISTORY_INVALID";
}

/// The columns of the template, those read first, in this order.
const COLUMNS: Columns = Columns {
    read: &[
        "CHILD",
        "HOUSEHOLD",
        "HOUSEHOLD_AUTHORITY",
        "MATCHED",
        "PLACED",
        "ADOPTION_ORDER",
        "DISRUPTED",
        "DISRUPTION_REASON",
        "INTER_AGENCY_FEE",
    ],
    known: &[],
    required: &["CHILD", "HOUSEHOLD", "MATCHED"],
};

/// The problem codes of the template.
const CODES: Codes = codes_of!(code);

/// The column of each value, by index in [`COLUMNS`].
const HOUSEHOLD: usize = 1;
const HOUSEHOLD_AUTHORITY: usize = 2;
const MATCHED: usize = 3;
const PLACED: usize = 4;
const ADOPTION_ORDER: usize = 5;
const DISRUPTED: usize = 6;
const DISRUPTION_REASON: usize = 7;
const INTER_AGENCY_FEE: usize = 8;

/// The longest reason the API takes.
const MAX_REASON_CHARS: usize = 500;

/// The largest fee taken, in pence (£1,000,000).
const MAX_FEE_PENCE: i64 = 100_000_000;

/// Where a row is, for the problems found when it is set against the records held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowAt {
    pub file: String,
    pub line: u64,
}

/// One child's link, its steps in the order the API takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedLink {
    pub at: RowAt,
    /// The child's reference in the importing authority.
    pub child: String,
    /// The household's reference in its authority.
    pub household: String,
    /// The code of the household's authority, when it is not the importing authority.
    pub household_authority: Option<String>,
    pub matched_on: NaiveDate,
    pub placed_on: Option<NaiveDate>,
    pub adoption_order_on: Option<NaiveDate>,
    /// The date and reason of a disruption.
    pub disruption: Option<(NaiveDate, String)>,
    pub fee_pence: Option<i64>,
}

impl ImportedLink {
    /// The state the link ended in, or stands in now.
    pub fn state(&self) -> LinkState {
        if self.disruption.is_some() {
            LinkState::Disrupted
        } else if self.adoption_order_on.is_some() {
            LinkState::Adopted
        } else if self.placed_on.is_some() {
            LinkState::Placed
        } else {
            LinkState::Matched
        }
    }

    /// The steps of the link from its acceptance on, each with its date and column.
    pub fn steps(&self) -> Vec<(LinkStep, NaiveDate, &'static str)> {
        let mut steps = vec![(LinkStep::DecideMatch, self.matched_on, "MATCHED")];
        if let Some(on) = self.placed_on {
            steps.push((LinkStep::RecordPlacement, on, "PLACED"));
        }
        if let Some(on) = self.adoption_order_on {
            steps.push((LinkStep::RecordAdoptionOrder, on, "ADOPTION_ORDER"));
        }
        if let Some((on, _)) = self.disruption {
            steps.push((LinkStep::RecordDisruption, on, "DISRUPTED"));
        }
        steps
    }

    /// An error about this row's `column`, for `reference`'s record.
    pub fn problem(&self, code: &'static str, column: &str, message: impl Into<String>) -> Problem {
        Problem::error(code, message)
            .in_file(&self.at.file)
            .at_row(self.at.line)
            .for_reference(&self.child)
            .in_column(column)
    }
}

/// The outcome of reading a link history: the links that can be set against the records
/// held, and every problem met. Write nothing while any problem is an error.
#[derive(Clone, Debug, Default)]
pub struct LinksImport {
    pub links: Vec<ImportedLink>,
    pub problems: Vec<Problem>,
}

/// Reads the link history `source`, named `file`, its dates checked as of `today`.
pub fn read<R: Read>(file: &str, source: R, today: NaiveDate) -> LinksImport {
    let table = Table {
        name: "the link history template",
        columns: &COLUMNS,
        codes: &CODES,
        apart: None,
        ignored: &[],
    };
    let mut problems = Vec::new();
    let links = read_template(
        file,
        &table,
        source,
        &mut problems,
        |row, problems| link(row, today, problems),
        |link| {
            (
                link.child.clone(),
                link.household_authority.clone(),
                link.household.clone(),
                link.matched_on,
            )
        },
        &Duplicate {
            code: code::DUPLICATE_LINK,
            column: MATCHED,
            message: "this child, household and match date appear more than once in the \
                      file; only the first row is read",
        },
    );
    LinksImport { links, problems }
}

/// An amount in pounds (`27000`, `27,000.50`, `£27000`), in pence.
fn pence(value: &str) -> Option<i64> {
    let value = value.strip_prefix('£').unwrap_or(value);
    let (pounds, fraction) = match value.split_once('.') {
        Some((p, f)) => (p, f),
        None => (value, ""),
    };
    let groups: Vec<&str> = pounds.split(',').collect();
    let grouped = groups.len() == 1
        || (!groups[0].is_empty()
            && groups[0].len() <= 3
            && groups[1..].iter().all(|g| g.len() == 3));
    let digits: String = groups.concat();
    if !grouped
        || digits.is_empty()
        || digits.len() > 9
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let pounds: i64 = digits.parse().ok()?;
    let fraction: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    Some(pounds * 100 + fraction)
}

/// One row: its values read, then its steps taken through the link workflow. `None`
/// (with problems) when anything is wrong.
fn link(row: &Row<'_>, today: NaiveDate, problems: &mut Vec<Problem>) -> Option<ImportedLink> {
    let before = problems.len();
    let household = row.required(HOUSEHOLD, problems).map(str::to_owned);
    let matched = row.required_date(MATCHED, problems);
    let placed = row.date(PLACED, problems);
    let adoption_order = row.date(ADOPTION_ORDER, problems);
    let disrupted = row.date(DISRUPTED, problems);
    let reason = row.values[DISRUPTION_REASON];
    if reason.chars().count() > MAX_REASON_CHARS {
        problems.push(row.problem(
            code::TOO_LONG,
            "DISRUPTION_REASON",
            reason,
            format!("a reason may be at most {MAX_REASON_CHARS} characters"),
        ));
    } else if reason
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        // As the API refuses them.
        problems.push(row.problem(
            code::BAD_TEXT,
            "DISRUPTION_REASON",
            reason,
            "DISRUPTION_REASON contains a control character".into(),
        ));
    }
    let fee = match row.values[INTER_AGENCY_FEE] {
        "" => None,
        value => match pence(value) {
            Some(p) if p <= MAX_FEE_PENCE => Some(p),
            _ => {
                problems.push(
                    row.problem(
                        code::BAD_FEE,
                        "INTER_AGENCY_FEE",
                        value,
                        "INTER_AGENCY_FEE is not a fee: write it in pounds, such as 27000 or \
                     27,000.00, at most 1,000,000"
                            .into(),
                    ),
                );
                None
            }
        },
    };
    // A reason names what it is the reason for, and a disruption has one.
    match (row.values[DISRUPTED].is_empty(), reason.is_empty()) {
        (true, false) => problems.push(row.problem(
            code::MISSING_VALUE,
            "DISRUPTED",
            "",
            "DISRUPTED must be completed when DISRUPTION_REASON is".into(),
        )),
        (false, true) => problems.push(row.problem(
            code::MISSING_VALUE,
            "DISRUPTION_REASON",
            "",
            "DISRUPTION_REASON must be completed when DISRUPTED is".into(),
        )),
        _ => {}
    }
    if problems.len() > before {
        return None;
    }
    let (Some(household), Some(matched_on), Ok(placed_on), Ok(adoption_order_on), Ok(disrupted)) =
        (household, matched, placed, adoption_order, disrupted)
    else {
        return None;
    };
    let link = ImportedLink {
        at: RowAt {
            file: row.file.to_owned(),
            line: row.line,
        },
        child: row.reference().to_owned(),
        household,
        household_authority: Some(row.values[HOUSEHOLD_AUTHORITY].to_owned())
            .filter(|a| !a.is_empty()),
        matched_on,
        placed_on,
        adoption_order_on,
        disruption: disrupted.map(|on| (on, reason.to_owned())),
        fee_pence: fee,
    };
    if let Err((column, message)) = replay(&link, today) {
        let index = COLUMNS
            .read
            .iter()
            .position(|c| *c == column)
            .unwrap_or(MATCHED);
        problems.push(row.problem(code::HISTORY_INVALID, column, row.values[index], message));
        return None;
    }
    Some(link)
}

/// Takes the link's steps through the workflow from its acceptance, as the API would one
/// by one; the column at fault and why, if it refuses one.
fn replay(link: &ImportedLink, today: NaiveDate) -> Result<(), (&'static str, String)> {
    if link.adoption_order_on.is_some() && link.placed_on.is_none() {
        return Err((
            "PLACED",
            "an adoption order follows a placement: PLACED must be completed when \
             ADOPTION_ORDER is"
                .into(),
        ));
    }
    if link.adoption_order_on.is_some() && link.disruption.is_some() {
        return Err((
            "DISRUPTED",
            "a disruption is a breakdown before the adoption order: a link cannot have both".into(),
        ));
    }
    let mut state = LinkState::Exploring;
    let mut dates = LinkDates {
        proposed_on: Some(link.matched_on),
        accepted_on: Some(link.matched_on),
        ..Default::default()
    };
    for (step, on, column) in link.steps() {
        state = links::step(state, step, &dates, (column, on), today)
            .map_err(|e| (column, e.message))?;
        match step {
            LinkStep::DecideMatch => dates.matched_on = Some(on),
            LinkStep::RecordPlacement => dates.placed_on = Some(on),
            LinkStep::RecordAdoptionOrder => dates.adoption_order_on = Some(on),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2026-06-01";

    fn read_text(text: &str) -> LinksImport {
        read("links.csv", text.as_bytes(), d(TODAY))
    }

    fn codes(import: &LinksImport) -> Vec<(&str, Option<&str>)> {
        import
            .problems
            .iter()
            .map(|p| (p.code, p.column.as_deref()))
            .collect()
    }

    const HEADER: &str = "CHILD,HOUSEHOLD,HOUSEHOLD_AUTHORITY,MATCHED,PLACED,ADOPTION_ORDER,\
                          DISRUPTED,DISRUPTION_REASON,INTER_AGENCY_FEE\n";

    #[test]
    fn the_template_reads_without_a_problem() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/templates/link-history.csv"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let import = read_text(&text);
        assert!(import.problems.is_empty(), "{:?}", import.problems);
        let states: HashSet<LinkState> = import.links.iter().map(ImportedLink::state).collect();
        for state in [
            LinkState::Adopted,
            LinkState::Placed,
            LinkState::Matched,
            LinkState::Disrupted,
        ] {
            assert!(
                states.contains(&state),
                "the example shows a {state:?} link"
            );
        }
        assert!(import.links.iter().any(|l| l.household_authority.is_some()));
        assert!(import.links.iter().any(|l| l.fee_pence.is_some()));
    }

    #[test]
    fn each_row_becomes_a_link_in_the_state_its_dates_reach() {
        let import = read_text(&format!(
            "{HEADER}C1,H1,,01/02/2024,15/03/2024,2024-10-01,,,\n\
             C2,H2,NORTH,2024-05-01,2024-06-01,,,,\"27,000.50\"\n\
             C3,H3,,2024-05-01,,,,,\n\
             C4,H4,,2024-01-10,2024-02-01,,2024-04-01,The placement broke down,\n"
        ));
        assert!(import.problems.is_empty(), "{:?}", import.problems);
        let states: Vec<LinkState> = import.links.iter().map(ImportedLink::state).collect();
        assert_eq!(
            states,
            [
                LinkState::Adopted,
                LinkState::Placed,
                LinkState::Matched,
                LinkState::Disrupted
            ]
        );
        assert_eq!(import.links[0].adoption_order_on, Some(d("2024-10-01")));
        assert_eq!(
            import.links[1].household_authority.as_deref(),
            Some("NORTH")
        );
        assert_eq!(import.links[1].fee_pence, Some(2_700_050));
        assert_eq!(
            import.links[3].disruption,
            Some((d("2024-04-01"), "The placement broke down".into()))
        );
        assert_eq!(import.links[3].at.line, 5);
    }

    #[test]
    fn steps_out_of_order_or_missing_are_refused_on_their_column() {
        let import = read_text(&format!(
            "{HEADER}C1,H1,,2024-03-01,2024-02-01,,,,\n\
             C2,H2,,2024-03-01,,2024-09-01,,,\n\
             C3,H3,,2024-03-01,2024-04-01,2024-09-01,2024-10-01,Broke down,\n\
             C4,H4,,2024-03-01,,,2024-02-01,Broke down,\n\
             C5,H5,,2026-07-01,,,,,\n\
             C6,H6,,2024-03-01,,,2024-04-01,,\n\
             C7,H7,,2024-03-01,,,,Why,\n"
        ));
        assert!(import.links.is_empty(), "{:?}", import.links);
        assert_eq!(
            codes(&import),
            [
                (code::HISTORY_INVALID, Some("PLACED")),
                (code::HISTORY_INVALID, Some("PLACED")),
                (code::HISTORY_INVALID, Some("DISRUPTED")),
                (code::HISTORY_INVALID, Some("DISRUPTED")),
                (code::HISTORY_INVALID, Some("MATCHED")),
                (code::MISSING_VALUE, Some("DISRUPTION_REASON")),
                (code::MISSING_VALUE, Some("DISRUPTED")),
            ]
        );
        assert!(import.problems[0].message.contains("2024-03-01"));
        assert!(import.problems[4].message.contains("future"));
    }

    #[test]
    fn bad_values_and_duplicates_are_problems_of_their_row() {
        let long = "x".repeat(501);
        let import = read_text(&format!(
            "{HEADER}C1,,,2024-03-01,,,,,\n\
             C2,H2,,31/02/2024,,,,,\n\
             C3,H3,,2024-03-01,,,,,-5\n\
             C4,H4,,2024-03-01,,,,,\"1,00\"\n\
             C5,H5,,2024-03-01,,,,,2000000\n\
             C6,H6,,2024-03-01,,,2024-04-01,{long},\n\
             C7,H7,,2024-03-01,,,,,£12.5\n\
             C7,H7,,01/03/2024,,,,,\n\
             C8,H8,,2024-03-01,,,2024-04-01,\"Broke\u{0}down\",\n"
        ));
        assert_eq!(
            codes(&import),
            [
                (code::MISSING_VALUE, Some("HOUSEHOLD")),
                (code::BAD_DATE, Some("MATCHED")),
                (code::BAD_FEE, Some("INTER_AGENCY_FEE")),
                (code::BAD_FEE, Some("INTER_AGENCY_FEE")),
                (code::BAD_FEE, Some("INTER_AGENCY_FEE")),
                (code::TOO_LONG, Some("DISRUPTION_REASON")),
                (code::DUPLICATE_LINK, Some("MATCHED")),
                (code::BAD_TEXT, Some("DISRUPTION_REASON")),
            ]
        );
        assert_eq!(import.links.len(), 1);
        assert_eq!(import.links[0].fee_pence, Some(1250));
    }

    #[test]
    fn fees_read_as_pounds() {
        assert_eq!(pence("27000"), Some(2_700_000));
        assert_eq!(pence("27,000"), Some(2_700_000));
        assert_eq!(pence("1,234,567.89"), Some(123_456_789));
        assert_eq!(pence("0.5"), Some(50));
        for bad in [
            "", "£", "27,00", ",000", "1.234", "12a", "-1", "1e5", "1.-5",
        ] {
            assert_eq!(pence(bad), None, "{bad}");
        }
    }
}

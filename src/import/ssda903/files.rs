//! Reading one SSDA903 CSV file into the few values per row the journey needs.
//!
//! The file is read by [`read_table`], which applies the rules every import's CSV shares
//! (streaming within bounds, UTF-8, columns by name, blank lines, field counts, dates; see
//! [`crate::import::table`]). The rules of the SSDA903 tables, each applied below:
//! - **Values.** Codes are upper-cased; `SEX` is read in both codings the returns have used (`1`/`2`
//!   and `M`/`F`, or the words); `ETHNIC` is mapped to the service's [`Ethnicity`].
//! - **Duplicates.** Within one file, the same child twice (`header`, `ad1`), the same
//!   episode (`CHILD`, `DECOM`) or the same decision (`CHILD`, `DATE_PLACED`): the first row
//!   is kept and the later one is an error.
//! - **Authority.** Where a file carries an `LA` column (pipelines add one), every row must
//!   name the import's authority: a row of another is [`OTHER_AUTHORITY`](code::OTHER_AUTHORITY).

use std::collections::HashSet;
use std::io::Read;

use chrono::NaiveDate;

use super::{FileKind, SuppliedFile, code};
use crate::domain::{Ethnicity, Gender, PlanChangeReason};
use crate::import::Problem;
use crate::import::table::{Codes, Columns, Row, Table, codes_of, read_table};

pub use crate::import::table::{MAX_FILE_BYTES, MAX_RECORD_BYTES, MAX_ROWS, parse_date};

/// Where a row came from: the index of its file in the import, and its line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub file: usize,
    pub row: u64,
}

/// A `header` row: who the child is.
#[derive(Clone, Debug)]
pub struct HeaderRow {
    pub at: At,
    pub year: i32,
    pub child: String,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub ethnicity: Ethnicity,
}

/// An `episodes` row: one episode of care.
#[derive(Clone, Debug)]
pub struct EpisodeRow {
    pub at: At,
    pub year: i32,
    pub child: String,
    /// `DECOM`: the date the episode commenced.
    pub starts_on: NaiveDate,
    /// `RNE`: the reason for the new episode (`S`, `L`, `P`, `T`, `U`, `B`).
    pub reason_new: String,
    /// `LS`: the legal status during the episode.
    pub legal_status: String,
    /// `PLACE`: the placement type during the episode.
    pub placement: String,
    /// `DEC`: the date the episode ceased (`None` while open).
    pub ends_on: Option<NaiveDate>,
    /// `REC`: the reason the episode ceased (`X1`: a new episode follows the same day).
    pub reason_ended: Option<String>,
}

/// An `ad1` row: a child adopted in the year.
#[derive(Clone, Debug)]
pub struct Ad1Row {
    pub at: At,
    pub year: i32,
    pub child: String,
    /// `DATE_INT`: the date of the decision that the child should be placed for adoption.
    pub decided_on: Option<NaiveDate>,
    /// `DATE_MATCH`: the date the child was matched with the prospective adopters.
    pub matched_on: Option<NaiveDate>,
    /// `FOSTER_CARE`: adopted by the child's foster carer(s).
    pub by_foster_carers: Option<bool>,
}

/// A `placed_for_adoption` row: a decision that the child should be placed for adoption.
#[derive(Clone, Debug)]
pub struct DecisionRow {
    pub at: At,
    pub year: i32,
    pub child: String,
    /// `DATE_PLACED`: the date of the decision (not the date the child moved).
    pub decided_on: NaiveDate,
    /// `DATE_PLACED_CEASED`: the date of the decision that the child should no longer be
    /// placed for adoption.
    pub ceased_on: Option<NaiveDate>,
    /// `REASON_PLACED_CEASED`: why (`RD1`–`RD4`).
    pub reason: Option<PlanChangeReason>,
}

/// Every row read so far, all years together.
#[derive(Debug, Default)]
pub struct Rows {
    pub headers: Vec<HeaderRow>,
    pub episodes: Vec<EpisodeRow>,
    pub ad1: Vec<Ad1Row>,
    pub decisions: Vec<DecisionRow>,
}

/// Columns any table may carry that the import does not read (`LA` is checked apart).
const PIPELINE_COLUMNS: &[&str] = &["LA", "YEAR"];

fn spec(kind: FileKind) -> Columns {
    match kind {
        FileKind::Header => Columns {
            read: &["CHILD", "SEX", "DOB", "ETHNIC"],
            known: &["UPN", "MOTHER", "MC_DOB"],
            required: &["CHILD", "SEX", "DOB", "ETHNIC"],
        },
        FileKind::Episodes => Columns {
            read: &["CHILD", "DECOM", "RNE", "LS", "PLACE", "DEC", "REC"],
            known: &[
                "CIN",
                "PLACE_PROVIDER",
                "REASON_PLACE_CHANGE",
                "HOME_POST",
                "PL_POST",
                "URN",
            ],
            required: &["CHILD", "DECOM", "RNE", "LS", "PLACE", "DEC", "REC"],
        },
        FileKind::Ad1 => Columns {
            read: &["CHILD", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"],
            known: &["DOB", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"],
            required: &["CHILD", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"],
        },
        FileKind::PlacedForAdoption => Columns {
            read: &[
                "CHILD",
                "DATE_PLACED",
                "DATE_PLACED_CEASED",
                "REASON_PLACED_CEASED",
            ],
            known: &["DOB"],
            required: &[
                "CHILD",
                "DATE_PLACED",
                "DATE_PLACED_CEASED",
                "REASON_PLACED_CEASED",
            ],
        },
    }
}

/// `SEX` in either coding the returns have used: `1`/`2` (the DfE code set) and `M`/`F`
/// (older extracts and some case systems), or the words.
pub fn gender(code: &str) -> Option<Gender> {
    match code.to_ascii_uppercase().as_str() {
        "1" | "M" | "MALE" => Some(Gender::Male),
        "2" | "F" | "FEMALE" => Some(Gender::Female),
        _ => None,
    }
}

/// `ETHNIC` (the DfE's 20 codes) at the level the service records: the five broad groups
/// of the DfE statistics (Chinese is in "any other ethnic group" there), with `REFU`
/// (refused) and `NOBT` (not yet obtained) as not recorded.
pub fn ethnicity(code: &str) -> Option<Ethnicity> {
    Some(match code.to_ascii_uppercase().as_str() {
        "WBRI" => Ethnicity::WhiteBritish,
        "WIRI" | "WOTH" | "WIRT" | "WROM" => Ethnicity::WhiteOther,
        "MWBC" | "MWBA" | "MWAS" | "MOTH" => Ethnicity::Mixed,
        "AIND" | "APKN" | "ABAN" | "AOTH" => Ethnicity::Asian,
        "BCRB" | "BAFR" | "BOTH" => Ethnicity::Black,
        "CHNE" | "OOTH" => Ethnicity::Other,
        "REFU" | "NOBT" => Ethnicity::NotRecorded,
        _ => return None,
    })
}

/// The reasons for a new episode (`RNE`): `S` started to be looked after; `L` change of
/// legal status only; `P` change of placement and carer(s) only; `T` change of both
/// legal status and placement and carer(s); `U` change of legal status and placement,
/// carer(s) unchanged; `B` change of placement, carer(s) unchanged.
pub const REASONS_NEW_EPISODE: &[&str] = &["S", "L", "P", "T", "U", "B"];

/// The problem codes of the SSDA903 tables.
const CODES: Codes = codes_of!(code);

/// Reads `source` as a `file`, adding its rows to `rows` and its problems to `problems`.
pub(super) fn read_file<R: Read>(
    file: &SuppliedFile,
    index: usize,
    source: R,
    authority: &mut Option<String>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let columns = spec(file.kind);
    let name = format!("the SSDA903 {} file", file.kind.name());
    let table = Table {
        name: &name,
        columns: &columns,
        codes: &CODES,
        apart: Some("LA"),
        ignored: PIPELINE_COLUMNS,
    };
    let mut keys: HashSet<(String, Option<NaiveDate>)> = HashSet::new();
    read_table(&file.name, &table, source, problems, |row, la, problems| {
        let la = la.unwrap_or_default();
        match authority {
            Some(expected) if !la.is_empty() && la != expected.as_str() => {
                problems.push(row.problem(
                    code::OTHER_AUTHORITY,
                    "LA",
                    la,
                    format!(
                        "this row belongs to another authority ({la}) than the import's \
                         ({expected}); import each authority's files on their own"
                    ),
                ));
                return;
            }
            None if !la.is_empty() => *authority = Some(la.to_owned()),
            _ => {}
        }
        let at = At {
            file: index,
            row: row.line,
        };
        let year = file.year;
        match file.kind {
            FileKind::Header => header_row(row, at, year, &mut keys, rows, problems),
            FileKind::Episodes => episode_row(row, at, year, &mut keys, rows, problems),
            FileKind::Ad1 => ad1_row(row, at, year, &mut keys, rows, problems),
            FileKind::PlacedForAdoption => decision_row(row, at, year, &mut keys, rows, problems),
        }
    });
}

/// Records `key` for the row, or reports the row as a duplicate of an earlier one.
fn first_of(
    row: &Row<'_>,
    key: (String, Option<NaiveDate>),
    code: &'static str,
    column: &str,
    what: &str,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    problems: &mut Vec<Problem>,
) -> bool {
    if keys.insert(key) {
        return true;
    }
    problems.push(row.problem(
        code,
        column,
        row.values[0],
        format!("{what} appears more than once in this file; only its first row is read"),
    ));
    false
}

fn header_row(
    row: &Row<'_>,
    at: At,
    year: i32,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let sex = row.coded(1, gender, "1 (male) or 2 (female)", problems);
    let dob = row.required_date(2, problems);
    let ethnic = row.coded(3, ethnicity, "one of the DfE ethnicity codes", problems);
    let (Some(sex), Some(dob), Some(ethnic)) = (sex, dob, ethnic) else {
        return;
    };
    let key = (row.reference().to_owned(), None);
    if first_of(
        row,
        key,
        code::DUPLICATE_CHILD,
        "CHILD",
        "this child",
        keys,
        problems,
    ) {
        rows.headers.push(HeaderRow {
            at,
            year,
            child: row.reference().to_owned(),
            date_of_birth: dob,
            gender: sex,
            ethnicity: ethnic,
        });
    }
}

fn episode_row(
    row: &Row<'_>,
    at: At,
    year: i32,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let starts_on = row.required_date(1, problems);
    let reason_new = row.required(2, problems).map(str::to_ascii_uppercase);
    let legal_status = row.required(3, problems).map(str::to_ascii_uppercase);
    let placement = row.required(4, problems).map(str::to_ascii_uppercase);
    let ends_on = row.date(5, problems);
    let reason_ended = Some(row.values[6]).filter(|v| !v.is_empty());
    let (Some(starts_on), Some(reason_new), Some(legal_status), Some(placement), Ok(ends_on)) =
        (starts_on, reason_new, legal_status, placement, ends_on)
    else {
        return;
    };
    if !REASONS_NEW_EPISODE.contains(&reason_new.as_str()) {
        problems.push(row.bad_code(2, "S, L, P, T, U or B"));
        return;
    }
    if ends_on.is_some_and(|ends_on| ends_on < starts_on) {
        problems.push(row.problem(
            code::EPISODE_DATES,
            "DEC",
            row.values[5],
            "the episode cannot cease (DEC) before it commenced (DECOM)".into(),
        ));
        return;
    }
    let key = (row.reference().to_owned(), Some(starts_on));
    if first_of(
        row,
        key,
        code::DUPLICATE_EPISODE,
        "DECOM",
        "this episode (same CHILD and DECOM)",
        keys,
        problems,
    ) {
        rows.episodes.push(EpisodeRow {
            at,
            year,
            child: row.reference().to_owned(),
            starts_on,
            reason_new,
            legal_status,
            placement,
            ends_on,
            reason_ended: reason_ended.map(str::to_ascii_uppercase),
        });
    }
}

fn ad1_row(
    row: &Row<'_>,
    at: At,
    year: i32,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let decided_on = row.date(1, problems);
    let matched_on = row.date(2, problems);
    let by_foster_carers = match row.values[3].to_ascii_uppercase().as_str() {
        "" => Ok(None),
        "1" | "TRUE" => Ok(Some(true)),
        "0" | "FALSE" => Ok(Some(false)),
        _ => Err(row.bad_code(3, "1 (adopted by the foster carer) or 0")),
    };
    let (Ok(decided_on), Ok(matched_on), Ok(by_foster_carers)) = (
        decided_on,
        matched_on,
        by_foster_carers.map_err(|p| problems.push(p)),
    ) else {
        return;
    };
    let key = (row.reference().to_owned(), None);
    if first_of(
        row,
        key,
        code::DUPLICATE_CHILD,
        "CHILD",
        "this child",
        keys,
        problems,
    ) {
        rows.ad1.push(Ad1Row {
            at,
            year,
            child: row.reference().to_owned(),
            decided_on,
            matched_on,
            by_foster_carers,
        });
    }
}

fn decision_row(
    row: &Row<'_>,
    at: At,
    year: i32,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let decided_on = row.required_date(1, problems);
    let ceased_on = row.date(2, problems);
    let reason = match row.values[3] {
        "" => Ok(None),
        code => PlanChangeReason::from_code(&code.to_ascii_uppercase())
            .map(Some)
            .ok_or_else(|| row.bad_code(3, "RD1, RD2, RD3 or RD4")),
    };
    let (Some(decided_on), Ok(ceased_on), Ok(reason)) =
        (decided_on, ceased_on, reason.map_err(|p| problems.push(p)))
    else {
        return;
    };
    // DfE rule 119: a decision that the child should no longer be placed for adoption
    // needs both its date and its reason.
    if ceased_on.is_some() != reason.is_some() {
        let (column, value) = if ceased_on.is_some() {
            ("REASON_PLACED_CEASED", row.values[3])
        } else {
            ("DATE_PLACED_CEASED", row.values[2])
        };
        problems.push(
            row.problem(
                code::PLAN_CHANGE_INCOMPLETE,
                column,
                value,
                "when the child should no longer be placed for adoption, both \
             DATE_PLACED_CEASED and REASON_PLACED_CEASED must be completed"
                    .into(),
            ),
        );
        return;
    }
    let key = (row.reference().to_owned(), Some(decided_on));
    if first_of(
        row,
        key,
        code::DUPLICATE_DECISION,
        "DATE_PLACED",
        "this decision (same CHILD and DATE_PLACED)",
        keys,
        problems,
    ) {
        rows.decisions.push(DecisionRow {
            at,
            year,
            child: row.reference().to_owned(),
            decided_on,
            ceased_on,
            reason,
        });
    }
}

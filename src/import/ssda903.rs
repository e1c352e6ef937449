//! The SSDA903 children-looked-after return, read into each child's adoption journey.
//!
//! Every English local authority sends the DfE one SSDA903 return a year, as CSV files
//! named `SSDA903_<year>_<table>.csv`; the year is the one the collection ends in (the
//! `2025` return covers 1 April 2024 to 31 March 2025). Four of its tables carry the
//! adoption journey, and only they are read:
//!
//! | file | columns read | what they say |
//! | --- | --- | --- |
//! | `header` | `CHILD`, `SEX`, `DOB`, `ETHNIC` | who the child is (one row per child) |
//! | `episodes` | `CHILD`, `DECOM`, `RNE`, `LS`, `PLACE`, `DEC`, `REC` | each episode of care: its start, why it started, legal status, placement type, end and why it ended |
//! | `ad1` | `CHILD`, `DATE_INT`, `DATE_MATCH`, `FOSTER_CARE` | for a child adopted in the year: the decision that the child should be placed for adoption, the match, adopted by the foster carer |
//! | `placed_for_adoption` | `CHILD`, `DATE_PLACED`, `DATE_PLACED_CEASED`, `REASON_PLACED_CEASED` | each decision that the child should be placed for adoption, and its reversal with an `RD` reason |
//!
//! Other columns the DfE defines for these files (`UPN`, `MOTHER`, `MC_DOB`, `CIN`,
//! `PLACE_PROVIDER`, `REASON_PLACE_CHANGE`, `HOME_POST`, `PL_POST`, `URN`, `DOB` in the
//! adoption files, `NB_ADOPTR`, `SEX_ADOPTR`, `LS_ADOPTR`, and the `LA`/`YEAR` columns that
//! pipelines add) are recognised and not kept: the service has no use for them, and the UPN
//! and postcodes are exactly what it must not hold. The `CHILD` reference is unique only
//! within an authority, so one import is one authority's files and the reference is kept
//! as the authority-local import reference.
//!
//! How it is used: [`identify`] names a file from its name (or build a [`SuppliedFile`]
//! with its kind and year), [`Ssda903Reader::read`] streams each file, and
//! [`Ssda903Reader::finish`] stacks the years and derives one [`ImportedChild`] per child,
//! with every [`Problem`] met on the way. The reading rules are in [`files`] and the
//! derivation rules in [`derive`], each next to the code that applies it.
//!
//! Sources relied on (facts only; no code was copied):
//! - DfE, *Children looked after by local authorities in England — technical
//!   specification* (2018–19 and 2021–22 collections: CSV file descriptions, data dictionary
//!   and code sets: gender, ethnicity, legal status, placement type, reason for new episode,
//!   reason episode ceased, foster care, reason why the child should no longer be placed for
//!   adoption) and *Guide to the SSDA903 collection* (episodes and periods of care).
//! - `SocialFinanceDigitalLabs/liia-tools`, `liiatools/ssda903_pipeline/spec/
//!   SSDA903_schema_2017.yml` and its yearly diffs: column names per table, `dd/mm/yyyy`
//!   dates, the code lists (`LS` `E1`/`D1`, `PLACE` `A3`–`A6`, `REC` `E11`/`E12`, `RNE`,
//!   `FOSTER_CARE` 0/1, `RD1`–`RD4`, `SEX` 1/2, the 20 `ETHNIC` codes).
//! - `data-to-insight/quality-lac-data-beta` (the DfE validation rules as code): rule 335
//!   (`FOSTER_CARE` 1 goes with placement `A3`/`A5`, "with current foster carer", and 0
//!   with `A4`/`A6`), rules 117 and 119 (`DATE_PLACED` and `DATE_PLACED_CEASED` are the
//!   dates of the decisions that the child should, and should no longer, be placed for
//!   adoption; a reversal needs both its date and its reason), rule 601 (`ad1` is
//!   completed for children whose episode ended with `E11`/`E12`).

use std::collections::HashSet;
use std::io::Read;

use chrono::NaiveDate;

use super::Problem;
#[cfg(doc)]
use super::Severity;
#[cfg(doc)]
use crate::domain::MilestoneDraft;
use crate::domain::{Ethnicity, Gender, MilestoneDates, PlanChangeReason};

pub mod derive;
pub mod files;
#[cfg(test)]
mod tests;

/// The stable codes of the problems an SSDA903 import reports.
pub mod code {
    /// A file's name does not say which table or year it is (error).
    pub const FILE_NAME: &str = "SSDA903_FILE_NAME";
    /// A file of a table the import does not need, e.g. `reviews` (warning; skipped).
    pub const FILE_NOT_NEEDED: &str = "SSDA903_FILE_NOT_NEEDED";
    /// Two files of the same table and year (error).
    pub const DUPLICATE_FILE: &str = "SSDA903_DUPLICATE_FILE";
    /// Bytes that are not UTF-8 (error; save the file as UTF-8 CSV).
    pub const BAD_ENCODING: &str = "SSDA903_BAD_ENCODING";
    /// A line, the file or its row count is beyond the import's bounds (error).
    pub const TOO_LARGE: &str = "SSDA903_TOO_LARGE";
    /// A file that could not be read, or has no column names (error).
    pub const UNREADABLE: &str = "SSDA903_UNREADABLE";
    /// A required column is missing (error; nothing of the file is read).
    pub const MISSING_COLUMN: &str = "SSDA903_MISSING_COLUMN";
    /// The same column twice (error).
    pub const DUPLICATE_COLUMN: &str = "SSDA903_DUPLICATE_COLUMN";
    /// A column the specification does not define (warning; ignored).
    pub const UNKNOWN_COLUMN: &str = "SSDA903_UNKNOWN_COLUMN";
    /// A blank line (warning; skipped).
    pub const BLANK_LINE: &str = "SSDA903_BLANK_LINE";
    /// A row with more or fewer values than there are columns (error).
    pub const FIELD_COUNT: &str = "SSDA903_FIELD_COUNT";
    /// A required value is blank (error).
    pub const MISSING_VALUE: &str = "SSDA903_MISSING_VALUE";
    /// A date that is neither `dd/mm/yyyy` nor `yyyy-mm-dd`, or no such day (error).
    pub const BAD_DATE: &str = "SSDA903_BAD_DATE";
    /// A code outside the column's code set (error).
    pub const BAD_CODE: &str = "SSDA903_BAD_CODE";
    /// The same child twice in a `header` or `ad1` file (error).
    pub const DUPLICATE_CHILD: &str = "SSDA903_DUPLICATE_CHILD";
    /// The same episode (`CHILD`, `DECOM`) twice in an `episodes` file (error).
    pub const DUPLICATE_EPISODE: &str = "SSDA903_DUPLICATE_EPISODE";
    /// The same decision (`CHILD`, `DATE_PLACED`) twice in a `placed_for_adoption` file
    /// (error).
    pub const DUPLICATE_DECISION: &str = "SSDA903_DUPLICATE_DECISION";
    /// A row whose `LA` column names another authority than the import's (error).
    pub const OTHER_AUTHORITY: &str = "SSDA903_OTHER_AUTHORITY";
    /// `DATE_PLACED_CEASED` without `REASON_PLACED_CEASED`, or the reverse (error).
    pub const PLAN_CHANGE_INCOMPLETE: &str = "SSDA903_PLAN_CHANGE_INCOMPLETE";
    /// An episode that ends before it starts (error).
    pub const EPISODE_DATES: &str = "SSDA903_EPISODE_DATES";
    /// Two episodes of one child that overlap, or an open episode followed by another
    /// (error).
    pub const EPISODES_OVERLAP: &str = "SSDA903_EPISODES_OVERLAP";
    /// A child with episodes but no `header` row in any year (error).
    pub const NO_HEADER: &str = "SSDA903_NO_HEADER";
    /// A child in `header` with no episode in any year (warning; not imported).
    pub const NO_EPISODES: &str = "SSDA903_NO_EPISODES";
    /// An earlier year's episode that a later return covering its dates no longer carries
    /// (warning; the later return wins and the episode is dropped).
    pub const SUPERSEDED_EPISODE: &str = "SSDA903_SUPERSEDED_EPISODE";
    /// The period of care began before the earliest return supplied, so `enteredCareOn`
    /// is not known (warning; an error when the journey has later milestones).
    pub const CARE_START_UNKNOWN: &str = "SSDA903_CARE_START_UNKNOWN";
    /// Adopted (`REC` `E11`/`E12`) from a placement that is not an adoptive one (error).
    pub const ADOPTED_NOT_PLACED: &str = "SSDA903_ADOPTED_NOT_PLACED";
    /// In an adoptive placement with no match date in the returns (warning; `placedOn`
    /// is left empty).
    pub const PLACED_NOT_MATCHED: &str = "SSDA903_PLACED_NOT_MATCHED";
    /// An adoptive placement that ended before any adoption order (warning).
    pub const PLACEMENT_DISRUPTED: &str = "SSDA903_PLACEMENT_DISRUPTED";
    /// `ad1.DATE_INT` and `placed_for_adoption.DATE_PLACED` disagree (warning).
    pub const SHOBPA_DATES_DIFFER: &str = "SSDA903_SHOBPA_DATES_DIFFER";
    /// `FOSTER_CARE` disagrees with the adoptive placement type (warning, DfE rule 335).
    pub const FOSTER_CARE_MISMATCH: &str = "SSDA903_FOSTER_CARE_MISMATCH";
    /// The derived journey fails the API's milestone validation (error).
    pub const JOURNEY_INVALID: &str = "SSDA903_JOURNEY_INVALID";
}

/// One of the four SSDA903 tables the import reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FileKind {
    /// `header`: one row per child.
    Header,
    /// `episodes`: one row per episode of care.
    Episodes,
    /// `ad1`: one row per child adopted in the year.
    Ad1,
    /// `placed_for_adoption`: one row per decision that the child should be placed for
    /// adoption.
    PlacedForAdoption,
}

impl FileKind {
    /// The table's name as the DfE spells it in file names.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Header => "header",
            FileKind::Episodes => "episodes",
            FileKind::Ad1 => "ad1",
            FileKind::PlacedForAdoption => "placed_for_adoption",
        }
    }
}

/// A file of one return: its name as supplied (for problems), its table and the year its
/// collection ends in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SuppliedFile {
    pub name: String,
    pub kind: FileKind,
    pub year: i32,
}

impl SuppliedFile {
    /// The first and last day the return of this file's year covers (1 April of the year
    /// before to 31 March).
    pub fn collection_window(&self) -> Option<(NaiveDate, NaiveDate)> {
        collection_window(self.year)
    }
}

/// The first and last day of the collection ending in `year`.
fn collection_window(year: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        NaiveDate::from_ymd_opt(year - 1, 4, 1)?,
        NaiveDate::from_ymd_opt(year, 3, 31)?,
    ))
}

/// The years a return may be for: the SSDA903 began long before 2000 but nothing older
/// has a use here, and a four-digit number outside this range in a name is not a year.
const YEARS: std::ops::RangeInclusive<i32> = 2000..=2100;

/// Tells a file's table and year from its name as the DfE names it, case-insensitive:
/// `SSDA903_2025_episodes.csv`, `ssda903_2024_Placed_for_adoption.CSV`, a path ending in
/// such a name. A table the import does not need (`reviews`, `oc2`, …) is a
/// [`Severity::Warning`] problem (skip the file); a name that says no table or no single
/// year is an error (give the kind and year explicitly instead).
pub fn identify(path: &str) -> Result<SuppliedFile, Box<Problem>> {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".csv").unwrap_or(&lower);
    let kind = if stem.contains("placed_for_adoption") || stem.contains("placedadoption") {
        Some(FileKind::PlacedForAdoption)
    } else if stem.contains("episodes") {
        Some(FileKind::Episodes)
    } else if stem.contains("header") {
        Some(FileKind::Header)
    } else if stem.contains("ad1") {
        Some(FileKind::Ad1)
    } else {
        None
    };
    let years: Vec<i32> = stem
        .split(|c: char| !c.is_ascii_digit())
        .filter(|run| run.len() == 4)
        .filter_map(|run| run.parse().ok())
        .filter(|year| YEARS.contains(year))
        .collect();
    let Some(kind) = kind else {
        return Err(Box::new(
            Problem::warning(
                code::FILE_NOT_NEEDED,
                "this is not a header, episodes, ad1 or placed_for_adoption file; the import \
             does not need it and skips it",
            )
            .in_file(name),
        ));
    };
    match years.as_slice() {
        [year] => Ok(SuppliedFile {
            name: name.to_owned(),
            kind,
            year: *year,
        }),
        _ => Err(Box::new(
            Problem::error(
                code::FILE_NAME,
                "the file name must carry the year of the return once, as in \
             SSDA903_2025_episodes.csv; otherwise give the file's kind and year explicitly",
            )
            .in_file(name),
        )),
    }
}

/// One child's journey as the returns tell it, derived and validated: what the service
/// writes for the child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedChild {
    /// The authority's own `CHILD` reference: unique only within the authority, and the
    /// key by which a re-import finds the same child again.
    pub reference: String,
    pub date_of_birth: NaiveDate,
    pub gender: Gender,
    pub ethnicity: Ethnicity,
    /// The milestones, checked by [`MilestoneDraft::validate`] exactly as the API checks
    /// them (its `plan_changed_on` and `placement_order_revoked_on` included).
    pub milestones: MilestoneDates,
    /// Why the plan moved away from adoption, with `milestones.plan_changed_on`.
    pub plan_change_reason: Option<PlanChangeReason>,
    /// The warnings about this child (also in [`Ssda903Import::problems`]): what the
    /// returns could not tell, rather than a guess.
    pub notes: Vec<Problem>,
}

/// The outcome of an import: the children that can be written, and every problem met.
/// Write nothing while [`Ssda903Import::has_errors`].
#[derive(Clone, Debug, Default)]
pub struct Ssda903Import {
    /// One per child whose journey was derived and validated, by reference.
    pub children: Vec<ImportedChild>,
    /// Every problem, errors and warnings, file by file in reading order, then child by
    /// child.
    pub problems: Vec<Problem>,
}

impl Ssda903Import {
    /// Whether any problem is an error: the import must not be written.
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    /// The problems of one code (for reports and tests).
    pub fn problems_of(&self, code: &str) -> Vec<&Problem> {
        self.problems.iter().filter(|p| p.code == code).collect()
    }
}

/// Reads one authority's SSDA903 files, any number of years, one file at a time, then
/// derives the journeys. Holds only the parsed rows it needs (dates and short codes per
/// row), never a file's text.
#[derive(Debug, Default)]
pub struct Ssda903Reader {
    /// The authority's SSDA903 `LA` code, when known: rows of files that carry an `LA`
    /// column must match it. When `None`, the first `LA` value read becomes it.
    authority: Option<String>,
    rows: files::Rows,
    /// The files read so far (by index in rows' positions).
    files: Vec<SuppliedFile>,
    read: HashSet<(FileKind, i32)>,
    problems: Vec<Problem>,
}

impl Ssda903Reader {
    /// A reader for the authority whose `LA` code is `authority`, if known.
    pub fn new(authority: Option<&str>) -> Self {
        Ssda903Reader {
            authority: authority.map(|a| a.trim().to_owned()),
            ..Default::default()
        }
    }

    /// Streams one file, keeping its rows and noting its problems. A second file of the
    /// same table and year is refused whole ([`code::DUPLICATE_FILE`]).
    pub fn read<R: Read>(&mut self, file: SuppliedFile, source: R) {
        if !self.read.insert((file.kind, file.year)) {
            self.problems.push(
                Problem::error(
                    code::DUPLICATE_FILE,
                    format!(
                        "a {} file of the {} return was already supplied; supply each \
                         table of each year once",
                        file.kind.name(),
                        file.year
                    ),
                )
                .in_file(&file.name),
            );
            return;
        }
        let index = self.files.len();
        files::read_file(
            &file,
            index,
            source,
            &mut self.authority,
            &mut self.rows,
            &mut self.problems,
        );
        self.files.push(file);
    }

    /// Stacks the years and derives each child's journey, validated as of `today` (the
    /// caller's clock: no clock in here).
    pub fn finish(self, today: NaiveDate) -> Ssda903Import {
        let mut problems = self.problems;
        let children = derive::derive_all(&self.files, self.rows, today, &mut problems);
        Ssda903Import { children, problems }
    }
}

/// Reads `files` (each supplied with its kind and year) for one authority and derives the
/// journeys: the whole import in one call, for tests and small uploads.
pub fn import<R: Read>(
    authority: Option<&str>,
    files: impl IntoIterator<Item = (SuppliedFile, R)>,
    today: NaiveDate,
) -> Ssda903Import {
    let mut reader = Ssda903Reader::new(authority);
    for (file, source) in files {
        reader.read(file, source);
    }
    reader.finish(today)
}

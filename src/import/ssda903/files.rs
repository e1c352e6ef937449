//! Reading one SSDA903 CSV file into the few values per row the journey needs.
//!
//! The rules, each applied below:
//! - **Streaming, bounded.** A file is read record by record with the `csv` crate, through
//!   [`Bounded`], which refuses a record longer than [`MAX_RECORD_BYTES`] (counted from the
//!   last line break outside quotes, so a quoted field cannot dodge it) and a file longer
//!   than [`MAX_FILE_BYTES`]; more than [`MAX_ROWS`] rows is refused too. Only the values
//!   the journey needs are kept, as dates and short codes ([`TOO_LARGE`](code::TOO_LARGE)).
//! - **Encoding.** UTF-8, with or without a byte-order mark. Any other byte sequence is
//!   [`BAD_ENCODING`](code::BAD_ENCODING) on its row and column (a column name that is not
//!   UTF-8 stops the file): case systems often export Windows-1252, and guessing the
//!   encoding would silently change names and codes.
//! - **Columns.** Matched by name, case-insensitive, in any order. A missing required
//!   column is an error and nothing of that file is read; a column the specification does
//!   not define is a *warning* (ignored): case systems add their own columns, and an
//!   extra column never changes what the DfE columns mean.
//! - **Rows.** The row number is the file's line (line 1 holds the column names). A blank
//!   line, or one of only commas, is a warning and skipped. A row with the wrong number
//!   of values is an error (its values may have shifted columns).
//! - **Values.** Dates as the DfE writes them, `dd/mm/yyyy`, or ISO `yyyy-mm-dd`; any other
//!   form, or a day that does not exist, is [`BAD_DATE`](code::BAD_DATE). Codes are
//!   trimmed and upper-cased; `SEX` is read in both codings the returns have used (`1`/`2`
//!   and `M`/`F`, or the words); `ETHNIC` is mapped to the service's [`Ethnicity`].
//! - **Duplicates.** Within one file, the same child twice (`header`, `ad1`), the same
//!   episode (`CHILD`, `DECOM`) or the same decision (`CHILD`, `DATE_PLACED`): the first row
//!   is kept and the later one is an error.
//! - **Authority.** Where a file carries an `LA` column (pipelines add one), every row must
//!   name the import's authority: a row of another is [`OTHER_AUTHORITY`](code::OTHER_AUTHORITY).

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read};

use chrono::NaiveDate;
use csv::ByteRecord;

use super::{FileKind, SuppliedFile, code};
use crate::domain::{Ethnicity, Gender, PlanChangeReason};
use crate::import::Problem;

/// The longest record accepted, in bytes: a real SSDA903 row is a few hundred.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The largest file accepted: ten years of a large authority's episodes are tens of MB.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// The most rows accepted in one file.
pub const MAX_ROWS: u64 = 2_000_000;

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

/// The columns the specification defines for a table (the first ones are read, the rest
/// only recognised), and which must be present.
struct Spec {
    read: &'static [&'static str],
    known: &'static [&'static str],
    required: &'static [&'static str],
}

/// Columns any table may carry that the import does not read (`LA` is checked apart).
const PIPELINE_COLUMNS: &[&str] = &["LA", "YEAR"];

fn spec(kind: FileKind) -> Spec {
    match kind {
        FileKind::Header => Spec {
            read: &["CHILD", "SEX", "DOB", "ETHNIC"],
            known: &["UPN", "MOTHER", "MC_DOB"],
            required: &["CHILD", "SEX", "DOB", "ETHNIC"],
        },
        FileKind::Episodes => Spec {
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
        FileKind::Ad1 => Spec {
            read: &["CHILD", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"],
            known: &["DOB", "NB_ADOPTR", "SEX_ADOPTR", "LS_ADOPTR"],
            required: &["CHILD", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"],
        },
        FileKind::PlacedForAdoption => Spec {
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

/// Why [`Bounded`] stopped a file.
#[derive(Debug)]
enum Limit {
    Record,
    File,
}

impl std::fmt::Display for Limit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Limit::Record => write!(f, "a record longer than {MAX_RECORD_BYTES} bytes"),
            Limit::File => write!(f, "a file larger than {MAX_FILE_BYTES} bytes"),
        }
    }
}

impl std::error::Error for Limit {}

/// A reader that fails once a record (bytes since the last line break outside double
/// quotes) or the whole file passes its bound, so a hostile file cannot make the CSV
/// reader's buffer grow without end. It also hands the CSV reader a lone `,` for each empty
/// line, which the reader would otherwise skip, so the blank line is reported; and it
/// keeps the offsets of the line starts the reader has not yet passed, so a record's row
/// is the file's line whatever the line ends and quoted line breaks.
struct Bounded<R> {
    inner: R,
    chunk: Vec<u8>,
    start: usize,
    end: usize,
    line_start: bool,
    filled: bool,
    quoted: bool,
    since_break: usize,
    total: u64,
    /// Bytes handed to the CSV reader so far.
    produced: u64,
    /// Offsets (in what was handed over) of line starts not yet passed by [`Self::line_of`].
    line_starts: VecDeque<u64>,
    /// Lines passed by [`Self::line_of`].
    lines_passed: u64,
}

impl<R> Bounded<R> {
    /// The line (from 1) of the byte at `offset` of what was handed over; offsets must
    /// not go back.
    fn line_of(&mut self, offset: u64) -> u64 {
        while self
            .line_starts
            .front()
            .is_some_and(|&start| start <= offset)
        {
            self.line_starts.pop_front();
            self.lines_passed += 1;
        }
        self.lines_passed + 1
    }

    fn new(inner: R) -> Self {
        Bounded {
            inner,
            chunk: vec![0; 8 * 1024],
            start: 0,
            end: 0,
            line_start: true,
            filled: false,
            quoted: false,
            since_break: 0,
            total: 0,
            produced: 0,
            line_starts: VecDeque::new(),
            lines_passed: 0,
        }
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start == self.end {
            let n = self.inner.read(&mut self.chunk)?;
            self.total += n as u64;
            if self.total > MAX_FILE_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, Limit::File));
            }
            self.start = 0;
            self.end = n;
        }
        let mut written = 0;
        while written < out.len() && self.start < self.end {
            let byte = self.chunk[self.start];
            if self.line_start && !self.quoted && !self.filled && matches!(byte, b'\n' | b'\r') {
                out[written] = b',';
                written += 1;
                self.produced += 1;
                self.filled = true;
                continue;
            }
            self.filled = false;
            self.start += 1;
            out[written] = byte;
            written += 1;
            self.produced += 1;
            if byte == b'\n' {
                self.line_starts.push_back(self.produced);
            }
            match byte {
                b'"' => self.quoted = !self.quoted,
                b'\n' if !self.quoted => {
                    self.line_start = true;
                    self.since_break = 0;
                    continue;
                }
                _ => {}
            }
            self.line_start = false;
            self.since_break += 1;
            if self.since_break > MAX_RECORD_BYTES {
                return Err(io::Error::new(io::ErrorKind::InvalidData, Limit::Record));
            }
        }
        Ok(written)
    }
}

/// The values of one row, by the index of the column in the table's `read` list (blank
/// where the column is absent), with where the row is, for problems.
struct Row<'a> {
    file: &'a SuppliedFile,
    line: u64,
    values: Vec<&'a str>,
}

impl Row<'_> {
    fn child(&self) -> &str {
        self.values[0]
    }

    fn problem(&self, code: &'static str, column: &str, value: &str, message: String) -> Problem {
        Problem::error(code, message)
            .in_file(&self.file.name)
            .at_row(self.line)
            .for_child(self.child())
            .in_column(column)
            .with_value(value)
    }

    /// The value of `column` (by index in the read list), which must not be blank.
    fn required(&self, index: usize, spec: &Spec, problems: &mut Vec<Problem>) -> Option<&str> {
        let value = self.values[index];
        if value.is_empty() {
            let column = spec.read[index];
            problems.push(self.problem(
                code::MISSING_VALUE,
                column,
                "",
                format!("{column} must be completed"),
            ));
            None
        } else {
            Some(value)
        }
    }

    /// The date in `column`, `None` when blank; `Err` (with a problem) when malformed.
    fn date(
        &self,
        index: usize,
        spec: &Spec,
        problems: &mut Vec<Problem>,
    ) -> Result<Option<NaiveDate>, ()> {
        let value = self.values[index];
        if value.is_empty() {
            return Ok(None);
        }
        match parse_date(value) {
            Some(date) => Ok(Some(date)),
            None => {
                let column = spec.read[index];
                problems.push(self.problem(
                    code::BAD_DATE,
                    column,
                    value,
                    format!(
                        "{column} is not a valid date: write it as dd/mm/yyyy (or \
                         yyyy-mm-dd), a day that exists"
                    ),
                ));
                Err(())
            }
        }
    }

    /// A required date.
    fn required_date(
        &self,
        index: usize,
        spec: &Spec,
        problems: &mut Vec<Problem>,
    ) -> Option<NaiveDate> {
        self.required(index, spec, problems)?;
        self.date(index, spec, problems).ok().flatten()
    }

    /// The required code in `column`, read by `read`; a blank or a value outside the code
    /// set is a problem.
    fn coded<T>(
        &self,
        index: usize,
        spec: &Spec,
        read: fn(&str) -> Option<T>,
        expected: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<T> {
        let value = read(self.required(index, spec, problems)?);
        if value.is_none() {
            problems.push(self.bad_code(index, spec, expected));
        }
        value
    }

    /// A value outside its code set.
    fn bad_code(&self, index: usize, spec: &Spec, expected: &str) -> Problem {
        let column = spec.read[index];
        let value = self.values[index];
        self.problem(
            code::BAD_CODE,
            column,
            value,
            format!("{column} is not a valid code; expected {expected}"),
        )
    }
}

/// Reads a date as the DfE writes it (`dd/mm/yyyy`, one- or two-digit day and month) or
/// in ISO form (`yyyy-mm-dd`).
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    let number = |part: &str, digits: std::ops::RangeInclusive<usize>| -> Option<u32> {
        if digits.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let mut parts = text.split('/');
    if let (Some(day), Some(month), Some(year), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let (day, month, year) = (
            number(day, 1..=2)?,
            number(month, 1..=2)?,
            number(year, 4..=4)?,
        );
        return NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day);
    }
    let mut parts = text.split('-');
    if let (Some(year), Some(month), Some(day), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    {
        let (year, month, day) = (
            number(year, 4..=4)?,
            number(month, 2..=2)?,
            number(day, 2..=2)?,
        );
        return NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day);
    }
    None
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

/// Reads `source` as a `file`, adding its rows to `rows` and its problems to `problems`.
pub(super) fn read_file<R: Read>(
    file: &SuppliedFile,
    index: usize,
    source: R,
    authority: &mut Option<String>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let spec = spec(file.kind);
    let bounded = Bounded::new(source);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bounded);
    let whole_file = |code: &'static str, message: String| -> Problem {
        Problem::error(code, message).in_file(&file.name)
    };
    let read_error = |error: csv::Error, line: u64| -> Problem {
        let limit = match error.kind() {
            csv::ErrorKind::Io(e) => e.get_ref().and_then(|e| e.downcast_ref::<Limit>()),
            _ => None,
        };
        match limit {
            Some(limit) => Problem::error(
                code::TOO_LARGE,
                format!("the file holds {limit}; nothing after line {line} was read"),
            )
            .in_file(&file.name),
            None => Problem::error(
                code::UNREADABLE,
                format!("the file could not be read after line {line}"),
            )
            .in_file(&file.name),
        }
    };

    // The column names.
    let mut record = ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            problems.push(whole_file(
                code::UNREADABLE,
                "the file is empty: its first line must hold the column names".into(),
            ));
            return;
        }
        Err(error) => {
            problems.push(read_error(error, 0));
            return;
        }
    }
    let header_line = 1;
    let mut positions: Vec<Option<usize>> = vec![None; spec.read.len()];
    let mut la_position = None;
    let mut seen = HashSet::new();
    let mut fatal = false;
    for (at, raw) in record.iter().enumerate() {
        let raw = if at == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let Ok(name) = std::str::from_utf8(raw) else {
            problems.push(
                whole_file(
                    code::BAD_ENCODING,
                    "the column names are not UTF-8 text: save the file as CSV UTF-8".into(),
                )
                .at_row(header_line),
            );
            return;
        };
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            continue;
        }
        if !seen.insert(name.clone()) {
            problems.push(
                whole_file(
                    code::DUPLICATE_COLUMN,
                    format!("the column {name} appears more than once"),
                )
                .at_row(header_line)
                .in_column(&name),
            );
            fatal = true;
            continue;
        }
        if let Some(i) = spec.read.iter().position(|c| *c == name) {
            positions[i] = Some(at);
        } else if name == "LA" {
            la_position = Some(at);
        } else if !spec.known.contains(&name.as_str()) && !PIPELINE_COLUMNS.contains(&name.as_str())
        {
            problems.push(
                Problem::warning(
                    code::UNKNOWN_COLUMN,
                    format!(
                        "the column {name} is not in the SSDA903 {} file; it is ignored",
                        file.kind.name()
                    ),
                )
                .in_file(&file.name)
                .at_row(header_line)
                .in_column(&name),
            );
        }
    }
    for (i, column) in spec.read.iter().enumerate() {
        if positions[i].is_none() && spec.required.contains(column) {
            problems.push(
                whole_file(
                    code::MISSING_COLUMN,
                    format!(
                        "the {} file must have a column {column}; nothing of this file was \
                         read",
                        file.kind.name()
                    ),
                )
                .at_row(header_line)
                .in_column(column),
            );
            fatal = true;
        }
    }
    if fatal {
        return;
    }
    let width = record.len();

    let mut keys: HashSet<(String, Option<NaiveDate>)> = HashSet::new();
    let mut next_line = header_line + 1;
    let mut count = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                problems.push(read_error(error, next_line.saturating_sub(1)));
                break;
            }
        }
        let line = match record.position() {
            // The CSV reader may place a record's start on the `\n` of the line end
            // before it (after a `\r`), never further back: one byte on is within the line.
            Some(position) => reader.get_mut().line_of(position.byte() + 1),
            None => next_line,
        };
        next_line = line + 1;
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            problems.push(blank_line(file, line));
            continue;
        }
        count += 1;
        if count > MAX_ROWS {
            problems.push(
                whole_file(
                    code::TOO_LARGE,
                    format!("the file has more than {MAX_ROWS} rows; the rest was not read"),
                )
                .at_row(line),
            );
            break;
        }
        if record.len() != width {
            problems.push(
                whole_file(
                    code::FIELD_COUNT,
                    format!(
                        "this row has {} values where there are {width} columns",
                        record.len()
                    ),
                )
                .at_row(line),
            );
            continue;
        }
        // Decode the values read (and `LA`); a value that is not UTF-8 spoils the row.
        let mut values = Vec::with_capacity(spec.read.len());
        let mut decoded = true;
        for (i, position) in positions.iter().enumerate() {
            let raw = position.and_then(|p| record.get(p)).unwrap_or_default();
            match std::str::from_utf8(raw) {
                Ok(text) => values.push(text.trim()),
                Err(_) => {
                    problems.push(
                        whole_file(
                            code::BAD_ENCODING,
                            format!(
                                "{} is not UTF-8 text: save the file as CSV UTF-8",
                                spec.read[i]
                            ),
                        )
                        .at_row(line)
                        .in_column(spec.read[i])
                        .with_value(&String::from_utf8_lossy(raw)),
                    );
                    decoded = false;
                    values.push("");
                }
            }
        }
        if !decoded {
            continue;
        }
        let row = Row { file, line, values };
        if row.required(0, &spec, problems).is_none() {
            continue;
        }
        if let Some(p) = la_position {
            let la = record
                .get(p)
                .and_then(|raw| std::str::from_utf8(raw).ok())
                .unwrap_or_default()
                .trim();
            match authority {
                Some(expected) if !la.is_empty() && la != expected.as_str() => {
                    problems.push(row.problem(
                        code::OTHER_AUTHORITY,
                        "LA",
                        la,
                        format!(
                            "this row belongs to another authority ({la}) than the \
                             import's ({expected}); import each authority's files on their own"
                        ),
                    ));
                    continue;
                }
                None if !la.is_empty() => *authority = Some(la.to_owned()),
                _ => {}
            }
        }
        let at = At {
            file: index,
            row: line,
        };
        match file.kind {
            FileKind::Header => header_row(&row, at, &spec, &mut keys, rows, problems),
            FileKind::Episodes => episode_row(&row, at, &spec, &mut keys, rows, problems),
            FileKind::Ad1 => ad1_row(&row, at, &spec, &mut keys, rows, problems),
            FileKind::PlacedForAdoption => decision_row(&row, at, &spec, &mut keys, rows, problems),
        }
    }
}

fn blank_line(file: &SuppliedFile, line: u64) -> Problem {
    Problem::warning(code::BLANK_LINE, "a blank line; it is skipped")
        .in_file(&file.name)
        .at_row(line)
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
    spec: &Spec,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let sex = row.coded(1, spec, gender, "1 (male) or 2 (female)", problems);
    let dob = row.required_date(2, spec, problems);
    let ethnic = row.coded(
        3,
        spec,
        ethnicity,
        "one of the DfE ethnicity codes",
        problems,
    );
    let (Some(sex), Some(dob), Some(ethnic)) = (sex, dob, ethnic) else {
        return;
    };
    let key = (row.child().to_owned(), None);
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
            year: row.file.year,
            child: row.child().to_owned(),
            date_of_birth: dob,
            gender: sex,
            ethnicity: ethnic,
        });
    }
}

fn episode_row(
    row: &Row<'_>,
    at: At,
    spec: &Spec,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let starts_on = row.required_date(1, spec, problems);
    let reason_new = row.required(2, spec, problems).map(str::to_ascii_uppercase);
    let legal_status = row.required(3, spec, problems).map(str::to_ascii_uppercase);
    let placement = row.required(4, spec, problems).map(str::to_ascii_uppercase);
    let ends_on = row.date(5, spec, problems);
    let reason_ended = Some(row.values[6]).filter(|v| !v.is_empty());
    let (Some(starts_on), Some(reason_new), Some(legal_status), Some(placement), Ok(ends_on)) =
        (starts_on, reason_new, legal_status, placement, ends_on)
    else {
        return;
    };
    if !REASONS_NEW_EPISODE.contains(&reason_new.as_str()) {
        problems.push(row.bad_code(2, spec, "S, L, P, T, U or B"));
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
    let key = (row.child().to_owned(), Some(starts_on));
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
            year: row.file.year,
            child: row.child().to_owned(),
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
    spec: &Spec,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let decided_on = row.date(1, spec, problems);
    let matched_on = row.date(2, spec, problems);
    let by_foster_carers = match row.values[3].to_ascii_uppercase().as_str() {
        "" => Ok(None),
        "1" | "TRUE" => Ok(Some(true)),
        "0" | "FALSE" => Ok(Some(false)),
        _ => Err(row.bad_code(3, spec, "1 (adopted by the foster carer) or 0")),
    };
    let (Ok(decided_on), Ok(matched_on), Ok(by_foster_carers)) = (
        decided_on,
        matched_on,
        by_foster_carers.map_err(|p| problems.push(p)),
    ) else {
        return;
    };
    let key = (row.child().to_owned(), None);
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
            year: row.file.year,
            child: row.child().to_owned(),
            decided_on,
            matched_on,
            by_foster_carers,
        });
    }
}

fn decision_row(
    row: &Row<'_>,
    at: At,
    spec: &Spec,
    keys: &mut HashSet<(String, Option<NaiveDate>)>,
    rows: &mut Rows,
    problems: &mut Vec<Problem>,
) {
    let decided_on = row.required_date(1, spec, problems);
    let ceased_on = row.date(2, spec, problems);
    let reason = match row.values[3] {
        "" => Ok(None),
        code => PlanChangeReason::from_code(&code.to_ascii_uppercase())
            .map(Some)
            .ok_or_else(|| row.bad_code(3, spec, "RD1, RD2, RD3 or RD4")),
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
    let key = (row.child().to_owned(), Some(decided_on));
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
            year: row.file.year,
            child: row.child().to_owned(),
            decided_on,
            ceased_on,
            reason,
        });
    }
}

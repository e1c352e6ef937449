//! Reading one CSV file of an import row by row, within bounds, whatever reader it is for
//! (each reader names its columns and the codes of its problems).
//!
//! The rules, each applied below:
//! - **Streaming, bounded.** A file is read record by record with the `csv` crate, through
//!   [`Bounded`], which refuses a record longer than [`MAX_RECORD_BYTES`] (counted from the
//!   last line break outside quotes, so a quoted field cannot dodge it) and a file longer
//!   than [`MAX_FILE_BYTES`]; more than [`MAX_ROWS`] rows is refused too. Only the values
//!   of the columns read are handed on, a row at a time.
//! - **Encoding.** UTF-8, with or without a byte-order mark. Any other byte sequence is a
//!   bad-encoding problem on its row and column (a column name that is not UTF-8 stops the
//!   file): case systems often export Windows-1252, and guessing the encoding would
//!   silently change names and codes.
//! - **Columns.** Matched by name, case-insensitive, in any order. A missing required
//!   column is an error and nothing of that file is read; a column the table does not
//!   define is a *warning* (ignored): case systems add their own columns, and an extra
//!   column never changes what the defined ones mean. The same column twice is an error.
//! - **Rows.** The row number is the file's line (line 1 holds the column names). A blank
//!   line, or one of only commas, is a warning and skipped. A row with the wrong number
//!   of values is an error (its values may have shifted columns).
//! - **Values.** Trimmed. Dates as the DfE writes them, `dd/mm/yyyy`, or ISO `yyyy-mm-dd`;
//!   any other form, or a day that does not exist, is a bad date.

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read};

use chrono::NaiveDate;
use csv::ByteRecord;

use super::Problem;

/// The longest record accepted, in bytes: a real row is a few hundred.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;
/// The largest file accepted: ten years of a large authority's episodes are tens of MB.
pub const MAX_FILE_BYTES: u64 = 512 * 1024 * 1024;
/// The most rows accepted in one file.
pub const MAX_ROWS: u64 = 2_000_000;
/// The most problems an import reports: reading stops at this many, with one more saying
/// so, so that a file of nothing but faults cannot make the report huge.
pub const MAX_PROBLEMS: usize = 10_000;

/// The columns a table defines: the first ones are read (in this order; the first is the
/// record's reference), the others only recognised; and which must be present.
pub struct Columns {
    pub read: &'static [&'static str],
    pub known: &'static [&'static str],
    pub required: &'static [&'static str],
}

/// The stable codes a reader reports the table's problems under.
pub struct Codes {
    pub too_large: &'static str,
    pub unreadable: &'static str,
    pub bad_encoding: &'static str,
    pub duplicate_column: &'static str,
    pub unknown_column: &'static str,
    pub missing_column: &'static str,
    pub blank_line: &'static str,
    pub field_count: &'static str,
    pub missing_value: &'static str,
    pub bad_date: &'static str,
    pub bad_code: &'static str,
}

/// The [`Codes`] of a reader whose module `$code` names each of them (`TOO_LARGE`,
/// `UNREADABLE`, … `BAD_CODE`).
macro_rules! codes_of {
    ($code:ident) => {
        $crate::import::table::Codes {
            too_large: $code::TOO_LARGE,
            unreadable: $code::UNREADABLE,
            bad_encoding: $code::BAD_ENCODING,
            duplicate_column: $code::DUPLICATE_COLUMN,
            unknown_column: $code::UNKNOWN_COLUMN,
            missing_column: $code::MISSING_COLUMN,
            blank_line: $code::BLANK_LINE,
            field_count: $code::FIELD_COUNT,
            missing_value: $code::MISSING_VALUE,
            bad_date: $code::BAD_DATE,
            bad_code: $code::BAD_CODE,
        }
    };
}
pub(crate) use codes_of;

/// A table to read: what it is called in messages (`the SSDA903 header file`), its
/// columns and its problem codes.
pub struct Table<'a> {
    pub name: &'a str,
    pub columns: &'a Columns,
    pub codes: &'a Codes,
    /// A column the reader reads apart from the others (SSDA903's `LA`), if any.
    pub apart: Option<&'static str>,
    /// Columns that may appear and are not read, beside `known` (pipelines' `LA`, `YEAR`).
    pub ignored: &'static [&'static str],
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
    /// Inside a quoted field, as the CSV reader sees it: a `"` opens one only at the start
    /// of a field (elsewhere it is an ordinary character, as in `O"Brien`), and `""` inside
    /// one is a quote character.
    quoted: bool,
    field_start: bool,
    just_closed: bool,
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
            field_start: true,
            just_closed: false,
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
                b'"' if self.quoted => {
                    self.quoted = false;
                    self.just_closed = true;
                    self.field_start = false;
                }
                b'"' => {
                    // Opens a quoted field at its start; right after a closing quote it is
                    // the second of `""`, a quote inside the field.
                    self.quoted = self.field_start || self.just_closed;
                    self.just_closed = false;
                    self.field_start = false;
                }
                b'\n' if !self.quoted => {
                    self.line_start = true;
                    self.since_break = 0;
                    self.field_start = true;
                    self.just_closed = false;
                    continue;
                }
                b',' if !self.quoted => {
                    self.field_start = true;
                    self.just_closed = false;
                }
                _ => {
                    self.field_start = false;
                    self.just_closed = false;
                }
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

/// A template's rows that say the same record twice: the problem's code, the column it is
/// reported on (by index in the read list) and its message. The first row is read.
pub struct Duplicate {
    pub code: &'static str,
    pub column: usize,
    pub message: &'static str,
}

/// Reads a one-file template, `source` named `file`, as `table`: each row that decodes is
/// made a record by `record` (`None`, with its problems, when the row is wrong); a record
/// whose `key` an earlier row had is the `duplicate` problem, and left out. Gives the
/// records in file order.
pub fn read_template<R: Read, T, K: Eq + std::hash::Hash>(
    file: &str,
    table: &Table<'_>,
    source: R,
    problems: &mut Vec<Problem>,
    mut record: impl FnMut(&Row<'_>, &mut Vec<Problem>) -> Option<T>,
    key: impl Fn(&T) -> K,
    duplicate: &Duplicate,
) -> Vec<T> {
    let mut records = Vec::new();
    let mut seen = HashSet::new();
    read_table(file, table, source, problems, |row, _, problems| {
        let Some(made) = record(row, problems) else {
            return;
        };
        if seen.insert(key(&made)) {
            records.push(made);
        } else {
            problems.push(row.problem(
                duplicate.code,
                row.column(duplicate.column),
                row.values[duplicate.column],
                duplicate.message.into(),
            ));
        }
    });
    records
}

/// Reads `source`, the file named `file`, as `table`: reports the problems of the file,
/// its columns and its rows to `problems`, and hands each row that decodes and has its
/// reference to `each`, with the value of the table's `apart` column (if it has one).
pub fn read_table<R: Read>(
    file: &str,
    table: &Table<'_>,
    source: R,
    problems: &mut Vec<Problem>,
    mut each: impl FnMut(&Row<'_>, Option<&str>, &mut Vec<Problem>),
) {
    let (spec, codes) = (table.columns, table.codes);
    let bounded = Bounded::new(source);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bounded);
    let whole_file = |code: &'static str, message: String| -> Problem {
        Problem::error(code, message).in_file(file)
    };
    let read_error = |error: csv::Error, line: u64| -> Problem {
        let limit = match error.kind() {
            csv::ErrorKind::Io(e) => e.get_ref().and_then(|e| e.downcast_ref::<Limit>()),
            _ => None,
        };
        match limit {
            Some(limit) => Problem::error(
                codes.too_large,
                format!("the file holds {limit}; nothing after line {line} was read"),
            )
            .in_file(file),
            None => Problem::error(
                codes.unreadable,
                format!("the file could not be read after line {line}"),
            )
            .in_file(file),
        }
    };

    // The column names.
    let mut record = ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            problems.push(whole_file(
                codes.unreadable,
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
    let mut apart_position = None;
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
                    codes.bad_encoding,
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
                    codes.duplicate_column,
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
        } else if table.apart == Some(name.as_str()) {
            apart_position = Some(at);
        } else if !spec.known.contains(&name.as_str()) && !table.ignored.contains(&name.as_str()) {
            problems.push(
                Problem::warning(
                    codes.unknown_column,
                    format!("the column {name} is not in {}; it is ignored", table.name),
                )
                .in_file(file)
                .at_row(header_line)
                .in_column(&name),
            );
        }
    }
    for (i, column) in spec.read.iter().enumerate() {
        if positions[i].is_none() && spec.required.contains(column) {
            problems.push(
                whole_file(
                    codes.missing_column,
                    format!(
                        "{} must have a column {column}; nothing of this file was read",
                        table.name
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
        // Blank lines count as rows, and the problems of an import are bounded: a file of
        // nothing but faults stops at the bound instead of growing the report.
        count += 1;
        if count > MAX_ROWS || problems.len() >= MAX_PROBLEMS {
            let message = if count > MAX_ROWS {
                format!("the file has more than {MAX_ROWS} rows; the rest was not read")
            } else {
                format!(
                    "the import has {MAX_PROBLEMS} problems already; the rest of the file \
                     was not read"
                )
            };
            problems.push(whole_file(codes.too_large, message).at_row(line));
            break;
        }
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            problems.push(
                Problem::warning(codes.blank_line, "a blank line; it is skipped")
                    .in_file(file)
                    .at_row(line),
            );
            continue;
        }
        if record.len() != width {
            problems.push(
                whole_file(
                    codes.field_count,
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
                            codes.bad_encoding,
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
        let row = Row {
            file,
            line,
            values,
            table,
        };
        if row.required(0, problems).is_none() {
            continue;
        }
        let apart = apart_position.map(|p| {
            record
                .get(p)
                .and_then(|raw| std::str::from_utf8(raw).ok())
                .unwrap_or_default()
                .trim()
        });
        each(&row, apart, problems);
    }
}

/// A value was wrong, and the problem is reported already.
#[derive(Debug)]
pub struct Reported;

/// The values of one row, by the index of the column in the table's `read` list (blank
/// where the column is absent), with where the row is, for problems.
pub struct Row<'a> {
    pub file: &'a str,
    pub line: u64,
    pub values: Vec<&'a str>,
    table: &'a Table<'a>,
}

impl Row<'_> {
    /// The record's reference: the value of the first column read.
    pub fn reference(&self) -> &str {
        self.values[0]
    }

    /// An error about `column` of this row.
    pub fn problem(
        &self,
        code: &'static str,
        column: &str,
        value: &str,
        message: String,
    ) -> Problem {
        Problem::error(code, message)
            .in_file(self.file)
            .at_row(self.line)
            .for_reference(self.reference())
            .in_column(column)
            .with_value(value)
    }

    /// The name of column `index` of the read list.
    pub fn column(&self, index: usize) -> &'static str {
        self.table.columns.read[index]
    }

    /// The value of column `index`, which must not be blank.
    pub fn required(&self, index: usize, problems: &mut Vec<Problem>) -> Option<&str> {
        let value = self.values[index];
        if value.is_empty() {
            let column = self.column(index);
            problems.push(self.problem(
                self.table.codes.missing_value,
                column,
                "",
                format!("{column} must be completed"),
            ));
            None
        } else {
            Some(value)
        }
    }

    /// The date in column `index`, `None` when blank; `Err` (with a problem) when
    /// malformed.
    pub fn date(
        &self,
        index: usize,
        problems: &mut Vec<Problem>,
    ) -> Result<Option<NaiveDate>, Reported> {
        let value = self.values[index];
        if value.is_empty() {
            return Ok(None);
        }
        match parse_date(value) {
            Some(date) => Ok(Some(date)),
            None => {
                let column = self.column(index);
                problems.push(self.problem(
                    self.table.codes.bad_date,
                    column,
                    value,
                    format!(
                        "{column} is not a valid date: write it as dd/mm/yyyy (or \
                         yyyy-mm-dd), a day that exists"
                    ),
                ));
                Err(Reported)
            }
        }
    }

    /// A required date.
    pub fn required_date(&self, index: usize, problems: &mut Vec<Problem>) -> Option<NaiveDate> {
        self.required(index, problems)?;
        self.date(index, problems).ok().flatten()
    }

    /// The required code in column `index`, read by `read`; a blank or a value outside the
    /// code set is a problem.
    pub fn coded<T>(
        &self,
        index: usize,
        read: fn(&str) -> Option<T>,
        expected: &str,
        problems: &mut Vec<Problem>,
    ) -> Option<T> {
        let value = read(self.required(index, problems)?);
        if value.is_none() {
            problems.push(self.bad_code(index, expected));
        }
        value
    }

    /// A value outside its code set.
    pub fn bad_code(&self, index: usize, expected: &str) -> Problem {
        let column = self.column(index);
        let value = self.values[index];
        self.problem(
            self.table.codes.bad_code,
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

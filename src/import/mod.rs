//! Bringing an agency's existing records in: the readers of the files agencies already
//! hold, and what each reading finds wrong with them.
//!
//! This module owns the *reading* only — pure code, no database, no clock, no logging of
//! what it reads. A reader turns files into records the service layer can write (for
//! SSDA903: one [`ssda903::ImportedChild`] per child, its journey already validated as the
//! API validates it) plus every [`Problem`] it met, so a dry run can report them all at
//! once and a real run can refuse to write anything when one is an error. Writing,
//! auditing, the CLI and the GraphQL upload live in the service and entry points, which
//! call in here.

use std::io::Read;

use sha2::{Digest as _, Sha256};

pub mod adopters;
pub mod links;
pub mod ssda903;
pub mod table;

/// The stable codes of the problems found when an import is set against the records
/// already held (the service's part; each reader has its own, e.g. [`ssda903::code`]).
pub mod code {
    /// A reference longer than [`super::MAX_REFERENCE_CHARS`] characters, or blank (error).
    pub const BAD_REFERENCE: &str = "IMPORT_BAD_REFERENCE";
    /// A child 18 or over today: the service holds children only, as the API does
    /// (warning; the child is not imported).
    pub const AGED_OUT: &str = "IMPORT_AGED_OUT";
    /// A date the service holds that these files no longer carry: it is kept as recorded,
    /// never cleared by an import (warning; correct it by hand if the files are right).
    pub const DATE_KEPT: &str = "IMPORT_DATE_KEPT";
    /// The files' journey together with the dates kept fails the API's milestone
    /// validation (error).
    pub const JOURNEY_CONFLICT: &str = "IMPORT_JOURNEY_CONFLICT";
    /// A household's register row disagrees with the events recorded for it (error;
    /// recorded events are never rewritten).
    pub const HISTORY_DIFFERS: &str = "IMPORT_HISTORY_DIFFERS";
    /// The import would change a date a link records (match, placement, adoption order)
    /// for a child that link covers (error; record it on the link).
    pub const LINK_OWNS_DATE: &str = "IMPORT_LINK_OWNS_DATE";
    /// No child of the importing authority was imported under this reference (error).
    pub const UNKNOWN_CHILD: &str = "IMPORT_UNKNOWN_CHILD";
    /// No household of its authority was imported under this reference (error).
    pub const UNKNOWN_HOUSEHOLD: &str = "IMPORT_UNKNOWN_HOUSEHOLD";
    /// No authority of the consortium has this code (error).
    pub const UNKNOWN_AUTHORITY: &str = "IMPORT_UNKNOWN_AUTHORITY";
    /// The child's journey records a different match, placement or adoption order date
    /// than the link (error; correct one or the other).
    pub const CHILD_DIFFERS: &str = "IMPORT_CHILD_DIFFERS";
    /// Another link holds the child (matched or placed), as the API refuses (error).
    pub const CHILD_HELD: &str = "IMPORT_CHILD_HELD";
    /// The household cannot take the link's step where its recorded journey stands: not
    /// approved, on hold, matched elsewhere, or the date before its last event (error).
    pub const HOUSEHOLD_REFUSED: &str = "IMPORT_HOUSEHOLD_REFUSED";
    /// The rows of a must-stay-together sibling group's link do not cover every member
    /// with the same household and dates (error).
    pub const SIBLING_GROUP: &str = "IMPORT_SIBLING_GROUP";
    /// An inter-agency fee on a link within one authority (error).
    pub const FEE_WITHIN_AUTHORITY: &str = "IMPORT_FEE_WITHIN_AUTHORITY";
    /// A link with a household of an authority where the importer may not take links
    /// forward (error; nothing of that authority's households is looked up).
    pub const NOT_PERMITTED: &str = "IMPORT_NOT_PERMITTED";
}

/// The longest reference (a child's `CHILD`, a household's reference) an import keeps.
pub const MAX_REFERENCE_CHARS: usize = 64;

/// A reader that hashes what passes through it, so an import's files are digested while
/// they are streamed, never held whole.
pub struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Hashing<R> {
    pub fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
        }
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// The digest of an import's files, whatever order they came in: the SHA-256 of each
/// file's bytes, sorted, hashed together. It is what the `IMPORT` audit event records of
/// the files (their names and contents are not recorded).
#[derive(Clone, Debug, Default)]
pub struct FilesDigest {
    files: Vec<[u8; 32]>,
}

impl FilesDigest {
    /// Adds a file whose bytes went through `reader` (to its end).
    pub fn add<R>(&mut self, reader: Hashing<R>) {
        self.files.push(reader.hasher.finalize().into());
    }

    /// How many files were digested.
    pub fn files(&self) -> usize {
        self.files.len()
    }

    /// The digest, in hex.
    pub fn hex(&self) -> String {
        let mut files = self.files.clone();
        files.sort_unstable();
        let mut hasher = Sha256::new();
        for file in &files {
            hasher.update(file);
        }
        hex::encode(hasher.finalize())
    }
}

/// How serious a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Worth knowing, but the import can go ahead (an unknown column, a blank line, a
    /// child whose care began before the earliest return supplied).
    Warning,
    /// The import must not be written until this is fixed (all or nothing).
    Error,
}

/// Something wrong (or worth saying) about the files, told the way the DfE validator tells
/// it: where (file, row, reference, column), what was there, a stable code and a plain
/// sentence. Values may be personal data (a date of birth): a problem goes back to the
/// person who supplied the files and is never written to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A stable code, e.g. `SSDA903_BAD_DATE`: what clients and tests match on.
    pub code: &'static str,
    pub severity: Severity,
    /// The file's name as supplied (`None` for problems of the import as a whole).
    pub file: Option<String>,
    /// The line of the file (1 is the column names); `None` for a whole file or child.
    pub row: Option<u64>,
    /// The authority's own reference for the record (a child's SSDA903 `CHILD`, a
    /// household's `HOUSEHOLD`), where known.
    pub reference: Option<String>,
    /// The column (or, for a journey that fails validation, the milestone field).
    pub column: Option<String>,
    /// The offending value, cut to [`Problem::MAX_VALUE_CHARS`] characters.
    pub value: Option<String>,
    /// A sentence for the person who will fix the file.
    pub message: String,
}

impl Problem {
    /// Values longer than this are cut, so a hostile file cannot make the report huge.
    pub const MAX_VALUE_CHARS: usize = 64;
    /// File names longer than this are cut likewise (an upload's name is the sender's).
    pub const MAX_FILE_NAME_CHARS: usize = 200;

    /// A problem with only its code, severity and message; the builders below add where.
    pub fn new(code: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity,
            file: None,
            row: None,
            reference: None,
            column: None,
            value: None,
            message: message.into(),
        }
    }

    /// An [`Severity::Error`].
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Error, message)
    }

    /// A [`Severity::Warning`].
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(code, Severity::Warning, message)
    }

    /// In this file.
    pub fn in_file(mut self, file: &str) -> Self {
        self.file = Some(cut_to(file, Self::MAX_FILE_NAME_CHARS));
        self
    }

    /// At this line of the file.
    pub fn at_row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    /// About this record (its reference).
    pub fn for_reference(mut self, reference: &str) -> Self {
        if !reference.is_empty() {
            self.reference = Some(cut(reference));
        }
        self
    }

    /// In this column.
    pub fn in_column(mut self, column: &str) -> Self {
        self.column = Some(column.to_owned());
        self
    }

    /// With this value.
    pub fn with_value(mut self, value: &str) -> Self {
        self.value = Some(cut(value));
        self
    }

    /// Whether this problem stops the import.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `text` cut to [`Problem::MAX_VALUE_CHARS`] characters.
fn cut(text: &str) -> String {
    cut_to(text, Problem::MAX_VALUE_CHARS)
}

/// `text` cut to `chars` characters.
fn cut_to(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

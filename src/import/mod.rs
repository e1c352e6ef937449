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

pub mod ssda903;

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
/// it: where (file, row, child, column), what was there, a stable code and a plain
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
    /// The authority's own reference for the child (`CHILD`), where known.
    pub child: Option<String>,
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

    /// A problem with only its code, severity and message; the builders below add where.
    pub fn new(code: &'static str, severity: Severity, message: impl Into<String>) -> Self {
        Problem {
            code,
            severity,
            file: None,
            row: None,
            child: None,
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
        self.file = Some(file.to_owned());
        self
    }

    /// At this line of the file.
    pub fn at_row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    /// About this child.
    pub fn for_child(mut self, child: &str) -> Self {
        if !child.is_empty() {
            self.child = Some(cut(child));
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
    match text.char_indices().nth(Problem::MAX_VALUE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

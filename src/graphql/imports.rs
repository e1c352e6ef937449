//! Imports for partner frontends: an authority's files uploaded by the GraphQL multipart
//! request convention to `POST /graphql/upload`, read and written by the same use case as
//! `permanence import` ([`crate::service::imports`]), answered with the report.
use async_graphql::{Context, Enum, ID, Object, SimpleObject, Upload, UploadValue};

use super::context::ContextExt;
use super::ids::{IdKind, decode};
use crate::error::{AppError, AppResult};
use crate::service::imports::{self, ImportReport, Problem, Severity};
use crate::service::link_history;

/// The most problems a report lists (errors first); the counts cover them all.
pub const MAX_PROBLEMS_LISTED: usize = 1_000;

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports an authority's SSDA903 returns: the `header`, `episodes`, `ad1` and
    /// `placed_for_adoption` files of any number of years, uploaded to
    /// `POST /graphql/upload` as a GraphQL multipart request and named as the DfE names
    /// them (`SSDA903_2025_episodes.csv`). Every problem is reported; any error, and
    /// nothing is written. With `dryRun`, nothing is written either way. Needs both
    /// SOCIAL_WORKER and DECISION_MAKER in the authority. See the README, "Importing your
    /// data".
    async fn import_ssda903(
        &self,
        ctx: &Context<'_>,
        authority_id: ID,
        files: Vec<Upload>,
        #[graphql(default = false)] dry_run: bool,
    ) -> AppResult<ImportReportView> {
        let authority = decode(&authority_id, "authorityId", &[IdKind::Authority]);
        let svc = ctx.service();
        // Only someone who may import has the files read at all.
        let authority = imports::importing_into(svc, authority)?;
        let mut supplied = Vec::with_capacity(files.len());
        for file in &files {
            let value = file
                .value(ctx)
                .map_err(|_| AppError::bad_input("files", "an uploaded file could not be read"))?;
            supplied.push((value.filename, value.content));
        }
        let today = svc.today();
        let (import, digest) = off_runtime(move || imports::read_ssda903(supplied, today)).await?;
        let report = imports::ssda903(svc, Ok(authority), import, &digest, dry_run).await?;
        Ok(ImportReportView(report))
    }

    /// Imports an authority's adopter register: one CSV file in the template
    /// (`docs/templates/adopter-register.csv`), uploaded to `POST /graphql/upload` as a
    /// GraphQL multipart request; one row per household, its key dates from enquiry to
    /// approval, its exit and a pause, each row recorded as the events the API would
    /// have recorded. Every problem is reported; any error, and nothing is written. Needs
    /// both RECRUITMENT_OFFICER and DECISION_MAKER in the authority. See the README,
    /// "Importing your data".
    async fn import_adopters(
        &self,
        ctx: &Context<'_>,
        authority_id: ID,
        file: Upload,
        #[graphql(default = false)] dry_run: bool,
    ) -> AppResult<ImportReportView> {
        let authority = decode(&authority_id, "authorityId", &[IdKind::Authority]);
        let svc = ctx.service();
        let authority = imports::importing_households_into(svc, authority)?;
        let value = uploaded(ctx, &file)?;
        let today = svc.today();
        let (import, digest) =
            off_runtime(move || imports::read_adopters(&value.filename, value.content, today))
                .await?;
        let report =
            imports::adopter_register(svc, Ok(authority), import, &digest, dry_run).await?;
        Ok(ImportReportView(report))
    }

    /// Imports the history of an authority's children's links: one CSV file in the
    /// template (`docs/templates/link-history.csv`), uploaded to `POST /graphql/upload` as
    /// a GraphQL multipart request; one row per child per link, naming the child and the
    /// household by the references their imports gave them, with the match, placement,
    /// adoption order or disruption dates and the fee. Each link is created in the state
    /// its dates reach, through the same steps and checks as the link workflow. Every
    /// problem is reported; any error, and nothing is written. Needs DECISION_MAKER in the
    /// authority. See the README, "Importing your data".
    async fn import_links(
        &self,
        ctx: &Context<'_>,
        authority_id: ID,
        file: Upload,
        #[graphql(default = false)] dry_run: bool,
    ) -> AppResult<ImportReportView> {
        let authority = decode(&authority_id, "authorityId", &[IdKind::Authority]);
        let svc = ctx.service();
        let authority = link_history::importing_links_into(svc, authority)?;
        let value = uploaded(ctx, &file)?;
        let today = svc.today();
        let (import, digest) =
            off_runtime(move || link_history::read_links(&value.filename, value.content, today))
                .await?;
        let report =
            link_history::link_history(svc, Ok(authority), import, &digest, dry_run).await?;
        Ok(ImportReportView(report))
    }
}

/// The uploaded template `file`.
fn uploaded(ctx: &Context<'_>, file: &Upload) -> AppResult<UploadValue> {
    file.value(ctx)
        .map_err(|_| AppError::bad_input("file", "the uploaded file could not be read"))
}

/// Reads an upload with `read` on a blocking thread, off the async runtime.
async fn off_runtime<T: Send + 'static>(read: impl FnOnce() -> T + Send + 'static) -> AppResult<T> {
    tokio::task::spawn_blocking(read)
        .await
        .map_err(|e| AppError::from(anyhow::anyhow!("reading the upload: {e}")))
}

/// What an import did, or would do.
pub struct ImportReportView(ImportReport);

#[Object(name = "ImportReport")]
impl ImportReportView {
    /// Whether this was a dry run.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }

    /// Whether anything was written: false for a dry run and whenever there is an error.
    async fn written(&self) -> bool {
        self.0.written
    }

    /// Files read.
    async fn files(&self) -> usize {
        self.0.files
    }

    /// SHA-256 of the files read (of each file's bytes, sorted, hashed together): what
    /// the `IMPORT` audit event records of them.
    async fn digest(&self) -> &str {
        &self.0.digest
    }

    /// Records read, and what became of them (or would).
    async fn read(&self) -> usize {
        self.0.totals.read
    }

    async fn created(&self) -> usize {
        self.0.totals.created
    }

    async fn updated(&self) -> usize {
        self.0.totals.updated
    }

    async fn unchanged(&self) -> usize {
        self.0.totals.unchanged
    }

    /// Records read but not imported (a warning says why).
    async fn skipped(&self) -> usize {
        self.0.totals.skipped
    }

    async fn error_count(&self) -> usize {
        self.0.problems.iter().filter(|p| p.is_error()).count()
    }

    async fn warning_count(&self) -> usize {
        self.0.problems.iter().filter(|p| !p.is_error()).count()
    }

    /// The problems, errors first, at most 1,000 (the counts cover them all).
    async fn problems(&self) -> Vec<ImportProblem> {
        let errors = self.0.problems.iter().filter(|p| p.is_error());
        let warnings = self.0.problems.iter().filter(|p| !p.is_error());
        errors
            .chain(warnings)
            .take(MAX_PROBLEMS_LISTED)
            .map(ImportProblem::from)
            .collect()
    }
}

/// How serious a problem is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ProblemSeverity {
    /// Nothing is written until it is fixed.
    Error,
    /// Worth knowing; the import goes ahead.
    Warning,
}

/// A problem found in the files, told the way the DfE validator tells it.
#[derive(SimpleObject)]
pub struct ImportProblem {
    /// A stable code, e.g. `SSDA903_BAD_DATE`.
    code: String,
    severity: ProblemSeverity,
    /// The file's name as uploaded.
    file: Option<String>,
    /// The line of the file (1 is the column names).
    row: Option<u64>,
    /// The authority's own reference for the record (a child's SSDA903 `CHILD`, a
    /// household's `HOUSEHOLD`; for a link, its child's).
    reference: Option<String>,
    /// The column, or the milestone field.
    column: Option<String>,
    /// The value found (at most 64 characters).
    value: Option<String>,
    message: String,
}

impl From<&Problem> for ImportProblem {
    fn from(p: &Problem) -> Self {
        ImportProblem {
            code: p.code.to_owned(),
            severity: match p.severity {
                Severity::Error => ProblemSeverity::Error,
                Severity::Warning => ProblemSeverity::Warning,
            },
            file: p.file.clone(),
            row: p.row,
            reference: p.reference.clone(),
            column: p.column.clone(),
            value: p.value.clone(),
            message: p.message.clone(),
        }
    }
}

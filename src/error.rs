//! One error type for the whole service, with a code per variant.
//!
//! The code reaches the client in `extensions.code` (and `extensions.field` for bad input).
//! Internal errors are logged with their context, inside the request's span (which carries
//! the request id), and reach the client only as `INTERNAL`.
//!
//! `AppError` deliberately does not implement `Display`: async-graphql converts any
//! `Display` type into an error carrying its text, which would let database messages reach
//! clients. The only way out is the explicit conversion below.
use async_graphql::ErrorExtensions;
use sea_orm::{DbErr, SqlErr};

/// What went wrong, as far as a client may know.
#[derive(Clone, Debug)]
pub enum AppError {
    /// No valid bearer token.
    Unauthenticated(String),
    /// The actor can see the thing but may not do this to it.
    Forbidden(String),
    /// Missing, hidden or foreign: the three answer alike so ids cannot be probed.
    NotFound,
    /// The input breaks a rule; `field` names the input field at fault.
    BadInput { field: String, message: String },
    /// A stale `expectedVersion` or a broken invariant.
    Conflict(String),
    /// Too much work asked for; retry after the given number of seconds.
    RateLimited { retry_after_secs: u64 },
    /// The database did not answer in time (or the audit of the answer could not be
    /// committed): nothing was done or shown; retry after [`RETRY_AFTER_SECS`] seconds.
    Unavailable,
    /// A mutation lost the database after it began writing (a connection cut during
    /// `COMMIT`): the change may have been made. Not to be retried blindly.
    OutcomeUnknown,
    /// A mutation's answer could not be audited in time and is withheld: the change may
    /// have been made. Not to be retried blindly.
    AnswerWithheld,
    /// Anything else. Logged, never shown.
    Internal(std::sync::Arc<anyhow::Error>),
    /// A refusal (`NotFound` or `Forbidden`) of a record that exists in the actor's
    /// consortium, with which record it was. The client sees exactly the inner error (a
    /// hidden record answers like a missing one); the record only reaches the `DENIED`
    /// audit event, so that its owning authority's managers see who probed it.
    Denied(Box<(AppError, DeniedRecord)>),
}

/// The record a refusal was about: never serialised to a client. It rides on the
/// GraphQL error as its `source`, where the `DENIED` audit reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeniedRecord {
    /// The entity type, as audit events name it (`Child`, `Household`, `Link`…).
    pub entity_type: &'static str,
    pub id: i64,
    /// The authority the record belongs to.
    pub owner: i64,
}

/// The `Retry-After` of an `UNAVAILABLE` answer, in seconds.
pub const RETRY_AFTER_SECS: u64 = 5;

/// Results of service code.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// Bad input on `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A refusal with a reason the actor may read.
    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    /// `NOT_FOUND` for `record`, which exists but is hidden from the actor.
    pub fn hidden(entity_type: &'static str, id: i64, owner: i64) -> Self {
        AppError::NotFound.about(DeniedRecord {
            entity_type,
            id,
            owner,
        })
    }

    /// This error, if it is a refusal (`NOT_FOUND`, `FORBIDDEN`), noted as being about
    /// `record` (for the audit only); any other error unchanged.
    pub fn about(self, record: DeniedRecord) -> Self {
        match self {
            AppError::NotFound | AppError::Forbidden(_) => {
                AppError::Denied(Box::new((self, record)))
            }
            other => other,
        }
    }

    /// The record a refusal was about, if it is noted ([`AppError::about`]).
    pub fn denied_record(&self) -> Option<&DeniedRecord> {
        match self {
            AppError::Denied(denied) => Some(&denied.1),
            _ => None,
        }
    }

    /// Whether the client sees `NOT_FOUND` (a missing, hidden or foreign record).
    pub fn is_not_found(&self) -> bool {
        self.code() == "NOT_FOUND"
    }

    /// The stable code of the error, as sent in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Denied(denied) => denied.0.code(),
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::NotFound => "NOT_FOUND",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Unavailable => "UNAVAILABLE",
            AppError::OutcomeUnknown => "OUTCOME_UNKNOWN",
            AppError::AnswerWithheld => "ANSWER_WITHHELD",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// The message a client sees.
    pub fn client_message(&self) -> String {
        match self {
            AppError::Unauthenticated(m) | AppError::Forbidden(m) | AppError::Conflict(m) => {
                m.clone()
            }
            AppError::NotFound => "not found".into(),
            AppError::BadInput { message, .. } => message.clone(),
            AppError::RateLimited { retry_after_secs } => {
                format!("rate limited; retry after {retry_after_secs} s")
            }
            AppError::Unavailable => {
                format!("the service is unavailable; retry after {RETRY_AFTER_SECS} s")
            }
            AppError::OutcomeUnknown => {
                "the connection to the database failed while the change was being \
                written: it may have been made; read the record before sending it again"
                    .into()
            }
            AppError::AnswerWithheld => "the answer is withheld because its audit could not \
                be recorded in time; the change may have been made: read the record before \
                sending it again"
                .into(),
            AppError::Internal(_) => "internal error".into(),
            AppError::Denied(denied) => denied.0.client_message(),
        }
    }

    /// Logs an internal error (once, where it is turned into a response).
    pub fn log(&self) {
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Unavailable => tracing::warn!("answered UNAVAILABLE"),
            _ => {}
        }
    }
}

/// Whether `e` says the database could not be reached in time: no pooled connection
/// within the acquire timeout, a connection refused or cut, or a server shutting down.
pub fn db_unavailable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        // Opening a connection failed, whatever answered (a stopped server's port may be
        // taken by something that is not PostgreSQL at all).
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match e.as_ref() {
                Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
                // Class 08 (connection exception) and 57P01-57P03 (the server is shutting
                // down, crashed, or not accepting connections yet).
                Sqlx::Database(db) => db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
                _ => false,
            }
        }
        _ => false,
    }
}

impl From<DbErr> for AppError {
    fn from(e: DbErr) -> Self {
        if db_unavailable(&e) {
            tracing::warn!(error = %e, "the database is unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(std::sync::Arc::new(e.into()))
    }
}

impl From<anyhow::Error> for AppError {
    fn from(e: anyhow::Error) -> Self {
        if e.downcast_ref::<DbErr>().is_some_and(db_unavailable) {
            tracing::warn!(error = %e, "the database is unavailable");
            return AppError::Unavailable;
        }
        AppError::Internal(std::sync::Arc::new(e))
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        if let AppError::Denied(denied) = e {
            let (error, record) = *denied;
            let mut error = async_graphql::Error::from(error);
            error.source = Some(std::sync::Arc::new(record));
            return error;
        }
        e.log();
        async_graphql::Error::new(e.client_message()).extend_with(|_, ext| {
            ext.set("code", e.code());
            if let AppError::BadInput { field, .. } = &e {
                ext.set("field", field.as_str());
            }
            if let AppError::RateLimited { retry_after_secs } = &e {
                ext.set("retryAfterSeconds", *retry_after_secs);
            }
            if let AppError::Unavailable = &e {
                ext.set("retryAfterSeconds", RETRY_AFTER_SECS);
            }
        })
    }
}

/// Turns database constraint violations into `CONFLICT`s in one place.
pub trait ResultExt<T> {
    /// A unique-constraint violation becomes `CONFLICT` with `message`.
    fn conflict_on_unique(self, message: &str) -> AppResult<T>;
}

impl<T> ResultExt<T> for Result<T, DbErr> {
    fn conflict_on_unique(self, message: &str) -> AppResult<T> {
        self.map_err(|e| match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::Conflict(message.into()),
            _ => e.into(),
        })
    }
}

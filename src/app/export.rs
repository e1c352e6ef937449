//! The CSV exports (`GET /export/{file}`): the report named by the path, charged to the
//! caller's rate limit ([`EXPORT_COST`](crate::service::rate_limit::EXPORT_COST)), run as
//! the [`Authenticated`] caller through the report's service — the one its GraphQL field
//! calls — and answered once its audit is committed. A refusal (`FORBIDDEN`, `NOT_FOUND`)
//! is audited as `DENIED` like the GraphQL field's. The reports, their parameters and the
//! CSV writing are `crate::export`'s.
use std::collections::HashMap;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::Shared;
use super::caller::{Authenticated, Received};
use crate::error::{AppError, RETRY_AFTER_SECS};
use crate::export::{Names, Report, file_response, params, run, status_of};
use crate::graphql::ids::{IdKind, encode};
use crate::infra::audit::COMMIT_WITHIN;
use crate::service::rate_limit::charge_export;
use crate::service::{RequestContext, Service};

/// An export refused after authentication: a GraphQL-style error list as JSON, with the
/// status of its code, `extensions.field` for bad input and `Retry-After` where retrying
/// later helps.
fn error_response(error: AppError) -> Response {
    error.log();
    let mut extensions = serde_json::json!({ "code": error.code() });
    if let AppError::BadInput { field, .. } = &error {
        extensions["field"] = field.as_str().into();
    }
    let body = serde_json::json!({
        "errors": [{ "message": error.client_message(), "extensions": extensions }]
    });
    let mut response = (status_of(error.code()), Json(body)).into_response();
    let retry_after = match error {
        AppError::Unavailable => Some(RETRY_AFTER_SECS),
        AppError::RateLimited { retry_after_secs } => Some(retry_after_secs),
        _ => None,
    };
    if let Some(seconds) = retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The export a request names (`/export/{file}`); an unknown one is a 404, answered
/// before the caller is authenticated.
pub(super) struct ExportFile {
    report: Report,
    file: String,
}

impl<S: Send + Sync> FromRequestParts<S> for ExportFile {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<ExportFile, Response> {
        let Path(file) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        match Report::from_file(&file) {
            Some(report) => Ok(ExportFile { report, file }),
            None => Err(StatusCode::NOT_FOUND.into_response()),
        }
    }
}

/// `GET /export/{report}.csv` (and `/export/asglb.xlsx`): charges the export to the caller's rate limit, runs the
/// report's service as the caller (a request marked as an export), writes it as CSV and
/// answers once the audit is committed.
pub(super) async fn export(
    State(shared): State<Shared>,
    Query(raw): Query<HashMap<String, String>>,
    ExportFile { report, file }: ExportFile,
    Received { id, .. }: Received,
    Authenticated(actor): Authenticated,
) -> Response {
    let span = tracing::info_span!("export", request_id = %id);
    async move {
        let state = &shared.state;
        let directory = state.directory.current();
        let consortium = directory.consortium_by_id(actor.consortium_id);
        let params = match params(report, &raw, |code| consortium?.authority_id(code)) {
            Ok(p) => p,
            Err(e) => return error_response(e),
        };
        if let Err(e) = charge_export(state, &actor).await {
            return error_response(e);
        }
        let mut request = RequestContext::new(Some(actor), id.clone());
        request.export = true;
        let svc = Service::new(state, &request);
        let names = Names {
            authority: &|a: i64| directory.authority(a).map(|a| a.code.clone()),
            child: &|c: i64| encode(IdKind::Child, c).to_string(),
            household: &|h: i64| encode(IdKind::Household, h).to_string(),
        };
        let csv = run(&svc, report, &params, &names).await;
        if let Err(e) = &csv
            && matches!(e.code(), "FORBIDDEN" | "NOT_FOUND")
        {
            svc.audit_denied(e.code(), &[report.field().to_owned()], e.denied_record());
        }
        // The export goes out only once its audit is committed.
        if state
            .audit
            .committed(&request.audited, COMMIT_WITHIN)
            .await
            .is_err()
        {
            return error_response(AppError::Unavailable);
        }
        match csv {
            Ok(body) => file_response(&file, body),
            Err(e) => error_response(e),
        }
    }
    .instrument(span)
    .await
}

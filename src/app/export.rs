//! The CSV exports (`GET /export/{file}`): the report named by the path, run as the
//! [`Authenticated`] caller through the GraphQL schema (page after page), answered once
//! its audit is committed. The reports, their queries and the CSV writing are
//! `crate::export`'s.
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
use crate::export::{Report, csv_response, next_page, request_for, status_of, to_csv};
use crate::graphql::context::RequestContext;
use crate::infra::audit::COMMIT_WITHIN;

/// An export refused after authentication: a GraphQL-style error list as JSON.
fn error_response(status: StatusCode, error: AppError) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": error.client_message(), "extensions": { "code": error.code() } }]
    });
    let mut response = (status, Json(body)).into_response();
    if let AppError::Unavailable = error {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
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

/// `GET /export/{report}.csv`: runs the report's query as the caller, writes it as CSV.
pub(super) async fn export(
    State(shared): State<Shared>,
    Query(params): Query<HashMap<String, String>>,
    ExportFile { report, file }: ExportFile,
    Received { id, .. }: Received,
    Authenticated(actor): Authenticated,
) -> Response {
    let span = tracing::info_span!("export", request_id = %id);
    async move {
        let directory = shared.state.directory.current();
        let consortium = directory.consortium_by_id(actor.consortium_id).cloned();
        let lookup = |code: &str| {
            let a = consortium.as_ref()?.authority_id(code)?;
            Some(crate::graphql::ids::encode(crate::graphql::ids::IdKind::Authority, a).to_string())
        };
        let (query, variables) = match request_for(report, &params, lookup) {
            Ok(q) => q,
            Err(e) => return error_response(status_of(e.code()), e),
        };
        let mut context = RequestContext::new(Some(actor), id.clone());
        context.export = true;
        let audited = context.audited.clone();
        let mut pages = Vec::new();
        let mut vars = variables.clone();
        loop {
            let request = async_graphql::Request::new(query.clone()).variables(vars.clone()).data(context.clone());
            let result = shared.schema.execute(request).await;
            if let Some(error) = result.errors.first() {
                let code = error
                    .extensions
                    .as_ref()
                    .and_then(|e| e.get("code"))
                    .map(|v| v.to_string().trim_matches('"').to_owned())
                    .unwrap_or_else(|| "BAD_USER_INPUT".into());
                let field = error.extensions.as_ref().and_then(|e| e.get("field")).map(|v| v.to_string().trim_matches('"').to_owned());
                let mut extensions = serde_json::json!({ "code": code });
                if let Some(field) = field {
                    extensions["field"] = field.into();
                }
                let body = serde_json::json!({ "errors": [{ "message": error.message, "extensions": extensions }] });
                let mut response = (status_of(&code), Json(body)).into_response();
                if code == "UNAVAILABLE" {
                    response
                        .headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
                }
                return response;
            }
            let data = result.data.into_json().unwrap_or_default();
            let next = data["trackingAlerts"]["pageInfo"]["hasNextPage"].as_bool() == Some(true);
            let cursor = data["trackingAlerts"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            pages.push(data);
            match (next, cursor) {
                (true, Some(cursor)) => vars = next_page(&variables, &cursor),
                _ => break,
            }
        }
        // The export goes out only once its audit is committed.
        if shared.state.audit.committed(&audited, COMMIT_WITHIN).await.is_err() {
            return error_response(StatusCode::SERVICE_UNAVAILABLE, AppError::Unavailable);
        }
        match to_csv(report, &pages) {
            Ok(body) => csv_response(&file, body),
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, AppError::from(anyhow::Error::from(e))),
        }
    }
    .instrument(span)
    .await
}

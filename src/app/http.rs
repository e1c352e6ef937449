//! GraphQL over HTTP (`POST` and `GET /graphql`): reading a request (JSON only, size and
//! batch limits, parameters of the right type), media negotiation
//! (`application/graphql-response+json` or legacy `application/json`), refusals with their
//! statuses, and running the operations as the [`Caller`] with their audit committed
//! before the answer leaves.
use std::sync::Arc;
use std::time::Instant;

use async_graphql::{ServerError, Variables};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as JsonValue;
use tracing::Instrument;

use super::Shared;
use super::caller::{Caller, Received};
use crate::auth::Actor;
use crate::error::{AppError, RETRY_AFTER_SECS};
use crate::graphql::context::RequestContext;
use crate::graphql::limits::{self, Limit, OperationTrace, QueryLimits};
use crate::infra::audit::{COMMIT_WITHIN, NotCommitted};
use crate::infra::metrics::{self, OperationRecord, Outcome};
use crate::service::rate_limit::charge_export;
use crate::store;

/// The media type of a GraphQL response, from the request's `Accept` (GraphQL over HTTP):
/// `application/graphql-response+json` when the client accepts it at least as readily as
/// `application/json`, else `application/json` — also for a missing `Accept` or `*/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Media {
    GraphQLResponse,
    Json,
}

impl Media {
    pub(super) fn negotiate(headers: &HeaderMap) -> Media {
        let (mut graphql_response, mut json) = (0.0_f32, 0.0_f32);
        let ranges = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in ranges {
            let mut parts = range.split(';');
            let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media_type.as_str() {
                "application/graphql-response+json" => {
                    graphql_response = graphql_response.max(quality)
                }
                "application/json" => json = json.max(quality),
                _ => {}
            }
        }
        if graphql_response > 0.0 && graphql_response >= json {
            Media::GraphQLResponse
        } else {
            Media::Json
        }
    }

    fn content_type(self) -> HeaderValue {
        match self {
            Media::GraphQLResponse => {
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8")
            }
            Media::Json => HeaderValue::from_static("application/json; charset=utf-8"),
        }
    }

    /// The status of a response whose operation never ran (it did not parse, failed
    /// validation or went over a limit): 400 under `application/graphql-response+json`; 200
    /// under legacy `application/json`, as the spec asks. (A rate-limited operation is a
    /// 429 with `Retry-After` under either: load balancers and HTTP clients back off on
    /// the status, whatever the body's media type; see `run`.)
    fn not_run_status(self) -> StatusCode {
        match self {
            Media::GraphQLResponse => StatusCode::BAD_REQUEST,
            Media::Json => StatusCode::OK,
        }
    }
}

/// What one HTTP request on /graphql carries.
enum Incoming {
    Single(Box<async_graphql::Request>),
    /// A JSON array of operations, run one after the other (at most `max_batch`).
    Batch(Vec<async_graphql::Request>),
}

/// A request answered without running anything: an HTTP status and one error.
pub(super) struct Refusal {
    status: StatusCode,
    error: Box<ServerError>,
}

impl Refusal {
    fn bad_request(message: &str) -> Refusal {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            AppError::bad_input("request", message),
        )
    }

    pub(super) fn new(status: StatusCode, error: AppError) -> Refusal {
        let error: async_graphql::Error = error.into();
        Refusal {
            status,
            error: Box::new(error.into_server_error(async_graphql::Pos::default())),
        }
    }

    fn over_limit(status: StatusCode, limit: Limit, max: usize, message: String) -> Refusal {
        Refusal {
            status,
            error: Box::new(limits::limit_error(limit, max, message)),
        }
    }

    /// The response, counted as a rejected operation.
    pub(super) fn respond(self, media: Media, request_id: &str, started: Instant) -> Response {
        metrics::record_operation(OperationRecord {
            operation_type: "unknown",
            root_field: None,
            outcome: Outcome::Rejected,
            elapsed: started.elapsed(),
            error_codes: vec![error_code(&self.error).as_str()],
        });
        self.answer(media, request_id)
    }

    /// The response, not counted in the GraphQL metrics.
    pub(super) fn answer(self, media: Media, request_id: &str) -> Response {
        let code = error_code(&self.error);
        tracing::info!(status = self.status.as_u16(), code = %code, "request refused");
        let mut error = self.error;
        error.locations.clear();
        let body = serde_json::json!({ "errors": [error] });
        let mut response = graphql_http_response(self.status, media, request_id, &body);
        // A body refused for its size is not read to its end, so the connection cannot
        // carry another request: say so, or a client reusing it gets a broken answer.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

fn graphql_http_response(
    status: StatusCode,
    media: Media,
    request_id: &str,
    body: &JsonValue,
) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, media.content_type());
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
    response
}

fn error_code(error: &ServerError) -> String {
    error
        .extensions
        .as_ref()
        .and_then(|e| e.get("code"))
        .map(|v| v.to_string().trim_matches('"').to_owned())
        .unwrap_or_else(|| "BAD_USER_INPUT".into())
}

/// `POST /graphql`: one operation as a JSON object, or a batch as a JSON array. The
/// [`Caller`] is authenticated before the body is read: a bad token is a 401 whatever the
/// body holds.
pub(super) async fn graphql_post(
    State(shared): State<Shared>,
    received: Received,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let limits = shared.state.config.limits;
    let read = read_post(&headers, body, &limits);
    answer_post(&shared, received, actor, &headers, read).await
}

/// Reads a POSTed request with `read`, then runs it (or answers the refusal), in the
/// request's span.
async fn answer_post(
    shared: &Shared,
    Received { id, at: started }: Received,
    actor: Option<Arc<Actor>>,
    headers: &HeaderMap,
    read: impl Future<Output = Result<Incoming, Refusal>>,
) -> Response {
    let media = Media::negotiate(headers);
    let span = tracing::info_span!("graphql", request_id = %id);
    async move {
        match read.await {
            Ok(incoming) => run(shared, actor, &id, incoming, media, started).await,
            Err(refusal) => refusal.respond(media, &id, started),
        }
    }
    .instrument(span)
    .await
}

/// `POST /graphql/upload`: one operation sent as a GraphQL multipart request (the
/// operation, a map, and the files as parts), for the imports. It runs as `POST /graphql`
/// does, with the upload bounds (`PERMANENCE_MAX_UPLOAD_BYTES` for the whole body,
/// `PERMANENCE_MAX_UPLOAD_FILES`) in place of the body bound; the files are spooled to
/// temporary files, not held in memory.
pub(super) async fn graphql_upload(
    State(shared): State<Shared>,
    received: Received,
    Caller(actor): Caller,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let limits = shared.state.config.limits;
    let state = &shared.state;
    let uploader = actor.clone();
    let read = async {
        // Nothing is spooled for a caller who could not run the operation anyway, and an
        // upload costs what an export does, so a caller cannot fill the disk with them.
        let Some(actor) = uploader else {
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                AppError::Unauthenticated("a bearer token is required to upload".into()),
            ));
        };
        charge_export(state, &actor)
            .await
            .map_err(|e| Refusal::new(StatusCode::TOO_MANY_REQUESTS, e))?;
        let request = read_upload(&headers, body, &limits).await?;
        Ok(Incoming::Single(Box::new(request)))
    };
    answer_post(&shared, received, actor, &headers, read).await
}

/// One operation from a multipart body, within the upload bounds.
async fn read_upload(
    headers: &HeaderMap,
    body: axum::body::Body,
    limits: &QueryLimits,
) -> Result<async_graphql::Request, Refusal> {
    use futures_util::StreamExt;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let multipart = content_type
        .split(';')
        .next()
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("multipart/form-data"));
    if !multipart {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::bad_input(
                "request",
                "send the upload as Content-Type: multipart/form-data (the GraphQL multipart \
                 request: operations, map, then the files)",
            ),
        ));
    }
    let max = limits.max_upload_bytes;
    let too_large = || {
        Refusal::over_limit(
            StatusCode::PAYLOAD_TOO_LARGE,
            Limit::BodySize,
            max,
            format!("the upload is too large: the limit is {max} bytes"),
        )
    };
    let too_many_files = || {
        Refusal::over_limit(
            StatusCode::BAD_REQUEST,
            Limit::UploadFiles,
            limits.max_upload_files,
            format!("too many files: the limit is {}", limits.max_upload_files),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    // RFC 2046: a boundary is 1 to 70 characters of a small set, not ending in a space.
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .unwrap_or_default();
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"'()+_,-./:=? ".contains(&b);
    if !(1..=70).contains(&boundary.len())
        || !boundary.bytes().all(allowed)
        || boundary.ends_with(' ')
    {
        return Err(Refusal::bad_request(
            "the multipart boundary must be 1 to 70 letters, digits or '()+_,-./:=? \
             (RFC 2046)",
        ));
    }
    // Parts are counted as the body streams, before any is spooled: each file part is a
    // temporary file, so a body of many tiny parts must stop at the bound, not after. The
    // body must begin with its boundary: the reader holds what comes before it.
    let delimiter = format!("--{boundary}").into_bytes();
    let finder = memchr::memmem::Finder::new(&delimiter).into_owned();
    let most_delimiters = limits.max_upload_files + 3; // operations, map, files, the end
    let over = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let (mut seen, mut delimiters, mut tail) = (0usize, 0usize, Vec::<u8>::new());
    let flag = over.clone();
    let stream = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(std::io::Error::other)?;
        seen += chunk.len();
        if seen > max {
            flag.store(1, std::sync::atomic::Ordering::Relaxed);
            return Err(std::io::Error::other("the upload is too large"));
        }
        // Where in the body `tail` begins.
        let offset = seen - chunk.len() - tail.len();
        tail.extend_from_slice(&chunk);
        let mut late = false;
        for at in finder.find_iter(&tail) {
            late |= delimiters == 0 && offset + at > MAX_PREAMBLE_BYTES;
            delimiters += 1;
        }
        // Keep what could begin a delimiter the next chunk completes.
        let keep = tail.len().min(delimiter.len() - 1);
        tail.drain(..tail.len() - keep);
        if delimiters > most_delimiters {
            flag.store(2, std::sync::atomic::Ordering::Relaxed);
            return Err(std::io::Error::other("too many parts"));
        }
        if late || (delimiters == 0 && seen > MAX_PREAMBLE_BYTES + delimiter.len()) {
            flag.store(3, std::sync::atomic::Ordering::Relaxed);
            return Err(std::io::Error::other("no boundary"));
        }
        Ok(chunk)
    });
    let received = receive_multipart(stream, boundary, limits).await;
    let over = over.load(std::sync::atomic::Ordering::Relaxed);
    let request = match received {
        Ok(request) => request,
        Err(_) if over == 1 => return Err(too_large()),
        Err(_) if over == 2 => return Err(too_many_files()),
        Err(_) if over == 3 => {
            return Err(Refusal::bad_request(&format!(
                "the multipart body must begin with its boundary (within {MAX_PREAMBLE_BYTES} \
                 bytes)"
            )));
        }
        Err(Multipart::Server(e)) => {
            return Err(Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                AppError::from(anyhow::anyhow!("spooling an upload: {e}")),
            ));
        }
        Err(Multipart::TooLarge) => return Err(too_large()),
        Err(Multipart::PartTooLarge(part)) => {
            return Err(Refusal::over_limit(
                StatusCode::PAYLOAD_TOO_LARGE,
                Limit::BodySize,
                limits.max_body_bytes,
                format!(
                    "the {part} part is too large: the limit is {} bytes",
                    limits.max_body_bytes
                ),
            ));
        }
        Err(Multipart::TooManyFiles) => return Err(too_many_files()),
        Err(Multipart::Invalid(e)) => {
            return Err(Refusal::bad_request(&format!(
                "the multipart request is not valid: {e}"
            )));
        }
    };
    check_file_references(&request)?;
    Ok(request)
}

/// Why a multipart body could not be read.
enum Multipart {
    /// The whole body passed the upload bound.
    TooLarge,
    /// The `operations` or `map` part passed the body bound of `POST /graphql`.
    PartTooLarge(&'static str),
    /// More files, or more places for them, than the upload bound.
    TooManyFiles,
    Invalid(String),
    /// The server could not spool a file (a full disk, a failed task).
    Server(String),
}

/// The most bytes a multipart body may carry before its first boundary.
const MAX_PREAMBLE_BYTES: usize = 64 * 1024;

impl From<multer::Error> for Multipart {
    fn from(e: multer::Error) -> Self {
        match e {
            multer::Error::StreamSizeExceeded { .. } => Multipart::TooLarge,
            multer::Error::FieldSizeExceeded { field_name, .. } => match field_name.as_deref() {
                Some("map") => Multipart::PartTooLarge("map"),
                Some("operations") => Multipart::PartTooLarge("operations"),
                _ => Multipart::TooLarge,
            },
            e => Multipart::Invalid(e.to_string()),
        }
    }
}

/// Reads one operation sent by the GraphQL multipart request convention: the `operations`
/// and `map` parts, each held in memory only up to the body bound of `POST /graphql`
/// (`PERMANENCE_MAX_BODY_BYTES`), then each file part streamed to a temporary file through
/// the blocking pool, never held whole; the files are put where the map says, at most
/// `PERMANENCE_MAX_UPLOAD_FILES` places in all.
async fn receive_multipart<S>(
    stream: S,
    boundary: String,
    limits: &QueryLimits,
) -> Result<async_graphql::Request, Multipart>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send + 'static,
{
    use std::collections::HashMap;
    use std::io::Seek;
    use tokio::io::AsyncWriteExt;
    let part = limits.max_body_bytes as u64;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_upload_bytes as u64)
            .for_field("operations", part)
            .for_field("map", part),
    );
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let (mut operations, mut map) = (None, None);
    let mut files = Vec::new();
    while let Some(mut field) = multipart.next_field().await? {
        match field.name() {
            Some("operations") => operations = Some(field.bytes().await?),
            Some("map") => map = Some(field.bytes().await?),
            Some(name) => {
                let Some(filename) = field.file_name().map(str::to_owned) else {
                    continue;
                };
                if files.len() >= limits.max_upload_files {
                    return Err(Multipart::TooManyFiles);
                }
                let name = name.to_owned();
                let content_type = field.content_type().map(ToString::to_string);
                let server = |e: std::io::Error| Multipart::Server(e.to_string());
                let spooled = tokio::task::spawn_blocking(tempfile::tempfile)
                    .await
                    .map_err(|e| Multipart::Server(e.to_string()))?
                    .map_err(server)?;
                let mut file = tokio::fs::File::from_std(spooled);
                while let Some(chunk) = field.chunk().await? {
                    file.write_all(&chunk).await.map_err(server)?;
                }
                file.flush().await.map_err(server)?;
                let mut file = file.into_std().await;
                file.rewind().map_err(server)?;
                files.push((name, filename, content_type, file));
            }
            None => {}
        }
    }
    let operations =
        operations.ok_or_else(|| Multipart::Invalid("the operations part is missing".into()))?;
    let map = map.ok_or_else(|| Multipart::Invalid("the map part is missing".into()))?;
    let mut request: async_graphql::Request = serde_json::from_slice(&operations)
        .map_err(|e| Multipart::Invalid(format!("the operations part: {e}")))?;
    let mut map: HashMap<String, Vec<String>> = serde_json::from_slice(&map)
        .map_err(|e| Multipart::Invalid(format!("the map part: {e}")))?;
    if map.values().map(Vec::len).sum::<usize>() > limits.max_upload_files {
        return Err(Multipart::TooManyFiles);
    }
    for (name, filename, content_type, content) in files {
        for path in map.remove(&name).unwrap_or_default() {
            request.set_upload(
                &path,
                async_graphql::UploadValue {
                    filename: filename.clone(),
                    content_type: content_type.clone(),
                    content: content
                        .try_clone()
                        .map_err(|e| Multipart::Server(e.to_string()))?,
                },
            );
        }
    }
    if !map.is_empty() {
        return Err(Multipart::Invalid(
            "the map names a file the request does not carry".into(),
        ));
    }
    Ok(request)
}

/// `GET /graphql`: a query in the query string, or GraphiQL outside production (a request
/// with a bad token is refused either way, by [`Caller`]).
pub(super) async fn graphql_get(
    State(shared): State<Shared>,
    Received { id, at: started }: Received,
    Caller(actor): Caller,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let media = Media::negotiate(&headers);
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else {
        if shared.state.config.is_production() {
            return StatusCode::NOT_FOUND.into_response();
        }
        // Served from the binary (`board/dist`), with no CDN.
        return super::board::graphiql_page(&headers);
    };
    let span = tracing::info_span!("graphql", request_id = %id);
    async move {
        let mut request = match async_graphql::http::parse_query_string(query) {
            Ok(request) => request,
            Err(_) => {
                return Refusal::bad_request("the query string is not a GraphQL request")
                    .respond(media, &id, started);
            }
        };
        // A persisted query sent by its hash alone: the checks below read its text.
        shared.documents.fill(&mut request).await;
        if let Err(refusal) = check_file_references(&request) {
            return refusal.respond(media, &id, started);
        }
        // The size and nesting first: `changes_state` parses the document.
        if let Err(error) = limits::check_document(&request.query, &shared.state.config.limits) {
            return Refusal {
                status: media.not_run_status(),
                error: Box::new(error),
            }
            .respond(media, &id, started);
        }
        if changes_state(&request) {
            let mut response = Refusal::new(
                StatusCode::METHOD_NOT_ALLOWED,
                AppError::bad_input(
                    "query",
                    "mutations must be sent with POST (subscriptions over /graphql/ws)",
                ),
            )
            .respond(media, &id, started);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        run(
            &shared,
            actor,
            &id,
            Incoming::Single(Box::new(request)),
            media,
            started,
        )
        .await
    }
    .instrument(span)
    .await
}

/// Reads a POST body: JSON only (which also keeps HTML forms from posting cross-site), no
/// larger than `max_body_bytes`, every parameter of the right JSON type.
async fn read_post(
    headers: &HeaderMap,
    body: axum::body::Body,
    limits: &QueryLimits,
) -> Result<Incoming, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(Refusal::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::bad_input(
                "request",
                "send the request as Content-Type: application/json",
            ),
        ));
    }
    let too_large = || {
        Refusal::over_limit(
            StatusCode::PAYLOAD_TOO_LARGE,
            Limit::BodySize,
            limits.max_body_bytes,
            format!(
                "the request body is too large: the limit is {} bytes",
                limits.max_body_bytes
            ),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    // Past the declared length, the only way reading fails with a response still wanted is
    // the limit (a client that hangs up reads nothing).
    let bytes = axum::body::to_bytes(body, limits.max_body_bytes)
        .await
        .map_err(|_| too_large())?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::bad_request("the request has no body"));
    }
    let value: JsonValue = serde_json::from_slice(&bytes)
        .map_err(|_| Refusal::bad_request("the request body is not valid JSON"))?;
    match value {
        JsonValue::Object(params) => Ok(Incoming::Single(Box::new(request_from(params)?))),
        JsonValue::Array(items) => {
            if items.is_empty() {
                return Err(Refusal::bad_request("the batch is empty"));
            }
            if items.len() > limits.max_batch {
                return Err(Refusal::over_limit(
                    StatusCode::BAD_REQUEST,
                    Limit::BatchSize,
                    limits.max_batch,
                    format!(
                        "the batch is too large: {} operations, the limit is {}",
                        items.len(),
                        limits.max_batch
                    ),
                ));
            }
            let requests = items
                .into_iter()
                .map(|item| match item {
                    JsonValue::Object(params) => request_from(params),
                    _ => Err(Refusal::bad_request(
                        "each operation of a batch must be a JSON object",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Incoming::Batch(requests))
        }
        _ => Err(Refusal::bad_request(
            "the request body must be a JSON object with a query",
        )),
    }
}

/// One operation from its JSON parameters: `query` (a string), and optionally
/// `operationName` (a string), `variables` and `extensions` (objects); null is absent.
/// `query` may be left out when `extensions.persistedQuery` names the document by its
/// hash (see `graphql::persisted`).
fn request_from(
    mut params: serde_json::Map<String, JsonValue>,
) -> Result<async_graphql::Request, Refusal> {
    let persisted = match params.remove("extensions") {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Object(mut extensions)) => {
            extensions.remove("persistedQuery").filter(|p| !p.is_null())
        }
        Some(_) => return Err(Refusal::bad_request("extensions must be an object")),
    };
    let query = match params.remove("query") {
        Some(JsonValue::String(query)) => query,
        None | Some(JsonValue::Null) if persisted.is_some() => String::new(),
        None | Some(JsonValue::Null) => {
            return Err(Refusal::bad_request("the request has no query"));
        }
        Some(_) => return Err(Refusal::bad_request("query must be a string")),
    };
    let mut request = async_graphql::Request::new(query);
    // The only extension read is `persistedQuery`; any other is ignored.
    if let Some(persisted) = persisted {
        request.extensions.insert(
            "persistedQuery".to_owned(),
            async_graphql::Value::from_json(persisted)
                .map_err(|_| Refusal::bad_request("extensions.persistedQuery is not valid"))?,
        );
    }
    match params.remove("operationName") {
        None | Some(JsonValue::Null) => {}
        Some(JsonValue::String(name)) => request = request.operation_name(name),
        Some(_) => return Err(Refusal::bad_request("operationName must be a string")),
    }
    match params.remove("variables") {
        None | Some(JsonValue::Null) => {}
        Some(variables @ JsonValue::Object(_)) => {
            request = request.variables(Variables::from_json(variables));
        }
        Some(_) => return Err(Refusal::bad_request("variables must be an object")),
    }
    check_file_references(&request)?;
    Ok(request)
}

/// What async-graphql's `Upload` reads as "the n-th uploaded file".
const FILE_REFERENCE: &str = "#__graphql_file__:";

/// Refuses a request naming an uploaded file it does not carry: the `Upload` scalar reads
/// any string starting `#__graphql_file__:` as the index of a file and does not check it,
/// so only the multipart map may put one there, and only for a file that was sent. A
/// document never holds one (the map places files in variables).
fn check_file_references(request: &async_graphql::Request) -> Result<(), Refusal> {
    fn valid(value: &async_graphql::Value, files: usize) -> bool {
        use async_graphql::Value;
        match value {
            Value::String(s) => s
                .strip_prefix(FILE_REFERENCE)
                .is_none_or(|n| n.parse::<usize>().is_ok_and(|n| n < files)),
            Value::List(items) => items.iter().all(|v| valid(v, files)),
            Value::Object(fields) => fields.values().all(|v| valid(v, files)),
            _ => true,
        }
    }
    let files = request.uploads.len();
    if request.query.contains(FILE_REFERENCE)
        || !request.variables.values().all(|v| valid(v, files))
    {
        return Err(Refusal::bad_request(
            "a file can only be given as an upload, in a multipart request to /graphql/upload",
        ));
    }
    Ok(())
}

/// Runs the operation(s) as `actor` (authenticated by [`Caller`]) and answers.
async fn run(
    shared: &Shared,
    actor: Option<Arc<Actor>>,
    id: &str,
    incoming: Incoming,
    media: Media,
    started: Instant,
) -> Response {
    match incoming {
        Incoming::Single(request) => {
            let (body, ran) = execute(shared, actor, id, *request, started).await;
            let retry_after = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["extensions"]["code"] == "RATE_LIMITED")
                .find_map(|e| e["extensions"]["retryAfterSeconds"].as_u64());
            // Worth retrying only when nothing was answered: a mutation that may have
            // committed never carries `UNAVAILABLE` (see [`execute`]).
            let unavailable = unavailable(&body) && body["data"].is_null();
            let status = match (ran, retry_after, media) {
                _ if unavailable => StatusCode::SERVICE_UNAVAILABLE,
                (true, _, _) => StatusCode::OK,
                (false, Some(_), _) => StatusCode::TOO_MANY_REQUESTS,
                (false, _, _) => media.not_run_status(),
            };
            let mut response = graphql_http_response(status, media, id, &body);
            if let Some(seconds) = retry_after.or(unavailable.then_some(RETRY_AFTER_SECS)) {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        Incoming::Batch(requests) => {
            let mut bodies = Vec::with_capacity(requests.len());
            for request in requests {
                let (body, _) = execute(shared, actor.clone(), id, request, Instant::now()).await;
                bodies.push(body);
            }
            // Each operation answers for itself (an `UNAVAILABLE` one among them too).
            graphql_http_response(StatusCode::OK, media, id, &JsonValue::Array(bodies))
        }
    }
}

/// Whether a response body carries an `UNAVAILABLE` error: the database did not answer
/// in time, or the audit of the answer could not be committed (answered 503 with
/// `Retry-After`).
fn unavailable(body: &JsonValue) -> bool {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e["extensions"]["code"] == "UNAVAILABLE")
}

/// A body of one error and no data.
fn error_body(error: AppError) -> JsonValue {
    let error: async_graphql::Error = error.into();
    let error = error.into_server_error(async_graphql::Pos::default());
    serde_json::json!({ "errors": [{
        "message": error.message,
        "extensions": error.extensions,
    }] })
}

/// Runs one operation; returns the response body and whether the operation ran (a body
/// for one that did not has no `data`, as GraphQL over HTTP asks). The body is returned
/// once the audit events the operation queued are committed (group commit); if they
/// cannot be within [`COMMIT_WITHIN`], it is an error without data instead.
///
/// `UNAVAILABLE` (503, `Retry-After`) promises that nothing changed. A mutation that began
/// writing may have committed whatever failed after, so its `UNAVAILABLE` errors become
/// `OUTCOME_UNKNOWN`, and its answer withheld for want of an audit is `ANSWER_WITHHELD`:
/// neither asks to be retried. An answer whose audit the database refused is `INTERNAL`.
async fn execute(
    shared: &Shared,
    actor: Option<Arc<Actor>>,
    id: &str,
    request: async_graphql::Request,
    started: Instant,
) -> (JsonValue, bool) {
    // Reads are audited after the fact: wait while the audit writer is far behind.
    shared.state.audit.admit().await;
    let trace = OperationTrace::new(request.operation_name.clone());
    let context = RequestContext::new(actor, id.to_owned());
    let audited = context.audited.clone();
    let request = request.data(context).data(trace.clone());
    let (mut result, wrote) = store::watching_writes(shared.schema.execute(request)).await;
    let may_have_committed = wrote && trace.operation_type() == "mutation";
    // Parse and validation errors (and input values that fail to parse) come from the
    // executor without a code; every error carries one.
    for error in &mut result.errors {
        let unavailable = error_code(error) == AppError::Unavailable.code();
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
        if may_have_committed && unavailable {
            let outcome = AppError::OutcomeUnknown;
            extensions.set("code", outcome.code());
            extensions.unset("retryAfterSeconds");
            error.message = outcome.client_message();
        }
    }
    let ran = trace.executed();
    let outcome = match (ran, result.errors.is_empty()) {
        (false, _) => Outcome::Rejected,
        (true, true) => Outcome::Ok,
        (true, false) => Outcome::Error,
    };
    let codes: Vec<String> = result.errors.iter().map(error_code).collect();
    let operation_name = trace.operation_name();
    let elapsed = started.elapsed();
    tracing::info!(
        operation_type = trace.operation_type(),
        operation = operation_name.as_deref().unwrap_or("anonymous"),
        outcome = ?outcome,
        errors = codes.len(),
        elapsed_ms = elapsed.as_millis() as u64,
        "graphql operation"
    );
    let root_field = trace.root_field();
    metrics::record_operation(OperationRecord {
        operation_type: trace.operation_type(),
        root_field: root_field.as_deref(),
        outcome,
        elapsed,
        error_codes: codes.iter().map(String::as_str).collect(),
    });
    let mut body = serde_json::to_value(&result).unwrap_or_else(|e| {
        tracing::error!(error = %e, "response not serialisable");
        serde_json::json!({ "errors": [{ "message": "internal error", "extensions": { "code": "INTERNAL" } }] })
    });
    if !ran && let Some(fields) = body.as_object_mut() {
        fields.remove("data");
    }
    match shared.state.audit.committed(&audited, COMMIT_WITHIN).await {
        Ok(()) => (body, ran),
        Err(NotCommitted::Refused) => (
            error_body(AppError::Internal(Arc::new(anyhow::anyhow!(
                "an audit event of the answer was refused"
            )))),
            ran,
        ),
        Err(NotCommitted::TimedOut) if may_have_committed => {
            (error_body(AppError::AnswerWithheld), ran)
        }
        Err(NotCommitted::TimedOut) => (error_body(AppError::Unavailable), ran),
    }
}

/// Whether a request's document holds a mutation or subscription (refused over GET).
fn changes_state(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::OperationType;
    match async_graphql::parser::parse_query(&request.query) {
        Ok(document) => document
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query),
        // A document that does not parse is answered by the executor with its errors.
        Err(_) => false,
    }
}

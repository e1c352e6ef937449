//! The HTTP service: state, router, and serving with graceful shutdown.
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_graphql::http::{GraphiQLSource, WebSocket, WebSocketProtocols, WsMessage};
use async_graphql::{ServerError, Variables};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::{SinkExt, StreamExt, future};
use sea_orm::DatabaseConnection;
use serde_json::Value as JsonValue;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::Instrument;

use crate::auth::Actor;
use crate::config::Config;
use crate::error::{AppError, RETRY_AFTER_SECS};
use crate::graphql::context::RequestContext;
use crate::graphql::limits::{self, Limit, OperationTrace, QueryLimits};
use crate::graphql::notifications::{self, OpenSubscriptions};
use crate::graphql::{self, AppSchema};
use crate::infra::audit::{AuditMark, AuditSink, COMMIT_WITHIN};
use crate::infra::metrics::{self, OperationRecord, Outcome};
use crate::infra::revocations::{self, Revocations};
use crate::infra::shared::SharedStore;
use crate::store::{self, tenancy::DirectoryCache};

/// What every request can reach.
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Config,
    pub directory: DirectoryCache,
    pub audit: AuditSink,
    /// Cache, counters, rate-limit buckets and pub/sub: Redis with `REDIS_URL`, else
    /// in-process.
    pub shared: SharedStore,
    /// The session revocations this replica enforces, kept current from the database and
    /// the shared pub/sub.
    pub revocations: Arc<Revocations>,
    /// Each consortium's matching pool in memory, reloaded when its data version moves.
    pub pools: store::pool::PoolCache,
    /// Each consortium's recruitment journeys in memory, likewise.
    pub journeys: store::recruitment::JourneyCache,
    /// Total counts of the register lists, per consortium data version.
    pub counts: store::lists::CountCache,
    /// The `notifications` subscriptions open on this replica.
    pub subscriptions: OpenSubscriptions,
    /// Turns true when the server starts shutting down: websockets close and the
    /// background sweeps stop.
    pub stopping: watch::Sender<bool>,
    /// Websockets open on this replica (the shutdown waits for them to close).
    sockets: Arc<watch::Sender<usize>>,
}

impl AppState {
    /// Connects, migrates, loads the directory and the session revocations, and starts the
    /// audit writer and the shared store (an unreachable Redis is not fatal: the service
    /// starts degraded and picks Redis up when it answers).
    pub async fn start(config: Config) -> anyhow::Result<Arc<AppState>> {
        // Migrations run on a pool of their own, free of the serving statement timeout.
        let migrating = store::connect(&config.database_url).await?;
        store::migrate(&migrating).await?;
        migrating.close().await?;
        let db = store::connect_with(
            &config.database_url,
            config.statement_timeout,
            config.availability.db_acquire_timeout,
        )
        .await?;
        let directory = DirectoryCache::default();
        directory.reload(&db).await?;
        let audit = AuditSink::start(db.clone());
        let shared =
            SharedStore::start(config.redis_url.as_deref(), &config.redis_key_prefix).await?;
        let revocations = revocations::start(db.clone(), &shared).await?;
        let state = Arc::new(AppState {
            db,
            config,
            directory,
            audit,
            shared,
            revocations,
            pools: Default::default(),
            journeys: Default::default(),
            counts: Default::default(),
            subscriptions: OpenSubscriptions::default(),
            stopping: watch::Sender::new(false),
            sockets: Arc::new(watch::Sender::new(0)),
        });
        notifications::start_sweeps(Arc::downgrade(&state), state.stopping.subscribe());
        Ok(state)
    }

    /// How many websockets are open on this replica.
    pub fn open_sockets(&self) -> usize {
        *self.sockets.borrow()
    }

    /// Counts a websocket as open until the guard is dropped.
    fn socket_opened(&self) -> SocketGuard {
        self.sockets.send_modify(|n| *n += 1);
        SocketGuard(self.sockets.clone())
    }
}

/// An open websocket, counted until dropped.
struct SocketGuard(Arc<watch::Sender<usize>>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<AppState>,
    schema: AppSchema,
}

impl axum::extract::FromRef<Shared> for Arc<AppState> {
    fn from_ref(shared: &Shared) -> Arc<AppState> {
        shared.state.clone()
    }
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// The listener of `/metrics` alone (`PERMANENCE_METRICS_BIND`), if configured.
    metrics_listener: Option<TcpListener>,
    state: Arc<AppState>,
}

impl Application {
    /// Starts the state and binds `bind` (port 0 picks a free port), and the metrics
    /// address of the configuration if it has one.
    pub async fn build(config: Config, bind: &str) -> anyhow::Result<Application> {
        let metrics_bind = config.metrics.bind.clone();
        let state = AppState::start(config).await?;
        let listener = TcpListener::bind(bind).await?;
        let metrics_listener = match metrics_bind {
            Some(address) => Some(TcpListener::bind(&address).await?),
            None => None,
        };
        Ok(Application {
            listener,
            router: router(state.clone()),
            metrics_listener,
            state,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The port of the `/metrics` listener, if there is one.
    pub fn metrics_port(&self) -> Option<u16> {
        let listener = self.metrics_listener.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// The shared state (for seeding before serving).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests
    /// finish, closes the websockets (`1001 Going Away`), and flushes the audit batcher
    /// before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let signal = async move {
            shutdown.await;
            state.stopping.send_replace(true);
        };
        if let Some(listener) = self.metrics_listener {
            let mut stopping = self.state.stopping.subscribe();
            let serving = axum::serve(listener, metrics_router(self.state.clone()))
                .with_graceful_shutdown(async move { stopped(&mut stopping).await });
            tokio::spawn(async move {
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "the /metrics listener failed");
                }
            });
        }
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signal)
            .await?;
        // Upgraded connections are not the server's any more: each websocket closes itself
        // on `stopping`; wait (a little) until they have.
        let mut sockets = self.state.sockets.subscribe();
        let closed = tokio::time::timeout(SOCKETS_CLOSE_WITHIN, sockets.wait_for(|n| *n == 0));
        if closed.await.is_err() {
            tracing::warn!(
                open = self.state.open_sockets(),
                "websockets still open at shutdown; dropping them"
            );
        }
        tracing::info!(
            pending = self.state.audit.depth(),
            "stopped accepting; flushing audit events"
        );
        self.state.audit.flush().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// The routes of the API port. `/metrics` is among them only when it has a token and no
/// listener of its own (see [`crate::config::MetricsAccess`]).
pub fn router(state: Arc<AppState>) -> Router {
    metrics::install();
    let schema = graphql::schema(state.clone());
    let mut router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphql/ws", get(graphql_ws))
        .route("/export/{file}", get(export))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz));
    if state.config.metrics.on_api_port() {
        router = router.route("/metrics", get(metrics_text));
    }
    router.with_state(Shared { state, schema })
}

/// The routes of the metrics listener: `/metrics` alone.
fn metrics_router(state: Arc<AppState>) -> Router {
    metrics::install();
    Router::new()
        .route("/metrics", get(metrics_text))
        .with_state(state)
}

/// `GET /readyz`: 200 when every backing service answers, else 503 naming the first that
/// does not — within `PERMANENCE_READYZ_TIMEOUT` (a service that has not answered by then
/// counts as down), so that a load balancer's health check sees an unready replica rather
/// than a timeout.
async fn readyz(State(shared): State<Shared>) -> Response {
    let state = &shared.state;
    let checks = async {
        if !store::ping(&state.db).await {
            return Err("database unreachable");
        }
        // With `REDIS_URL` set, Redis must answer too. The replica still serves requests
        // without it (degraded), but should not take traffic meant for a healthy one.
        if state.shared.ping().await == Some(false) {
            return Err("redis unreachable");
        }
        Ok(())
    };
    let unready = |reason: &'static str| {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, reason).into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        response
    };
    match tokio::time::timeout(state.config.availability.readyz_timeout, checks).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(reason)) => unready(reason),
        Err(_) => unready("not ready: the checks did not answer in time"),
    }
}

/// `GET /metrics`: Prometheus text format (see `infra::metrics` for the names); 401
/// without the bearer token when one is configured.
async fn metrics_text(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    if !state.config.metrics.admits(authorization) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            "a bearer token is required",
        )
            .into_response();
    }
    match metrics::render(state.audit.depth()) {
        Some(body) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            )],
            body,
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response(),
    }
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// The actor of a request: none without a token, an error for a bad one (including a token
/// of a subject whose sessions were revoked at or after it was issued).
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Arc<Actor>>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(bearer)
        .ok_or_else(|| AppError::Unauthenticated("expected a bearer token".into()))?;
    Ok(Some(session(state, token).await?.actor))
}

/// The token of an `Authorization` value: `Bearer <token>`.
fn bearer(value: &str) -> Option<&str> {
    value.strip_prefix("Bearer ").map(str::trim)
}

/// A verified token: who it stands for, and until when (Unix seconds).
struct Session {
    actor: Arc<Actor>,
    expires_at: i64,
}

/// Verifies `token` and resolves its actor; refuses a bad or expired token, an unknown
/// consortium, and a token of a subject whose sessions were revoked at or after it was
/// issued. The one check of HTTP requests and websocket connections.
async fn session(state: &AppState, token: &str) -> Result<Session, AppError> {
    let claims = state.config.jwt.verify(token)?;
    let directory = state
        .directory
        .resolve(
            &state.db,
            &claims.consortium,
            claims.memberships.iter().map(|m| m.authority.as_str()),
        )
        .await?;
    let actor = Actor::from_claims(&claims, &directory)?;
    if state
        .revocations
        .is_revoked(actor.consortium_id, &actor.subject, actor.issued_at)
    {
        return Err(AppError::Unauthenticated(
            "this session was revoked; sign in again".into(),
        ));
    }
    Ok(Session {
        actor: Arc::new(actor),
        expires_at: claims.exp,
    })
}

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

/// The media type of a GraphQL response, from the request's `Accept` (GraphQL over HTTP):
/// `application/graphql-response+json` when the client accepts it at least as readily as
/// `application/json`, else `application/json` — also for a missing `Accept` or `*/*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Media {
    GraphQLResponse,
    Json,
}

impl Media {
    fn negotiate(headers: &HeaderMap) -> Media {
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
struct Refusal {
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

    fn new(status: StatusCode, error: AppError) -> Refusal {
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
    fn respond(self, media: Media, request_id: &str, started: Instant) -> Response {
        let code = error_code(&self.error);
        metrics::record_operation(OperationRecord {
            operation_type: "unknown",
            root_field: None,
            outcome: Outcome::Rejected,
            elapsed: started.elapsed(),
            error_codes: vec![code.as_str()],
        });
        tracing::info!(status = self.status.as_u16(), code = %code, "graphql request refused");
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

/// `POST /graphql`: one operation as a JSON object, or a batch as a JSON array.
async fn graphql_post(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let started = Instant::now();
    let media = Media::negotiate(&headers);
    let id = request_id(&headers);
    let span = tracing::info_span!("graphql", request_id = %id);
    async move {
        match read_post(&headers, body, &shared.state.config.limits).await {
            Ok(incoming) => run(&shared, &headers, &id, incoming, media, started).await,
            Err(refusal) => refusal.respond(media, &id, started),
        }
    }
    .instrument(span)
    .await
}

/// `GET /graphql`: a query in the query string, or GraphiQL outside production.
async fn graphql_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let started = Instant::now();
    let media = Media::negotiate(&headers);
    let Some(query) = uri.query().filter(|q| !q.is_empty()) else {
        if shared.state.config.is_production() {
            return StatusCode::NOT_FOUND.into_response();
        }
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .finish(),
        )
        .into_response();
    };
    let id = request_id(&headers);
    let span = tracing::info_span!("graphql", request_id = %id);
    async move {
        let request = match async_graphql::http::parse_query_string(query) {
            Ok(request) => request,
            Err(_) => {
                return Refusal::bad_request("the query string is not a GraphQL request")
                    .respond(media, &id, started);
            }
        };
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
            &headers,
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
fn request_from(
    mut params: serde_json::Map<String, JsonValue>,
) -> Result<async_graphql::Request, Refusal> {
    let query = match params.remove("query") {
        Some(JsonValue::String(query)) => query,
        None | Some(JsonValue::Null) => {
            return Err(Refusal::bad_request("the request has no query"));
        }
        Some(_) => return Err(Refusal::bad_request("query must be a string")),
    };
    let mut request = async_graphql::Request::new(query);
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
    // No extension is supported (persisted queries neither); a well-formed map is ignored.
    match params.remove("extensions") {
        None | Some(JsonValue::Null) | Some(JsonValue::Object(_)) => {}
        Some(_) => return Err(Refusal::bad_request("extensions must be an object")),
    }
    Ok(request)
}

/// Authenticates once, then runs the operation(s) and answers.
async fn run(
    shared: &Shared,
    headers: &HeaderMap,
    id: &str,
    incoming: Incoming,
    media: Media,
    started: Instant,
) -> Response {
    let actor = match authenticate(&shared.state, headers).await {
        Ok(actor) => actor,
        Err(e @ AppError::Unauthenticated(_)) => {
            return Refusal::new(StatusCode::UNAUTHORIZED, e).respond(media, id, started);
        }
        Err(AppError::Unavailable) => {
            let mut response = Refusal::new(StatusCode::SERVICE_UNAVAILABLE, AppError::Unavailable)
                .respond(media, id, started);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            return response;
        }
        Err(e) => {
            tracing::error!(error = ?e, "authentication failed");
            return Refusal::new(StatusCode::INTERNAL_SERVER_ERROR, e).respond(media, id, started);
        }
    };
    match incoming {
        Incoming::Single(request) => {
            let (body, ran) = execute(shared, actor, id, *request, started).await;
            let retry_after = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|e| e["extensions"]["code"] == "RATE_LIMITED")
                .find_map(|e| e["extensions"]["retryAfterSeconds"].as_u64());
            let unavailable = unavailable(&body);
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

/// The body that replaces an answer whose audit events could not be committed: no data.
fn audit_not_committed() -> JsonValue {
    let error: async_graphql::Error = AppError::Unavailable.into();
    let error = error.into_server_error(async_graphql::Pos::default());
    serde_json::json!({ "errors": [{
        "message": error.message,
        "extensions": error.extensions,
    }] })
}

/// Runs one operation; returns the response body and whether the operation ran (a body
/// for one that did not has no `data`, as GraphQL over HTTP asks). The body is returned
/// once the audit events the operation queued are committed (group commit); if they
/// cannot be within [`COMMIT_WITHIN`], it is an `UNAVAILABLE` error without data instead.
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
    let mut result = shared.schema.execute(request).await;
    // Parse and validation errors (and input values that fail to parse) come from the
    // executor without a code; every error carries one.
    for error in &mut result.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
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
    if shared
        .state
        .audit
        .committed(&audited, COMMIT_WITHIN)
        .await
        .is_err()
    {
        return (audit_not_committed(), ran);
    }
    (body, ran)
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

// ---------------------------------------------------------------------------------------
// Subscriptions: `GET /graphql/ws`, graphql-transport-ws
// ---------------------------------------------------------------------------------------

/// The websocket subprotocol spoken at `/graphql/ws`.
const GRAPHQL_TRANSPORT_WS: &str = "graphql-transport-ws";
/// How long a websocket may stay open before its `connection_init`.
const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open websocket's session is checked (closed once revoked or expired).
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long the shutdown waits for websockets to close.
const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// graphql-transport-ws close codes (and the WebSocket one for a server going away).
mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const INTERNAL: u16 = 4500;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
}

/// `GET /graphql/ws`: GraphQL over websocket (graphql-transport-ws). The connection is
/// authenticated by the token in the `connection_init` payload (`{"Authorization": "Bearer
/// …"}`; `authorization` or `token` also do); a missing, bad or revoked token closes it with
/// `4403 Forbidden`, and so does the revocation or the expiry of the session later on.
/// Operations then run as that actor, with the same limits and scoping as over HTTP.
async fn graphql_ws(
    State(shared): State<Shared>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let offered = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(GRAPHQL_TRANSPORT_WS));
    if !offered {
        return (
            StatusCode::BAD_REQUEST,
            "speak the graphql-transport-ws subprotocol (Sec-WebSocket-Protocol)",
        )
            .into_response();
    }
    if *shared.state.stopping.borrow() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let id = request_id(&headers);
    upgrade
        .protocols([GRAPHQL_TRANSPORT_WS])
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("graphql_ws", request_id = %id);
            serve_socket(shared, socket, id).instrument(span)
        })
}

/// The token of a `connection_init` payload.
fn init_token(payload: &JsonValue) -> Option<&str> {
    let fields = payload.as_object()?;
    if let Some(value) = fields
        .get("Authorization")
        .or_else(|| fields.get("authorization"))
    {
        return value.as_str().and_then(bearer);
    }
    let token = fields.get("token")?.as_str()?;
    Some(bearer(token).unwrap_or(token.trim()))
}

/// What an open websocket knows once `connection_init` has been answered.
#[derive(Default)]
struct Connection {
    session: Option<Session>,
    /// Why the connection was refused: the close code and reason.
    refused: Option<(u16, &'static str)>,
}

fn lock(connection: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    connection.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why an open session must end now, if it must.
fn session_ended(state: &AppState, connection: &Mutex<Connection>) -> Option<&'static str> {
    let connection = lock(connection);
    let session = connection.session.as_ref()?;
    let actor = &session.actor;
    if state
        .revocations
        .is_revoked(actor.consortium_id, &actor.subject, actor.issued_at)
    {
        return Some("Forbidden: the session was revoked");
    }
    if chrono::Utc::now().timestamp() >= session.expires_at {
        return Some("Forbidden: the token expired");
    }
    None
}

/// Resolves once `stopping` is true (or can no longer change).
pub async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Serves one websocket until the client leaves, the session ends or the server stops.
async fn serve_socket(shared: Shared, socket: axum::extract::ws::WebSocket, request_id: String) {
    let state = shared.state.clone();
    let _open = state.socket_opened();
    let connection = Arc::new(Mutex::new(Connection::default()));
    // The audit events of every operation on this connection: a message goes out only once
    // those queued before it are committed.
    let audited = AuditMark::default();
    let on_init = {
        let (state, connection, audited) = (state.clone(), connection.clone(), audited.clone());
        move |payload: JsonValue| async move {
            let outcome = match init_token(&payload) {
                Some(token) => session(&state, token).await,
                None => Err(AppError::Unauthenticated(
                    "connection_init carries no bearer token".into(),
                )),
            };
            let mut connection = lock(&connection);
            match outcome {
                Ok(session) => {
                    let mut data = async_graphql::Data::default();
                    let mut context = RequestContext::new(Some(session.actor.clone()), request_id);
                    context.audited = audited;
                    data.insert(context);
                    connection.session = Some(session);
                    tracing::info!("websocket connection accepted");
                    Ok(data)
                }
                Err(e) => {
                    let refusal = match e {
                        AppError::Unauthenticated(_) => (close::FORBIDDEN, "Forbidden"),
                        other => {
                            tracing::error!(error = ?other, "websocket authentication failed");
                            (close::INTERNAL, "Internal error")
                        }
                    };
                    connection.refused = Some(refusal);
                    tracing::info!(code = refusal.0, "websocket connection refused");
                    Err(async_graphql::Error::new(refusal.1))
                }
            }
        }
    };
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| future::ready(message.is_ok()))
        .filter_map(|message| {
            future::ready(match message {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => Some(m.into_data()),
                _ => None,
            })
        });
    let protocol = WebSocket::new(shared.schema.clone(), input, WebSocketProtocols::GraphQLWS)
        .on_connection_init(on_init);
    futures_util::pin_mut!(protocol);
    let mut stopping = state.stopping.subscribe();
    let init_deadline = tokio::time::sleep(CONNECTION_INIT_TIMEOUT);
    futures_util::pin_mut!(init_deadline);
    let mut checks = tokio::time::interval(SESSION_CHECK_EVERY);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let closing: Option<(u16, String)> = loop {
        let initialised = lock(&connection).session.is_some();
        tokio::select! {
            message = protocol.next() => match message {
                Some(WsMessage::Text(text)) => {
                    // A record goes out only once its audit is committed.
                    if state.audit.committed(&audited, COMMIT_WITHIN).await.is_err() {
                        break Some((close::INTERNAL, "audit log unavailable".into()));
                    }
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        break None;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let refused = lock(&connection).refused.take();
                    break Some(refused.map_or((code, reason), |(c, r)| (c, r.to_owned())));
                }
                None => break None,
            },
            _ = stopped(&mut stopping) => {
                break Some((close::GOING_AWAY, "server shutting down".into()));
            }
            _ = &mut init_deadline, if !initialised => {
                break Some((close::INIT_TIMEOUT, "Connection initialisation timeout".into()));
            }
            _ = checks.tick() => {
                if let Some(reason) = session_ended(&state, &connection) {
                    tracing::info!("websocket session ended");
                    break Some((close::FORBIDDEN, reason.into()));
                }
            }
        }
    };
    if let Some((code, reason)) = closing {
        tracing::info!(code, "closing websocket");
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = sink.send(Message::Close(Some(frame))).await;
    }
    let _ = sink.close().await;
}

/// `GET /export/{report}.csv`: runs the report's query as the caller, writes it as CSV.
async fn export(
    State(shared): State<Shared>,
    headers: HeaderMap,
    axum::extract::Path(file): axum::extract::Path<String>,
    axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    use crate::export::{Report, csv_response, next_page, request_for, status_of, to_csv};
    let id = request_id(&headers);
    let span = tracing::info_span!("export", request_id = %id);
    async move {
        let Some(report) = Report::from_file(&file) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let actor = match authenticate(&shared.state, &headers).await {
            Ok(Some(actor)) => actor,
            Ok(None) => {
                return error_response(
                    StatusCode::UNAUTHORIZED,
                    AppError::Unauthenticated("a bearer token is required".into()),
                );
            }
            Err(e @ AppError::Unauthenticated(_)) => return error_response(StatusCode::UNAUTHORIZED, e),
            Err(e) => return error_response(status_of(e.code()), e),
        };
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

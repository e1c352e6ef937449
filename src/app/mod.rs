//! The HTTP service: the router, [`Application`] (bind, then serve until stopped, with
//! graceful shutdown), the shutdown signal, and the operational routes (`/healthz`,
//! `/readyz`, `/metrics`). Each other surface has a module of its own:
//!
//! - `http`: GraphQL over HTTP (`POST`/`GET /graphql`): media negotiation, refusals,
//!   running operations;
//! - `ws`: GraphQL over websocket (`/graphql/ws`, graphql-transport-ws);
//! - `export`: the CSV exports (`/export/{file}`; the CSV itself is `crate::export`'s);
//! - `caller`: who is asking: the request id and the authenticated caller, as axum
//!   extractors, and the token check shared with the websocket;
//! - `cors`: which browser origins may call `/graphql` and `/export/…`;
//! - `board`: the pages the binary serves itself (`/board`, GraphiQL) and their assets.
//!
//! The state is [`crate::state`]'s: `app` imports `graphql` and `state`; neither imports
//! `app` (see `crate::layering`).
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::RETRY_AFTER_SECS;
use crate::graphql::persisted::{self, PersistedDocuments};
use crate::graphql::{self, AppSchema};
use crate::infra::metrics;
use crate::service::{audit_log, events};
use crate::state::stopped;
use crate::store;

mod board;
mod caller;
mod cors;
mod export;
mod http;
mod ws;

pub use crate::state::AppState;

/// How long the shutdown waits for websockets to close.
const SOCKETS_CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// The state of the API routes: the application state and the schema.
#[derive(Clone)]
struct Shared {
    state: Arc<AppState>,
    schema: AppSchema,
    /// The persisted documents the schema resolves (the HTTP layer reads them too).
    documents: Arc<PersistedDocuments>,
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
    /// Starts the state, the tracking-alert sweeps and the audit log's upkeep, and binds `bind` (port 0 picks a
    /// free port), and the metrics address of the configuration if it has one.
    pub async fn build(config: Config, bind: &str) -> anyhow::Result<Application> {
        let metrics_bind = config.metrics.bind.clone();
        // A manifest the schema refuses stops the start, before anything else is done.
        if let Some(documents) = &config.clients.trusted_documents {
            persisted::ensure_valid(documents, config.limits).await?;
        }
        let state = AppState::start(config).await?;
        events::start_sweeps(Arc::downgrade(&state), state.stopping.subscribe());
        audit_log::start_maintaining(&state).await;
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
        let closed = tokio::time::timeout(SOCKETS_CLOSE_WITHIN, self.state.sockets_closed());
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
    let documents = Arc::new(PersistedDocuments::new(&state));
    let schema = graphql::schema(state.clone(), documents.clone());
    // What browser pages of the configured origins may call (no layer: no CORS headers).
    let mut browsers = Router::new()
        .route("/graphql", get(http::graphql_get).post(http::graphql_post))
        .route("/graphql/upload", post(http::graphql_upload))
        .route("/export/{file}", get(export::export));
    if let Some(cors) = cors::layer(&state.config.clients.cors_origins) {
        browsers = browsers.layer(cors);
    }
    let mut router = browsers
        .route("/graphql/ws", get(ws::graphql_ws))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/board", get(board::page))
        .route("/board/", get(board::page_slash))
        .route("/board/config.json", get(board::config))
        .route("/board/assets/{file}", get(board::asset));
    if state.config.metrics.on_api_port() {
        router = router.route("/metrics", get(metrics_text));
    }
    router.with_state(Shared {
        state,
        schema,
        documents,
    })
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

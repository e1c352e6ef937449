//! The HTTP service: state, router, and serving with graceful shutdown.
use std::future::Future;
use std::sync::Arc;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tracing::Instrument;

use crate::auth::Actor;
use crate::config::Config;
use crate::error::AppError;
use crate::graphql::context::RequestContext;
use crate::graphql::{self, AppSchema};
use crate::infra::audit::AuditSink;
use crate::store::{self, tenancy::DirectoryCache};

/// What every request can reach.
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Config,
    pub directory: DirectoryCache,
    pub audit: AuditSink,
}

impl AppState {
    /// Connects, migrates, loads the directory and starts the audit writer.
    pub async fn start(config: Config) -> anyhow::Result<Arc<AppState>> {
        let db = store::connect(&config.database_url).await?;
        store::migrate(&db).await?;
        let directory = DirectoryCache::default();
        directory.reload(&db).await?;
        let audit = AuditSink::start(db.clone());
        Ok(Arc::new(AppState {
            db,
            config,
            directory,
            audit,
        }))
    }
}

#[derive(Clone)]
struct Shared {
    state: Arc<AppState>,
    schema: AppSchema,
}

/// A bound, ready-to-serve application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
}

impl Application {
    /// Starts the state and binds `bind` (port 0 picks a free port).
    pub async fn build(config: Config, bind: &str) -> anyhow::Result<Application> {
        let state = AppState::start(config).await?;
        let listener = TcpListener::bind(bind).await?;
        Ok(Application {
            listener,
            router: router(state.clone()),
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

    /// The shared state (for seeding before serving).
    pub fn state(&self) -> Arc<AppState> {
        self.state.clone()
    }

    /// Serves until `shutdown` resolves; then stops accepting, lets in-flight requests
    /// finish, and flushes the audit batcher before returning.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await?;
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

/// The routes.
pub fn router(state: Arc<AppState>) -> Router {
    let schema = graphql::schema(state.clone());
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/export/{file}", get(export))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(Shared { state, schema })
}

async fn readyz(State(shared): State<Shared>) -> Response {
    if store::ping(&shared.state.db).await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
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

/// The actor of a request: none without a token, an error for a bad one.
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
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| AppError::Unauthenticated("expected a bearer token".into()))?;
    let claims = state.config.jwt.verify(token.trim())?;
    let directory = state
        .directory
        .resolve(
            &state.db,
            &claims.consortium,
            claims.memberships.iter().map(|m| m.authority.as_str()),
        )
        .await?;
    Ok(Some(Arc::new(Actor::from_claims(&claims, &directory)?)))
}

fn error_response(status: StatusCode, error: AppError) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": error.client_message(), "extensions": { "code": error.code() } }]
    });
    (status, Json(body)).into_response()
}

async fn execute(shared: Shared, headers: HeaderMap, request: async_graphql::Request) -> Response {
    let id = request_id(&headers);
    let span = tracing::info_span!("graphql", request_id = %id);
    async move {
        let actor = match authenticate(&shared.state, &headers).await {
            Ok(actor) => actor,
            Err(e @ AppError::Unauthenticated(_)) => {
                return error_response(StatusCode::UNAUTHORIZED, e);
            }
            Err(e) => {
                tracing::error!(error = ?e, "authentication failed");
                return error_response(StatusCode::INTERNAL_SERVER_ERROR, e);
            }
        };
        let request = request.data(RequestContext::new(actor, id.clone()));
        let mut result = shared.schema.execute(request).await;
        // Parse and validation errors (and input values that fail to parse) come from the
        // executor without a code; every error carries one.
        for error in &mut result.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", "BAD_USER_INPUT");
            }
        }
        let mut response = GraphQLResponse::from(result).into_response();
        if let Ok(value) = HeaderValue::from_str(&id) {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }
    .instrument(span)
    .await
}

async fn graphql_post(
    State(shared): State<Shared>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> Response {
    execute(shared, headers, request.into_inner()).await
}

async fn graphql_get(
    State(shared): State<Shared>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    match uri.query().filter(|q| !q.is_empty()) {
        Some(query) => match async_graphql::http::parse_query_string(query) {
            Ok(request) if changes_state(&request) => error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                AppError::bad_input("query", "mutations must be sent with POST"),
            ),
            Ok(request) => execute(shared, headers, request).await,
            Err(_) => error_response(
                StatusCode::BAD_REQUEST,
                AppError::bad_input("query", "the query string is not a GraphQL request"),
            ),
        },
        None if shared.state.config.is_production() => StatusCode::NOT_FOUND.into_response(),
        None => Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response(),
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
            Err(e) => return error_response(StatusCode::INTERNAL_SERVER_ERROR, e),
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
                let body = serde_json::json!({ "errors": [{ "message": error.message, "extensions": { "code": code } }] });
                return (status_of(&code), Json(body)).into_response();
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
        match to_csv(report, &pages) {
            Ok(body) => csv_response(&file, body),
            Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, AppError::from(anyhow::Error::from(e))),
        }
    }
    .instrument(span)
    .await
}

//! Who is asking, as axum extractors: the request id ([`Received`]) and the caller
//! authenticated by the request's bearer token ([`Caller`] for GraphQL, where a request
//! without a token is anonymous; [`Authenticated`] for the exports, where a token is
//! required). A handler that takes one cannot forget to authenticate, and every failure is
//! answered by [`Unauthorized`], in one place. Also the token check itself ([`session`]),
//! which the websocket runs at `connection_init` instead of on a header.
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Shared;
use super::http::{Media, Refusal};

use crate::auth::issuers::{MAX_TOKEN_BYTES, Untrusted, claimed_issuer};
use crate::auth::jwt::Claims;
use crate::auth::{Actor, bearer};
use crate::error::{AppError, RETRY_AFTER_SECS};
use crate::service::sessions::refuse_breach;
use crate::state::AppState;

/// When a request arrived, and its id (logged, and echoed in `x-request-id`). Extracted
/// once per request: every later extraction returns the same.
#[derive(Clone, Debug)]
pub(super) struct Received {
    pub(super) id: String,
    pub(super) at: Instant,
}

impl<S: Send + Sync> FromRequestParts<S> for Received {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Received, Infallible> {
        if let Some(received) = parts.extensions.get::<Received>() {
            return Ok(received.clone());
        }
        let received = Received {
            id: request_id(&parts.headers),
            at: Instant::now(),
        };
        parts.extensions.insert(received.clone());
        Ok(received)
    }
}

/// The caller of a GraphQL request: the actor of its bearer token, or `None` for a request
/// without an `Authorization` header (anonymous: every field that needs an actor refuses
/// it with `UNAUTHENTICATED`). A malformed, bad, expired or revoked token is refused before
/// the handler runs; the refusal counts as a rejected GraphQL operation in the metrics.
pub(super) struct Caller(pub(super) Option<Arc<Actor>>);

impl FromRequestParts<Shared> for Caller {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Shared,
    ) -> Result<Caller, Unauthorized> {
        let Ok(received) = Received::from_request_parts(parts, shared).await;
        match authenticate(&shared.state, &parts.headers, &received.id).await {
            Ok(actor) => Ok(Caller(actor)),
            Err(error) => Err(Unauthorized::new(error, &parts.headers, received, true)),
        }
    }
}

/// The actor of a request that must carry a valid bearer token (the exports): a request
/// without one is refused like one with a bad token, before the handler runs.
pub(super) struct Authenticated(pub(super) Arc<Actor>);

impl FromRequestParts<Shared> for Authenticated {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        shared: &Shared,
    ) -> Result<Authenticated, Unauthorized> {
        let Ok(received) = Received::from_request_parts(parts, shared).await;
        let error = match authenticate(&shared.state, &parts.headers, &received.id).await {
            Ok(Some(actor)) => return Ok(Authenticated(actor)),
            Ok(None) => AppError::Unauthenticated("a bearer token is required".into()),
            Err(error) => error,
        };
        Err(Unauthorized::new(error, &parts.headers, received, false))
    }
}

/// A request refused for its credentials: the one answer of every route that
/// authenticates by header. `401 UNAUTHENTICATED` for a missing (where required),
/// malformed, bad, expired or revoked token or an unknown consortium; `503 UNAVAILABLE`
/// with `Retry-After` when the directory could not be read in time; `500 INTERNAL` (logged)
/// for anything else. The body is a GraphQL error list in the media type the request
/// negotiated ([`Media`]), with the request id in `x-request-id`.
pub(super) struct Unauthorized {
    error: AppError,
    media: Media,
    received: Received,
    /// Whether the refusal counts as a rejected GraphQL operation in the metrics (the
    /// GraphQL endpoint's; not the exports').
    graphql_operation: bool,
}

impl Unauthorized {
    fn new(
        error: AppError,
        headers: &HeaderMap,
        received: Received,
        graphql_operation: bool,
    ) -> Unauthorized {
        Unauthorized {
            error,
            media: Media::negotiate(headers),
            received,
            graphql_operation,
        }
    }
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let Unauthorized {
            error,
            media,
            received,
            graphql_operation,
        } = self;
        let span = tracing::info_span!("authenticate", request_id = %received.id);
        let _entered = span.enter();
        let retry_after = match &error {
            AppError::Unavailable => Some(RETRY_AFTER_SECS),
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        let status = match &error {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            // A refused token replayed faster than its subject's bucket drains.
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            other => {
                tracing::error!(error = ?other, "authentication failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let refusal = Refusal::new(status, error);
        let mut response = if graphql_operation {
            refusal.respond(media, &received.id, received.at)
        } else {
            refusal.answer(media, &received.id)
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The request id: the client's `x-request-id` when it is a short token of letters, digits
/// and dashes, else a new UUID.
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
/// of a subject whose sessions were revoked at or after it was issued). Called only by the
/// extractors below.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    request_id: &str,
) -> Result<Option<Arc<Actor>>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(bearer)
        .ok_or_else(|| AppError::Unauthenticated("expected a bearer token".into()))?;
    Ok(Some(session(state, token, request_id).await?.actor))
}

/// The token of an `Authorization` value: `Bearer <token>`.
/// A verified token: who it stands for, and until when (Unix seconds).
pub(super) struct Session {
    pub(super) actor: Arc<Actor>,
    pub(super) expires_at: i64,
}

/// Verifies `token` and resolves its actor; refuses a bad or expired token, an unknown
/// consortium, and a token of a subject whose sessions were revoked at or after it was
/// issued. The one check of HTTP requests and websocket connections.
pub(super) async fn session(
    state: &AppState,
    token: &str,
    request_id: &str,
) -> Result<Session, AppError> {
    let claims = verify(state, token, request_id).await?;
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

/// The claims of a verified token: a trusted issuer's (when its `iss` names one), else the
/// configured JWT key's where that is accepted. A trusted issuer's token granting beyond its
/// boundary is refused and audited as `DENIED`.
async fn verify(state: &AppState, token: &str, request_id: &str) -> Result<Claims, AppError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(AppError::Unauthenticated("invalid or expired token".into()));
    }
    let config = &state.config;
    match claimed_issuer(token) {
        Some(iss) if config.issuers.trusts(&iss) => {
            match config.issuers.verify(&iss, token).await {
                Ok(claims) => Ok(claims),
                Err(Untrusted::Token(error)) => Err(error),
                Err(Untrusted::Breach(breach)) => {
                    Err(refuse_breach(state, &breach, request_id).await)
                }
            }
        }
        _ if config.jwt_tokens => config.jwt.verify(token),
        _ => Err(AppError::Unauthenticated("invalid or expired token".into())),
    }
}

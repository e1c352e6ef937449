//! GraphQL over websocket (`GET /graphql/ws`, graphql-transport-ws): the upgrade, the
//! protocol loop, authentication at `connection_init` (by the token in its payload, not by
//! a header), the session checks that close a revoked or expired connection, and closing
//! every socket when the server stops.
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::http::{WebSocket, WebSocketProtocols, WsMessage};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt, future};
use serde_json::Value as JsonValue;
use tracing::Instrument;

use super::Shared;
use super::caller::{Received, Session, session};
use crate::auth::bearer;
use crate::error::AppError;
use crate::graphql::context::RequestContext;
use crate::graphql::limits::OverWebsocket;
use crate::infra::audit::{AuditMark, COMMIT_WITHIN};
use crate::state::{AppState, stopped};

/// The websocket subprotocol spoken at `/graphql/ws`.
const GRAPHQL_TRANSPORT_WS: &str = "graphql-transport-ws";
/// How long a websocket may stay open before its `connection_init`.
const CONNECTION_INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an open websocket's session is checked (closed once revoked or expired).
const SESSION_CHECK_EVERY: Duration = Duration::from_secs(1);

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
pub(super) async fn graphql_ws(
    State(shared): State<Shared>,
    Received { id, .. }: Received,
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
                Some(token) => session(&state, token, &request_id).await,
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
                    data.insert(OverWebsocket);
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

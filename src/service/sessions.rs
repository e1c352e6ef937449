//! Session revocation (DESIGN §3): a consortium admin refuses, on every replica, every
//! token of a subject of the consortium issued at or before the revocation instant.
//!
//! The instant is in whole seconds: a token issued in the same second is refused too, so
//! that no token minted before the revocation slips through. The revocation is stored with
//! its audit event, noted here at once, and announced to the other replicas (see
//! [`crate::infra::revocations`]).
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use super::input::text;
use super::rate_limit::{Charge, charge_subject, export_cost};
use super::{AuditedAs, Service, audit_event_row};
use crate::auth::issuers::Breach;
use crate::domain::{AuditAction, Role};
use crate::error::{AppError, AppResult};
use crate::infra::audit::AuditMark;
use crate::infra::revocations::{self, Revocation};
use crate::state::AppState;
use crate::store;

/// Revokes every session of `subject` in the actor's consortium (CONSORTIUM_ADMIN); the
/// subject (checked, as `input.subject`) and the revocation instant.
pub async fn revoke_sessions(
    svc: &Service<'_>,
    subject: &str,
) -> AppResult<(String, DateTime<Utc>)> {
    let actor = svc.actor()?;
    actor.require_consortium_role(Role::ConsortiumAdmin)?;
    let subject = text("input.subject", subject, 255)?;
    let revoked_at = Utc::now().trunc_subsecs(0);
    let audit = svc.audit_row(
        AuditAction::Update,
        "Session",
        None,
        None,
        json!({ "revokedSubject": subject, "revokedAt": revoked_at }),
    );
    let state = svc.state;
    store::revocations::revoke(
        &state.db,
        actor.consortium_id,
        &subject,
        revoked_at,
        &actor.subject,
        audit,
    )
    .await?;
    let revocation = Revocation {
        consortium_id: actor.consortium_id,
        subject: subject.clone(),
        revoked_at: revoked_at.timestamp(),
    };
    state.revocations.note(&revocation);
    revocations::announce(&state.shared, &revocation).await;
    tracing::info!(revoked_at = %revoked_at, "sessions revoked");
    Ok((subject, revoked_at))
}

/// Refuses a token whose issuer granted beyond its boundary (`UNAUTHENTICATED`) and
/// records a `DENIED` event (entity `token`: the issuer, the qualified subject and the
/// grants, no other claim).
///
/// Each refusal is charged to the subject's rate-limit bucket like an export
/// ([`export_cost`]): a token replayed in a loop is audited a few times a minute, then
/// answered `RATE_LIMITED` (not audited, like any rate-limited request) until the bucket
/// drains, rather than writing an audit row per request for as long as it is sent.
pub async fn refuse_breach(state: &AppState, breach: &Breach, request_id: &str) -> AppError {
    let consortium_id = state
        .directory
        .current()
        .consortium(&breach.consortium)
        .map(|c| c.id);
    let cost = export_cost(state);
    if let Charge::Poured(decision) =
        charge_subject(state, consortium_id.unwrap_or(0), &breach.subject, cost).await
        && !decision.allowed
    {
        return Charge::refusal(&decision);
    }
    tracing::warn!(issuer = %breach.issuer, outside = ?breach.outside, "a token granted beyond its issuer's authorities was refused");
    let who = AuditedAs {
        consortium_id,
        subject: &breach.subject,
        acting_authority_id: None,
        request_id,
    };
    let detail = json!({
        "code": "UNAUTHENTICATED",
        "issuer": breach.issuer,
        "outside": breach.outside,
    });
    let event = audit_event_row(who, AuditAction::Denied, "token", None, None, detail);
    state.audit.record(&AuditMark::default(), event);
    AppError::Unauthenticated("the token's issuer may not grant these roles".into())
}

//! Session revocation (DESIGN §3): a consortium admin refuses, on every replica, every
//! token of a subject of the consortium issued at or before the revocation instant.
//!
//! The instant is in whole seconds: a token issued in the same second is refused too, so
//! that no token minted before the revocation slips through. The revocation is stored with
//! its audit event, noted here at once, and announced to the other replicas (see
//! [`crate::infra::revocations`]).
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use super::Service;
use super::input::text;
use crate::domain::{AuditAction, Role};
use crate::error::AppResult;
use crate::infra::revocations::{self, Revocation};
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

//! Consortium administration: session revocation (DESIGN §3).
//!
//! `revokeSessions` refuses, on every replica, every token of a subject in the admin's
//! consortium issued at or before the revocation instant (whole seconds: a token issued in
//! the same second is refused too, so that no token minted before the revocation slips
//! through). The revocation is stored with its audit event, noted here at once, and
//! announced to the other replicas (see [`crate::infra::revocations`]).
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use super::context::ContextExt;
use super::inputs::text;
use crate::domain::{AuditAction, Role};
use crate::error::AppResult;
use crate::infra::revocations::{self, Revocation};
use crate::store;

/// Whose sessions to revoke.
#[derive(InputObject)]
pub struct RevokeSessionsInput {
    /// The token subject (`sub`) in your consortium.
    pub subject: String,
}

/// A revocation.
#[derive(SimpleObject)]
pub struct RevokeSessionsPayload {
    pub subject: String,
    /// Tokens of the subject issued at or before this instant are refused from now on.
    pub revoked_at: DateTime<Utc>,
}

/// Administration mutations.
#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Revokes every session of a subject in your consortium (CONSORTIUM_ADMIN): tokens
    /// issued at or before now are refused on every replica within a second. The subject
    /// signs in again to get a new token.
    async fn revoke_sessions(
        &self,
        ctx: &Context<'_>,
        input: RevokeSessionsInput,
    ) -> AppResult<RevokeSessionsPayload> {
        let actor = ctx.actor()?;
        actor.require_consortium_role(Role::ConsortiumAdmin)?;
        let subject = text("input.subject", &input.subject, 255)?;
        let revoked_at = Utc::now().trunc_subsecs(0);
        let audit = ctx.audit_row(
            AuditAction::Update,
            "Session",
            None,
            None,
            json!({ "revokedSubject": subject, "revokedAt": revoked_at }),
        );
        let state = ctx.state();
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
        Ok(RevokeSessionsPayload {
            subject,
            revoked_at,
        })
    }
}

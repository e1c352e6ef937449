//! Consortium administration: session revocation (DESIGN §3).
//!
//! `revokeSessions` refuses, on every replica, every token of a subject in the admin's
//! consortium issued at or before the revocation instant (whole seconds: a token issued in
//! the same second is refused too, so that no token minted before the revocation slips
//! through). The use case is [`crate::service::sessions::revoke_sessions`].
use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};

use super::context::ContextExt;
use crate::error::AppResult;
use crate::service::sessions;

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
        let (subject, revoked_at) =
            sessions::revoke_sessions(&ctx.service(), &input.subject).await?;
        Ok(RevokeSessionsPayload {
            subject,
            revoked_at,
        })
    }
}

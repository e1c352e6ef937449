//! A subject whose sessions were revoked: every token of the subject in the consortium
//! issued (`iat`) at or before `revoked_at` is refused. One row per subject and consortium,
//! holding the latest revocation; the history is in the audit log.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_revocation")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    /// The token subject (`sub`).
    pub subject: String,
    /// Whole seconds: tokens with `iat` up to and including this instant are refused.
    pub revoked_at: DateTimeUtc,
    /// The subject of the admin who revoked the sessions.
    pub revoked_by: String,
}

impl ActiveModelBehavior for ActiveModel {}

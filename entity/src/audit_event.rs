//! Who read, searched, wrote or was refused what. Append-only: no API updates or deletes.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub occurred_at: DateTimeUtc,
    pub consortium_id: Option<i64>,
    pub subject: String,
    pub acting_authority_id: Option<i64>,
    /// `VIEW`, `SEARCH`, `CREATE`, `UPDATE`, `DECIDE`, `EXPORT` or `DENIED`.
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<i64>,
    pub owning_authority_id: Option<i64>,
    pub request_id: String,
    /// Small JSON object; never personal data.
    pub detail: String,
}

impl ActiveModelBehavior for ActiveModel {}

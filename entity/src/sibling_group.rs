//! Children to be placed together (or flagged as possibly placed apart).
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sibling_group")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    pub authority_id: i64,
    /// Internal label used by the child's authority; never shared.
    pub label: String,
    pub must_stay_together: bool,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

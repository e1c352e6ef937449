//! A member of one consortium: a local authority or a voluntary adoption agency.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "authority")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    /// Short code, unique within the consortium (e.g. `alder`).
    pub code: String,
    pub name: String,
    /// `LOCAL_AUTHORITY` or `VOLUNTARY_AGENCY`.
    pub kind: String,
    pub created_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

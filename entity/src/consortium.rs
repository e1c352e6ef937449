//! A regional adoption agency: the unit of tenancy. Nothing is shared between consortia.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consortium")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub code: String,
    pub name: String,
    /// Default match weights as JSON; `None` means the built-in defaults.
    pub match_weights: Option<String>,
    pub created_at: DateTimeUtc,
    /// Bumped by every write transaction to the consortium's registers (see
    /// `store::begin_consortium_write`).
    pub data_version: i64,
}

impl ActiveModelBehavior for ActiveModel {}

//! One step of a household's recruitment journey. Append-only.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recruitment_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    pub authority_id: i64,
    pub household_id: i64,
    pub stage: String,
    pub occurred_on: Date,
    /// Exit or hold reason code, where the stage takes one.
    pub reason: Option<String>,
    /// The subject (token `sub`) who recorded it.
    pub recorded_by: String,
    pub recorded_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

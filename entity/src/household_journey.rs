//! A household's recruitment journey in one row: the first date each stage was reached
//! and the exit, recomputed from its `recruitment_event`s by triggers (never written by
//! the service).
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "household_journey")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub household_id: i64,
    pub consortium_id: i64,
    /// The consortium's data version when the row was last written.
    pub data_version: i64,
    pub authority_id: i64,
    pub enquiry_channel: String,
    pub enquiry_on: Date,
    pub fast_track: bool,
    /// The date of the household's first event (its enquiry).
    pub first_event_on: Date,
    pub information_event_on: Option<Date>,
    pub stage_one_started_on: Option<Date>,
    pub stage_one_completed_on: Option<Date>,
    pub stage_two_started_on: Option<Date>,
    pub stage_two_completed_on: Option<Date>,
    pub panel_on: Option<Date>,
    pub approved_on: Option<Date>,
    pub matched_on: Option<Date>,
    pub placed_on: Option<Date>,
    pub adoption_order_on: Option<Date>,
    pub exit_on: Option<Date>,
    pub exit_stage: Option<String>,
    pub exit_reason: Option<String>,
}

impl ActiveModelBehavior for ActiveModel {}

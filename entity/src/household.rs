//! An adopter household (one or two applicants) recruited by one authority or agency.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "household")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    pub authority_id: i64,
    pub version: i32,
    // Personal details: full record only.
    pub applicant_one_name: String,
    pub applicant_two_name: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub profile_name: String,
    pub ethnicity: String,
    pub enquiry_channel: String,
    pub enquiry_on: Date,
    pub fast_track: bool,
    /// The latest stage reached (an exit stage once the household has left).
    pub stage: String,
    pub stage_on: Date,
    pub on_hold: bool,
    pub approved_on: Option<Date>,
    // Approval profile.
    pub capacity: i16,
    pub age_min_months: i32,
    pub age_max_months: i32,
    pub accepts_physical_health: i16,
    pub accepts_disability: i16,
    pub accepts_learning: i16,
    pub accepts_developmental_uncertainty: i16,
    pub accepts_emotional_behavioural: i16,
    pub accepts_prenatal_exposure: i16,
    pub accepts_siblings: bool,
    /// `ANY`, `FEMALE` or `MALE`.
    pub gender_preference: String,
    pub early_permanence_approved: bool,
    pub religion: Option<String>,
    /// Comma-separated language codes.
    pub languages: Option<String>,
    pub culture: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub profile_text: String,
    pub available_for_matching: bool,
    pub shared_with_consortium: bool,
    /// The authority's own reference for a household brought in from its adopter register,
    /// unique within the authority; `None` for a household registered through the API.
    pub import_reference: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

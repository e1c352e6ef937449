//! A child looked after by one authority, with the milestones of the adoption journey.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "child")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    pub authority_id: i64,
    pub version: i32,
    // Identity: legal name and date of birth never leave the child's authority.
    pub legal_name: String,
    pub date_of_birth: Date,
    pub profile_name: String,
    pub gender: String,
    pub ethnicity: String,
    // Needs, each 0 = NONE .. 3 = HIGH.
    pub need_physical_health: i16,
    pub need_disability: i16,
    pub need_learning: i16,
    pub need_developmental_uncertainty: i16,
    pub need_emotional_behavioural: i16,
    pub need_prenatal_exposure: i16,
    // Identity considerations: codes for matching, free text for the profile.
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    pub identity_notes: Option<String>,
    pub requires_early_permanence: bool,
    pub birth_family_lat: Option<f64>,
    pub birth_family_lon: Option<f64>,
    pub min_distance_km: Option<f64>,
    /// Birth family details and case notes: full record only, never shared.
    pub birth_family_details: Option<String>,
    pub notes: Option<String>,
    pub sibling_group_id: Option<i64>,
    pub profile_text: String,
    pub shared_with_consortium: bool,
    // Milestones.
    pub entered_care_on: Option<Date>,
    pub adoption_plan_on: Option<Date>,
    pub shobpa_decision_on: Option<Date>,
    pub placement_order_on: Option<Date>,
    pub match_decision_on: Option<Date>,
    pub placed_on: Option<Date>,
    pub adoption_order_on: Option<Date>,
    pub foster_placement_started_on: Option<Date>,
    pub adopted_by_foster_carers: bool,
    pub plan_changed_on: Option<Date>,
    /// `RD1`..`RD4`.
    pub plan_change_reason: Option<String>,
    pub placement_order_revoked_on: Option<Date>,
    /// The authority's own reference for a child brought in by an import (SSDA903
    /// `CHILD`), unique within the authority; `None` for a child registered through the API.
    pub import_reference: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}

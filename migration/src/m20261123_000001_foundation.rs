//! Tenancy, the registers of children and households, recruitment events and the audit log.
use crate::ddl;

/// The migration: [`UP`] and [`DOWN`].
pub const MIGRATION: ddl::Script = ddl::Script::new("m20261123_000001_foundation", UP, DOWN);

const UP: &str = r#"
CREATE TABLE consortium (
    id {pk},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    match_weights TEXT,
    created_at {ts} NOT NULL
);
CREATE TABLE authority (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_at {ts} NOT NULL
);
CREATE UNIQUE INDEX authority_code ON authority (consortium_id, code);

CREATE TABLE sibling_group (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    authority_id BIGINT NOT NULL REFERENCES authority (id),
    label TEXT NOT NULL,
    must_stay_together {bool} NOT NULL,
    version INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX sibling_group_authority ON sibling_group (authority_id);

CREATE TABLE child (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    authority_id BIGINT NOT NULL REFERENCES authority (id),
    version INTEGER NOT NULL,
    legal_name TEXT NOT NULL,
    date_of_birth {date} NOT NULL,
    profile_name TEXT NOT NULL,
    gender TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    need_physical_health SMALLINT NOT NULL,
    need_disability SMALLINT NOT NULL,
    need_learning SMALLINT NOT NULL,
    need_developmental_uncertainty SMALLINT NOT NULL,
    need_emotional_behavioural SMALLINT NOT NULL,
    need_prenatal_exposure SMALLINT NOT NULL,
    religion TEXT,
    language TEXT,
    culture TEXT,
    identity_notes TEXT,
    requires_early_permanence {bool} NOT NULL,
    birth_family_lat {real},
    birth_family_lon {real},
    min_distance_km {real},
    birth_family_details TEXT,
    notes TEXT,
    sibling_group_id BIGINT REFERENCES sibling_group (id),
    profile_text TEXT NOT NULL,
    shared_with_consortium {bool} NOT NULL,
    entered_care_on {date},
    adoption_plan_on {date},
    shobpa_decision_on {date},
    placement_order_on {date},
    match_decision_on {date},
    placed_on {date},
    adoption_order_on {date},
    foster_placement_started_on {date},
    adopted_by_foster_carers {bool} NOT NULL,
    plan_changed_on {date},
    plan_change_reason TEXT,
    placement_order_revoked_on {date},
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX child_authority ON child (authority_id, id);
CREATE INDEX child_consortium_adopted ON child (consortium_id, adoption_order_on);
CREATE INDEX child_sibling_group ON child (sibling_group_id);
CREATE INDEX child_pool ON child (consortium_id, shobpa_decision_on, placement_order_on)
    WHERE match_decision_on IS NULL AND placed_on IS NULL AND plan_changed_on IS NULL
      AND placement_order_revoked_on IS NULL;

CREATE TABLE household (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    authority_id BIGINT NOT NULL REFERENCES authority (id),
    version INTEGER NOT NULL,
    applicant_one_name TEXT NOT NULL,
    applicant_two_name TEXT,
    address TEXT,
    notes TEXT,
    profile_name TEXT NOT NULL,
    ethnicity TEXT NOT NULL,
    enquiry_channel TEXT NOT NULL,
    enquiry_on {date} NOT NULL,
    fast_track {bool} NOT NULL,
    stage TEXT NOT NULL,
    stage_on {date} NOT NULL,
    on_hold {bool} NOT NULL,
    approved_on {date},
    capacity SMALLINT NOT NULL,
    age_min_months INTEGER NOT NULL,
    age_max_months INTEGER NOT NULL,
    accepts_physical_health SMALLINT NOT NULL,
    accepts_disability SMALLINT NOT NULL,
    accepts_learning SMALLINT NOT NULL,
    accepts_developmental_uncertainty SMALLINT NOT NULL,
    accepts_emotional_behavioural SMALLINT NOT NULL,
    accepts_prenatal_exposure SMALLINT NOT NULL,
    accepts_siblings {bool} NOT NULL,
    gender_preference TEXT NOT NULL,
    early_permanence_approved {bool} NOT NULL,
    religion TEXT,
    languages TEXT,
    culture TEXT,
    lat {real},
    lon {real},
    profile_text TEXT NOT NULL,
    available_for_matching {bool} NOT NULL,
    shared_with_consortium {bool} NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
CREATE INDEX household_authority ON household (authority_id, stage, id);
CREATE INDEX household_pool ON household (consortium_id, approved_on, id)
    WHERE stage = 'APPROVED' AND on_hold = FALSE AND available_for_matching = TRUE;

CREATE TABLE recruitment_event (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    authority_id BIGINT NOT NULL REFERENCES authority (id),
    household_id BIGINT NOT NULL REFERENCES household (id),
    stage TEXT NOT NULL,
    occurred_on {date} NOT NULL,
    reason TEXT,
    recorded_by TEXT NOT NULL,
    recorded_at {ts} NOT NULL
);
CREATE INDEX recruitment_event_household ON recruitment_event (household_id, id);
CREATE INDEX recruitment_event_stage ON recruitment_event (consortium_id, stage, occurred_on);
CREATE INDEX recruitment_event_date ON recruitment_event (consortium_id, occurred_on, household_id);
CREATE INDEX household_enquiry ON household (consortium_id, enquiry_on);

CREATE TABLE audit_event (
    id {pk},
    occurred_at {ts} NOT NULL,
    consortium_id BIGINT,
    subject TEXT NOT NULL,
    acting_authority_id BIGINT,
    action TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id BIGINT,
    owning_authority_id BIGINT,
    request_id TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX audit_event_consortium ON audit_event (consortium_id, id);
CREATE INDEX audit_event_owner ON audit_event (owning_authority_id, id);
"#;

const DOWN: &str = r#"
DROP TABLE audit_event;
DROP TABLE recruitment_event;
DROP TABLE household;
DROP TABLE child;
DROP TABLE sibling_group;
DROP TABLE authority;
DROP TABLE consortium;
"#;

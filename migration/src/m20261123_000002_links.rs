//! Links between a child (or a must-stay-together sibling group) and an approved household,
//! and the children each link covers.
//!
//! One `link` row per *unit*: a single child (`child_id` set) or a must-stay-together
//! sibling group (`sibling_group_id` set, `child_id` null) — never both, never neither. A
//! group is proposed, accepted, matched and placed as one unit, so it has one state, one
//! version and one history; one row per child would let the rows of one group drift apart.
//!
//! `link_child` lists the children a link covers (one row for a single child, one per
//! member for a group, fixed when the link is proposed). Its `holding` flag is true exactly
//! while the link is `MATCHED` or `PLACED`, so that the rule "at most one matched or placed
//! link per child" is a unique index on `child_id` whatever kind of link holds the child.
//!
//! The invariants of DESIGN §2 as partial unique indexes (the same text on SQLite and
//! PostgreSQL), the last line of defence under concurrency:
//! * at most one `MATCHED`/`PLACED` link per child (`link_child_holding`), per sibling group
//!   (`link_group_active`) and per household (`link_household_active`);
//! * at most one open (`PROPOSED`/`EXPLORING`) link per pair (`link_child_open`,
//!   `link_group_open`).
//!
//! `household_match` is a partial covering index of the household pool with every column
//! matching reads: suggestions for a child tally and load the pool in one pass over it
//! instead of over the wide household rows (see `store::matching`). It costs one more index
//! entry per approved, available household, written when a household changes — rarely.
//!
//! Unique indexes treat NULLs as distinct on both backends, so a group link (null
//! `child_id`) and a single-child link (null `sibling_group_id`) never collide with each
//! other in the per-pair and per-group indexes.
use crate::ddl;

/// The migration: [`UP`] and [`DOWN`].
pub const MIGRATION: ddl::Script = ddl::Script::new("m20261123_000002_links", UP, DOWN);

const UP: &str = r#"
CREATE TABLE link (
    id {pk},
    consortium_id BIGINT NOT NULL REFERENCES consortium (id),
    child_id BIGINT REFERENCES child (id),
    sibling_group_id BIGINT REFERENCES sibling_group (id),
    household_id BIGINT NOT NULL REFERENCES household (id),
    child_authority_id BIGINT NOT NULL REFERENCES authority (id),
    household_authority_id BIGINT NOT NULL REFERENCES authority (id),
    proposed_by_authority_id BIGINT NOT NULL REFERENCES authority (id),
    state TEXT NOT NULL,
    cross_boundary {bool} NOT NULL,
    inter_agency_fee_pence BIGINT,
    end_reason TEXT,
    proposed_on {date} NOT NULL,
    accepted_on {date},
    matched_on {date},
    placed_on {date},
    adoption_order_on {date},
    ended_on {date},
    version INTEGER NOT NULL,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL,
    CHECK ((child_id IS NULL) <> (sibling_group_id IS NULL)),
    CHECK (state IN ('PROPOSED', 'EXPLORING', 'MATCHED', 'PLACED', 'ADOPTED', 'DECLINED',
                     'WITHDRAWN', 'DISRUPTED')),
    CHECK (inter_agency_fee_pence IS NULL OR inter_agency_fee_pence >= 0)
);
CREATE UNIQUE INDEX link_household_active ON link (household_id)
    WHERE state IN ('MATCHED', 'PLACED');
CREATE UNIQUE INDEX link_group_active ON link (sibling_group_id)
    WHERE state IN ('MATCHED', 'PLACED');
CREATE UNIQUE INDEX link_child_open ON link (child_id, household_id)
    WHERE state IN ('PROPOSED', 'EXPLORING');
CREATE UNIQUE INDEX link_group_open ON link (sibling_group_id, household_id)
    WHERE state IN ('PROPOSED', 'EXPLORING');
CREATE INDEX link_by_child_state ON link (child_id, state);
CREATE INDEX link_group ON link (sibling_group_id, state);
CREATE INDEX link_household ON link (household_id, state);
CREATE INDEX link_child_authority ON link (child_authority_id, id);
CREATE INDEX link_household_authority ON link (household_authority_id, id);

CREATE INDEX household_match ON household (
    consortium_id, shared_with_consortium, authority_id, approved_on, capacity,
    age_min_months, age_max_months, accepts_physical_health, accepts_disability,
    accepts_learning, accepts_developmental_uncertainty, accepts_emotional_behavioural,
    accepts_prenatal_exposure, accepts_siblings, gender_preference, early_permanence_approved,
    religion, languages, culture, lat, lon, stage, on_hold, available_for_matching, id)
    WHERE stage = 'APPROVED' AND on_hold = FALSE AND available_for_matching = TRUE;

CREATE TABLE link_child (
    id {pk},
    link_id BIGINT NOT NULL REFERENCES link (id),
    child_id BIGINT NOT NULL REFERENCES child (id),
    holding {bool} NOT NULL
);
CREATE UNIQUE INDEX link_child_member ON link_child (link_id, child_id);
CREATE UNIQUE INDEX link_child_holding ON link_child (child_id) WHERE holding = TRUE;
CREATE INDEX link_child_child ON link_child (child_id)
"#;

const DOWN: &str = r#"
DROP INDEX household_match;
DROP TABLE link_child;
DROP TABLE link;
"#;

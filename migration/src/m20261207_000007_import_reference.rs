//! Imported records: the authority's own reference for a child brought in from its
//! SSDA903 returns (`CHILD`) and for a household brought in from its adopter register,
//! unique within the authority, by which a re-import finds the same record again. Records
//! registered through the API have none.
use crate::ddl;

/// The migration: [`UP`] and [`DOWN`].
pub const MIGRATION: ddl::Script = ddl::Script::new("m20261207_000007_import_reference", UP, DOWN);

const UP: &str = r#"
ALTER TABLE child ADD COLUMN import_reference VARCHAR(64);
CREATE UNIQUE INDEX child_import_reference ON child (authority_id, import_reference);
ALTER TABLE household ADD COLUMN import_reference VARCHAR(64);
CREATE UNIQUE INDEX household_import_reference ON household (authority_id, import_reference)
"#;

const DOWN: &str = r#"
DROP INDEX household_import_reference;
ALTER TABLE household DROP COLUMN import_reference;
DROP INDEX child_import_reference;
ALTER TABLE child DROP COLUMN import_reference
"#;

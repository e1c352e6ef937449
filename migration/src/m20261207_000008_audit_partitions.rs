//! The audit log at scale: indexes for "who looked at this record" and "what did this
//! person look at", and on PostgreSQL a log partitioned by month.
//!
//! On PostgreSQL `audit_event` becomes a table partitioned by `occurred_at` (UTC months).
//! The table it was becomes its default partition, so no event is rewritten here; the
//! service's maintenance (`store::audit::maintain`) moves the default partition's events
//! into monthly partitions, makes the coming months' partitions ahead of time, and detaches
//! (never drops) the months an agency's retention setting no longer keeps. Event ids go on
//! from where they were, from a sequence of the partitioned table. There is no primary key
//! on the partitioned table (PostgreSQL would want `occurred_at` in it, and nothing looks an
//! event up by its id alone): ids are unique because only the sequence gives them.
//!
//! SQLite keeps one table. On both, the two new indexes lead with the consortium, as every
//! reading of the log names one: with two equalities they are the indexes either planner
//! takes for those questions, statistics or none. The index on the owning authority goes:
//! a manager's reading is found through the entity, the subject, or the consortium's
//! newest events, and every index is paid for by every audited read.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &str = r#"
DROP INDEX audit_event_owner;
CREATE INDEX audit_event_by_entity ON audit_event (consortium_id, entity_id, id);
CREATE INDEX audit_event_by_subject ON audit_event (consortium_id, subject, id)
"#;

const SQLITE_DOWN: &str = r#"
DROP INDEX audit_event_by_subject;
DROP INDEX audit_event_by_entity;
CREATE INDEX audit_event_owner ON audit_event (owning_authority_id, id)
"#;

const PG_UP: &str = r#"
CREATE SEQUENCE audit_event_number AS BIGINT;
SELECT setval('audit_event_number', nextval(pg_get_serial_sequence('audit_event', 'id')), false);
ALTER TABLE audit_event RENAME TO audit_event_default;
ALTER TABLE audit_event_default DROP CONSTRAINT audit_event_pkey;
DROP INDEX audit_event_owner;
ALTER TABLE audit_event_default ALTER COLUMN id DROP IDENTITY;
CREATE TABLE audit_event (
    id BIGINT NOT NULL DEFAULT nextval('audit_event_number'),
    {columns}
) PARTITION BY RANGE (occurred_at);
ALTER SEQUENCE audit_event_number OWNED BY audit_event.id;
ALTER TABLE audit_event ATTACH PARTITION audit_event_default DEFAULT;
CREATE INDEX audit_event_by_consortium ON audit_event (consortium_id, id);
CREATE INDEX audit_event_by_entity ON audit_event (consortium_id, entity_id, id);
CREATE INDEX audit_event_by_subject ON audit_event (consortium_id, subject, id)
"#;

/// Back to one table, with every event still attached (detached months stay tables of
/// their own).
const PG_DOWN: &str = r#"
CREATE TABLE audit_event_flat (
    id {pk},
    {columns}
);
INSERT INTO audit_event_flat SELECT * FROM audit_event ORDER BY id;
SELECT setval(pg_get_serial_sequence('audit_event_flat', 'id'), nextval('audit_event_number'), false);
DROP TABLE audit_event;
ALTER TABLE audit_event_flat RENAME TO audit_event;
ALTER TABLE audit_event RENAME CONSTRAINT audit_event_flat_pkey TO audit_event_pkey;
ALTER SEQUENCE audit_event_flat_id_seq RENAME TO audit_event_id_seq;
CREATE INDEX audit_event_consortium ON audit_event (consortium_id, id);
CREATE INDEX audit_event_owner ON audit_event (owning_authority_id, id)
"#;

/// The columns of an audit event after its id, as the log has always had them.
const COLUMNS: &str = "occurred_at {ts} NOT NULL, consortium_id BIGINT, subject TEXT NOT NULL, \
    acting_authority_id BIGINT, action TEXT NOT NULL, entity_type TEXT NOT NULL, \
    entity_id BIGINT, owning_authority_id BIGINT, request_id TEXT NOT NULL, detail TEXT NOT NULL";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => ddl::run(manager, &PG_UP.replace("{columns}", COLUMNS)).await,
            _ => ddl::run(manager, SQLITE_UP).await,
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => ddl::run(manager, &PG_DOWN.replace("{columns}", COLUMNS)).await,
            _ => ddl::run(manager, SQLITE_DOWN).await,
        }
    }
}

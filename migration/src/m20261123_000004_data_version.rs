//! A per-consortium data version, and the version each row was last written at.
//!
//! Every write transaction to a consortium's registers (children, sibling groups,
//! households, links, match weights) bumps `consortium.data_version` first. Triggers stamp
//! each child and household row inserted or updated with the consortium's version as the
//! writing transaction sees it — the bumped one. A replica
//! holding an in-memory copy of a consortium's matching pool can then tell with one
//! primary-key read whether the copy is current, and bring it up to date by reading only
//! the rows stamped after it (`data_version > held`), whichever replica made the writes.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The stamped tables.
const TABLES: [&str; 2] = ["child", "household"];

const UP: &str = r#"
ALTER TABLE consortium ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE child ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE household ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX child_data_version ON child (consortium_id, data_version);
CREATE INDEX household_data_version ON household (consortium_id, data_version)
"#;

const DOWN: &str = r#"
DROP INDEX household_data_version;
DROP INDEX child_data_version;
ALTER TABLE household DROP COLUMN data_version;
ALTER TABLE child DROP COLUMN data_version;
ALTER TABLE consortium DROP COLUMN data_version
"#;

/// PostgreSQL: one function, a `BEFORE` row trigger per table.
const PG_FUNCTION: &str = r#"
CREATE FUNCTION stamp_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.data_version := (SELECT data_version FROM consortium WHERE id = NEW.consortium_id);
    RETURN NEW;
END
$$
"#;

fn pg_trigger(table: &str) -> String {
    format!(
        "CREATE TRIGGER {table}_data_version BEFORE INSERT OR UPDATE ON {table} \
         FOR EACH ROW EXECUTE FUNCTION stamp_data_version()"
    )
}

/// SQLite cannot assign to `NEW`: `AFTER` triggers stamp the row in a second update (which
/// fires no trigger: SQLite's recursive triggers are off).
fn sqlite_triggers(table: &str) -> [String; 2] {
    let stamp = format!(
        "UPDATE {table} SET data_version = \
         (SELECT data_version FROM consortium WHERE id = NEW.consortium_id) WHERE id = NEW.id"
    );
    [
        format!(
            "CREATE TRIGGER {table}_data_version_insert AFTER INSERT ON {table} BEGIN {stamp}; END"
        ),
        format!(
            "CREATE TRIGGER {table}_data_version_update AFTER UPDATE ON {table} \
             WHEN NEW.data_version = OLD.data_version BEGIN {stamp}; END"
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, UP).await?;
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                conn.execute_unprepared(PG_FUNCTION).await?;
                for table in TABLES {
                    conn.execute_unprepared(&pg_trigger(table)).await?;
                }
            }
            _ => {
                for table in TABLES {
                    for trigger in sqlite_triggers(table) {
                        conn.execute_unprepared(&trigger).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for table in TABLES {
                    conn.execute_unprepared(&format!(
                        "DROP TRIGGER {table}_data_version ON {table}"
                    ))
                    .await?;
                }
                conn.execute_unprepared("DROP FUNCTION stamp_data_version()")
                    .await?;
            }
            _ => {
                for table in TABLES {
                    for event in ["insert", "update"] {
                        conn.execute_unprepared(&format!(
                            "DROP TRIGGER {table}_data_version_{event}"
                        ))
                        .await?;
                    }
                }
            }
        }
        ddl::run(manager, DOWN).await
    }
}

//! `household_journey`: each household's recruitment journey in one row, kept by triggers.
//!
//! The recruitment funnel needs, per household, the first date each stage was reached and
//! the exit. Aggregating a million events for a yearly funnel takes seconds; one row per
//! household is a few megabytes that each replica holds in memory (`store::recruitment`).
//! Events are append-only and dated in order, so the row answers "as of" any date too: a
//! stage first reached after that date had not been reached then.
//!
//! The row is recomputed from the household's events by a trigger after each event is
//! inserted, and after the household fields it copies change: whatever writes the events —
//! the API, a seed, a hand-written fix — the row follows, in the same transaction. Like
//! household rows (migration 4), it is stamped with its consortium's data version as the
//! writing transaction sees it, so replicas can read only the rows written since the
//! version they hold.
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::ddl;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The stages after the enquiry whose first date is kept, as `<code in lower case>_on`.
const REACHED_STAGES: [&str; 10] = [
    "INFORMATION_EVENT",
    "STAGE_ONE_STARTED",
    "STAGE_ONE_COMPLETED",
    "STAGE_TWO_STARTED",
    "STAGE_TWO_COMPLETED",
    "PANEL",
    "APPROVED",
    "MATCHED",
    "PLACED",
    "ADOPTION_ORDER",
];

const EXITS: &str = "('WITHDRAWN', 'ENDED_BY_AGENCY')";

/// The column of a stage's first date.
fn reached_column(stage_code: &str) -> String {
    format!("{}_on", stage_code.to_ascii_lowercase())
}

fn create_table() -> String {
    let reached: String = REACHED_STAGES
        .iter()
        .map(|s| format!("    {} {{date}},\n", reached_column(s)))
        .collect();
    format!(
        r#"
CREATE TABLE household_journey (
    household_id BIGINT PRIMARY KEY REFERENCES household (id) ON DELETE CASCADE,
    consortium_id BIGINT NOT NULL,
    data_version BIGINT NOT NULL,
    authority_id BIGINT NOT NULL,
    enquiry_channel TEXT NOT NULL,
    enquiry_on {{date}} NOT NULL,
    fast_track {{bool}} NOT NULL,
    first_event_on {{date}} NOT NULL,
{reached}    exit_on {{date}},
    exit_stage TEXT,
    exit_reason TEXT
);
CREATE INDEX household_journey_data_version ON household_journey (consortium_id, data_version)
"#
    )
}

/// The statement that recomputes the journey rows of the households matching `filter`
/// (a condition on `household h`) from their events.
fn refresh(filter: &str) -> String {
    let reached: Vec<String> = REACHED_STAGES.iter().map(|s| reached_column(s)).collect();
    let mut columns = vec![
        "household_id",
        "consortium_id",
        "data_version",
        "authority_id",
        "enquiry_channel",
        "enquiry_on",
        "fast_track",
        "first_event_on",
    ];
    columns.extend(reached.iter().map(String::as_str));
    columns.extend(["exit_on", "exit_stage", "exit_reason"]);
    let firsts: String = REACHED_STAGES
        .iter()
        .map(|s| format!("MIN(CASE WHEN e.stage = '{s}' THEN e.occurred_on END), "))
        .collect();
    let updates = columns[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO household_journey ({columns}) \
         SELECT h.id, h.consortium_id, c.data_version, h.authority_id, h.enquiry_channel, \
                h.enquiry_on, h.fast_track, MIN(e.occurred_on), {firsts}\
                MIN(CASE WHEN e.stage IN {EXITS} THEN e.occurred_on END), \
                MAX(CASE WHEN e.stage IN {EXITS} THEN e.stage END), \
                MAX(CASE WHEN e.stage IN {EXITS} THEN e.reason END) \
         FROM household h JOIN consortium c ON c.id = h.consortium_id \
              JOIN recruitment_event e ON e.household_id = h.id \
         WHERE {filter} \
         GROUP BY h.id, h.consortium_id, c.data_version, h.authority_id, h.enquiry_channel, \
                  h.enquiry_on, h.fast_track \
         ON CONFLICT (household_id) DO UPDATE SET {updates}",
        columns = columns.join(", "),
    )
}

/// The household fields copied into the journey row.
const COPIED: &str = "authority_id, enquiry_channel, enquiry_on, fast_track";

/// PostgreSQL: the households are locked before their events are read, so two
/// transactions adding events to one household cannot each write a row missing the
/// other's event (each statement of the function reads afresh once the locks are held).
/// Events get a statement-level trigger, so a multi-row insert (a seed) recomputes each
/// household it touches once.
fn pg_function(name: &str, households: &str) -> String {
    format!(
        "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM household WHERE id IN ({households}) ORDER BY id FOR UPDATE;
    {refresh};
    RETURN NULL;
END
$$",
        refresh = refresh(&format!("h.id IN ({households})"))
    )
}

fn pg_statements() -> Vec<String> {
    vec![
        pg_function(
            "refresh_journeys_after_events",
            "SELECT household_id FROM inserted_events",
        ),
        pg_function("refresh_journey_after_household", "NEW.id"),
        "CREATE TRIGGER recruitment_event_journey AFTER INSERT ON recruitment_event \
         REFERENCING NEW TABLE AS inserted_events \
         FOR EACH STATEMENT EXECUTE FUNCTION refresh_journeys_after_events()"
            .into(),
        format!(
            "CREATE TRIGGER household_journey_fields AFTER UPDATE OF {COPIED} ON household \
             FOR EACH ROW EXECUTE FUNCTION refresh_journey_after_household()"
        ),
    ]
}

/// SQLite runs one writer at a time, so the trigger body is the statement itself.
fn sqlite_statements() -> Vec<String> {
    vec![
        format!(
            "CREATE TRIGGER recruitment_event_journey AFTER INSERT ON recruitment_event \
             BEGIN {}; END",
            refresh("h.id = NEW.household_id")
        ),
        format!(
            "CREATE TRIGGER household_journey_fields AFTER UPDATE OF {COPIED} ON household \
             BEGIN {}; END",
            refresh("h.id = NEW.id")
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        ddl::run(manager, &create_table()).await?;
        let conn = manager.get_connection();
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => pg_statements(),
            _ => sqlite_statements(),
        };
        for statement in statements {
            conn.execute_unprepared(&statement).await?;
        }
        // The rows of the events already recorded.
        conn.execute_unprepared(&refresh("TRUE")).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let conn = manager.get_connection();
        let statements: &[&str] = match manager.get_database_backend() {
            DbBackend::Postgres => &[
                "DROP TRIGGER household_journey_fields ON household",
                "DROP TRIGGER recruitment_event_journey ON recruitment_event",
                "DROP FUNCTION refresh_journey_after_household()",
                "DROP FUNCTION refresh_journeys_after_events()",
            ],
            _ => &[
                "DROP TRIGGER household_journey_fields",
                "DROP TRIGGER recruitment_event_journey",
            ],
        };
        for statement in statements {
            conn.execute_unprepared(statement).await?;
        }
        conn.execute_unprepared("DROP TABLE household_journey")
            .await?;
        Ok(())
    }
}

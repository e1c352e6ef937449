//! Bulk writing of generated rows: multi-row `INSERT`s with ids assigned by the seed.
//!
//! Rows carry explicit ids, numbered from one past the current `MAX(id)` of each table, so
//! that children can point at their sibling groups and events at their households without
//! reading anything back. Call [`next_ids`], [`insert`] and [`reset_sequences`] in one
//! write transaction so that nobody else takes those ids in between.
use entity::{child, household, recruitment_event, sibling_group};
use sea_orm::ActiveValue::NotSet;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    Iterable, QuerySelect,
};

use super::generator::{Dataset, FirstIds};

/// Bind parameters per statement: under SQLite's limit (32 766) and PostgreSQL's (65 535).
const MAX_BIND_PARAMETERS: usize = 32_000;

/// One past the highest id of each table the seeds write.
///
/// On PostgreSQL the tables are first locked against other writers until the transaction
/// ends (readers go on), so that no concurrent insert takes an id from the sequence that
/// the seed is about to use; [`reset_sequences`] moves the sequences on before the lock is
/// released. SQLite needs no lock: a write transaction there already excludes other
/// writers.
pub async fn next_ids(db: &impl ConnectionTrait) -> Result<FirstIds, DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(
            "LOCK TABLE sibling_group, child, household, recruitment_event IN EXCLUSIVE MODE",
        )
        .await?;
    }
    Ok(FirstIds {
        sibling_group: max_id::<sibling_group::Entity>(db, sibling_group::Column::Id).await? + 1,
        child: max_id::<child::Entity>(db, child::Column::Id).await? + 1,
        household: max_id::<household::Entity>(db, household::Column::Id).await? + 1,
        event: max_id::<recruitment_event::Entity>(db, recruitment_event::Column::Id).await? + 1,
    })
}

async fn max_id<E: EntityTrait>(db: &impl ConnectionTrait, id: E::Column) -> Result<i64, DbErr> {
    let max: Option<Option<i64>> = E::find()
        .select_only()
        .column_as(id.max(), "max_id")
        .into_tuple()
        .one(db)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Inserts the rows of `data`, parents first, in statements of as many rows as the bind
/// parameter limit allows.
///
/// The import references of children and households are left out of the statements (the
/// seeds never set one), so the seeds also write a database migrated only as far as an
/// earlier schema, as the migration tests do.
pub async fn insert(db: &impl ConnectionTrait, data: &Dataset) -> Result<(), DbErr> {
    insert_rows::<sibling_group::Entity>(db, &data.sibling_groups, |_| {}).await?;
    insert_rows::<child::Entity>(db, &data.children, |c| c.import_reference = NotSet).await?;
    insert_rows::<household::Entity>(db, &data.households, |h| h.import_reference = NotSet).await?;
    insert_rows::<recruitment_event::Entity>(db, &data.events, |_| {}).await?;
    Ok(())
}

async fn insert_rows<E>(
    db: &impl ConnectionTrait,
    rows: &[E::Model],
    leave_out: impl Fn(&mut E::ActiveModel),
) -> Result<(), DbErr>
where
    E: EntityTrait,
    E::Model: IntoActiveModel<E::ActiveModel>,
    E::ActiveModel: ActiveModelTrait<Entity = E>,
{
    let per_statement = (MAX_BIND_PARAMETERS / E::Column::iter().count()).max(1);
    for chunk in rows.chunks(per_statement) {
        E::insert_many(chunk.iter().cloned().map(|row| {
            let mut row = row.into_active_model();
            leave_out(&mut row);
            row
        }))
        .exec_without_returning(db)
        .await?;
    }
    Ok(())
}

/// On PostgreSQL, moves the identity sequences past the ids the seed assigned, so that the
/// next row the service inserts does not collide. SQLite keeps track by itself.
pub async fn reset_sequences(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    for table in ["sibling_group", "child", "household", "recruitment_event"] {
        // `setval` ignores a NULL maximum (an empty table), leaving the sequence as it is.
        db.execute_unprepared(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
        ))
        .await?;
    }
    Ok(())
}

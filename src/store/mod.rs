//! Database access per aggregate. Tenant scoping lives here and only here: every function
//! that reads records takes the consortium (and, for lists, a scope decided by the policy)
//! and filters by it in SQL. Store functions never decide who may see what.

pub mod audit;
pub mod children;
pub mod households;
pub mod links;
pub mod matching;
pub mod recruitment;
pub mod reports;
pub mod revocations;
pub mod tenancy;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, TransactionOptions,
    TransactionTrait, Value,
};

use crate::error::{AppError, AppResult};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};

/// One page of a list: how many to skip and how many to take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
}

/// Connects to `url` with pool settings suited to the backend. SQLite runs in WAL mode with
/// a busy timeout so that readers never block on the writer.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        options
            .max_connections(8)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
    } else {
        options.max_connections(16).min_connections(2);
    }
    Database::connect(options).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), so two writers queue on the busy timeout instead of failing midway.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == DbBackend::Sqlite)
            .then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    db.begin_with_options(options).await
}

/// Whether the database answers.
pub async fn ping(db: &DatabaseConnection) -> bool {
    db.ping().await.is_ok()
}

/// The columns optimistic locking works with.
pub struct Versioned<C> {
    pub id: C,
    pub version: C,
    pub updated_at: C,
    /// What the record is called in the conflict message.
    pub what: &'static str,
}

/// Applies `changes` to row `id` of `E` only if it is still at `expected_version`, bumping
/// the version and `updated_at`. A stale version (someone else wrote first) is a
/// `CONFLICT`; on PostgreSQL the second of two racing writers waits for the first and then
/// finds the version moved, on SQLite write transactions are serialised up front.
pub async fn update_versioned<E>(
    txn: &DatabaseTransaction,
    mut changes: E::ActiveModel,
    columns: Versioned<E::Column>,
    id: i64,
    expected_version: i32,
) -> AppResult<()>
where
    E: EntityTrait,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    changes.set(columns.version, Value::from(expected_version + 1));
    changes.set(columns.updated_at, Value::from(chrono::Utc::now()));
    let result = E::update_many()
        .set(changes)
        .filter(columns.id.eq(id))
        .filter(columns.version.eq(expected_version))
        .exec(txn)
        .await?;
    if result.rows_affected == 1 {
        Ok(())
    } else {
        Err(AppError::Conflict(stale(columns.what)))
    }
}

/// The message of a stale-version conflict.
pub fn stale(what: &str) -> String {
    format!(
        "the {what} was changed by someone else; reload it and try again (expectedVersion is stale)"
    )
}

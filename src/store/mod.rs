//! Database access per aggregate. Tenant scoping lives here and only here: every function
//! that reads records takes the consortium (and, for lists, a scope decided by the policy)
//! and filters by it in SQL. Store functions never decide who may see what.

pub mod asglb;
pub mod audit;
pub mod batch;
pub mod children;
pub mod codes;
pub mod households;
pub mod imports;
pub mod links;
pub mod lists;
pub mod matching;
pub mod pool;
pub mod publications;
pub mod records;
pub mod recruitment;
pub mod reports;
pub mod revocations;
pub mod snapshots;
pub mod tenancy;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QueryFilter, TransactionOptions,
    TransactionTrait, Value,
};

use crate::error::{AppError, AppResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};

/// One page of a list: how many to skip and how many to take, and the id of the last
/// item before the page when the cursor carries it (see [`lists::page_of`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: u64,
    pub limit: u64,
    pub after_id: Option<i64>,
}

/// Connections of the SQLite pool: one writer at a time, the others read.
const SQLITE_CONNECTIONS: u32 = 8;
/// Page cache of each SQLite connection, in KiB (SQLite's default, said once).
const SQLITE_PAGE_CACHE_KIB: u32 = 2048;
/// Prepared statements each SQLite connection keeps (sqlx's default is 100).
const SQLITE_STATEMENTS: usize = 48;
/// Heap SQLite aims to stay within, over all connections, in bytes: beyond it, it frees
/// cached pages before it allocates more (`PRAGMA soft_heap_limit`). With SQLite inside the
/// server, its memory is the server's; this keeps page caches, prepared statements and
/// sorts to what a small agency's server can give.
const SQLITE_SOFT_HEAP_LIMIT: u64 = 48 << 20;

/// The backend a database URL names: `sqlite:…` or `postgres://…` (`postgresql://…`);
/// `None` for anything else, which connecting refuses.
pub fn backend_of(url: &str) -> Option<DbBackend> {
    if url.starts_with("sqlite:") {
        Some(DbBackend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(DbBackend::Postgres)
    } else {
        None
    }
}

/// Connects to `url` with pool settings suited to the backend. SQLite runs in WAL mode with
/// a busy timeout so that readers never block on the writer, and within a memory budget
/// (the constants above).
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, None, Duration::from_secs(10)).await
}

/// [`connect`], and on PostgreSQL every statement of the pool's sessions is cancelled by the
/// server once it has run for `statement_timeout` (a guard for the serving pool: a request
/// whose client has gone does not leave its query running). SQLite has no such limit.
/// Getting a connection from the pool, opening one included, fails after
/// `acquire_timeout` (the error then says the database is unavailable, see
/// [`crate::error::db_unavailable`]).
pub async fn connect_with(
    url: &str,
    statement_timeout: Option<Duration>,
    acquire_timeout: Duration,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(acquire_timeout)
        .acquire_timeout(acquire_timeout);
    if backend_of(url) == Some(DbBackend::Sqlite) {
        options
            .max_connections(SQLITE_CONNECTIONS)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .statement_cache_capacity(SQLITE_STATEMENTS)
                    .pragma("cache_size", format!("-{SQLITE_PAGE_CACHE_KIB}"))
                    .pragma("soft_heap_limit", SQLITE_SOFT_HEAP_LIMIT.to_string())
            });
    } else {
        options.max_connections(16).min_connections(2);
        if let Some(timeout) = statement_timeout {
            let millis = timeout.as_millis().max(1).to_string();
            options.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", &millis)]));
        }
    }
    Database::connect(options).await
}

/// Applies pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

tokio::task_local! {
    /// Set while an operation runs under [`watching_writes`]: whether it began a write.
    static WRITE_BEGAN: Arc<AtomicBool>;
}

/// Runs `operation` and says whether it began a write transaction ([`begin_write`]). An
/// operation that did may have committed it even when it failed afterwards (a connection
/// cut during `COMMIT`), so its failure must not be answered "nothing changed, retry".
pub async fn watching_writes<F: Future>(operation: F) -> (F::Output, bool) {
    let began = Arc::new(AtomicBool::new(false));
    let output = WRITE_BEGAN.scope(began.clone(), operation).await;
    (output, began.load(Ordering::Acquire))
}

/// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`), so two writers queue on the busy timeout instead of failing midway. Once
/// it has begun, the operation running it (see [`watching_writes`]) is marked as writing.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: (db.get_database_backend() == DbBackend::Sqlite)
            .then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    // Outside an operation (the audit writer, seeds, sweeps) there is nothing to mark.
    let _ = WRITE_BEGAN.try_with(|began| began.store(true, Ordering::Release));
    Ok(txn)
}

/// Whose data a write transaction changes: a consortium named outright, or the consortium
/// of a row about to be changed.
#[derive(Clone, Copy, Debug)]
pub enum Writes {
    Consortium(i64),
    /// The row `id` of `table` (`child`, `sibling_group`, `household`, `link`).
    RowOf(&'static str, i64),
}

/// Begins a write transaction to a consortium's registers (children, sibling groups,
/// households, links, match weights) and bumps the consortium's data version first.
///
/// The version is what in-memory copies of a consortium's data (the matching pool, see
/// [`pool`]) check before use: any committed write changes it, on whichever replica it was
/// made. Bumping first means every such transaction takes the consortium row's lock before
/// any other, always in the same order, so they serialise per consortium on PostgreSQL
/// (SQLite serialises all writers anyway) and cannot deadlock on it.
pub async fn begin_consortium_write(
    db: &DatabaseConnection,
    writes: Writes,
) -> Result<DatabaseTransaction, DbErr> {
    let txn = begin_write(db).await?;
    bump_data_version(&txn, writes).await?;
    Ok(txn)
}

/// Bumps the data version of the consortium `writes` names, within `txn` (for writers
/// that did not begin with [`begin_consortium_write`], such as the seeds).
pub async fn bump_data_version(txn: &DatabaseTransaction, writes: Writes) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    let p = if backend == DbBackend::Postgres {
        "$1"
    } else {
        "?"
    };
    let (sql, id) = match writes {
        Writes::Consortium(id) => (
            format!("UPDATE consortium SET data_version = data_version + 1 WHERE id = {p}"),
            id,
        ),
        Writes::RowOf(table, id) => (
            format!(
                "UPDATE consortium SET data_version = data_version + 1 \
                 WHERE id = (SELECT consortium_id FROM {table} WHERE id = {p})"
            ),
            id,
        ),
    };
    txn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [Value::from(id)],
    ))
    .await?;
    Ok(())
}

/// The consortium of a row about to be inserted (set by the caller, always).
pub fn consortium_of(value: &sea_orm::ActiveValue<i64>) -> AppResult<i64> {
    value
        .try_as_ref()
        .copied()
        .ok_or_else(|| AppError::from(anyhow::anyhow!("a new row without its consortium")))
}

/// Consortium `consortium_id`'s data version as committed (`None`: no such consortium).
pub async fn data_version(
    db: &impl sea_orm::ConnectionTrait,
    consortium_id: i64,
) -> Result<Option<i64>, DbErr> {
    use sea_orm::QuerySelect;
    entity::consortium::Entity::find_by_id(consortium_id)
        .select_only()
        .column(entity::consortium::Column::DataVersion)
        .into_tuple::<i64>()
        .one(db)
        .await
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

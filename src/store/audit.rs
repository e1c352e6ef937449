//! The append-only audit log. Nothing here updates or deletes an event: on PostgreSQL
//! the log is partitioned by month, and old months are detached from it, never dropped
//! ([`make_partitions`], [`detach_before`]).
use std::collections::BTreeSet;

use chrono::NaiveDate;
use entity::audit_event;
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ColumnTrait, Condition, ConnectionTrait,
    DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Select, Statement, TransactionTrait,
};

use super::Page;
use crate::domain::AuditAction;
use crate::domain::audit_months::next_month;

/// The most rows of one insert on SQLite.
const SQLITE_MOST_ROWS: usize = 256;

/// Inserts `events` (their `id`s are ignored: the database numbers them), in order and
/// all or none. On PostgreSQL the columns go as ten arrays
/// (`UNNEST`): one statement, however many rows, with no SQL text or parameter list growing
/// with them. On SQLite, in one transaction, as inserts of a power of two rows (at most
/// 256): every connection keeps the statements it prepared, and a statement of a few
/// thousand rows is megabytes, so the number of different ones is kept to nine.
pub async fn insert_new(
    db: &DatabaseConnection,
    events: &[audit_event::Model],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    if db.get_database_backend() != DbBackend::Postgres {
        let txn = super::begin_write(db).await?;
        let mut rest = events;
        while !rest.is_empty() {
            let n = 1 << rest.len().min(SQLITE_MOST_ROWS).ilog2();
            let (chunk, after) = rest.split_at(n);
            let rows = chunk
                .iter()
                .map(|e| audit_event::ActiveModel {
                    id: NotSet,
                    ..e.clone().into_active_model().reset_all()
                })
                .collect();
            insert_many(&txn, rows).await?;
            rest = after;
        }
        return txn.commit().await;
    }
    fn column<T>(events: &[audit_event::Model], f: impl Fn(&audit_event::Model) -> T) -> Vec<T> {
        events.iter().map(f).collect()
    }
    sea_orm::sqlx::query(
        "INSERT INTO audit_event (occurred_at, consortium_id, subject, acting_authority_id, \
         action, entity_type, entity_id, owning_authority_id, request_id, detail) \
         SELECT occurred_at, consortium_id, subject, acting_authority_id, action, entity_type, \
                entity_id, owning_authority_id, request_id, detail \
         FROM UNNEST($1::timestamptz[], $2::int8[], $3::text[], $4::int8[], \
                              $5::text[], $6::text[], $7::int8[], $8::int8[], $9::text[], $10::text[]) \
         WITH ORDINALITY AS e(occurred_at, consortium_id, subject, acting_authority_id, action, \
                              entity_type, entity_id, owning_authority_id, request_id, detail, n) \
         ORDER BY n",
    )
    .bind(column(events, |e| e.occurred_at))
    .bind(column(events, |e| e.consortium_id))
    .bind(column(events, |e| e.subject.clone()))
    .bind(column(events, |e| e.acting_authority_id))
    .bind(column(events, |e| e.action.clone()))
    .bind(column(events, |e| e.entity_type.clone()))
    .bind(column(events, |e| e.entity_id))
    .bind(column(events, |e| e.owning_authority_id))
    .bind(column(events, |e| e.request_id.clone()))
    .bind(column(events, |e| e.detail.clone()))
    .execute(db.get_postgres_connection_pool())
    .await
    .map_err(|e| DbErr::Custom(format!("audit insert: {e}")))?;
    Ok(())
}

/// Inserts events in one statement (nothing when `events` is empty).
pub async fn insert_many(
    db: &impl ConnectionTrait,
    events: Vec<audit_event::ActiveModel>,
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    audit_event::Entity::insert_many(events)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Which events a reader may see: a whole consortium (consortium admins), or for
/// managers the events about records of their authorities and the events of their staff
/// that concern no single record (searches, refusals).
#[derive(Clone, Debug)]
pub enum AuditScope {
    Consortium(i64),
    Owners {
        consortium_id: i64,
        authority_ids: Vec<i64>,
    },
}

/// Filters on the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub subject: Option<String>,
    pub action: Option<AuditAction>,
    pub entity_type: Option<String>,
    /// An entity, with the entity types its id may be recorded under (a child's events
    /// are recorded as `Child` and as `ChildProfile`).
    pub entity: Option<(Vec<&'static str>, i64)>,
}

/// A page of the events in scope, newest first, and how many there are: counted when
/// `count` is set; otherwise (counting a consortium's whole log reads all of it) only as
/// far as one past the page, which tells whether another page follows.
pub async fn list(
    db: &impl ConnectionTrait,
    scope: &AuditScope,
    filter: &AuditFilter,
    page: Page,
    count: bool,
) -> Result<(Vec<audit_event::Model>, u64), DbErr> {
    if count {
        let total = matching(scope, filter).count(db).await?;
        let rows = page_query(scope, filter, page).all(db).await?;
        return Ok((rows, total));
    }
    let one_more = Page {
        limit: page.limit + 1,
        ..page
    };
    let mut rows = page_query(scope, filter, one_more).all(db).await?;
    let total = page.offset + rows.len() as u64;
    rows.truncate(page.limit as usize);
    Ok((rows, total))
}

/// The page of events in scope matching `filter`, newest first. Indexed on both backends
/// by the filter on an entity (`audit_event_by_entity`) or a subject
/// (`audit_event_by_subject`), or else by the scope. A page after a known event starts
/// below its id through the same index, however deep it is, and events written since the
/// page before do not push any into it again.
pub fn page_query(
    scope: &AuditScope,
    filter: &AuditFilter,
    page: Page,
) -> Select<audit_event::Entity> {
    let query = matching(scope, filter).order_by_desc(audit_event::Column::Id);
    let query = match page.after_id {
        Some(after) => query.filter(audit_event::Column::Id.lt(after)),
        None => query.offset(page.offset),
    };
    query.limit(page.limit)
}

/// The events in scope matching `filter`.
fn matching(scope: &AuditScope, filter: &AuditFilter) -> Select<audit_event::Entity> {
    use audit_event::Column as C;
    let mut query = audit_event::Entity::find();
    query = match scope {
        AuditScope::Consortium(id) => query.filter(C::ConsortiumId.eq(*id)),
        AuditScope::Owners {
            consortium_id,
            authority_ids,
        } => query.filter(C::ConsortiumId.eq(*consortium_id)).filter(
            Condition::any()
                .add(C::OwningAuthorityId.is_in(authority_ids.clone()))
                .add(
                    Condition::all()
                        .add(C::OwningAuthorityId.is_null())
                        .add(C::ActingAuthorityId.is_in(authority_ids.clone())),
                ),
        ),
    };
    if let Some(subject) = &filter.subject {
        query = query.filter(C::Subject.eq(subject.clone()));
    }
    if let Some(action) = &filter.action {
        query = query.filter(C::Action.eq(*action));
    }
    if let Some(entity_type) = &filter.entity_type {
        query = query.filter(C::EntityType.eq(entity_type.clone()));
    }
    if let Some((types, id)) = &filter.entity {
        query = query
            .filter(C::EntityId.eq(*id))
            .filter(C::EntityType.is_in(types.clone()));
    }
    query
}

/// The default partition of the audit log on PostgreSQL: events of a month that has no
/// partition of its own (made by the migration from the log as it was before).
const DEFAULT_PARTITION: &str = "audit_event_default";
/// Key of the advisory lock that lets one replica at a time change the partitions.
const PARTITIONS_LOCK: i64 = 0x5045_524d_4155_4449;

/// A monthly partition of the audit log, attached or detached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub name: String,
    /// Its month (the first day); `None` for the default partition.
    pub month: Option<NaiveDate>,
    /// Whether it is part of the log (detached months are tables of their own).
    pub attached: bool,
    /// PostgreSQL's estimate of its rows (0 before it is first analysed).
    pub estimated_rows: i64,
}

/// The name of the partition of `month`'s events.
fn partition_name(month: NaiveDate) -> String {
    format!("audit_event_{}", month.format("%Y_%m"))
}

/// The name a partition of `month` takes once detached.
fn archive_name(month: NaiveDate) -> String {
    format!("audit_archive_{}", month.format("%Y_%m"))
}

/// The month a partition or archive is named after.
fn month_named(name: &str) -> Option<NaiveDate> {
    let month = name
        .strip_prefix("audit_event_")
        .or_else(|| name.strip_prefix("audit_archive_"))?;
    // `YYYY_MM`, with `_N` after it for a month detached more than once.
    let (month, again) = month.split_at_checked(7)?;
    if !(again.is_empty()
        || again
            .strip_prefix('_')
            .is_some_and(|n| n.parse::<u32>().is_ok()))
    {
        return None;
    }
    NaiveDate::parse_from_str(&format!("{month}_01"), "%Y_%m_%d").ok()
}

/// The instant a month starts, as a PostgreSQL literal (UTC).
fn month_bound(month: NaiveDate) -> String {
    format!("{month} 00:00:00+00")
}

/// The months (their first days, oldest first) with events in the default partition on
/// PostgreSQL: events written before the log was partitioned, or late events of a month
/// that has no partition. None on SQLite.
pub async fn stray_months(db: &impl ConnectionTrait) -> Result<Vec<NaiveDate>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            format!(
                "SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date AS month \
                 FROM {DEFAULT_PARTITION} ORDER BY month"
            ),
        ))
        .await?;
    rows.into_iter()
        .map(|row| row.try_get::<NaiveDate>("", "month"))
        .collect()
}

/// Gives each of `months` (first days, in the order given) that has none a partition of
/// the log on PostgreSQL, moving the default partition's events of that month into it
/// (one transaction per month, so none is lost or doubled); the names of the partitions
/// made. Nothing on SQLite, whose log is one table.
///
/// Replicas may run it at once: an advisory lock takes them in turn, and each month is
/// looked at again under it.
pub async fn make_partitions(
    db: &DatabaseConnection,
    months: &[NaiveDate],
) -> Result<Vec<String>, DbErr> {
    let mut made = Vec::new();
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(made);
    }
    for &month in months {
        let txn = locked(db).await?;
        if attached_months(&txn).await?.contains(&month) {
            continue;
        }
        let name = partition_name(month);
        let (from, to) = (month_bound(month), month_bound(next_month(month)));
        // Until the month is attached its events go to the default partition: none may be
        // written there between the move and the attach (the attach would then fail).
        txn.execute_unprepared(&format!("LOCK TABLE {DEFAULT_PARTITION} IN EXCLUSIVE MODE"))
            .await?;
        // Without the id's default: a partition is written through the log, which numbers
        // events, and a detached one depends on nothing of it.
        txn.execute_unprepared(&format!("CREATE TABLE {name} (LIKE audit_event)"))
            .await?;
        txn.execute_unprepared(&format!(
            "WITH moved AS (DELETE FROM {DEFAULT_PARTITION} \
                            WHERE occurred_at >= '{from}' AND occurred_at < '{to}' \
                            RETURNING {COLUMNS}) \
             INSERT INTO {name} ({COLUMNS}) SELECT {COLUMNS} FROM moved"
        ))
        .await?;
        txn.execute_unprepared(&format!(
            "ALTER TABLE audit_event ATTACH PARTITION {name} FOR VALUES FROM ('{from}') TO ('{to}')"
        ))
        .await?;
        txn.commit().await?;
        made.push(name);
    }
    Ok(made)
}

/// Detaches from the log on PostgreSQL every month's partition before `first_kept`, oldest
/// first, renaming each `audit_archive_YYYY_MM` (`_2`, `_3`… for a month detached before):
/// out of the log the API reads, kept in the database for the agency to archive
/// (`pg_dump --table`) and drop when its data-sharing agreement allows. Nothing is
/// deleted. The new names, oldest first; nothing on SQLite.
pub async fn detach_before(
    db: &DatabaseConnection,
    first_kept: NaiveDate,
) -> Result<Vec<String>, DbErr> {
    let mut detached = Vec::new();
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(detached);
    }
    loop {
        let txn = locked(db).await?;
        let Some(month) = attached_months(&txn)
            .await?
            .into_iter()
            .find(|month| *month < first_kept)
        else {
            break;
        };
        let (name, mut archive) = (partition_name(month), archive_name(month));
        // A month detached before and made again (events arrived for it late) keeps both.
        let mut again = 1;
        while table_exists(&txn, &archive).await? {
            again += 1;
            archive = format!("{}_{again}", archive_name(month));
        }
        txn.execute_unprepared(&format!("ALTER TABLE audit_event DETACH PARTITION {name}"))
            .await?;
        txn.execute_unprepared(&format!("ALTER TABLE {name} RENAME TO {archive}"))
            .await?;
        txn.commit().await?;
        detached.push(archive);
    }
    Ok(detached)
}

/// Whether a table (or any relation) is named `name`.
async fn table_exists(db: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT to_regclass($1) IS NOT NULL AS taken",
            [name.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get("", "taken"))
        .transpose()?
        .unwrap_or(false))
}

/// The columns of `audit_event`, in order.
const COLUMNS: &str = "id, occurred_at, consortium_id, subject, acting_authority_id, action, \
                       entity_type, entity_id, owning_authority_id, request_id, detail";

/// A transaction holding the partitions lock, with no statement timeout (moving a month
/// out of the default partition may take longer than a request may).
async fn locked(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PARTITIONS_LOCK})"))
        .await?;
    Ok(txn)
}

/// The months that have a partition attached to the log, oldest first.
async fn attached_months(db: &impl ConnectionTrait) -> Result<BTreeSet<NaiveDate>, DbErr> {
    Ok(partitions(db)
        .await?
        .into_iter()
        .filter(|p| p.attached)
        .filter_map(|p| p.month)
        .collect())
}

/// The audit log's partitions on PostgreSQL, attached and detached, oldest month first
/// (the default partition last); none on SQLite.
pub async fn partitions(db: &impl ConnectionTrait) -> Result<Vec<Partition>, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text AS name, \
                    GREATEST(c.reltuples, 0)::bigint AS estimated_rows, \
                    EXISTS (SELECT 1 FROM pg_inherits i \
                            WHERE i.inhrelid = c.oid \
                              AND i.inhparent = 'audit_event'::regclass) AS attached \
             FROM pg_class c \
             WHERE c.relkind = 'r' \
               AND c.relnamespace = current_schema()::regnamespace \
               AND (c.relname LIKE 'audit\\_event\\_%' OR c.relname LIKE 'audit\\_archive\\_%')",
        ))
        .await?;
    let mut found = rows
        .into_iter()
        .map(|row| {
            let name: String = row.try_get("", "name")?;
            Ok(Partition {
                month: month_named(&name),
                attached: row.try_get("", "attached")?,
                estimated_rows: row.try_get("", "estimated_rows")?,
                name,
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    found.retain(|p| p.month.is_some() || p.name == DEFAULT_PARTITION);
    found.sort_by(|a, b| {
        (a.month.is_none(), a.month, &a.name).cmp(&(b.month.is_none(), b.month, &b.name))
    });
    Ok(found)
}

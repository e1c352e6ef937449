//! How the audit log is stored: the indexes that answer "who looked at this record" and
//! "what did this person look at" on both backends, and on PostgreSQL the monthly
//! partitions, the upgrade of an unpartitioned log, and retention that detaches months
//! without deleting an event.
use chrono::{NaiveDate, TimeZone, Utc};
use entity::audit_event;
use migration::MigratorTrait;
use permanence::domain::audit_months::months_ahead;
use permanence::service::audit_log::{Maintenance, maintain, prepare};
use permanence::store::Page;
use permanence::store::audit::{self, AuditFilter, AuditScope, insert_new, page_query, partitions};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait, QueryOrder,
    QueryTrait, Statement, TransactionTrait,
};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, fresh_postgres_database, test_config, within};

fn event(n: i64, at: chrono::DateTime<Utc>) -> audit_event::Model {
    audit_event::Model {
        id: 0,
        occurred_at: at,
        consortium_id: Some(1),
        subject: format!("worker-{}", n % 40),
        acting_authority_id: Some(1 + n % 4),
        action: "VIEW".into(),
        entity_type: "Child".into(),
        entity_id: Some(n % 500),
        owning_authority_id: Some(1 + n % 4),
        request_id: format!("r{n}"),
        detail: "{}".into(),
    }
}

fn day(y: i32, m: u32, d: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
}

/// The plan the backend makes for `query`, as text.
async fn plan(db: &DatabaseConnection, sql: String) -> String {
    let explain = match db.get_database_backend() {
        DbBackend::Postgres => format!("EXPLAIN {sql}"),
        _ => format!("EXPLAIN QUERY PLAN {sql}"),
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), explain))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let column = if db.get_database_backend() == DbBackend::Postgres {
                "QUERY PLAN"
            } else {
                "detail"
            };
            row.try_get::<String>("", column).unwrap()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

both_backends!(a_records_readers_and_a_persons_reads_are_found_through_their_indexes);

/// With thousands of events from forty staff about five hundred children, the log's two
/// everyday questions are answered through their own indexes, not by reading the log.
async fn a_records_readers_and_a_persons_reads_are_found_through_their_indexes(app: TestApp) {
    let db = &app.state.db;
    let now = Utc::now();
    let events: Vec<_> = (0..4000).map(|n| event(n, now)).collect();
    insert_new(db, &events).await.unwrap();
    // PostgreSQL's autovacuum would have analysed the table; SQLite's planner works
    // without statistics, as a deployment's does.
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared("ANALYZE audit_event").await.unwrap();
    }
    let scope = AuditScope::Owners {
        consortium_id: 1,
        authority_ids: vec![1, 2],
    };
    let page = Page {
        offset: 0,
        limit: 20,
        after_id: None,
    };
    let backend = db.get_database_backend();
    let child = AuditFilter {
        entity: Some((vec!["Child", "ChildProfile"], 42)),
        ..Default::default()
    };
    let sql = page_query(&scope, &child, page).build(backend).to_string();
    let child_plan = plan(db, sql).await;
    // PostgreSQL names each partition's copy of an index after its columns.
    let (by_entity, by_subject) = match backend {
        DbBackend::Postgres => (
            "consortium_id_entity_id_id_idx",
            "consortium_id_subject_id_idx",
        ),
        _ => ("audit_event_by_entity", "audit_event_by_subject"),
    };
    assert!(child_plan.contains(by_entity), "{child_plan}");
    let person = AuditFilter {
        subject: Some("worker-7".into()),
        ..Default::default()
    };
    let sql = page_query(&AuditScope::Consortium(1), &person, page)
        .build(backend)
        .to_string();
    let person_plan = plan(db, sql).await;
    assert!(person_plan.contains(by_subject), "{person_plan}");
    // And they find what they should: child 42's events are those numbered 42 mod 500,
    // of which the managers of authorities 1 and 2 see those the two own.
    let (rows, total) = audit::list(db, &scope, &child, page, true).await.unwrap();
    let expected = (0..4000)
        .filter(|n| n % 500 == 42 && (1 + n % 4) <= 2)
        .count();
    assert_eq!(total as usize, expected);
    assert!(rows.iter().all(|e| e.entity_id == Some(42)));
    assert!(rows.windows(2).all(|w| w[0].id > w[1].id), "newest first");
}

/// The events of the log, oldest first, as (id, request id).
async fn log(db: &DatabaseConnection) -> Vec<(i64, String)> {
    audit_event::Entity::find()
        .order_by_asc(audit_event::Column::Id)
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.id, e.request_id))
        .collect()
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("SELECT count(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// An unpartitioned log (as every deployment had before) becomes a partitioned one with
/// the same events and ids; the upkeep moves them into their months and makes the coming
/// months; retention detaches old months as tables of their own, and nothing is deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_log_is_kept_by_month_and_old_months_are_detached_not_deleted() {
    let db = permanence::store::connect(&fresh_postgres_database().await)
        .await
        .unwrap();
    // Everything before the partitions.
    migration::Migrator::up(&db, Some(7)).await.unwrap();
    let before = [day(2025, 3, 10), day(2025, 4, 2), day(2026, 12, 5)];
    let events: Vec<_> = (0..3).map(|n| event(n, before[n as usize])).collect();
    insert_new(&db, &events).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    assert_eq!(
        log(&db).await,
        vec![(1, "r0".into()), (2, "r1".into()), (3, "r2".into())],
        "the upgrade keeps every event and its id"
    );
    assert_eq!(count(&db, "audit_event_default").await, 3);

    // New events are numbered on from the old ones.
    insert_new(&db, &[event(3, day(2026, 12, 7))])
        .await
        .unwrap();
    assert_eq!(log(&db).await.last(), Some(&(4, "r3".into())));

    let today = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let done = maintain(&db, today, None).await.unwrap();
    assert_eq!(
        done.created,
        names(&[
            "audit_event_2026_12",
            "audit_event_2027_01",
            "audit_event_2027_02",
            "audit_event_2027_03",
            "audit_event_2025_03",
            "audit_event_2025_04",
        ])
    );
    assert!(done.detached.is_empty());
    assert_eq!(count(&db, "audit_event_default").await, 0);
    assert_eq!(count(&db, "audit_event_2026_12").await, 2);
    assert_eq!(
        log(&db).await.len(),
        4,
        "moving events out of the default loses none"
    );
    assert_eq!(
        maintain(&db, today, None).await.unwrap(),
        Maintenance::default(),
        "a second run finds nothing to do"
    );

    // Keeping twelve months: March and April 2025 leave the log, as tables of their own.
    let done = maintain(&db, today, Some(12)).await.unwrap();
    assert!(done.created.is_empty());
    assert_eq!(
        done.detached,
        names(&["audit_archive_2025_03", "audit_archive_2025_04"])
    );
    assert_eq!(log(&db).await, vec![(3, "r2".into()), (4, "r3".into())]);
    assert_eq!(count(&db, "audit_archive_2025_03").await, 1);
    assert_eq!(count(&db, "audit_archive_2025_04").await, 1);

    // An event of a detached month arriving late goes to the default partition, gets a
    // partition of its own again, and is detached beside the first.
    insert_new(&db, &[event(4, day(2025, 3, 20))])
        .await
        .unwrap();
    assert_eq!(count(&db, "audit_event_default").await, 1);
    let done = maintain(&db, today, Some(12)).await.unwrap();
    assert_eq!(done.created, names(&["audit_event_2025_03"]));
    assert_eq!(done.detached, names(&["audit_archive_2025_03_2"]));
    assert_eq!(count(&db, "audit_archive_2025_03_2").await, 1);
    assert_eq!(count(&db, "audit_event_default").await, 0);

    let listed: Vec<_> = partitions(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.attached))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("audit_archive_2025_03".into(), false),
            ("audit_archive_2025_03_2".into(), false),
            ("audit_archive_2025_04".into(), false),
            ("audit_event_2026_12".into(), true),
            ("audit_event_2027_01".into(), true),
            ("audit_event_2027_02".into(), true),
            ("audit_event_2027_03".into(), true),
            ("audit_event_default".into(), true),
        ]
    );
    // Every event is still in the database: two in the log, three archived.
    assert_eq!(audit_event::Entity::find().count(&db).await.unwrap(), 2);

    // Undone, the log is one table again with the events it held, numbered on; and done
    // again, the same.
    migration::Migrator::down(&db, Some(1)).await.unwrap();
    assert!(partitions(&db).await.unwrap().iter().all(|p| !p.attached));
    insert_new(&db, &[event(5, day(2026, 12, 7))])
        .await
        .unwrap();
    let flat = vec![(3, "r2".into()), (4, "r3".into()), (6, "r5".into())];
    assert_eq!(log(&db).await, flat);
    migration::Migrator::up(&db, None).await.unwrap();
    insert_new(&db, &[event(6, day(2026, 12, 7))])
        .await
        .unwrap();
    assert_eq!(log(&db).await.last(), Some(&(7, "r6".into())));
    assert_eq!(log(&db).await.len(), 4);
}

/// A server on PostgreSQL has made this month's partition and the coming ones before it
/// takes a request, so no event is routed to the default partition while one is attached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_makes_the_partitions_before_serving() {
    let before = Utc::now().date_naive();
    let app = TestApp::spawn(Backend::Postgres).await;
    let after = Utc::now().date_naive();
    let listed = partitions(&app.state.db).await.unwrap();
    let attached: Vec<_> = listed.iter().filter(|p| p.attached).collect();
    assert!(
        attached.iter().any(|p| p.name == "audit_event_default"),
        "{listed:?}"
    );
    // This month's and the three ahead (of the day the server started on: the clock is
    // read on both sides in case the start crosses a month's end).
    let months: Vec<_> = attached.iter().filter_map(|p| p.month).collect();
    assert!(
        months == months_ahead(before) || months == months_ahead(after),
        "{listed:?}"
    );
}

/// After an upgrade the server serves as soon as this month's and the coming months'
/// partitions exist: moving the old log's months out of the default partition (minutes,
/// for a large log) happens in the background. Here the default partition is held locked,
/// so that the move cannot start until the server is already answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_serves_before_the_old_log_is_moved_into_months() {
    let url = fresh_postgres_database().await;
    let db = permanence::store::connect(&url).await.unwrap();
    migration::Migrator::up(&db, Some(7)).await.unwrap();
    let old: Vec<_> = (0..3)
        .map(|n| event(n, day(2025, 3, 10 + n as u32)))
        .collect();
    insert_new(&db, &old).await.unwrap();
    migration::Migrator::up(&db, None).await.unwrap();
    let today = Utc::now().date_naive();
    assert_eq!(prepare(&db, today).await.unwrap().len(), 4);

    let holder = db.begin().await.unwrap();
    holder
        .execute_unprepared("LOCK TABLE audit_event_default IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let app = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        TestApp::spawn_with(test_config(&url), Backend::Postgres, None, true),
    )
    .await
    .expect("the server starts while the old log waits to be moved");
    let ready = app.get("/readyz").send().await.unwrap();
    assert!(ready.status().is_success(), "{}", ready.status());
    let attached = |listed: &[audit::Partition]| {
        listed
            .iter()
            .filter(|p| p.attached)
            .map(|p| p.name.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        !attached(&partitions(&db).await.unwrap()).contains(&"audit_event_2025_03".to_owned()),
        "the old month waits for the lock"
    );

    holder.rollback().await.unwrap();
    let moved = within(std::time::Duration::from_secs(30), || async {
        attached(&partitions(&db).await.unwrap()).contains(&"audit_event_2025_03".to_owned())
    })
    .await;
    assert!(moved.is_some(), "the background upkeep moves the old month");
    assert_eq!(count(&db, "audit_event_2025_03").await, 3);
    assert_eq!(count(&db, "audit_event_default").await, 0);
}

/// `permanence audit-log maintain` makes the partitions and lists them; retention on
/// SQLite is refused before anything is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_audit_log_command_maintains_and_lists_the_partitions() {
    let url = fresh_postgres_database().await;
    let out = crate::process::binary()
        .args(["audit-log", "maintain"])
        .env("DATABASE_URL", &url)
        .env("PERMANENCE_AUDIT_RETAIN_MONTHS", "12")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{printed}");
    let this_month = format!("audit_event_{}", Utc::now().format("%Y_%m"));
    assert!(
        printed.contains(&format!("made {this_month}\n")),
        "{printed}"
    );
    assert!(
        printed
            .lines()
            .any(|l| l.starts_with(&this_month) && l.contains("attached")),
        "{printed}"
    );

    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("a.db").display());
    let out = crate::process::binary()
        .args(["audit-log", "maintain"])
        .env("DATABASE_URL", &sqlite)
        .env("PERMANENCE_AUDIT_RETAIN_MONTHS", "12")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs PostgreSQL"));
    assert!(!dir.path().join("a.db").exists(), "nothing was done");
}

//! Reading the audit log, within the scope the policy gives the actor; keeping its
//! partitions.
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use entity::audit_event;
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::json;

use super::Service;
use crate::auth::policy::AuditLogScope;
use crate::domain::{AuditAction, audit_months};
use crate::error::{AppError, AppResult};
use crate::state::{AppState, Ticks};
use crate::store::audit::{AuditFilter, AuditScope};
use crate::store::{self, Page};

/// Filters on the audit log, checked.
#[derive(Default)]
pub struct AuditLogFilter {
    pub subject: Option<String>,
    pub action: Option<AuditAction>,
    pub entity_type: Option<String>,
    /// An entity, with the entity types its id may be recorded under (a child's events are
    /// recorded as `Child` and as `ChildProfile`).
    pub entity: Option<(Vec<&'static str>, i64)>,
}

/// The events the actor may read (see [`crate::auth::Actor::audit_log_scope`]); `FORBIDDEN`
/// when none.
pub fn scope(svc: &Service<'_>) -> AppResult<AuditScope> {
    let actor = svc.actor()?;
    Ok(match actor.audit_log_scope()? {
        AuditLogScope::Consortium => AuditScope::Consortium(actor.consortium_id),
        AuditLogScope::Authorities(authority_ids) => AuditScope::Owners {
            consortium_id: actor.consortium_id,
            authority_ids,
        },
    })
}

/// One page of the events in `scope` matching `filter`, newest first, with their total
/// count when `count` is set (else as [`store::audit::list`] says). The search is audited.
///
/// A page after the first starts below the event its cursor names (`after_id`); a cursor
/// with a position alone is refused (`BAD_USER_INPUT` on `after`): the database would skip
/// that many events, which at millions is slow.
pub async fn search(
    svc: &Service<'_>,
    scope: &AuditScope,
    filter: AuditLogFilter,
    page: Page,
    count: bool,
) -> AppResult<(Vec<audit_event::Model>, u64)> {
    if page.offset > 0 && page.after_id.is_none() {
        return Err(AppError::bad_input(
            "after",
            "not a cursor of the audit log",
        ));
    }
    let f = filter;
    let filter = AuditFilter {
        subject: f.subject.clone(),
        action: f.action,
        entity_type: f.entity_type.clone(),
        entity: f.entity,
    };
    let (rows, total) = store::audit::list(svc.db(), scope, &filter, page, count).await?;
    svc.audit(
        AuditAction::Search,
        "AuditEvent",
        None,
        None,
        json!({ "subject": f.subject.is_some(), "action": f.action.map(|a| a.code()),
                "entityType": f.entity_type }),
    );
    Ok((rows, total))
}

/// How often the audit log's partitions are looked after (at start, then this often).
pub const MAINTAIN_EVERY: Duration = Duration::from_secs(6 * 60 * 60);

/// What an upkeep of the audit log's partitions did: the partitions it made and those it
/// detached (by their new names).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Maintenance {
    pub created: Vec<String>,
    pub detached: Vec<String>,
}

impl Maintenance {
    /// One line per change, as the log and `permanence audit-log maintain` say it.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let made = self.created.iter().map(|name| format!("made {name}"));
        let detached = self
            .detached
            .iter()
            .map(|name| format!("detached {name} (archive it, then drop it)"));
        made.chain(detached)
    }
}

/// Makes the partitions of the audit log that must exist before the server writes an
/// event on `today` ([`audit_months::months_ahead`]), moving stray events of those months
/// out of the default partition; the names of those made. Quick: after an upgrade, older
/// months are left to [`maintain`].
pub async fn prepare(db: &DatabaseConnection, today: NaiveDate) -> Result<Vec<String>, DbErr> {
    store::audit::make_partitions(db, &audit_months::months_ahead(today)).await
}

/// The whole upkeep of the audit log's partitions on PostgreSQL (nothing on SQLite, whose
/// log is one table):
/// 1. this month and the months ahead get a partition ([`prepare`]);
/// 2. every other month with events in the default partition gets one, oldest first, and
///    its events move into it (after an upgrade, every month of the old log);
/// 3. with `retain_months`, every month before [`audit_months::first_month_kept`] is
///    detached from the log and kept as a table of its own ([`store::audit::detach_before`]).
pub async fn maintain(
    db: &DatabaseConnection,
    today: NaiveDate,
    retain_months: Option<u32>,
) -> Result<Maintenance, DbErr> {
    let mut created = prepare(db, today).await?;
    let stray = store::audit::stray_months(db).await?;
    created.extend(store::audit::make_partitions(db, &stray).await?);
    let detached = match retain_months {
        Some(months) => {
            let first_kept = audit_months::first_month_kept(today, months);
            store::audit::detach_before(db, first_kept).await?
        }
        None => Vec::new(),
    };
    Ok(Maintenance { created, detached })
}

/// Looks after the audit log's partitions with the configured retention: makes this
/// month's and the coming months' partitions now, before the server takes requests, then
/// runs the whole upkeep ([`maintain`]) in the background at once and every
/// [`MAINTAIN_EVERY`] until `stopping` turns true or the state is dropped.
///
/// The partitions of this month and the months ahead are made before serving because
/// PostgreSQL refuses an event routed to the default partition while its month's partition
/// is being attached: once they exist, no event is written where a partition is being
/// attached. Moving an old log's months out of the default partition, which after an
/// upgrade may take minutes, does not hold up the start. A failure is logged and tried
/// again at the next tick: until then events of a month without a partition go to the
/// default one, and none is lost.
pub async fn start_maintaining(state: &Arc<AppState>) {
    match prepare(&state.db, Utc::now().date_naive()).await {
        Ok(created) => log_maintenance(&Maintenance {
            created,
            detached: Vec::new(),
        }),
        Err(e) => tracing::warn!(error = %e, "audit partition upkeep failed; retried later"),
    }
    let mut ticks = Ticks::every(
        Arc::downgrade(state),
        state.stopping.subscribe(),
        MAINTAIN_EVERY,
    );
    tokio::spawn(async move {
        while let Some(state) = ticks.next().await {
            let today = Utc::now().date_naive();
            match maintain(&state.db, today, state.config.audit_retain_months).await {
                Ok(done) => log_maintenance(&done),
                Err(e) => {
                    tracing::warn!(error = %e, "audit partition upkeep failed; retried later")
                }
            }
        }
    });
}

/// Logs what an upkeep did, if anything.
fn log_maintenance(done: &Maintenance) {
    for change in done.lines() {
        tracing::info!(%change, "audit partitions");
    }
}

//! Reading the audit log, within the scope the policy gives the actor; keeping its
//! partitions.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use entity::audit_event;
use serde_json::json;

use super::Service;
use crate::auth::policy::AuditLogScope;
use crate::domain::AuditAction;
use crate::error::AppResult;
use crate::state::{AppState, Ticks};
use crate::store::audit::{AuditFilter, AuditScope, Maintenance};
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
pub async fn search(
    svc: &Service<'_>,
    scope: &AuditScope,
    filter: AuditLogFilter,
    page: Page,
    count: bool,
) -> AppResult<(Vec<audit_event::Model>, u64)> {
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

/// Looks after the audit log's partitions ([`store::audit::maintain`]) with the configured
/// retention: once now, before the server takes requests, and then every
/// [`MAINTAIN_EVERY`] until `stopping` turns true or the state is dropped.
///
/// The first upkeep is awaited because PostgreSQL refuses an event routed to the default
/// partition while its month's partition is being attached: once this month's partition
/// exists (it is made at the latest here, and later ones three months ahead), no event is
/// written where a partition is being attached. A failure is logged and tried again at the
/// next tick: until then events of a month without a partition go to the default one, and
/// none is lost.
pub async fn start_maintaining(state: &Arc<AppState>) {
    upkeep(state).await;
    let mut ticks = Ticks::every(
        Arc::downgrade(state),
        state.stopping.subscribe(),
        MAINTAIN_EVERY,
    );
    tokio::spawn(async move {
        // The first tick is at once, and the upkeep above was it.
        ticks.next().await;
        while let Some(state) = ticks.next().await {
            upkeep(&state).await;
        }
    });
}

/// One upkeep of the partitions, logged.
async fn upkeep(state: &AppState) {
    let today = Utc::now().date_naive();
    let retain = state.config.audit_retain_months;
    match store::audit::maintain(&state.db, today, retain).await {
        Ok(done) => log_maintenance(&done),
        Err(e) => tracing::warn!(error = %e, "audit partition upkeep failed; retried later"),
    }
}

/// Logs what [`store::audit::maintain`] did, if anything.
pub fn log_maintenance(done: &Maintenance) {
    for name in &done.created {
        tracing::info!(partition = %name, "audit partition made");
    }
    for name in &done.detached {
        tracing::info!(
            table = %name,
            "audit partition detached under the retention setting; archive it, then drop it"
        );
    }
}

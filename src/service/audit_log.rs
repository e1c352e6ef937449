//! Reading the audit log, within the scope the policy gives the actor; keeping its
//! partitions.
use std::sync::Weak;
use std::time::Duration;

use chrono::Utc;
use entity::audit_event;
use serde_json::json;
use tokio::sync::watch;

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

/// Looks after the audit log's partitions ([`store::audit::maintain`]) at once and then
/// every [`MAINTAIN_EVERY`], with the configured retention, until `stopping` turns true or
/// the state is dropped. A failure is logged and tried again at the next tick: until then
/// events of a month without a partition go to the default one, and none is lost.
pub fn start_maintaining(state: Weak<AppState>, stopping: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut ticks = Ticks::every(state, stopping, MAINTAIN_EVERY);
        while let Some(state) = ticks.next().await {
            let today = Utc::now().date_naive();
            let retain = state.config.audit_retain_months;
            match store::audit::maintain(&state.db, today, retain).await {
                Ok(done) => log_maintenance(&done),
                Err(e) => {
                    tracing::warn!(error = %e, "audit partition upkeep failed; retried later")
                }
            }
        }
    });
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

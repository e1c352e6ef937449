//! Reading the audit log, within the scope the policy gives the actor.
use entity::audit_event;
use serde_json::json;

use super::Service;
use crate::auth::policy::AuditLogScope;
use crate::domain::AuditAction;
use crate::error::AppResult;
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
/// count. The search is audited.
pub async fn search(
    svc: &Service<'_>,
    scope: &AuditScope,
    filter: AuditLogFilter,
    page: Page,
) -> AppResult<(Vec<audit_event::Model>, u64)> {
    let f = filter;
    let filter = AuditFilter {
        subject: f.subject.clone(),
        action: f.action,
        entity_type: f.entity_type.clone(),
        entity: f.entity,
    };
    let (rows, total) = store::audit::list(svc.db(), scope, &filter, page).await?;
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

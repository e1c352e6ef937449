//! The use cases of the service, one function each: load, check the policy, validate in
//! the domain, write in one transaction with its audit event, publish. Every entry point —
//! the GraphQL resolvers, the CSV export, the daily sweep — goes through here, so a rule
//! about a child or a link is written once.
//!
//! A use case takes a [`Service`] (the state and the request: who asks, when) and plain
//! values (ids decoded, inputs unwrapped); it returns records or [`AppError`]s naming the
//! input field at fault. It knows nothing of GraphQL.
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use entity::audit_event;
use sea_orm::ActiveValue::Set;
use sea_orm::DatabaseConnection;

use crate::auth::Actor;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult, DeniedRecord};
use crate::infra::audit::AuditMark;
use crate::state::AppState;

/// A page of a list, as the entry points ask for it (see [`crate::store::lists::page_of`]).
pub use crate::store::Page;
pub use crate::store::codes;

pub mod asglb;
pub mod audit_log;
pub mod board;
pub mod children;
pub mod events;
pub mod households;
pub mod imports;
pub mod input;
pub mod link_history;
pub mod links;
pub mod loaders;
pub mod matching;
pub mod pool;
pub mod publication;
pub mod rate_limit;
pub mod records;
pub mod report_cache;
pub mod reports;
pub mod sessions;

/// Who asks, and when: made once per request by the HTTP layer (once per connection for a
/// websocket).
#[derive(Clone)]
pub struct RequestContext {
    pub actor: Option<Arc<Actor>>,
    pub request_id: String,
    pub today: NaiveDate,
    /// The request feeds a CSV export (reports audit it as `EXPORT`).
    pub export: bool,
    /// The request's last audit event queued: its answer waits until it is committed.
    pub audited: AuditMark,
    /// The request's loader of nested records (see [`loaders`]).
    pub loaders: loaders::PerRequest,
}

impl RequestContext {
    /// A context for `actor`, dated today.
    pub fn new(actor: Option<Arc<Actor>>, request_id: String) -> Self {
        RequestContext {
            actor,
            request_id,
            today: Utc::now().date_naive(),
            export: false,
            audited: AuditMark::default(),
            loaders: loaders::PerRequest::default(),
        }
    }
}

impl RequestContext {
    /// The authenticated actor, or `UNAUTHENTICATED`.
    pub fn actor(&self) -> AppResult<&Actor> {
        self.actor
            .as_deref()
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
    }
}

/// One request's way into the use cases: the service state, and the request.
#[derive(Clone, Copy)]
pub struct Service<'a> {
    pub state: &'a AppState,
    pub request: &'a RequestContext,
}

impl<'a> Service<'a> {
    /// The use cases as `request`.
    pub fn new(state: &'a AppState, request: &'a RequestContext) -> Self {
        Service { state, request }
    }

    /// The authenticated actor, or `UNAUTHENTICATED`.
    pub fn actor(&self) -> AppResult<&'a Actor> {
        self.request.actor()
    }

    /// The database.
    pub fn db(&self) -> &'a DatabaseConnection {
        &self.state.db
    }

    /// The request's loader of nested records.
    pub fn loaders(&self) -> &'a loaders::Loaders {
        self.request.loaders.get(&self.state.db)
    }

    /// The request's "today": the only clock reading of a use case.
    pub fn today(&self) -> NaiveDate {
        self.request.today
    }

    /// Queues a read-side audit event (view, search, export); the request's answer waits
    /// until it is committed.
    pub fn audit(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    ) {
        let row = self.audit_row(action, entity_type, entity_id, owner, detail);
        self.state.audit.record(&self.request.audited, row);
    }

    /// Records the `DENIED` audit events of a refusal (`code`: `FORBIDDEN` or `NOT_FOUND`)
    /// at `path` (field names; the first stands for the entity): an event naming no record,
    /// and, when the refusal was about a record of the actor's consortium, one naming it
    /// under its owning authority — one event serves both when the actor acts for that
    /// authority (see the GraphQL layer's `DeniedAudit` for why).
    pub fn audit_denied(&self, code: &str, path: &[String], record: Option<&DeniedRecord>) {
        let Ok(actor) = self.actor() else {
            return;
        };
        let detail = serde_json::json!({ "code": code, "path": path.join(".") });
        if let Some(record) = record {
            self.audit(
                AuditAction::Denied,
                record.entity_type,
                Some(record.id),
                Some(record.owner),
                detail.clone(),
            );
            if actor.acting_authority_for(None) == Some(record.owner) {
                return;
            }
        }
        let entity = path.first().cloned().unwrap_or_default();
        self.audit(AuditAction::Denied, &entity, None, None, detail);
    }

    /// An audit event of this request, for a write to commit with it.
    pub fn audit_row(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    ) -> audit_event::ActiveModel {
        let request = self.request;
        let actor = request.actor.as_deref();
        let subject = actor.map_or("anonymous", |a| a.subject.as_str());
        let who = AuditedAs {
            consortium_id: actor.map(|a| a.consortium_id),
            subject,
            acting_authority_id: actor.and_then(|a| a.acting_authority_for(owner)),
            request_id: &request.request_id,
        };
        audit_event_row(who, action, entity_type, entity_id, owner, detail)
    }
}

/// Who an audit event is recorded for, and in which request.
pub struct AuditedAs<'a> {
    pub consortium_id: Option<i64>,
    pub subject: &'a str,
    pub acting_authority_id: Option<i64>,
    pub request_id: &'a str,
}

/// An audit event, timed now: the one constructor of the events the service records (an
/// actor's, through [`Service::audit_row`]; a refused token's, through
/// [`sessions::refuse_breach`]).
pub fn audit_event_row(
    who: AuditedAs<'_>,
    action: AuditAction,
    entity_type: &str,
    entity_id: Option<i64>,
    owner: Option<i64>,
    detail: serde_json::Value,
) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        occurred_at: Set(Utc::now()),
        consortium_id: Set(who.consortium_id),
        subject: Set(who.subject.to_owned()),
        acting_authority_id: Set(who.acting_authority_id),
        action: Set(action.code().into()),
        entity_type: Set(entity_type.into()),
        entity_id: Set(entity_id),
        owning_authority_id: Set(owner),
        request_id: Set(who.request_id.to_owned()),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
}

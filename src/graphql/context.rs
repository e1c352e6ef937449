//! What a resolver knows about the request: the actor, the request id, the service state,
//! and "today" (the only clock reading, taken once per request — and, for a subscription,
//! once per event delivered: see [`CurrentDay`]).
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Context, Data, Response};
use chrono::{NaiveDate, Utc};
use entity::audit_event;
use sea_orm::ActiveValue::Set;

use crate::auth::Actor;
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::infra::audit::AuditMark;
use crate::state::AppState;

/// Per-request data, put into every GraphQL request by the HTTP layer.
#[derive(Clone)]
pub struct RequestContext {
    pub actor: Option<Arc<Actor>>,
    pub request_id: String,
    pub today: NaiveDate,
    /// The request feeds a CSV export (reports audit it as `EXPORT`).
    pub export: bool,
    /// The request's last audit event queued: its answer waits until it is committed.
    pub audited: AuditMark,
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
        }
    }
}

/// The schema extension that keeps "today" current on long-lived connections. A
/// websocket's [`RequestContext`] is made once, at `connection_init`; each event a
/// subscription delivers is executed with a copy dated on the day it is delivered, if that
/// is a later day. (A request over HTTP is dated when it arrives and is left alone.)
pub struct CurrentDay;

impl ExtensionFactory for CurrentDay {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CurrentDay)
    }
}

#[async_trait::async_trait]
impl Extension for CurrentDay {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let today = Utc::now().date_naive();
        match ctx.data_opt::<RequestContext>() {
            Some(request) if request.today < today => {
                let mut data = Data::default();
                data.insert(RequestContext {
                    today,
                    ..request.clone()
                });
                next.run_with_data(ctx, operation_name, data).await
            }
            _ => next.run(ctx, operation_name).await,
        }
    }
}

/// Accessors resolvers use.
pub trait ContextExt {
    /// The request's context.
    fn request(&self) -> &RequestContext;
    /// The authenticated actor, or `UNAUTHENTICATED`.
    fn actor(&self) -> AppResult<&Actor>;
    /// The service state.
    fn state(&self) -> &AppState;
    /// Queues a read-side audit event (view, search, export).
    fn audit(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    );
    /// Builds an audit event for a write, to be committed with it.
    fn audit_row(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    ) -> audit_event::ActiveModel;
}

impl ContextExt for Context<'_> {
    fn request(&self) -> &RequestContext {
        self.data_unchecked::<RequestContext>()
    }

    fn actor(&self) -> AppResult<&Actor> {
        self.request()
            .actor
            .as_deref()
            .ok_or_else(|| AppError::Unauthenticated("a bearer token is required".into()))
    }

    fn state(&self) -> &AppState {
        self.data_unchecked::<Arc<AppState>>()
    }

    fn audit(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    ) {
        let row = self.audit_row(action, entity_type, entity_id, owner, detail);
        self.state().audit.record(&self.request().audited, row);
    }

    fn audit_row(
        &self,
        action: AuditAction,
        entity_type: &str,
        entity_id: Option<i64>,
        owner: Option<i64>,
        detail: serde_json::Value,
    ) -> audit_event::ActiveModel {
        audit_row(
            self.request(),
            action,
            entity_type,
            entity_id,
            owner,
            detail,
        )
    }
}

/// An audit event of `request`.
pub fn audit_row(
    request: &RequestContext,
    action: AuditAction,
    entity_type: &str,
    entity_id: Option<i64>,
    owner: Option<i64>,
    detail: serde_json::Value,
) -> audit_event::ActiveModel {
    let actor = request.actor.as_deref();
    audit_event::ActiveModel {
        occurred_at: Set(Utc::now()),
        consortium_id: Set(actor.map(|a| a.consortium_id)),
        subject: Set(actor
            .map(|a| a.subject.clone())
            .unwrap_or_else(|| "anonymous".into())),
        acting_authority_id: Set(actor.and_then(|a| a.acting_authority_for(owner))),
        action: Set(action.code().into()),
        entity_type: Set(entity_type.into()),
        entity_id: Set(entity_id),
        owning_authority_id: Set(owner),
        request_id: Set(request.request_id.clone()),
        detail: Set(detail.to_string()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    use chrono::NaiveDate;

    use super::*;

    struct Query;

    #[Object]
    impl Query {
        async fn today(&self, ctx: &Context<'_>) -> String {
            ctx.request().today.to_string()
        }
    }

    #[tokio::test]
    async fn an_operation_runs_on_the_day_it_is_executed() {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(CurrentDay)
            .finish();
        let mut dated = RequestContext::new(None, "r-1".into());
        dated.today = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
        let response = schema
            .execute(async_graphql::Request::new("{ today }").data(dated))
            .await;
        let today = Utc::now().date_naive().to_string();
        assert_eq!(
            response.data.into_json().expect("json")["today"],
            serde_json::json!(today)
        );
    }
}

//! The GraphQL schema, one module per area. Resolvers are thin: actor → policy → store →
//! domain → output types.

pub mod admin;
pub mod board;
pub mod children;
pub mod connection;
pub mod context;
pub mod households;
pub mod ids;
pub mod inputs;
pub mod limits;
pub mod links;
pub mod matching;
pub mod messages;
pub mod notifications;
pub mod pool;
pub mod rate_limit;
pub mod report_cache;
pub mod reports;
pub mod scalars;
pub mod types;
pub mod viewer;

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{MergedObject, MergedSubscription, Response, Schema, SchemaBuilder};
use serde_json::json;

use crate::domain::AuditAction;
use crate::error::DeniedRecord;
use crate::state::AppState;
use context::{RequestContext, audit_row};

/// All queries.
#[derive(MergedObject, Default)]
pub struct Query(
    viewer::ViewerQuery,
    children::ChildQuery,
    households::HouseholdQuery,
    pool::PoolQuery,
    matching::MatchingQuery,
    links::LinkQuery,
    reports::ReportQuery,
    board::BoardQuery,
);

/// All mutations.
#[derive(MergedObject, Default)]
pub struct Mutation(
    children::ChildMutation,
    households::HouseholdMutation,
    matching::MatchingMutation,
    links::LinkMutation,
    admin::AdminMutation,
);

/// All subscriptions (served over `graphql-transport-ws` at `/graphql/ws`).
#[derive(MergedSubscription, Default)]
pub struct Subscription(notifications::NotificationSubscription);

/// The schema type.
pub type AppSchema = Schema<Query, Mutation, Subscription>;

fn builder() -> SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .register_output_type::<types::Node>()
}

/// The schema serving requests with `state`.
pub fn schema(state: Arc<AppState>) -> AppSchema {
    let production = state.config.is_production();
    let limits = state.config.limits;
    let mut b = builder()
        .data(state)
        // Outside the limits, so that only operations within them are charged.
        .extension(rate_limit::RateLimit)
        .extension(limits::Admission::new(limits))
        .extension(report_cache::DataVersion)
        .extension(context::CurrentDay)
        .extension(DeniedAudit);
    if production {
        b = b
            .disable_introspection()
            .disable_suggestions()
            .extension(messages::TypeNamesHidden);
    }
    b.finish()
}

/// The SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

/// Records a `DENIED` audit event for each refusal (`FORBIDDEN`, `NOT_FOUND`) an
/// authenticated actor receives, whatever path it came through.
///
/// The event the actor's own authority sees names no record (the first field of the path
/// stands for the entity), so that its managers learn nothing from it about records they
/// may not see — it is the same for a record that exists and one that does not. When the
/// refusal was about a record of the actor's consortium ([`DeniedRecord`], set where the
/// record was loaded), the record's owning authority gets an event naming the entity, its
/// id and itself as owner, so that its managers see who probed its records. For a record
/// of an authority the actor belongs to, that one event serves both.
struct DeniedAudit;

impl ExtensionFactory for DeniedAudit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DeniedAudit)
    }
}

#[async_trait::async_trait]
impl Extension for DeniedAudit {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let (Some(request), Some(state)) = (
            ctx.data_opt::<RequestContext>(),
            ctx.data_opt::<Arc<AppState>>(),
        ) else {
            return response;
        };
        let Some(actor) = request.actor.as_deref() else {
            return response;
        };
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .map(|v| v.to_string().trim_matches('"').to_owned());
            let Some(code @ ("FORBIDDEN" | "NOT_FOUND")) = code.as_deref() else {
                continue;
            };
            let path: Vec<String> = error
                .path
                .iter()
                .map(|p| match p {
                    async_graphql::PathSegment::Field(name) => name.clone(),
                    async_graphql::PathSegment::Index(i) => i.to_string(),
                })
                .collect();
            let detail = json!({ "code": code, "path": path.join(".") });
            let record = error.source::<DeniedRecord>();
            if let Some(record) = record {
                state.audit.record(
                    &request.audited,
                    audit_row(
                        request,
                        AuditAction::Denied,
                        record.entity_type,
                        Some(record.id),
                        Some(record.owner),
                        detail.clone(),
                    ),
                );
                if actor.is_member_of(record.owner) {
                    continue;
                }
            }
            let entity = path.first().cloned().unwrap_or_default();
            state.audit.record(
                &request.audited,
                audit_row(request, AuditAction::Denied, &entity, None, None, detail),
            );
        }
        response
    }
}

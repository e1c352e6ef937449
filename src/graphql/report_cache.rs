//! The report cache's GraphQL side (the cache itself is
//! [`crate::service::report_cache`]'s): the response's `extensions.reportCache` lists each
//! report the operation ran with `HIT`, `MISS` or `BYPASS`, and [`OperationLog`] bumps the
//! actor's consortium data version after every mutation operation (whatever its outcome: a
//! partly applied mutation must invalidate too), which makes every entry cached before it
//! unreachable on all replicas.
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::ExtensionContext;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Context, Request, Response, Value, value};

use super::context::RequestContext;
use crate::service::report_cache::{CacheStatus, Cached, data_counter};
use crate::state::AppState;

/// Notes how the cache answered a report, for `extensions.reportCache`; the value.
pub fn note<T>(ctx: &Context<'_>, cached: Cached<T>) -> T {
    if let Some(log) = ctx.data_opt::<Arc<CacheLog>>() {
        log.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((cached.report, cached.status));
    }
    cached.value
}

/// The reports a request ran and how each was answered.
#[derive(Default)]
struct CacheLog(Mutex<Vec<(&'static str, CacheStatus)>>);

/// The report cache for one request, a step of the schema's extension
/// ([`super::pipeline`]): bumps the actor's consortium data version after a mutation, and
/// reports cache use in `extensions.reportCache`.
#[derive(Default)]
pub struct OperationLog {
    log: Arc<CacheLog>,
    /// The document's operations: their names and whether each is a mutation.
    mutations: Mutex<Vec<(Option<String>, bool)>>,
}

impl OperationLog {
    /// The response with `extensions.reportCache`, when the operation ran reports.
    pub fn respond(&self, response: Response) -> Response {
        let log = std::mem::take(&mut *self.log.0.lock().unwrap_or_else(PoisonError::into_inner));
        if log.is_empty() {
            return response;
        }
        let entries = log
            .into_iter()
            .map(|(report, status)| value!({ "report": report, "status": status.code() }))
            .collect();
        response.extension("reportCache", Value::List(entries))
    }

    /// The request with the log its reports note their cache use in.
    pub fn prepare(&self, request: Request) -> Request {
        request.data(self.log.clone())
    }

    /// Notes which of the document's operations are mutations.
    pub fn parsed(&self, document: &ExecutableDocument) {
        let operations = match &document.operations {
            DocumentOperations::Single(op) => vec![(None, op.node.ty == OperationType::Mutation)],
            DocumentOperations::Multiple(ops) => ops
                .iter()
                .map(|(name, op)| {
                    (
                        Some(name.to_string()),
                        op.node.ty == OperationType::Mutation,
                    )
                })
                .collect(),
        };
        *self
            .mutations
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = operations;
    }

    /// After the operation `operation_name` ran: bumps the data version if it was a
    /// mutation.
    pub async fn executed(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>) {
        let mutation = {
            let operations = self
                .mutations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match operations.as_slice() {
                [(_, mutation)] => *mutation,
                many => many
                    .iter()
                    .any(|(name, mutation)| *mutation && name.as_deref() == operation_name),
            }
        };
        if mutation
            && let (Some(request), Some(state)) = (
                ctx.data_opt::<RequestContext>(),
                ctx.data_opt::<Arc<AppState>>(),
            )
            && let Some(actor) = &request.actor
            && state
                .shared
                .increment(&data_counter(actor.consortium_id))
                .await
                .is_none()
        {
            // Redis is down: nothing is cached meanwhile, and the epoch bump when it is
            // back invalidates what was cached before.
            tracing::debug!("data version not bumped: the shared store is degraded");
        }
    }
}

//! What a resolver knows about the request: the [`RequestContext`] (the actor, the request
//! id and "today", re-dated for a subscription once per event delivered: see
//! [`CurrentDay`]), the service state, and the [`Service`] it calls.
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::{Context, Data, Response};
use chrono::Utc;

use crate::auth::Actor;
use crate::error::AppResult;
pub use crate::service::RequestContext;
use crate::service::Service;
use crate::service::loaders::PerRequest;
use crate::state::AppState;

/// The schema extension that keeps "today" current on long-lived connections. A
/// websocket's [`RequestContext`] is made once, at `connection_init`; each event a
/// subscription delivers is executed with a copy dated on the day it is delivered, if that
/// is a later day. (A request over HTTP is dated when it arrives and is left alone.)
///
/// Each operation also runs with a loader of nested records of its own, whose batches
/// start when the operation waits ([`PerRequest::drive`]).
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
            Some(request) => {
                let request = RequestContext {
                    today: request.today.max(today),
                    loaders: PerRequest::default(),
                    ..request.clone()
                };
                let loaders = request.loaders.clone();
                let mut data = Data::default();
                data.insert(request);
                loaders
                    .drive(next.run_with_data(ctx, operation_name, data))
                    .await
            }
            None => next.run(ctx, operation_name).await,
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
    /// The services, as this request.
    fn service(&self) -> Service<'_>;
}

impl ContextExt for Context<'_> {
    fn request(&self) -> &RequestContext {
        self.data_unchecked::<RequestContext>()
    }

    fn actor(&self) -> AppResult<&Actor> {
        self.request().actor()
    }

    fn state(&self) -> &AppState {
        self.data_unchecked::<Arc<AppState>>()
    }

    fn service(&self) -> Service<'_> {
        Service::new(self.state(), self.request())
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

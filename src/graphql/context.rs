//! What a resolver knows about the request: the [`RequestContext`] (the actor, the request
//! id and "today", re-dated for a subscription once per event delivered: see
//! [`for_operation`]), the service state, and the [`Service`] it calls.
use std::sync::Arc;

use async_graphql::Context;
use chrono::Utc;

use crate::auth::Actor;
use crate::error::AppResult;
pub use crate::service::RequestContext;
use crate::service::Service;
use crate::service::loaders::PerRequest;
use crate::state::AppState;

/// The context one operation of `request` runs with: its own loader of nested records,
/// whose batches start when the operation waits ([`PerRequest::drive`]), and "today" kept
/// current on long-lived connections. A websocket's [`RequestContext`] is made once, at
/// `connection_init`; each event a subscription delivers is executed with a copy dated on
/// the day it is delivered, if that is a later day. (A request over HTTP is dated when it
/// arrives and is left alone.)
pub fn for_operation(request: &RequestContext) -> RequestContext {
    RequestContext {
        today: request.today.max(Utc::now().date_naive()),
        loaders: PerRequest::default(),
        ..request.clone()
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
    use chrono::NaiveDate;

    use super::*;

    #[test]
    fn an_operation_runs_on_the_day_it_is_executed() {
        let mut dated = RequestContext::new(None, "r-1".into());
        dated.today = NaiveDate::from_ymd_opt(2024, 2, 29).expect("date");
        // Read the clock on both sides: the test may run across midnight.
        let before = Utc::now().date_naive();
        let operation = for_operation(&dated);
        let after = Utc::now().date_naive();
        assert!((before..=after).contains(&operation.today));
        assert_eq!(operation.request_id, dated.request_id);
        // A day already later (a test's fixed clock) is kept.
        dated.today = NaiveDate::from_ymd_opt(9999, 1, 1).expect("date");
        assert_eq!(for_operation(&dated).today, dated.today);
    }
}

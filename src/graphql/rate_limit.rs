//! Rate limiting on query cost, per subject (DESIGN §6, `RATE_LIMITED`).
//!
//! An operation costs its complexity as async-graphql's validation computes it (each field
//! 1, a page `first` × one item: see [`super::limits`]), once it has passed every other
//! check. It is charged with [`crate::service::rate_limit::charge`], the charge every
//! entry point makes (a CSV export too), to the subject's bucket in the shared store. An
//! operation that would overflow the bucket is refused before it runs with `RATE_LIMITED`
//! and `extensions.retryAfterSeconds`, and pours nothing.
//!
//! Every answered operation of an authenticated actor carries `extensions.cost =
//! { requested, remaining, limit, restoreRate }` so that clients can pace themselves.
//! Anonymous requests are not metered: they cannot reach any data.
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextValidation,
};
use async_graphql::{Response, ServerError, ValidationResult, value};

use super::context::RequestContext;
use super::limits::{Limit, limit_error};
use crate::infra::bucket::BucketDecision;
use crate::service::rate_limit::{Charge, charge};
use crate::state::AppState;

/// The schema extension; register it before the limits extension, so that only operations
/// that pass every limit are charged.
pub struct RateLimit;

impl ExtensionFactory for RateLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RateLimitExtension::default())
    }
}

#[derive(Default)]
struct RateLimitExtension {
    decision: Mutex<Option<BucketDecision>>,
}

#[async_trait::async_trait]
impl Extension for RateLimitExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
        let decision = *self.decision.lock().unwrap_or_else(PoisonError::into_inner);
        match decision {
            Some(d) => response.extension(
                "cost",
                value!({
                    "requested": d.requested,
                    "remaining": d.remaining,
                    "limit": d.limit,
                    "restoreRate": d.restore_rate,
                }),
            ),
            None => response,
        }
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        let (Some(state), Some(request)) = (
            ctx.data_opt::<Arc<AppState>>(),
            ctx.data_opt::<RequestContext>(),
        ) else {
            return Ok(result);
        };
        let Some(actor) = request.actor.as_deref() else {
            return Ok(result);
        };
        let cost = result.complexity as u64;
        let decision = match charge(state, actor, cost).await {
            Charge::Unmetered => return Ok(result),
            Charge::OverCapacity { capacity } => {
                return Err(vec![limit_error(
                    Limit::Complexity,
                    capacity as usize,
                    format!(
                        "the query costs {cost} points, more than the rate limit allows at \
                         once ({capacity})"
                    ),
                )]);
            }
            Charge::Poured(decision) => decision,
        };
        *self.decision.lock().unwrap_or_else(PoisonError::into_inner) = Some(decision);
        if decision.allowed {
            return Ok(result);
        }
        let error: async_graphql::Error = Charge::refusal(&decision).into();
        let mut refusal = ServerError::new(error.message, None);
        refusal.extensions = error.extensions;
        Err(vec![refusal])
    }
}

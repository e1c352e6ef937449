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

use async_graphql::extensions::ExtensionContext;
use async_graphql::{Response, ServerError, ValidationResult, value};

use super::context::RequestContext;
use super::limits::{Limit, limit_error};
use crate::infra::bucket::BucketDecision;
use crate::service::rate_limit::{Charge, charge};
use crate::state::AppState;

/// The rate limit for one request, a step of the schema's extension
/// ([`super::pipeline`]), which charges only operations that passed every limit.
#[derive(Default)]
pub struct Metered(Mutex<Option<BucketDecision>>);

impl Metered {
    /// The response with its `extensions.cost`, once the operation was charged.
    pub fn respond(&self, response: Response) -> Response {
        let decision = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
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

    /// After validation and the limits: charges the operation's complexity to its actor,
    /// or refuses it.
    pub async fn validated(
        &self,
        ctx: &ExtensionContext<'_>,
        result: &ValidationResult,
    ) -> Result<(), Vec<ServerError>> {
        let (Some(state), Some(request)) = (
            ctx.data_opt::<Arc<AppState>>(),
            ctx.data_opt::<RequestContext>(),
        ) else {
            return Ok(());
        };
        let Some(actor) = request.actor.as_deref() else {
            return Ok(());
        };
        let cost = result.complexity as u64;
        let decision = match charge(state, actor, cost).await {
            Charge::Unmetered => return Ok(()),
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
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(decision);
        if decision.allowed {
            return Ok(());
        }
        let error: async_graphql::Error = Charge::refusal(&decision).into();
        let mut refusal = ServerError::new(error.message, None);
        refusal.extensions = error.extensions;
        Err(vec![refusal])
    }
}

//! Rate limiting on cost, per subject (DESIGN §6, `RATE_LIMITED`): one [`charge`] for every
//! entry point. A GraphQL operation costs its complexity (charged by the schema's rate
//! limit extension once the operation has passed every other check); a CSV export costs
//! [`EXPORT_COST`].
//!
//! The cost is poured into the subject's [`LeakyBucket`](crate::infra::bucket::LeakyBucket)
//! in the shared store — in Redis, so one bucket serves the subject on every replica;
//! in-process without Redis or while it is down. A charge that would overflow the bucket
//! is refused and pours nothing.
use crate::auth::Actor;
use crate::error::AppError;
use crate::infra::bucket::BucketDecision;
use crate::infra::metrics::RATE_LIMITED;
use crate::state::AppState;

/// What a CSV export costs, whatever its report: a tenth of the default bucket (5,000
/// points), about what a screenful of a report costs through GraphQL. Where the bucket is
/// smaller, an export costs the whole bucket.
pub const EXPORT_COST: u64 = 500;

/// [`EXPORT_COST`], or the whole bucket where it is smaller.
pub fn export_cost(state: &AppState) -> u64 {
    state
        .config
        .rate_limit
        .map_or(EXPORT_COST, |b| EXPORT_COST.min(b.capacity))
}

/// How a charge went.
#[derive(Clone, Copy, Debug)]
pub enum Charge {
    /// No rate limit is configured.
    Unmetered,
    /// The cost is more than the bucket holds at once: refused, nothing poured.
    OverCapacity { capacity: u64 },
    /// Poured, or refused when `allowed` is false (then nothing was poured).
    Poured(BucketDecision),
}

impl Charge {
    /// The refusal of a charge the bucket cannot take now (`RATE_LIMITED`).
    pub fn refusal(decision: &BucketDecision) -> AppError {
        AppError::RateLimited {
            retry_after_secs: decision.retry_after_secs,
        }
    }
}

/// Charges `cost` to the actor's bucket.
pub async fn charge(state: &AppState, actor: &Actor, cost: u64) -> Charge {
    charge_subject(state, actor.consortium_id, &actor.subject, cost).await
}

/// Charges `cost` to the bucket of `subject` in `consortium_id` — an actor's, or the
/// subject of a token refused before it made an actor.
pub async fn charge_subject(
    state: &AppState,
    consortium_id: i64,
    subject: &str,
    cost: u64,
) -> Charge {
    let Some(bucket) = state.config.rate_limit else {
        return Charge::Unmetered;
    };
    if cost > bucket.capacity {
        return Charge::OverCapacity {
            capacity: bucket.capacity,
        };
    }
    let key = format!("{consortium_id}:{subject}");
    let decision = state.shared.pour(&key, &bucket, cost).await;
    if !decision.allowed {
        metrics::counter!(RATE_LIMITED, "limit" => "cost").increment(1);
        tracing::info!(
            cost,
            retry_after_secs = decision.retry_after_secs,
            "rate limited"
        );
    }
    Charge::Poured(decision)
}

/// Charges a CSV export ([`EXPORT_COST`], at most the bucket's capacity): `RATE_LIMITED`
/// when the bucket cannot take it now.
pub async fn charge_export(state: &AppState, actor: &Actor) -> Result<(), AppError> {
    match charge(state, actor, export_cost(state)).await {
        Charge::Poured(decision) if !decision.allowed => Err(Charge::refusal(&decision)),
        _ => Ok(()),
    }
}

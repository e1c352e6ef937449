//! Running clients: one tokio task per client, all sharing one HTTP connection pool,
//! each sending its next request as soon as the previous one is answered (a closed loop),
//! until the phase's time is up or its request budget is spent.
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::IgnoredAny;

use super::client::Gql;
use super::scenarios::{Reads, Scenario};
use super::stats::Stats;

/// When clients stop sending.
#[derive(Clone)]
pub enum Until {
    /// At this instant (a request in flight then still completes and counts).
    Deadline(Instant),
    /// Once this many more requests have been started, in all.
    Budget(Arc<AtomicU64>),
}

impl Until {
    /// Stop after `duration` from now.
    pub fn elapsed(duration: Duration) -> Self {
        Until::Deadline(Instant::now() + duration)
    }

    /// Stop after `requests` requests over all clients.
    pub fn requests(requests: u64) -> Self {
        Until::Budget(Arc::new(AtomicU64::new(requests)))
    }

    /// Whether a client may start another request (taking it from the budget).
    pub fn another(&self) -> bool {
        match self {
            Until::Deadline(at) => Instant::now() < *at,
            Until::Budget(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// Runs `clients` clients, `client(n, until)` each, to the end; their merged measurements
/// and the wall time the phase took.
pub async fn run_phase<F, Fut>(clients: usize, until: Until, client: F) -> (Stats, Duration)
where
    F: Fn(usize, Until) -> Fut,
    Fut: Future<Output = Stats> + Send + 'static,
{
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients.max(1))
        .map(|n| tokio::spawn(client(n, until.clone())))
        .collect();
    let mut stats = Stats::default();
    for task in tasks {
        match task.await {
            Ok(client_stats) => stats.merge(&client_stats),
            // A client that panicked has lost its measurements: say so as an error.
            Err(_) => stats.error("CLIENT_PANIC"),
        }
    }
    (stats, started.elapsed())
}

/// The seed of client `n` of `scenario` in `phase` (0 warm-up, 1 measured), from the run's
/// `seed`: every client draws its own reproducible sequence.
pub fn client_seed(seed: u64, scenario: Scenario, phase: u64, n: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((scenario as u64) << 40) ^ (phase << 32) ^ n as u64
}

/// One client of a read scenario: requests from `reads`, answers checked for errors and,
/// for the report scenarios, for the expected cache status.
pub async fn read_client(
    gql: Gql,
    reads: Arc<Reads>,
    scenario: Scenario,
    seed: u64,
    until: Until,
) -> Stats {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut stats = Stats::default();
    let expected = scenario.expected_cache();
    while until.another() {
        let op = reads.next(scenario, &mut rng);
        let reply = gql
            .post::<IgnoredAny>(op.bearer, op.query, op.variables)
            .await;
        let error = match &reply.outcome {
            Ok(answer) => match expected {
                Some(status) if answer.cache.iter().map(String::as_str).ne([status]) => {
                    Some("WRONG_CACHE_STATUS")
                }
                _ => None,
            },
            Err(code) => Some(code.as_str()),
        };
        stats.record(reply.latency, error);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_admits_exactly_its_requests() {
        let until = Until::requests(3);
        let other = until.clone();
        assert!(until.another());
        assert!(other.another());
        assert!(until.another());
        assert!(!other.another());
        assert!(!until.another());
        assert!(!Until::elapsed(Duration::ZERO).another());
    }

    #[test]
    fn clients_get_distinct_seeds() {
        let a = client_seed(1, Scenario::Child, 1, 0);
        assert_ne!(a, client_seed(1, Scenario::Child, 1, 1));
        assert_ne!(a, client_seed(1, Scenario::Children, 1, 0));
        assert_ne!(a, client_seed(1, Scenario::Child, 0, 0));
        assert_ne!(a, client_seed(2, Scenario::Child, 1, 0));
    }
}

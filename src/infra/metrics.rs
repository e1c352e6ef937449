//! Prometheus metrics: the names, the recorder, and `GET /metrics`.
//!
//! Code anywhere in the service records through the `metrics` facade
//! (`metrics::counter!(CACHE_HITS, "cache" => "directory").increment(1)`); [`install`]
//! puts one process-wide Prometheus recorder behind it, and [`render`] writes what it holds
//! in the Prometheus text format. The names are constants here so that every caller spells
//! them alike and a dashboard can be written from this file alone.
//!
//! Labels are bounded: an operation type is one of four words, an error code one of the
//! codes in DESIGN §6, and an operation name is the client's name for it only for the first
//! [`MAX_OPERATION_NAMES`] distinct names of operations that ran — anything after that is
//! `other`, and an unnamed operation is `anonymous`. No label ever carries personal data.
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// GraphQL requests, by `operation_type`, `operation` and `outcome` (see [`Outcome`]).
pub const GRAPHQL_REQUESTS: &str = "permanence_graphql_requests_total";
/// Seconds from receiving a GraphQL operation to having its response, by `operation_type`
/// and `operation`.
pub const GRAPHQL_DURATION: &str = "permanence_graphql_request_duration_seconds";
/// Errors in GraphQL responses, by `code` (`extensions.code`).
pub const GRAPHQL_ERRORS: &str = "permanence_graphql_errors_total";
/// Audit events queued and not yet written (sampled at each scrape).
pub const AUDIT_QUEUE_DEPTH: &str = "permanence_audit_queue_depth";

/// Hook: shared-cache hits, by `cache` (e.g. `directory`, `report`).
pub const CACHE_HITS: &str = "permanence_cache_hits_total";
/// Hook: shared-cache misses, by `cache`.
pub const CACHE_MISSES: &str = "permanence_cache_misses_total";
/// Hook: requests refused with `RATE_LIMITED`, by `limit` (which budget ran out).
pub const RATE_LIMITED: &str = "permanence_rate_limited_total";
/// Hook: 1 while Redis is configured but unreachable and the service runs degraded on its
/// in-process fallbacks, else 0.
pub const REDIS_DEGRADED: &str = "permanence_redis_degraded";
/// Hook: Redis commands that failed, by `operation` (e.g. `get`, `incr`, `publish`).
pub const REDIS_ERRORS: &str = "permanence_redis_errors_total";
/// Hook: uses of an in-memory snapshot (`store::snapshots`), by `snapshot`
/// (`matching_pool`, `journeys`) and `outcome` (`hit`: current; `refresh`: brought up to
/// date with the rows written since; `load`: read whole).
pub const SNAPSHOT_READS: &str = "permanence_snapshot_reads_total";

/// GraphQL subscriptions open now (a websocket may carry several).
pub const SUBSCRIPTIONS_OPEN: &str = "permanence_subscriptions_open";
/// Notifications delivered to subscribers, by `kind` (`LINK_PROPOSED`, …, `TRACKING_ALERT`).
pub const NOTIFICATIONS_DELIVERED: &str = "permanence_notifications_delivered_total";

/// How many distinct operation names get their own label before the rest share `other`.
pub const MAX_OPERATION_NAMES: usize = 200;
/// The longest operation name kept as a label.
const MAX_OPERATION_NAME_LEN: usize = 64;

/// Latency buckets, in seconds: a few milliseconds for a cached lookup up to reports that
/// aggregate years of events.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The codes an error may be counted under; anything else is counted as `OTHER`.
const ERROR_CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "INTERNAL",
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_NAMES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls do nothing) and a thread
/// that drains histogram samples every few seconds even when nobody scrapes.
pub fn install() {
    HANDLE.get_or_init(|| {
        let builder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(GRAPHQL_DURATION.into()), DURATION_BUCKETS)
        {
            Ok(builder) => builder,
            Err(e) => {
                tracing::error!(error = %e, "metrics: bad histogram buckets; /metrics is off");
                return None;
            }
        };
        let handle = match builder.install_recorder() {
            Ok(handle) => handle,
            Err(e) => {
                tracing::error!(error = %e, "metrics: a recorder is already installed; /metrics is off");
                return None;
            }
        };
        describe();
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "metrics: no upkeep thread; histograms drain at scrape time");
        }
        Some(handle)
    });
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        GRAPHQL_REQUESTS,
        "GraphQL operations by type, name and outcome (ok, error, rejected)."
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a GraphQL operation, by type and name."
    );
    describe_counter!(
        GRAPHQL_ERRORS,
        "Errors in GraphQL responses, by extensions.code."
    );
    describe_gauge!(
        AUDIT_QUEUE_DEPTH,
        "Audit events queued and not yet written."
    );
    describe_counter!(CACHE_HITS, "Shared-cache hits, by cache.");
    describe_counter!(CACHE_MISSES, "Shared-cache misses, by cache.");
    describe_counter!(RATE_LIMITED, "Requests refused as RATE_LIMITED, by limit.");
    describe_gauge!(
        REDIS_DEGRADED,
        "1 while Redis is configured but unreachable (in-process fallbacks in use)."
    );
    describe_counter!(REDIS_ERRORS, "Failed Redis commands, by operation.");
    describe_counter!(
        SNAPSHOT_READS,
        "Uses of in-memory snapshots, by snapshot (matching_pool, journeys) and outcome (hit, refresh or load)."
    );
    describe_gauge!(SUBSCRIPTIONS_OPEN, "GraphQL subscriptions open now.");
    describe_counter!(
        NOTIFICATIONS_DELIVERED,
        "Notifications delivered to subscribers, by kind."
    );
}

/// The metrics in the Prometheus text format, with the audit queue depth sampled now; `None`
/// when no recorder could be installed.
pub fn render(audit_queue_depth: usize) -> Option<String> {
    let handle = HANDLE.get()?.as_ref()?;
    metrics::gauge!(AUDIT_QUEUE_DEPTH).set(audit_queue_depth as f64);
    Some(handle.render())
}

/// How a GraphQL operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ran, no errors.
    Ok,
    /// Ran, with errors (a refusal, a missing record, bad input found by a resolver…).
    Error,
    /// Refused before running: unauthenticated, malformed, invalid, or over a limit.
    Rejected,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Rejected => "rejected",
        }
    }
}

/// One answered GraphQL operation.
pub struct OperationRecord<'a> {
    /// `query`, `mutation`, `subscription`, or `unknown` when the document was not read.
    pub operation_type: &'static str,
    /// The operation's name, if it had one.
    pub operation_name: Option<&'a str>,
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// The `extensions.code` of each error in the response.
    pub error_codes: Vec<&'a str>,
}

/// Counts an answered operation, its latency and its errors.
pub fn record_operation(record: OperationRecord<'_>) {
    let name = operation_label(record.operation_name, record.outcome != Outcome::Rejected);
    metrics::counter!(
        GRAPHQL_REQUESTS,
        "operation_type" => record.operation_type,
        "operation" => name.clone(),
        "outcome" => record.outcome.label(),
    )
    .increment(1);
    metrics::histogram!(
        GRAPHQL_DURATION,
        "operation_type" => record.operation_type,
        "operation" => name,
    )
    .record(record.elapsed.as_secs_f64());
    for code in record.error_codes {
        let code = ERROR_CODES
            .iter()
            .find(|known| **known == code)
            .copied()
            .unwrap_or("OTHER");
        metrics::counter!(GRAPHQL_ERRORS, "code" => code).increment(1);
    }
}

/// The label of an operation name: `anonymous` without one; the name itself if it is
/// already known or (for an operation that ran) there is room for it; `other` otherwise.
/// Names of refused operations are never added, so a flood of junk names that fail
/// validation cannot crowd out the real ones.
fn operation_label(name: Option<&str>, may_register: bool) -> String {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".into();
    };
    if name.len() > MAX_OPERATION_NAME_LEN
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return "other".into();
    }
    let names = OPERATION_NAMES.get_or_init(Default::default);
    let mut names = names.lock().unwrap_or_else(PoisonError::into_inner);
    if names.contains(name) {
        return name.to_owned();
    }
    if may_register && names.len() < MAX_OPERATION_NAMES {
        names.insert(name.to_owned());
        return name.to_owned();
    }
    "other".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_operations_are_anonymous_and_odd_names_are_other() {
        assert_eq!(operation_label(None, true), "anonymous");
        assert_eq!(operation_label(Some(""), true), "anonymous");
        assert_eq!(operation_label(Some(&"A".repeat(65)), true), "other");
        assert_eq!(operation_label(Some("has space"), true), "other");
    }

    #[test]
    fn a_refused_operation_does_not_register_its_name() {
        assert_eq!(operation_label(Some("NeverRanProbe"), false), "other");
        assert_eq!(operation_label(Some("RanProbe"), true), "RanProbe");
        assert_eq!(operation_label(Some("RanProbe"), false), "RanProbe");
    }
}

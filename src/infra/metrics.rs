//! Prometheus metrics: the names, the recorder, and `GET /metrics`.
//!
//! Code anywhere in the service records through the `metrics` facade
//! (`metrics::counter!(CACHE_HITS, "cache" => "directory").increment(1)`); [`install`]
//! puts one process-wide Prometheus recorder behind it, and [`render`] writes what it holds
//! in the Prometheus text format. The names are constants here so that every caller spells
//! them alike and a dashboard can be written from this file alone.
//!
//! Labels come from fixed sets, never from what a client chose: an operation type is one
//! of four words, an error code one of the codes in DESIGN §6, and an operation is labelled
//! by the root field of the schema it selects (`children`, `proposeLink`…), `multiple` when
//! it selects several, and `none` when it never ran (so never passed validation). A
//! client's operation name is no label: any name would make a series of its own. No label
//! ever carries personal data.
use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// GraphQL requests, by `operation_type`, `root_field` and `outcome` (see [`Outcome`]).
pub const GRAPHQL_REQUESTS: &str = "permanence_graphql_requests_total";
/// Seconds from receiving a GraphQL operation to having its response, by `operation_type`
/// and `root_field`.
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

/// The longest root field name kept as a label (the schema's longest is far shorter).
const MAX_ROOT_FIELD_LEN: usize = 64;

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
    "UNAVAILABLE",
    "OUTCOME_UNKNOWN",
    "ANSWER_WITHHELD",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_ALLOWED",
    "INTERNAL",
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

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
        "GraphQL operations by type, root field and outcome (ok, error, rejected)."
    );
    describe_histogram!(
        GRAPHQL_DURATION,
        metrics::Unit::Seconds,
        "Time to answer a GraphQL operation, by type and root field."
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
    /// The root field the operation selects (`multiple` for several), if it was read.
    pub root_field: Option<&'a str>,
    pub outcome: Outcome,
    pub elapsed: Duration,
    /// The `extensions.code` of each error in the response.
    pub error_codes: Vec<&'a str>,
}

/// Counts an answered operation, its latency and its errors.
pub fn record_operation(record: OperationRecord<'_>) {
    let root_field = root_field_label(record.root_field, record.outcome != Outcome::Rejected);
    metrics::counter!(
        GRAPHQL_REQUESTS,
        "operation_type" => record.operation_type,
        "root_field" => root_field.clone(),
        "outcome" => record.outcome.label(),
    )
    .increment(1);
    metrics::histogram!(
        GRAPHQL_DURATION,
        "operation_type" => record.operation_type,
        "root_field" => root_field,
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

/// The `root_field` label: `none` for an operation that did not run (its fields were never
/// checked against the schema, so they may be anything a client wrote); else the root
/// field, which validation found in the schema (`other` should a name ever look odd).
fn root_field_label(root_field: Option<&str>, ran: bool) -> String {
    match root_field {
        _ if !ran => "none".into(),
        None => "none".into(),
        Some(name)
            if name.len() <= MAX_ROOT_FIELD_LEN
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            name.to_owned()
        }
        Some(_) => "other".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_operations_that_ran_are_labelled_by_their_root_field() {
        assert_eq!(root_field_label(Some("children"), true), "children");
        assert_eq!(root_field_label(Some("multiple"), true), "multiple");
        assert_eq!(root_field_label(Some("nope"), false), "none");
        assert_eq!(root_field_label(None, true), "none");
        assert_eq!(root_field_label(Some(&"a".repeat(65)), true), "other");
        assert_eq!(root_field_label(Some("has space"), true), "other");
    }
}

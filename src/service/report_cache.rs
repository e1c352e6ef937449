//! The report cache: the published results of the scorecard, the recruitment funnel and
//! sufficiency, shared by every replica through the
//! [`SharedStore`](crate::infra::shared::SharedStore), whichever entry point (GraphQL, the
//! CSV export) runs the report.
//!
//! **Key.** A cached result is found under the report's name, the consortium, the
//! consortium's *data version* and everything else the result depends on, as canonical
//! JSON: the report's arguments after defaulting (so "today" is a date in the key), the
//! authorities in the order they are shown, and the actor's *visibility* — which of those
//! authorities it sees unsuppressed and whether it is a board analyst. Two actors share an
//! entry only when the report would be published alike to both; nothing is shared across
//! consortia.
//!
//! **Invalidation.** The GraphQL layer bumps the consortium's data version
//! ([`data_counter`]) after every mutation operation (whatever its outcome: a partly
//! applied mutation must invalidate too), so a write on any replica makes the entries
//! computed before it unreachable on all. The version is read *before* the report's data,
//! so an entry is never older than its version. Entries also expire after [`TTL`], which
//! bounds staleness from writes that do not go through the API (seeding, directory
//! changes). While Redis is down the version is unknown and reports are computed afresh.
//!
//! **Auditing** follows the lookup (the report's service audits the run): a hit is audited
//! exactly like a computed result. Each lookup answers how it went ([`CacheStatus`]), which
//! the GraphQL layer lists in `extensions.reportCache`; the cache metrics count hits and
//! misses.
//!
//! **Values** are the services' published reports as JSON: authorities as ids, figures as
//! [`Shown`](crate::domain::disclosure::Shown), enums and dates through their GraphQL
//! values.
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Service;
use crate::error::AppResult;
use crate::infra::metrics::{CACHE_HITS, CACHE_MISSES};

/// How long a cached report lives at most.
pub const TTL: Duration = Duration::from_secs(300);

/// The counter holding a consortium's data version.
pub fn data_counter(consortium_id: i64) -> String {
    format!("data:{consortium_id}")
}

/// What a report result depends on besides the data.
pub struct ReportKey {
    report: &'static str,
    consortium_id: i64,
    params: serde_json::Value,
}

impl ReportKey {
    /// The key of `report` in the consortium, for `params`: the defaulted arguments, the
    /// authorities and the actor's visibility (see the module documentation).
    pub fn new(report: &'static str, consortium_id: i64, params: serde_json::Value) -> Self {
        ReportKey {
            report,
            consortium_id,
            params,
        }
    }
}

/// How a report was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    Hit,
    Miss,
    /// The cache could not be used (Redis down).
    Bypass,
    /// Read from the consortium's publication (protected audiences), not computed.
    Published,
}

impl CacheStatus {
    /// The status as `extensions.reportCache` names it.
    pub fn code(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Published => "PUBLISHED",
        }
    }
}

/// A report as published, and how the cache answered it.
pub struct Cached<T> {
    /// The report, as `extensions.reportCache` names it (`scorecard`, …).
    pub report: &'static str,
    pub status: CacheStatus,
    pub value: T,
}

impl<T> Cached<T> {
    /// A report read from the consortium's publication.
    pub fn published(report: &'static str, value: T) -> Cached<T> {
        Cached {
            report,
            status: CacheStatus::Published,
            value,
        }
    }
}

/// The cached result under `key`, or `compute`'s (then cached). Errors are never cached.
pub async fn cached<T, F>(svc: &Service<'_>, key: ReportKey, compute: F) -> AppResult<Cached<T>>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = AppResult<T>>,
{
    let shared = &svc.state.shared;
    let answer = |status: CacheStatus, value: T| Cached {
        report: key.report,
        status,
        value,
    };
    let Some(version) = shared.version(&data_counter(key.consortium_id)).await else {
        count(CacheStatus::Bypass);
        return Ok(answer(CacheStatus::Bypass, compute.await?));
    };
    let cache_key = format!(
        "report:{}:{}:{}:{}:{}",
        env!("CARGO_PKG_VERSION"),
        key.report,
        key.consortium_id,
        version,
        key.params
    );
    if let Some(text) = shared.cache_get(&cache_key).await {
        match serde_json::from_str::<T>(&text) {
            Ok(value) => {
                count(CacheStatus::Hit);
                return Ok(answer(CacheStatus::Hit, value));
            }
            Err(e) => {
                tracing::warn!(report = key.report, error = %e, "unreadable cached report; recomputing")
            }
        }
    }
    count(CacheStatus::Miss);
    let value = compute.await?;
    match serde_json::to_string(&value) {
        Ok(text) => shared.cache_put(&cache_key, &text, TTL).await,
        Err(e) => tracing::warn!(report = key.report, error = %e, "report not cached"),
    }
    Ok(answer(CacheStatus::Miss, value))
}

/// Counts a lookup in the cache metrics.
fn count(status: CacheStatus) {
    match status {
        CacheStatus::Hit => metrics::counter!(CACHE_HITS, "cache" => "report").increment(1),
        CacheStatus::Miss | CacheStatus::Bypass => {
            metrics::counter!(CACHE_MISSES, "cache" => "report").increment(1)
        }
        CacheStatus::Published => {}
    }
}

//! The report cache: results of `scorecard`, `recruitmentFunnel` and `sufficiency`, shared
//! by every replica through the [`SharedStore`](crate::infra::shared::SharedStore).
//!
//! **Key.** A cached result is found under the report's name, the consortium, the
//! consortium's *data version* and everything else the result depends on, as canonical
//! JSON: the report's arguments after defaulting (so "today" is a date in the key), the
//! authorities in the order they are shown, and the actor's *visibility* — which of those
//! authorities it sees unsuppressed and whether it is a board analyst. Two actors share an
//! entry only when the resolver would compute the same result for both; nothing is shared
//! across consortia.
//!
//! **Invalidation.** [`DataVersion`] bumps the consortium's data version after every
//! mutation operation (whatever its outcome: a partly applied mutation must invalidate
//! too), so a write on any replica makes the entries computed before it unreachable on all.
//! The version is read *before* the report's data, so an entry is never older than its
//! version. Entries also expire after [`TTL`], which bounds staleness from writes that do
//! not go through the API (seeding, directory changes). While Redis is down the version is
//! unknown and reports are computed afresh.
//!
//! **Auditing** follows the lookup (the resolver calls the service's audit of the run): a
//! hit is audited exactly like a computed result. The response's `extensions.reportCache` lists each report run with
//! `HIT`, `MISS` or `BYPASS`, and the cache metrics count hits and misses.
//!
//! **Values** are the resolvers' output structs as JSON. Fields of types that do not know
//! serde (GraphQL scalars and enums, authorities) are written through their GraphQL value
//! with [`as_graphql`] and through [`as_authority`].
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest,
};
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationType};
use async_graphql::{Context, Request, Response, ServerResult, Value, Variables, value};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{ContextExt, RequestContext};
use crate::error::AppResult;
use crate::infra::metrics::{CACHE_HITS, CACHE_MISSES};
use crate::state::AppState;

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
}

impl CacheStatus {
    fn code(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss => "MISS",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// The cached result under `key`, or `compute`'s (then cached). Errors are never cached.
pub async fn cached<T, F>(ctx: &Context<'_>, key: ReportKey, compute: F) -> AppResult<T>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = AppResult<T>>,
{
    let shared = &ctx.state().shared;
    let Some(version) = shared.version(&data_counter(key.consortium_id)).await else {
        note(ctx, key.report, CacheStatus::Bypass);
        return compute.await;
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
                note(ctx, key.report, CacheStatus::Hit);
                return Ok(value);
            }
            Err(e) => {
                tracing::warn!(report = key.report, error = %e, "unreadable cached report; recomputing")
            }
        }
    }
    note(ctx, key.report, CacheStatus::Miss);
    let value = compute.await?;
    match serde_json::to_string(&value) {
        Ok(text) => shared.cache_put(&cache_key, &text, TTL).await,
        Err(e) => tracing::warn!(report = key.report, error = %e, "report not cached"),
    }
    Ok(value)
}

fn note(ctx: &Context<'_>, report: &'static str, status: CacheStatus) {
    match status {
        CacheStatus::Hit => metrics::counter!(CACHE_HITS, "cache" => "report").increment(1),
        CacheStatus::Miss | CacheStatus::Bypass => {
            metrics::counter!(CACHE_MISSES, "cache" => "report").increment(1)
        }
    }
    if let Some(log) = ctx.data_opt::<Arc<CacheLog>>() {
        log.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((report, status));
    }
}

/// The reports a request ran and how each was answered.
#[derive(Default)]
struct CacheLog(Mutex<Vec<(&'static str, CacheStatus)>>);

/// The schema extension that bumps the actor's consortium data version after a mutation,
/// and reports cache use in `extensions.reportCache`.
pub struct DataVersion;

impl ExtensionFactory for DataVersion {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DataVersionExtension::default())
    }
}

#[derive(Default)]
struct DataVersionExtension {
    log: Arc<CacheLog>,
    /// The document's operations: their names and whether each is a mutation.
    mutations: Mutex<Vec<(Option<String>, bool)>>,
}

#[async_trait::async_trait]
impl Extension for DataVersionExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let response = next.run(ctx).await;
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

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(self.log.clone())).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
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
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
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
        response
    }
}

pub use crate::domain::codes::as_graphql;

/// Serde for authorities (one, optional, or a list) as their directory rows.
pub mod as_authority {
    use chrono::{DateTime, Utc};
    use entity::authority;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::graphql::types::Authority;

    /// An authority as cached.
    #[derive(Serialize, Deserialize)]
    pub struct Row {
        id: i64,
        consortium_id: i64,
        code: String,
        name: String,
        kind: String,
        created_at: DateTime<Utc>,
    }

    impl From<&Authority> for Row {
        fn from(a: &Authority) -> Row {
            Row {
                id: a.0.id,
                consortium_id: a.0.consortium_id,
                code: a.0.code.clone(),
                name: a.0.name.clone(),
                kind: a.0.kind.clone(),
                created_at: a.0.created_at,
            }
        }
    }

    impl From<Row> for Authority {
        fn from(r: Row) -> Authority {
            Authority(authority::Model {
                id: r.id,
                consortium_id: r.consortium_id,
                code: r.code,
                name: r.name,
                kind: r.kind,
                created_at: r.created_at,
            })
        }
    }

    /// What holds authorities: an optional one or a list.
    pub trait Authorities: Sized {
        fn rows(&self) -> Vec<Row>;
        fn from_rows(rows: Vec<Row>) -> Self;
    }

    impl Authorities for Option<Authority> {
        fn rows(&self) -> Vec<Row> {
            self.iter().map(Row::from).collect()
        }
        fn from_rows(rows: Vec<Row>) -> Self {
            rows.into_iter().next().map(Authority::from)
        }
    }

    impl Authorities for Vec<Authority> {
        fn rows(&self) -> Vec<Row> {
            self.iter().map(Row::from).collect()
        }
        fn from_rows(rows: Vec<Row>) -> Self {
            rows.into_iter().map(Authority::from).collect()
        }
    }

    pub fn serialize<T: Authorities, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        value.rows().serialize(s)
    }

    pub fn deserialize<'de, T: Authorities, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        Vec::<Row>::deserialize(d).map(T::from_rows)
    }
}

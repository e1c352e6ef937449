//! The HTTP side of the benchmark: one shared keep-alive client that posts GraphQL
//! operations and sorts every answer into data or an error code.
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// An error code for a request that did not succeed: the GraphQL `extensions.code` of the
/// first error (`CONFLICT`, `NOT_FOUND`, …), or one of the codes below for failures that
/// never reached GraphQL.
pub type ErrorCode = String;

/// The request did not complete within the timeout.
pub const TIMEOUT: &str = "TIMEOUT";
/// No HTTP answer at all (connection refused or reset).
pub const TRANSPORT: &str = "TRANSPORT";
/// An HTTP answer that is not a GraphQL response.
pub const BAD_RESPONSE: &str = "BAD_RESPONSE";
/// A GraphQL error without `extensions.code`.
pub const UNCODED: &str = "UNCODED";

/// A GraphQL endpoint and the connection pool used to reach it.
#[derive(Clone)]
pub struct Gql {
    http: reqwest::Client,
    endpoint: String,
}

/// What one request gave.
pub struct Reply<T> {
    /// From sending the request to having read the whole body.
    pub latency: Duration,
    pub outcome: Result<Answer<T>, ErrorCode>,
}

/// A successful GraphQL answer.
pub struct Answer<T> {
    pub data: T,
    /// `extensions.reportCache[].status` of the response: `HIT`, `MISS` or `BYPASS` per
    /// report run.
    pub cache: Vec<String>,
}

#[derive(Deserialize)]
struct Body<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GqlError>,
    #[serde(default)]
    extensions: Option<Extensions>,
}

#[derive(Deserialize)]
struct GqlError {
    #[serde(default)]
    extensions: Option<ErrorExtensions>,
}

#[derive(Deserialize)]
struct ErrorExtensions {
    code: Option<String>,
}

#[derive(Deserialize)]
struct Extensions {
    #[serde(default, rename = "reportCache")]
    report_cache: Vec<CacheEntry>,
}

#[derive(Deserialize)]
struct CacheEntry {
    status: String,
}

impl Gql {
    /// A client for `url`, which is either the server's base URL or its `/graphql`
    /// endpoint, keeping up to `connections` idle connections open for reuse.
    pub fn new(url: &str, connections: usize, timeout: Duration) -> anyhow::Result<Self> {
        let mut parsed =
            reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("bad --url {url}: {e}"))?;
        if parsed.path().trim_end_matches('/').is_empty() {
            parsed.set_path("/graphql");
        }
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .timeout(timeout)
            .build()?;
        Ok(Gql {
            http,
            endpoint: parsed.to_string(),
        })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Posts `query` with `variables` as the bearer of `token`. `T` is what `data` is read
    /// as; [`serde::de::IgnoredAny`] skips it cheaply when only success matters.
    pub async fn post<T: DeserializeOwned>(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Reply<T> {
        let started = Instant::now();
        let outcome = self.exchange(token, query, variables).await;
        Reply {
            latency: started.elapsed(),
            outcome,
        }
    }

    async fn exchange<T: DeserializeOwned>(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> Result<Answer<T>, ErrorCode> {
        let mut request = self.http.post(&self.endpoint);
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        let response = request
            .header(
                reqwest::header::ACCEPT,
                "application/graphql-response+json, application/json",
            )
            .json(&serde_json::json!({ "query": query, "variables": variables }))
            .send()
            .await
            .map_err(transport_code)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport_code)?;
        let body: Body<T> = match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) if !status.is_success() => return Err(format!("HTTP_{}", status.as_u16())),
            Err(_) => return Err(BAD_RESPONSE.into()),
        };
        if let Some(error) = body.errors.into_iter().next() {
            return Err(error
                .extensions
                .and_then(|e| e.code)
                .unwrap_or_else(|| UNCODED.into()));
        }
        let data = body.data.ok_or_else(|| ErrorCode::from(BAD_RESPONSE))?;
        Ok(Answer {
            data,
            cache: body
                .extensions
                .map(|e| e.report_cache.into_iter().map(|c| c.status).collect())
                .unwrap_or_default(),
        })
    }

    /// Posts `query` and returns its data, or an error naming `what` failed; for the
    /// set-up and verification steps, where any failure stops the run.
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        token: &str,
        query: &str,
        variables: Value,
        what: &str,
    ) -> anyhow::Result<T> {
        match self.post::<T>(token, query, variables).await.outcome {
            Ok(answer) => Ok(answer.data),
            Err(code) => Err(anyhow::anyhow!(
                "{what} failed with {code} at {}{}",
                self.endpoint,
                hint(&code)
            )),
        }
    }
}

/// A word of advice for errors a misconfigured run typically meets.
fn hint(code: &str) -> &'static str {
    match code {
        "UNAUTHENTICATED" => {
            " (are the bench's JWT settings and --consortium the server's? is the data seeded?)"
        }
        "RATE_LIMITED" => " (start the server with PERMANENCE_RATE_LIMIT_CAPACITY=0)",
        TRANSPORT => " (is the server running?)",
        _ => "",
    }
}

fn transport_code(e: reqwest::Error) -> ErrorCode {
    if e.is_timeout() {
        TIMEOUT.into()
    } else {
        TRANSPORT.into()
    }
}

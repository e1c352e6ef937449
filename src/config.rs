//! `Config`, built once from the command line and environment.
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::jwt::{DEVELOPMENT_SECRET, JwtKeys};
use crate::cli::{Environment, GlobalArgs, SharedArgs};
use crate::graphql::limits::QueryLimits;
use crate::infra::bucket::LeakyBucket;

/// Everything the service needs to know about its surroundings.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub environment: Environment,
    pub jwt: JwtKeys,
    /// Abuse limits on GraphQL requests.
    pub limits: QueryLimits,
    /// Prefix of every Redis key and channel.
    pub redis_key_prefix: String,
    /// Each subject's bucket of complexity points; `None` turns rate limiting off.
    pub rate_limit: Option<LeakyBucket>,
    /// Longest a statement of the serving pool may run on PostgreSQL; `None`: no limit.
    pub statement_timeout: Option<Duration>,
    /// Where `/metrics` is served, and behind which token.
    pub metrics: MetricsAccess,
    /// How quickly a database that does not answer is reported.
    pub availability: Availability,
}

/// Where `GET /metrics` is served and who may read it. Its labels are bounded and carry
/// no personal data, but it tells anyone who reads it what the service is doing, so it is
/// never open on the public API port: it is served on a listener of its own (`bind`, for
/// a scraper on a private network), behind a bearer token (`token`), or both; with
/// neither, not at all.
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// A listener of its own for `/metrics` (the API port then does not serve it).
    pub bind: Option<String>,
    /// The bearer token `/metrics` requires wherever it is served.
    pub token: Option<SecretString>,
}

impl MetricsAccess {
    /// Whether the API port serves `/metrics` (behind the token): only when there is a
    /// token and no listener of its own.
    pub fn on_api_port(&self) -> bool {
        self.bind.is_none() && self.token.is_some()
    }

    /// Whether `authorization` (an `Authorization` header value) may read `/metrics`:
    /// always without a token, else only `Bearer <token>` (the scheme in any case; the
    /// token compared in constant time).
    pub fn admits(&self, authorization: Option<&[u8]>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = authorization
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(crate::auth::bearer)
        else {
            return false;
        };
        given
            .as_bytes()
            .ct_eq(token.expose_secret().as_bytes())
            .into()
    }
}

/// How quickly a database that does not answer is reported, instead of requests piling up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Availability {
    /// Longest a request waits for a pooled database connection (or for a new one to
    /// open) before it is answered `UNAVAILABLE`.
    pub db_acquire_timeout: Duration,
    /// Longest `/readyz` waits for its checks before answering 503.
    pub readyz_timeout: Duration,
}

impl Default for Availability {
    fn default() -> Self {
        Availability {
            db_acquire_timeout: Duration::from_secs(2),
            readyz_timeout: Duration::from_secs(1),
        }
    }
}

impl Config {
    /// Builds the configuration; production refuses the built-in development secret.
    pub fn from_args(args: &GlobalArgs) -> anyhow::Result<Self> {
        let production = args.environment == Environment::Production;
        let jwt = match (&args.jwt_public_key_file, &args.jwt_secret) {
            (Some(path), _) => {
                let pem = std::fs::read(path)
                    .with_context(|| format!("reading JWT public key {}", path.display()))?;
                JwtKeys::rs256(&pem, &args.jwt_issuer, &args.jwt_audience)?
            }
            (None, Some(secret)) => {
                let secret = secret.expose_secret();
                if production && secret == DEVELOPMENT_SECRET {
                    bail!("PERMANENCE_ENV=production refuses the built-in development JWT secret");
                }
                if secret.len() < 32 {
                    bail!("JWT_SECRET must be at least 32 bytes");
                }
                JwtKeys::hs256(secret.as_bytes(), &args.jwt_issuer, &args.jwt_audience)
            }
            (None, None) => {
                if production {
                    bail!("PERMANENCE_ENV=production needs JWT_SECRET or JWT_PUBLIC_KEY_FILE");
                }
                JwtKeys::hs256(
                    DEVELOPMENT_SECRET.as_bytes(),
                    &args.jwt_issuer,
                    &args.jwt_audience,
                )
            }
        };
        let limits = args.limits.limits();
        if limits.zero() {
            bail!("the PERMANENCE_MAX_* limits must all be at least 1");
        }
        let rate_limit = rate_limit(&args.shared, &limits)?;
        let metrics = MetricsAccess {
            bind: args.metrics_bind.clone().filter(|b| !b.is_empty()),
            token: args
                .metrics_token
                .clone()
                .filter(|t| !t.expose_secret().is_empty()),
        };
        if metrics
            .token
            .as_ref()
            .is_some_and(|t| t.expose_secret().len() < 32)
        {
            bail!("PERMANENCE_METRICS_TOKEN must be at least 32 bytes");
        }
        Ok(Config {
            database_url: args.database_url.clone(),
            redis_url: args.redis_url.clone(),
            environment: args.environment,
            jwt,
            limits,
            redis_key_prefix: args.shared.redis_key_prefix.clone(),
            rate_limit,
            statement_timeout: (!args.statement_timeout.is_zero())
                .then_some(args.statement_timeout),
            metrics,
            availability: Availability {
                db_acquire_timeout: args.db_acquire_timeout,
                readyz_timeout: args.readyz_timeout,
            },
        })
    }

    /// Whether production protections apply.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }
}

/// The rate-limit bucket the flags describe: none for capacity 0; refused when an operation
/// the complexity limit admits could never fit, or when the bucket would never drain.
fn rate_limit(args: &SharedArgs, limits: &QueryLimits) -> anyhow::Result<Option<LeakyBucket>> {
    if args.rate_limit_capacity == 0 {
        return Ok(None);
    }
    if args.rate_limit_leak_rate == 0 {
        bail!("PERMANENCE_RATE_LIMIT_LEAK_RATE must be at least 1 (or set the capacity to 0)");
    }
    if args.rate_limit_capacity < limits.max_complexity as u64 {
        bail!(
            "PERMANENCE_RATE_LIMIT_CAPACITY ({}) must be at least PERMANENCE_MAX_COMPLEXITY ({}): \
             an operation the complexity limit admits must fit in a full bucket",
            args.rate_limit_capacity,
            limits.max_complexity
        );
    }
    Ok(Some(LeakyBucket {
        capacity: args.rate_limit_capacity,
        leak_per_second: args.rate_limit_leak_rate,
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn config(args: &[&str]) -> Config {
        let cli = Cli::try_parse_from([&["permanence"], args, &["schema"]].concat())
            .expect("arguments parse");
        Config::from_args(&cli.global).expect("configuration")
    }

    #[test]
    fn statements_time_out_after_30_seconds_unless_told_otherwise() {
        assert_eq!(config(&[]).statement_timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            config(&["--statement-timeout", "1m 30s"]).statement_timeout,
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            config(&["--statement-timeout", "0s"]).statement_timeout,
            None
        );
        assert!(
            Cli::try_parse_from(["permanence", "--statement-timeout", "soon", "schema"]).is_err()
        );
    }

    #[test]
    fn a_database_that_does_not_answer_is_reported_within_seconds() {
        assert_eq!(config(&[]).availability, Availability::default());
        assert_eq!(
            Availability::default(),
            Availability {
                db_acquire_timeout: Duration::from_secs(2),
                readyz_timeout: Duration::from_secs(1),
            }
        );
        let set = config(&["--db-acquire-timeout", "500ms", "--readyz-timeout", "3s"]);
        assert_eq!(
            set.availability,
            Availability {
                db_acquire_timeout: Duration::from_millis(500),
                readyz_timeout: Duration::from_secs(3),
            }
        );
    }
}

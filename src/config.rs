//! `Config`, built once from the command line and environment.
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::{ExposeSecret, SecretString};

use crate::auth::issuers::TrustedIssuers;
use crate::auth::jwt::{DEVELOPMENT_SECRET, JwtKeys};
use crate::cli::{Environment, GlobalArgs, SharedArgs};
use crate::graphql::limits::QueryLimits;
use crate::graphql::persisted::TrustedDocuments;
use crate::infra::bucket::LeakyBucket;

/// Everything the service needs to know about its surroundings.
#[derive(Clone)]
pub struct Config {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub environment: Environment,
    pub jwt: JwtKeys,
    /// The trusted OpenID Connect issuers (none unless configured).
    pub issuers: Arc<TrustedIssuers>,
    /// Whether tokens `jwt` verifies are accepted: always, but in production with trusted
    /// issuers only for an RS256 key file (never the shared HS256 secret).
    pub jwt_tokens: bool,
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
    /// What browsers and client applications may send: CORS origins, trusted documents.
    pub clients: ClientAccess,
    /// Months of audit events kept attached to the log besides the current one
    /// (PostgreSQL); `None`: all.
    pub audit_retain_months: Option<u32>,
}

/// Reads `PERMANENCE_AUDIT_RETAIN_MONTHS`: at least 1, and only on PostgreSQL (SQLite's log
/// is one table, which nothing may delete from).
pub fn audit_retention(args: &GlobalArgs) -> anyhow::Result<Option<u32>> {
    let Some(months) = args.audit_retain_months else {
        return Ok(None);
    };
    if months == 0 {
        bail!("PERMANENCE_AUDIT_RETAIN_MONTHS must be at least 1 (or unset to keep every month)");
    }
    if crate::store::backend_of(&args.database_url) != Some(sea_orm::DbBackend::Postgres) {
        bail!(
            "PERMANENCE_AUDIT_RETAIN_MONTHS needs PostgreSQL, where the audit log is partitioned \
             by month; on SQLite the whole log stays in the database file"
        );
    }
    Ok(Some(months))
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
        let issuers = match &args.trusted_issuers {
            Some(path) => TrustedIssuers::load(path)?,
            None => TrustedIssuers::default(),
        };
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
                if production && issuers.is_empty() {
                    bail!(
                        "PERMANENCE_ENV=production needs PERMANENCE_TRUSTED_ISSUERS \
                         (or JWT_PUBLIC_KEY_FILE or JWT_SECRET)"
                    );
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
        if issuers.trusts(jwt.issuer()) {
            bail!(
                "JWT_ISSUER {:?} is also a trusted issuer: give the shared-key issuer another name",
                jwt.issuer()
            );
        }
        // In production the shared secret signs nothing once the councils' own issuers
        // are trusted: only the issuers (and an RS256 key file) are.
        let jwt_tokens = !production || issuers.is_empty() || args.jwt_public_key_file.is_some();
        if !jwt_tokens && args.jwt_secret.is_some() {
            tracing::warn!(
                "JWT_SECRET is set but not accepted: in production, once trusted issuers are \
                 configured, only their tokens (and a JWT_PUBLIC_KEY_FILE's) are"
            );
        }
        let clients = ClientAccess::from_args(&args.clients, production, &limits)?;
        let audit_retain_months = audit_retention(args)?;
        Ok(Config {
            database_url: args.database_url.clone(),
            redis_url: args.redis_url.clone(),
            environment: args.environment,
            jwt,
            issuers: Arc::new(issuers),
            jwt_tokens,
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
            clients,
            audit_retain_months,
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

/// What browsers and client applications may send (README "Browsers and trusted
/// documents"): the origins whose pages may call the API, and the documents it runs.
#[derive(Clone, Default)]
pub struct ClientAccess {
    /// The origins answered with CORS headers on `/graphql` and `/export/…`.
    pub cors_origins: CorsOrigins,
    /// The trusted-documents manifest (`PERMANENCE_TRUSTED_DOCUMENTS`), read at start.
    pub trusted_documents: Option<Arc<TrustedDocuments>>,
    /// Whether only the manifest's documents are run (`PERMANENCE_TRUSTED_DOCUMENTS_ONLY`).
    pub trusted_documents_only: bool,
}

/// The origins whose pages may call the API from a browser.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// No CORS headers at all: browsers keep pages of other origins out.
    #[default]
    None,
    /// Any origin (`*`; refused in production).
    Any,
    /// These exact origins (`scheme://host[:port]`, as browsers send them in `Origin`).
    List(Vec<String>),
}

impl CorsOrigins {
    /// Reads `PERMANENCE_CORS_ORIGINS`: comma-separated exact origins; empty: none.
    pub fn parse(text: &str, production: bool) -> anyhow::Result<CorsOrigins> {
        let entries: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        if entries.is_empty() {
            return Ok(CorsOrigins::None);
        }
        if entries.contains(&"*") {
            if production {
                bail!(
                    "PERMANENCE_CORS_ORIGINS=* is refused when PERMANENCE_ENV=production: \
                     name each frontend's origin"
                );
            }
            if entries.len() > 1 {
                bail!("PERMANENCE_CORS_ORIGINS: * stands alone (it allows every origin)");
            }
            return Ok(CorsOrigins::Any);
        }
        let mut origins = Vec::with_capacity(entries.len());
        for entry in entries {
            let serialized = reqwest::Url::parse(entry)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|u| u.origin().ascii_serialization());
            match serialized {
                Some(origin) if origin == entry => {}
                Some(origin) if origin != "null" => bail!(
                    "PERMANENCE_CORS_ORIGINS: {entry:?} is not an origin as browsers send it: \
                     write scheme://host[:port], no path or trailing slash, no default port \
                     (did you mean {origin:?}?)"
                ),
                _ => bail!(
                    "PERMANENCE_CORS_ORIGINS: {entry:?} is not an origin: write \
                     scheme://host[:port] with http or https, e.g. https://finder.alder.example"
                ),
            }
            if !origins.iter().any(|o| o == entry) {
                origins.push(entry.to_owned());
            }
        }
        Ok(CorsOrigins::List(origins))
    }
}

impl ClientAccess {
    /// The access the flags describe; the manifest is read (and checked) here.
    fn from_args(
        args: &crate::cli::ClientArgs,
        production: bool,
        limits: &QueryLimits,
    ) -> anyhow::Result<ClientAccess> {
        let cors_origins =
            CorsOrigins::parse(args.cors_origins.as_deref().unwrap_or(""), production)?;
        let trusted_documents = match &args.trusted_documents {
            Some(path) => Some(Arc::new(TrustedDocuments::load(path, limits)?)),
            None => None,
        };
        if args.trusted_documents_only && trusted_documents.is_none() {
            bail!(
                "PERMANENCE_TRUSTED_DOCUMENTS_ONLY needs the manifest: set \
                 PERMANENCE_TRUSTED_DOCUMENTS (--trusted-documents FILE)"
            );
        }
        Ok(ClientAccess {
            cors_origins,
            trusted_documents,
            trusted_documents_only: args.trusted_documents_only,
        })
    }
}

#[cfg(test)]
mod client_access_tests {
    use super::CorsOrigins;

    #[test]
    fn cors_origins_are_exact_origins() {
        assert_eq!(CorsOrigins::parse("", true).unwrap(), CorsOrigins::None);
        assert_eq!(CorsOrigins::parse(" , ", true).unwrap(), CorsOrigins::None);
        assert_eq!(
            CorsOrigins::parse("https://finder.alder.example, http://localhost:5173", true)
                .unwrap(),
            CorsOrigins::List(vec![
                "https://finder.alder.example".into(),
                "http://localhost:5173".into()
            ])
        );
        assert_eq!(CorsOrigins::parse("*", false).unwrap(), CorsOrigins::Any);
        for (bad, says) in [
            ("*", "production"),
            ("https://finder.alder.example/", "trailing slash"),
            ("https://finder.alder.example/app", "no path"),
            ("https://finder.alder.example:443", "default port"),
            ("https://Finder.Alder.example", "did you mean"),
            ("finder.alder.example", "not an origin"),
            ("ftp://finder.alder.example", "not an origin"),
            ("null", "not an origin"),
        ] {
            let error = CorsOrigins::parse(bad, true).expect_err(bad).to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
        assert!(CorsOrigins::parse("*, https://a.example", false).is_err());
    }
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
    fn audit_retention_is_a_number_of_months_on_postgresql() {
        let refused = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["permanence"], args, &["schema"]].concat())
                .expect("arguments parse");
            Config::from_args(&cli.global).err().map(|e| e.to_string())
        };
        assert_eq!(config(&[]).audit_retain_months, None);
        let postgres = ["--database-url", "postgres://localhost/permanence"];
        assert_eq!(
            config(&[&postgres[..], &["--audit-retain-months", "24"]].concat()).audit_retain_months,
            Some(24)
        );
        let zero = refused(&[&postgres[..], &["--audit-retain-months", "0"]].concat());
        assert!(zero.is_some_and(|e| e.contains("at least 1")));
        let sqlite = refused(&["--audit-retain-months", "24"]);
        assert!(sqlite.is_some_and(|e| e.contains("needs PostgreSQL")));
        // Either spelling of PostgreSQL's URL, and nothing that merely starts like it.
        let long = ["--database-url", "postgresql://localhost/permanence"];
        assert_eq!(
            config(&[&long[..], &["--audit-retain-months", "6"]].concat()).audit_retain_months,
            Some(6)
        );
        let odd = [
            "--database-url",
            "postgresish:/tmp/x",
            "--audit-retain-months",
            "6",
        ];
        assert!(refused(&odd).is_some_and(|e| e.contains("needs PostgreSQL")));
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

#[cfg(test)]
mod issuer_tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn from(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from([&["permanence"], args, &["schema"]].concat())
            .expect("arguments parse");
        Config::from_args(&cli.global)
    }

    #[test]
    fn production_needs_an_issuer_and_drops_the_shared_secret_once_issuers_are_trusted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("issuers.toml");
        std::fs::write(
            &file,
            "[[issuer]]\nname = \"alder\"\nconsortium = \"demo\"\n\
             issuer = \"https://idp.alder.example\"\naudience = \"permanence\"\n\
             authorities = [\"alder\"]\n",
        )
        .expect("write");
        let issuers = file.to_str().expect("utf-8");
        let secret = "a-perfectly-good-production-secret-0123456789";

        let error = from(&["--env", "production"]).err().expect("refused");
        assert!(
            error.to_string().contains("PERMANENCE_TRUSTED_ISSUERS"),
            "{error}"
        );

        let production = from(&["--env", "production", "--trusted-issuers", issuers])
            .expect("issuers are enough");
        assert!(
            !production.jwt_tokens,
            "the development secret signs nothing"
        );
        let with_secret = from(&[
            "--env",
            "production",
            "--trusted-issuers",
            issuers,
            "--jwt-secret",
            secret,
        ])
        .expect("configuration");
        assert!(
            !with_secret.jwt_tokens,
            "nor does a shared secret, once issuers are trusted"
        );
        let development = from(&["--trusted-issuers", issuers]).expect("configuration");
        assert!(development.jwt_tokens && development.issuers.trusts("https://idp.alder.example"));

        std::fs::write(&file, "[[issuer]]\nname = \"alder\"\n").expect("write");
        let error = from(&["--trusted-issuers", issuers])
            .err()
            .expect("refused");
        assert!(format!("{error:#}").contains("issuers.toml"), "{error:#}");
    }
}

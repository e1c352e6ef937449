//! Command-line interface. Every flag is also an environment variable.
use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;

use crate::graphql::limits;

/// Permanence: the GraphQL backend of a regional adoption agency.
#[derive(Debug, Parser)]
#[command(name = "permanence", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings every command shares.
#[derive(Clone, Debug, Args)]
pub struct GlobalArgs {
    /// Database URL: `sqlite://…` (the embedded default) or `postgres://…`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://permanence.db?mode=rwc",
        global = true
    )]
    pub database_url: String,
    /// Redis URL for shared cache, counters and pub/sub; unset means in-process.
    #[arg(long, env = "REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// HS256 secret for bearer tokens; unset means the built-in development secret.
    #[arg(long, env = "JWT_SECRET", global = true, hide_env_values = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,
    /// PEM file with an RS256 public key; when set, tokens are verified with it.
    #[arg(long, env = "JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<std::path::PathBuf>,
    /// Expected `iss` of tokens.
    #[arg(long, env = "JWT_ISSUER", default_value = "permanence", global = true)]
    pub jwt_issuer: String,
    /// Expected `aud` of tokens.
    #[arg(
        long,
        env = "JWT_AUDIENCE",
        default_value = "permanence",
        global = true
    )]
    pub jwt_audience: String,
    /// TOML file of the trusted OpenID Connect issuers (each council's identity provider:
    /// keys, audience, the authorities it may speak for, claim mapping). Production needs it.
    #[arg(long, env = "PERMANENCE_TRUSTED_ISSUERS", global = true)]
    pub trusted_issuers: Option<std::path::PathBuf>,
    /// `development` or `production`.
    #[arg(
        long = "env",
        env = "PERMANENCE_ENV",
        value_enum,
        default_value = "development",
        global = true
    )]
    pub environment: Environment,
    /// Longest a single database statement may run while serving before PostgreSQL cancels
    /// it (`0s`: no limit). SQLite has no such limit.
    #[arg(
        long,
        env = "PERMANENCE_STATEMENT_TIMEOUT",
        default_value = "30s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub statement_timeout: std::time::Duration,
    /// Address of a listener of its own serving only `GET /metrics` (e.g.
    /// `127.0.0.1:9090`); unset: `/metrics` is not served on a port of its own.
    #[arg(long, env = "PERMANENCE_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,
    /// Bearer token `GET /metrics` requires (at least 32 bytes). Set without
    /// `PERMANENCE_METRICS_BIND`, `/metrics` is served on the API port behind it; with
    /// neither set, `/metrics` is not served at all.
    #[arg(
        long,
        env = "PERMANENCE_METRICS_TOKEN",
        global = true,
        hide_env_values = true,
        value_parser = secret
    )]
    pub metrics_token: Option<SecretString>,
    /// Longest a request waits for a database connection (and for a new one to open)
    /// before it is answered `UNAVAILABLE` (HTTP 503, `Retry-After`).
    #[arg(
        long,
        env = "PERMANENCE_DB_ACQUIRE_TIMEOUT",
        default_value = "2s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub db_acquire_timeout: std::time::Duration,
    /// Longest `/readyz` waits for the database (and Redis) before answering 503.
    #[arg(
        long,
        env = "PERMANENCE_READYZ_TIMEOUT",
        default_value = "1s",
        value_parser = humantime::parse_duration,
        global = true
    )]
    pub readyz_timeout: std::time::Duration,
    /// Months of audit events the log keeps on PostgreSQL besides the current one: a
    /// month's partition is detached once it is older than that (renamed
    /// `audit_archive_YYYY_MM`, kept in the database to archive, never deleted). Unset:
    /// every month is kept in the log. Refused on SQLite, whose log is one table.
    #[arg(long, env = "PERMANENCE_AUDIT_RETAIN_MONTHS", global = true)]
    pub audit_retain_months: Option<u32>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub shared: SharedArgs,
    #[command(flatten)]
    pub clients: ClientArgs,
}

/// State shared by replicas: the Redis key prefix and the per-subject rate limit.
#[derive(Clone, Debug, Args)]
pub struct SharedArgs {
    /// Prefix of every Redis key and channel, so that deployments can share one Redis.
    #[arg(
        long,
        env = "REDIS_KEY_PREFIX",
        default_value = "permanence",
        global = true
    )]
    pub redis_key_prefix: String,
    /// Points in each subject's rate-limit bucket; an operation costs its complexity. 0
    /// turns rate limiting off. At least PERMANENCE_MAX_COMPLEXITY, so that any operation
    /// the complexity limit admits fits in a full bucket.
    #[arg(
        long,
        env = "PERMANENCE_RATE_LIMIT_CAPACITY",
        default_value_t = 5000,
        global = true
    )]
    pub rate_limit_capacity: u64,
    /// Points a second drained from each bucket (the sustained rate a subject may spend).
    #[arg(
        long,
        env = "PERMANENCE_RATE_LIMIT_LEAK_RATE",
        default_value_t = 250,
        global = true
    )]
    pub rate_limit_leak_rate: u64,
}

/// What browsers and client applications may send (README "Browsers and trusted
/// documents").
#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// Comma-separated origins whose browser pages may call `/graphql` and `/export/…`
    /// (CORS), each exactly `scheme://host[:port]`, e.g. `https://finder.alder.example`.
    /// Unset or empty: no CORS headers. `*` (any origin) is refused in production.
    #[arg(long, env = "PERMANENCE_CORS_ORIGINS", global = true)]
    pub cors_origins: Option<String>,
    /// JSON manifest of trusted documents, `{ "<sha256 hex>": "<document>" }` (GraphQL
    /// Codegen's `persisted-documents.json`) or an Apollo persisted query manifest; read
    /// and checked at start. Its documents may be sent by hash.
    #[arg(long, env = "PERMANENCE_TRUSTED_DOCUMENTS", global = true)]
    pub trusted_documents: Option<std::path::PathBuf>,
    /// Run only the manifest's documents: any other is refused with
    /// `PERSISTED_QUERY_NOT_ALLOWED` (and automatic persisted queries register nothing).
    #[arg(long, env = "PERMANENCE_TRUSTED_DOCUMENTS_ONLY", global = true)]
    pub trusted_documents_only: bool,
}

/// Abuse limits on GraphQL requests (DESIGN §6); see `graphql::limits`.
#[derive(Clone, Debug, Args)]
pub struct LimitArgs {
    /// Deepest nesting of fields in a GraphQL operation.
    #[arg(
        long,
        env = "PERMANENCE_MAX_DEPTH",
        default_value_t = limits::DEFAULT_MAX_DEPTH,
        global = true
    )]
    pub max_depth: usize,
    /// Most complexity of a GraphQL operation (1 per field; a page costs `first` × one item).
    #[arg(
        long,
        env = "PERMANENCE_MAX_COMPLEXITY",
        default_value_t = limits::DEFAULT_MAX_COMPLEXITY,
        global = true
    )]
    pub max_complexity: usize,
    /// Most aliased fields in a GraphQL operation, fragments expanded.
    #[arg(
        long,
        env = "PERMANENCE_MAX_ALIASES",
        default_value_t = limits::DEFAULT_MAX_ALIASES,
        global = true
    )]
    pub max_aliases: usize,
    /// Most operations in one batched (JSON array) request; 1 refuses batches.
    #[arg(
        long,
        env = "PERMANENCE_MAX_BATCH",
        default_value_t = limits::DEFAULT_MAX_BATCH,
        global = true
    )]
    pub max_batch: usize,
    /// Largest GraphQL document, in bytes (refused before parsing).
    #[arg(
        long,
        env = "PERMANENCE_MAX_QUERY_BYTES",
        default_value_t = limits::DEFAULT_MAX_QUERY_BYTES,
        global = true
    )]
    pub max_query_bytes: usize,
    /// Largest request body on /graphql, in bytes.
    #[arg(
        long,
        env = "PERMANENCE_MAX_BODY_BYTES",
        default_value_t = limits::DEFAULT_MAX_BODY_BYTES,
        global = true
    )]
    pub max_body_bytes: usize,
    /// Deepest nesting of brackets in a GraphQL document (selection sets, arguments, list
    /// and object values together) and of lists and objects in its variables; refused
    /// before the document is parsed.
    #[arg(
        long,
        env = "PERMANENCE_MAX_NESTING",
        default_value_t = limits::DEFAULT_MAX_NESTING,
        global = true
    )]
    pub max_nesting: usize,
    /// Longest list in a request's argument values and variables.
    #[arg(
        long,
        env = "PERMANENCE_MAX_LIST_LENGTH",
        default_value_t = limits::DEFAULT_MAX_LIST_LENGTH,
        global = true
    )]
    pub max_list_length: usize,
    /// Largest request body on /graphql/upload (an import's files), in bytes.
    #[arg(
        long,
        env = "PERMANENCE_MAX_UPLOAD_BYTES",
        default_value_t = limits::DEFAULT_MAX_UPLOAD_BYTES,
        global = true
    )]
    pub max_upload_bytes: usize,
    /// Most files in one request on /graphql/upload.
    #[arg(
        long,
        env = "PERMANENCE_MAX_UPLOAD_FILES",
        default_value_t = limits::DEFAULT_MAX_UPLOAD_FILES,
        global = true
    )]
    pub max_upload_files: usize,
}

impl LimitArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> limits::QueryLimits {
        limits::QueryLimits {
            max_depth: self.max_depth,
            max_complexity: self.max_complexity,
            max_aliases: self.max_aliases,
            max_batch: self.max_batch,
            max_query_bytes: self.max_query_bytes,
            max_body_bytes: self.max_body_bytes,
            max_nesting: self.max_nesting,
            max_list_length: self.max_list_length,
            max_upload_bytes: self.max_upload_bytes,
            max_upload_files: self.max_upload_files,
        }
    }
}

/// Where the service runs; production refuses development conveniences.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Migrate the database, then serve GraphQL on /graphql.
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Load data.
    #[command(subcommand)]
    Seed(SeedCommand),
    /// Mint a development token (refused in production). Prints only the token.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Build a consortium's publication at a quarter end, decide its withheld cells and
    /// audit them: for every withheld small figure, the interval the published figures still
    /// allow, by linear programming. Exits with status 1 when any is narrower than the
    /// protection rule asks.
    AuditPublication(AuditPublicationArgs),
    /// Make and keep a consortium's publication at a quarter end (unless one is kept):
    /// what board analysts and other protected audiences are served. Refuses to keep a
    /// publication whose audit fails (exit status 1). `serve` does this for the latest
    /// completed quarter by itself.
    Publish(AuditPublicationArgs),
    /// Trusted documents (the manifest of `PERMANENCE_TRUSTED_DOCUMENTS`).
    #[command(subcommand)]
    TrustedDocuments(TrustedDocumentsCommand),
    /// Bring an authority's existing records in, through the same rules as the API: every
    /// problem reported at once (file, row, reference, column, value, code), and nothing
    /// written while any is an error. Exits with status 1 when nothing could be written.
    #[command(subcommand)]
    Import(ImportCommand),
    /// The audit log's monthly partitions on PostgreSQL (`serve` keeps them by itself).
    #[command(subcommand)]
    AuditLog(AuditLogCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditLogCommand {
    /// List the partitions, attached and detached, with PostgreSQL's estimate of their rows.
    Partitions,
    /// Make the coming months' partitions, move events out of the default partition, and
    /// detach the months PERMANENCE_AUDIT_RETAIN_MONTHS no longer keeps; print what was done.
    Maintain,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// An authority's SSDA903 returns: any number of years of the `header`, `episodes`,
    /// `ad1` and `placed_for_adoption` files, named as the DfE names them
    /// (`SSDA903_2025_episodes.csv`); the later year wins where returns overlap.
    Ssda903(ImportArgs),
    /// An authority's adopter register: one CSV file in the template
    /// (`docs/templates/adopter-register.csv`), one row per household with its key dates
    /// from enquiry to approval, its exit and a pause.
    Adopters(ImportArgs),
    /// The history of an authority's children's links: one CSV file in the template
    /// (`docs/templates/link-history.csv`), one row per child per link with the household,
    /// the match, placement, adoption order or disruption dates and the fee. Import the
    /// children and the households first.
    Links(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Consortium code.
    #[arg(long, env = "PERMANENCE_IMPORT_CONSORTIUM")]
    pub consortium: String,
    /// The code of the authority whose files these are.
    #[arg(long, env = "PERMANENCE_IMPORT_AUTHORITY")]
    pub authority: String,
    /// Read and check everything, report what would be written, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The files.
    #[arg(required = true)]
    pub files: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum TrustedDocumentsCommand {
    /// Check a manifest as `serve` would, and every document in it against the schema and
    /// the limits (`PERMANENCE_MAX_*`); print the count. Exits with status 1, listing the
    /// documents refused, when any is.
    Check {
        /// The manifest (JSON).
        file: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct AuditPublicationArgs {
    /// Consortium code.
    #[arg(long, env = "PERMANENCE_AUDIT_CONSORTIUM")]
    pub consortium: String,
    /// The quarter end (30 June, 30 September, 31 December or 31 March; default: the latest
    /// completed quarter).
    #[arg(long, env = "PERMANENCE_AUDIT_QUARTER_END")]
    pub quarter_end: Option<chrono::NaiveDate>,
    /// Print every audited interval as JSON lines after the summary.
    #[arg(long)]
    pub intervals: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PERMANENCE_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Load the demo data set (if the database is empty) and print ready-to-use tokens.
    #[arg(long, env = "PERMANENCE_DEMO")]
    pub demo: bool,
    /// Make each consortium's publication of the latest completed quarter when it has
    /// none (at start, then hourly): what board analysts are served.
    #[arg(long, env = "PERMANENCE_PUBLISH", default_value_t = true, action = clap::ArgAction::Set)]
    pub publish: bool,
}

#[derive(Debug, Subcommand)]
pub enum SeedCommand {
    /// The demo consortium: five authorities with several years of synthetic histories.
    Demo,
    /// Synthetic data at scale, deterministic for a given seed.
    Synthetic(SyntheticArgs),
    /// Write synthetic SSDA903 returns of one authority (the `header`, `episodes`, `ad1`
    /// and `placed_for_adoption` files of every year) to a directory, for trying
    /// `permanence import ssda903`. Writes no database.
    Ssda903(Ssda903Args),
    /// Write a synthetic adopter register in the import template to a file, for trying
    /// `permanence import adopters`. Writes no database.
    AdopterRegister(AdopterRegisterArgs),
}

#[derive(Clone, Debug, Args)]
pub struct AdopterRegisterArgs {
    /// Number of households (one row each).
    #[arg(long, default_value_t = 1000)]
    pub households: usize,
    /// Recruitment events to aim for, before the link outcomes and any second pause are
    /// left out.
    #[arg(long, default_value_t = 10_000)]
    pub events: usize,
    /// Seed of the random generator (the same seed writes the same file).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The file to write.
    #[arg(long)]
    pub out: std::path::PathBuf,
}

#[derive(Clone, Debug, Args)]
pub struct Ssda903Args {
    /// Number of children.
    #[arg(long, default_value_t = 1000)]
    pub children: usize,
    /// The first return (the year its collection ends in).
    #[arg(long, default_value_t = 2016)]
    pub first_year: i32,
    /// The last return.
    #[arg(long, default_value_t = 2025)]
    pub last_year: i32,
    /// Seed of the random generator (the same seed writes the same files).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The directory to write the files to (created if missing).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

#[derive(Clone, Debug, Args)]
pub struct SyntheticArgs {
    /// Number of children.
    #[arg(long, env = "PERMANENCE_SEED_CHILDREN", default_value_t = 1000)]
    pub children: usize,
    /// Number of adopter households.
    #[arg(long, env = "PERMANENCE_SEED_HOUSEHOLDS", default_value_t = 1000)]
    pub households: usize,
    /// Number of recruitment events (enquiries and every later step) to aim for.
    #[arg(long, env = "PERMANENCE_SEED_ENQUIRIES", default_value_t = 5000)]
    pub enquiries: usize,
    /// Random seed; the same seed gives the same data.
    #[arg(long, env = "PERMANENCE_SEED", default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// Subject (`sub`).
    #[arg(long, env = "PERMANENCE_TOKEN_SUB")]
    pub sub: String,
    /// Display name.
    #[arg(long, env = "PERMANENCE_TOKEN_NAME")]
    pub name: Option<String>,
    /// Consortium code.
    #[arg(long, env = "PERMANENCE_TOKEN_CONSORTIUM")]
    pub consortium: String,
    /// Authority code for `--role` (repeatable; pairs with the `--role`s that follow it).
    #[arg(long, env = "PERMANENCE_TOKEN_AUTHORITY")]
    pub authority: Option<String>,
    /// Role held in `--authority` (repeatable).
    #[arg(long = "role", env = "PERMANENCE_TOKEN_ROLES", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// `CODE:ROLE,ROLE` (repeatable), for several authorities.
    #[arg(
        long = "membership",
        env = "PERMANENCE_TOKEN_MEMBERSHIPS",
        value_delimiter = ';'
    )]
    pub memberships: Vec<String>,
    /// Consortium role (repeatable).
    #[arg(
        long = "consortium-role",
        env = "PERMANENCE_TOKEN_CONSORTIUM_ROLES",
        value_delimiter = ','
    )]
    pub consortium_roles: Vec<String>,
    /// Lifetime: a duration such as `8h`, `30m`, `2d` or `1h30m`, or a number of seconds.
    #[arg(
        long,
        env = "PERMANENCE_TOKEN_TTL",
        default_value = "8h",
        value_parser = parse_ttl
    )]
    pub ttl: std::time::Duration,
}

/// A token lifetime: a `humantime` duration (`8h`, `30m`, `2d`, `1h30m`), or a bare number
/// of seconds, which `--ttl` has always accepted.
pub fn parse_ttl(ttl: &str) -> Result<std::time::Duration, humantime::DurationError> {
    let ttl = ttl.trim();
    match ttl.parse::<u64>() {
        Ok(seconds) => Ok(std::time::Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(ttl),
    }
}

/// A secret argument: kept out of `Debug` output (and so out of logs and panics).
fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Secrets given on the command line never show in the arguments' `Debug` output.
    #[test]
    fn secrets_stay_out_of_debug_output() {
        let secret = "a-jwt-secret-of-at-least-thirty-two-bytes";
        let token = "a-metrics-token-of-at-least-thirty-two-bytes";
        let cli = Cli::try_parse_from([
            "permanence",
            "--jwt-secret",
            secret,
            "--metrics-token",
            token,
            "migrate",
        ])
        .expect("parses");
        let shown = format!("{cli:?}");
        assert!(!shown.contains(secret) && !shown.contains(token), "{shown}");
        let args = &cli.global;
        assert_eq!(
            args.jwt_secret
                .as_ref()
                .map(secrecy::ExposeSecret::expose_secret),
            Some(secret)
        );
    }

    fn ttl_of(args: &[&str]) -> Result<Duration, clap::Error> {
        let base = [
            "permanence",
            "token",
            "--sub",
            "u-1",
            "--consortium",
            "demo",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(args))?;
        match cli.command {
            Command::Token(token) => Ok(token.ttl),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn ttl_takes_durations_with_units_and_bare_seconds() {
        assert_eq!(
            ttl_of(&[]).unwrap(),
            Duration::from_secs(8 * 3600),
            "default"
        );
        assert_eq!(
            ttl_of(&["--ttl", "8h"]).unwrap(),
            Duration::from_secs(8 * 3600)
        );
        assert_eq!(
            ttl_of(&["--ttl", "30m"]).unwrap(),
            Duration::from_secs(30 * 60)
        );
        assert_eq!(
            ttl_of(&["--ttl", "1d"]).unwrap(),
            Duration::from_secs(86_400)
        );
        assert_eq!(ttl_of(&["--ttl", "90s"]).unwrap(), Duration::from_secs(90));
        assert_eq!(
            ttl_of(&["--ttl", "1h30m"]).unwrap(),
            Duration::from_secs(5400)
        );
        assert_eq!(ttl_of(&["--ttl", "90"]).unwrap(), Duration::from_secs(90));
    }

    #[test]
    fn ttl_refuses_what_is_not_a_duration() {
        for bad in ["", "8x", "h", "-1h", "eight hours"] {
            let error = ttl_of(&[&format!("--ttl={bad}")]).expect_err(bad);
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{bad}"
            );
        }
    }
}

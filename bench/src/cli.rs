//! Command line of `permanence-bench`. Every flag is also an environment variable.
use clap::{Args, Parser};
use permanence::cli::GlobalArgs;

/// permanence-bench: drive load against a running Permanence server and report latency,
/// throughput, errors and the server's peak memory. Refused when PERMANENCE_ENV=production:
/// it mints its own tokens.
#[derive(Debug, Parser)]
#[command(name = "permanence-bench", version, about)]
pub struct Cli {
    /// The server's settings, read as the server reads them: the bench uses the JWT secret,
    /// issuer and audience (which must match the server's) and `PERMANENCE_ENV`.
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub bench: BenchArgs,
}

/// A reproducible HTTP load run against a real server (see the crate docs). The tokens are
/// minted with the JWT settings of [`Cli::global`], which must match the server's.
#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// The server: its base URL or its `/graphql` endpoint.
    #[arg(
        long,
        env = "PERMANENCE_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// Scenarios to run, in this order (repeatable or comma-separated); `recruitmentFunnel`
    /// and `scorecard` stand for their cold and warm runs. Default: all of them.
    #[arg(
        long = "scenario",
        env = "PERMANENCE_BENCH_SCENARIOS",
        value_delimiter = ','
    )]
    pub scenarios: Vec<String>,
    /// Measured time of each scenario, e.g. `10s`, `1m` (ignored with `--requests`).
    #[arg(
        long,
        env = "PERMANENCE_BENCH_DURATION",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    pub duration: std::time::Duration,
    /// Unmeasured warm-up before each scenario's measured run, e.g. `2s`; `0s` for none.
    #[arg(
        long,
        env = "PERMANENCE_BENCH_WARMUP",
        default_value = "2s",
        value_parser = humantime::parse_duration
    )]
    pub warmup: std::time::Duration,
    /// Measure exactly this many requests per scenario instead of a duration (for the write
    /// mix: writes, not counting the re-reads and retries after a `CONFLICT`).
    #[arg(long, env = "PERMANENCE_BENCH_REQUESTS")]
    pub requests: Option<u64>,
    /// Concurrent clients for every scenario, instead of each scenario's own default.
    #[arg(long, env = "PERMANENCE_BENCH_CLIENTS")]
    pub clients: Option<usize>,
    /// The server's process id: its peak RSS (`VmHWM`) is read from `/proc` at the end,
    /// and its RSS sampled during each scenario.
    #[arg(long, env = "PERMANENCE_BENCH_SERVER_PID")]
    pub server_pid: Option<u32>,
    /// The database server's main process (PostgreSQL's postmaster): the CPU time it and
    /// its backends spend per measured request is reported with each scenario's.
    #[arg(long, env = "PERMANENCE_BENCH_DATABASE_PID")]
    pub database_pid: Option<u32>,
    /// Replay files to run instead of the scenarios (repeatable; see `replay.rs`): one
    /// GraphQL operation each, sent to `--url` with variables drawn from the file's list,
    /// at `--clients` (default 32) clients. No ids are looked up and no tokens minted, so
    /// any GraphQL server can be driven.
    #[arg(
        long = "replay",
        env = "PERMANENCE_BENCH_REPLAY",
        value_delimiter = ','
    )]
    pub replays: Vec<std::path::PathBuf>,
    /// Print a machine-readable JSON summary on stdout instead of the table.
    #[arg(long, env = "PERMANENCE_BENCH_JSON")]
    pub json: bool,
    /// The consortium to load (`synthetic` from `seed synthetic`, `demo` from `seed demo`).
    #[arg(long, env = "PERMANENCE_BENCH_CONSORTIUM", default_value = "synthetic")]
    pub consortium: String,
    /// Random seed for the choice of records and the order of operations.
    #[arg(long, env = "PERMANENCE_BENCH_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Most records of each kind collected per authority when looking up ids at start-up.
    #[arg(long, env = "PERMANENCE_BENCH_DISCOVER_LIMIT", default_value_t = 5000)]
    pub discover_limit: usize,
    /// Children and households of each kind the write mix works on; fewer means more
    /// contention (and more expected `CONFLICT`s).
    #[arg(long, env = "PERMANENCE_BENCH_WRITE_TARGETS", default_value_t = 64)]
    pub write_targets: usize,
    /// Longest wait for one response before it counts as a `TIMEOUT` error.
    #[arg(
        long,
        env = "PERMANENCE_BENCH_TIMEOUT",
        default_value = "30s",
        value_parser = humantime::parse_duration
    )]
    pub timeout: std::time::Duration,
}

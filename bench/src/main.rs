//! `permanence-bench`: a reproducible HTTP load run against a real server. The load driver
//! is a workspace member of its own so that the server binary does not ship it (nor its
//! HTTP client and histograms); it uses the `permanence` library for the configuration and
//! the tokens.
//!
//! A run
//! 1. mints a fixed mix of tokens with the server's JWT settings ([`tokens`]);
//! 2. finds the consortium's authorities and the ids to pick from through the API
//!    ([`discovery`]);
//! 3. runs each scenario ([`scenarios`], [`writes`]) with its own number of concurrent
//!    clients ([`driver`]): an unmeasured warm-up, then a measured run of `--duration` (or
//!    of `--requests`), latencies in an HDR histogram and errors by code ([`stats`]);
//! 4. after the write mix, reads back every acknowledged write and counts its audit events;
//! 5. reads the server's peak RSS (`VmHWM`) when given its pid, and reports a table or JSON
//!    ([`report`]).
//!
//! The run fails (non-zero exit) when any scenario had an unexpected error: any error of a
//! read scenario, a report answered from the wrong side of the cache, a write error other
//! than an expected `CONFLICT`, a write not found afterwards, or a scenario that found no
//! records to work on. CI uses that as a smoke test.
//!
//! It mints tokens with the configured secret, so it refuses to run when
//! `PERMANENCE_ENV=production`, like `permanence token`.
//!
//! The server must not rate-limit the benchmark's subjects (start it with
//! `PERMANENCE_RATE_LIMIT_CAPACITY=0`): `RATE_LIMITED` answers count as errors.
mod cli;
mod client;
mod discovery;
mod driver;
mod replay;
mod report;
mod scenarios;
mod stats;
mod tokens;
mod writes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{SecondsFormat, Utc};
use clap::Parser;
use permanence::config::Config;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::IgnoredAny;

use cli::{BenchArgs, Cli};
use client::Gql;
use discovery::Fixture;
use driver::{Until, client_seed, read_client, run_phase};
use replay::{Replay, replay_client};
use report::{ScenarioReport, ServerMemory, Summary};
use scenarios::{Reads, Scenario};
use stats::{CpuClock, RssSampler, Stats, proc_status_kb};
use tokens::Minter;
use writes::WriteMix;

/// How often the server's RSS is sampled.
const RSS_EVERY: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_args(&cli.global)?;
    if config.is_production() {
        bail!("permanence-bench mints tokens and is refused when PERMANENCE_ENV=production");
    }
    run(&config, &cli.bench).await
}

/// Runs the benchmark `args` describe; an error when any scenario had unexpected errors.
async fn run(config: &Config, args: &BenchArgs) -> anyhow::Result<()> {
    if !args.replays.is_empty() {
        return run_replays(args).await;
    }
    let scenarios = Scenario::parse_list(&args.scenarios)?;
    let most_clients = scenarios
        .iter()
        .map(|s| clients_of(args, *s))
        .max()
        .unwrap_or(1);
    let gql = Gql::new(&args.url, most_clients + 4, args.timeout)?;
    let minter = Minter::new(config, &args.consortium);
    let started_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);

    progress(format!(
        "looking up consortium {} at {}",
        args.consortium,
        gql.endpoint()
    ));
    let discovery_started = Instant::now();
    let fixture = Arc::new(discovery::discover(&gql, &minter, args.discover_limit).await?);
    let discovery_seconds = discovery_started.elapsed().as_secs_f64();
    progress(format!(
        "found {} in {discovery_seconds:.1}s",
        fixture.summary()
    ));

    let reads = Arc::new(Reads::new(fixture.clone()));
    let mut reports = Vec::new();
    let mut sampled_peak: Option<u64> = None;
    for scenario in scenarios {
        let clients = clients_of(args, scenario);
        progress(format!("{}: {clients} clients", scenario.name()));
        let sampler = args.server_pid.map(|pid| RssSampler::start(pid, RSS_EVERY));
        let report = match scenario {
            Scenario::Writes => run_writes(&gql, &minter, &fixture, clients, args).await?,
            _ => run_reads(&gql, &reads, scenario, clients, args).await,
        };
        done(report, sampler, &mut sampled_peak, &mut reports);
    }

    let summary = Summary {
        endpoint: gql.endpoint().to_owned(),
        consortium: args.consortium.clone(),
        seed: args.seed,
        started_at,
        discovery_seconds,
        fixture: fixture.summary(),
        server: server_memory(args, sampled_peak),
        unexpected_errors: reports.iter().map(|r| r.unexpected_errors).sum(),
        ok: reports.iter().all(|r| r.unexpected_errors == 0),
        scenarios: reports,
    };
    finish(args, summary)
}

/// The server's memory at the end of a run, when its pid is known.
fn server_memory(args: &BenchArgs, sampled_peak: Option<u64>) -> Option<ServerMemory> {
    args.server_pid.map(|pid| ServerMemory {
        pid,
        peak_rss_kb: proc_status_kb(pid, "VmHWM"),
        rss_kb: proc_status_kb(pid, "VmRSS"),
        sampled_rss_peak_kb: sampled_peak,
    })
}

/// Prints `summary` as asked; an error when it had unexpected errors.
fn finish(args: &BenchArgs, summary: Summary) -> anyhow::Result<()> {
    let unexpected_errors = summary.unexpected_errors;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.table());
    }
    if !summary.ok {
        bail!("the benchmark had {unexpected_errors} unexpected errors");
    }
    Ok(())
}

/// Runs the replay files of `args`, in order, at `--clients` (default 32) clients each.
async fn run_replays(args: &BenchArgs) -> anyhow::Result<()> {
    let replays = args
        .replays
        .iter()
        .map(|path| Replay::load(path).map(Arc::new))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let clients = args.clients.unwrap_or(32).max(1);
    let gql = Gql::new(&args.url, clients + 4, args.timeout)?;
    let started_at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut reports = Vec::new();
    let mut sampled_peak: Option<u64> = None;
    for (n, replay) in replays.iter().enumerate() {
        progress(format!("{}: {clients} clients", replay.name));
        let sampler = args.server_pid.map(|pid| RssSampler::start(pid, RSS_EVERY));
        let phase = |phase: u64, until: Until| {
            let gql = gql.clone();
            run_phase(clients, until, move |client, until| {
                let seed = args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    ^ ((n as u64) << 40)
                    ^ (phase << 32)
                    ^ client as u64;
                replay_client(gql.clone(), replay.clone(), seed, until)
            })
        };
        let report = measure(args, &replay.name, clients, phase).await;
        done(report, sampler, &mut sampled_peak, &mut reports);
    }
    let summary = Summary {
        endpoint: gql.endpoint().to_owned(),
        consortium: String::new(),
        seed: args.seed,
        started_at,
        discovery_seconds: 0.0,
        fixture: serde_json::json!({ "replays": args.replays }),
        server: server_memory(args, sampled_peak),
        unexpected_errors: reports.iter().map(|r| r.unexpected_errors).sum(),
        ok: reports.iter().all(|r| r.unexpected_errors == 0),
        scenarios: reports,
    };
    finish(args, summary)
}

/// Runs `phase` as the warm-up (phase 0, unless `--warmup 0s`), then measured (phase 1):
/// the measured run's report, with the CPU it cost and the warm-up's errors too.
async fn measure<F, Fut>(args: &BenchArgs, name: &str, clients: usize, phase: F) -> ScenarioReport
where
    F: Fn(u64, Until) -> Fut,
    Fut: std::future::Future<Output = (Stats, Duration)>,
{
    let warm_up = match args.warmup.is_zero() {
        true => Stats::default(),
        false => phase(0, Until::elapsed(args.warmup)).await.0,
    };
    let cpu = PhaseCpu::start(args);
    let (mut stats, elapsed) = phase(1, measured(args)).await;
    let mut report = scenario_report(name, clients, &stats, elapsed);
    cpu.finish(&mut report);
    stats.add_errors(&warm_up);
    ScenarioReport {
        errors: stats.errors.clone(),
        unexpected_errors: stats.error_count(),
        ..report
    }
}

/// A scenario's report, complete with the server's peak RSS over it, logged and kept.
fn done(
    mut report: ScenarioReport,
    sampler: Option<RssSampler>,
    sampled_peak: &mut Option<u64>,
    reports: &mut Vec<ScenarioReport>,
) {
    report.server_rss_peak_kb = sampler.and_then(RssSampler::stop);
    *sampled_peak = (*sampled_peak).max(report.server_rss_peak_kb);
    progress(line(&report));
    reports.push(report);
}

/// The CPU the server and the database spend over a measured phase, when their pids are
/// known.
struct PhaseCpu {
    server: Option<CpuClock>,
    database: Option<CpuClock>,
}

impl PhaseCpu {
    fn start(args: &BenchArgs) -> Self {
        PhaseCpu {
            server: args.server_pid.map(|pid| CpuClock::start(pid, false)),
            database: args.database_pid.map(|pid| CpuClock::start(pid, true)),
        }
    }

    /// Puts the CPU per request of the phase just measured into `report`.
    fn finish(self, report: &mut ScenarioReport) {
        let requests = report.requests;
        report.server_cpu_ms = self.server.and_then(|c| c.ms_per_request(requests));
        report.database_cpu_ms = self.database.and_then(|c| c.ms_per_request(requests));
    }
}

/// A scenario's results on one line, for the progress log.
fn line(report: &ScenarioReport) -> String {
    format!(
        "{}: {} requests, {:.1} req/s, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, {} errors",
        report.name,
        report.requests,
        report.throughput,
        report.latency_ms.p50,
        report.latency_ms.p95,
        report.latency_ms.p99,
        report.unexpected_errors
    )
}

/// Progress on standard error, so that standard output holds only the report.
fn progress(message: impl std::fmt::Display) {
    eprintln!("bench: {message}");
}

fn clients_of(args: &BenchArgs, scenario: Scenario) -> usize {
    args.clients
        .unwrap_or_else(|| scenario.default_clients())
        .max(1)
}

/// How the measured phase ends.
fn measured(args: &BenchArgs) -> Until {
    match args.requests {
        Some(n) => Until::requests(n),
        None => Until::elapsed(args.duration),
    }
}

/// The report of a scenario measured as `stats` over `elapsed`.
fn scenario_report(name: &str, clients: usize, stats: &Stats, elapsed: Duration) -> ScenarioReport {
    let seconds = elapsed.as_secs_f64();
    ScenarioReport {
        name: name.to_owned(),
        clients,
        seconds,
        requests: stats.requests(),
        throughput: if seconds > 0.0 {
            stats.requests() as f64 / seconds
        } else {
            0.0
        },
        latency_ms: stats.latencies(),
        errors: stats.errors.clone(),
        unexpected_errors: stats.error_count(),
        expected_conflicts: stats.expected_conflicts,
        server_rss_peak_kb: None,
        server_cpu_ms: None,
        database_cpu_ms: None,
        skipped: None,
        verification: None,
    }
}

/// The report of a scenario that found nothing to work on: one `NO_DATA` error.
fn skipped(scenario: Scenario, clients: usize, reason: String) -> ScenarioReport {
    progress(format!("{}: skipped: {reason}", scenario.name()));
    let mut stats = Stats::default();
    stats.error("NO_DATA");
    ScenarioReport {
        skipped: Some(reason),
        ..scenario_report(scenario.name(), clients, &stats, Duration::ZERO)
    }
}

async fn run_reads(
    gql: &Gql,
    reads: &Arc<Reads>,
    scenario: Scenario,
    clients: usize,
    args: &BenchArgs,
) -> ScenarioReport {
    if let Err(reason) = reads.check(scenario) {
        return skipped(scenario, clients, reason);
    }
    let phase = |phase: u64, until: Until| {
        run_phase(clients, until, move |n, until| {
            read_client(
                gql.clone(),
                reads.clone(),
                scenario,
                client_seed(args.seed, scenario, phase, n),
                until,
            )
        })
    };
    if scenario.expected_cache() == Some("HIT") {
        // Puts the warm report in the cache, whatever the warm-up.
        let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
        let op = reads.next(scenario, &mut rng);
        let _ = gql
            .post::<IgnoredAny>(op.bearer, op.query, op.variables)
            .await;
    }
    measure(args, scenario.name(), clients, phase).await
}

async fn run_writes(
    gql: &Gql,
    minter: &Minter<'_>,
    fixture: &Fixture,
    clients: usize,
    args: &BenchArgs,
) -> anyhow::Result<ScenarioReport> {
    let scenario = Scenario::Writes;
    if let Err(reason) = WriteMix::check(fixture) {
        return Ok(skipped(scenario, clients, reason));
    }
    let codes: Vec<String> = fixture.authorities.iter().map(|a| a.code.clone()).collect();
    let writers = (0..clients)
        .map(|n| minter.writer(n, &codes))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mix = Arc::new(
        WriteMix::prepare(gql.clone(), fixture, writers, args.write_targets, &mut rng).await?,
    );
    let mix_ref = &mix;
    let phase = |phase: u64, until: Until| {
        run_phase(mix_ref.clients(), until, move |n, until| {
            mix_ref
                .clone()
                .client(n, client_seed(args.seed, scenario, phase, n), until)
        })
    };
    // Warm-up writes are real writes: the verification covers them too.
    let warm_up = match args.warmup.is_zero() {
        true => Stats::default(),
        false => phase(0, Until::elapsed(args.warmup)).await.0,
    };
    let cpu = PhaseCpu::start(args);
    let (mut stats, elapsed) = phase(1, measured(args)).await;
    let mut cpu_report = scenario_report(scenario.name(), clients, &stats, elapsed);
    cpu.finish(&mut cpu_report);
    stats.add_errors(&warm_up);
    let verification = mix.verify(&fixture.admin, &mut stats).await?;
    Ok(ScenarioReport {
        verification: Some(verification),
        server_cpu_ms: cpu_report.server_cpu_ms,
        database_cpu_ms: cpu_report.database_cpu_ms,
        ..scenario_report(scenario.name(), clients, &stats, elapsed)
    })
}

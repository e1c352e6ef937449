//! The run's results: a table for people, JSON for machines.
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::stats::Latencies;
use super::writes::Verification;

/// Everything a run measured.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub endpoint: String,
    pub consortium: String,
    pub seed: u64,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// Seconds spent looking up the ids at start-up.
    pub discovery_seconds: f64,
    /// What the start-up found.
    pub fixture: serde_json::Value,
    pub scenarios: Vec<ScenarioReport>,
    /// The server's memory, when its pid was given.
    pub server: Option<ServerMemory>,
    /// Errors other than the write mix's expected conflicts, over all scenarios.
    pub unexpected_errors: u64,
    /// No unexpected errors.
    pub ok: bool,
}

/// One scenario's measurements.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioReport {
    pub name: String,
    pub clients: usize,
    /// Wall time of the measured phase.
    pub seconds: f64,
    /// Timed requests of the measured phase.
    pub requests: u64,
    /// Requests per second.
    pub throughput: f64,
    pub latency_ms: Latencies,
    /// Failed requests and failed checks, by code.
    pub errors: BTreeMap<String, u64>,
    pub unexpected_errors: u64,
    /// `CONFLICT`s the write mix expects (stale `expectedVersion`), retried.
    pub expected_conflicts: u64,
    /// The server's highest sampled RSS during the scenario, in kB.
    pub server_rss_peak_kb: Option<u64>,
    /// CPU time of the server process per measured request, in ms (with `--server-pid`).
    pub server_cpu_ms: Option<f64>,
    /// CPU time of the database server and its backends per measured request, in ms (with
    /// `--database-pid`).
    pub database_cpu_ms: Option<f64>,
    /// Why the scenario could not run, if it could not.
    pub skipped: Option<String>,
    /// The write mix's read-back and audit check.
    pub verification: Option<Verification>,
}

/// The server's memory over the whole run.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerMemory {
    pub pid: u32,
    /// `VmHWM` at the end of the run: the peak RSS over the process's life, in kB.
    pub peak_rss_kb: Option<u64>,
    /// `VmRSS` at the end of the run, in kB.
    pub rss_kb: Option<u64>,
    /// The highest `VmRSS` sampled during the scenarios, in kB.
    pub sampled_rss_peak_kb: Option<u64>,
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(|| "-".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

fn ms(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".into(), |ms| format!("{ms:.3}"))
}

impl Summary {
    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "permanence-bench: {} (consortium {}, seed {})",
            self.endpoint, self.consortium, self.seed
        );
        let _ = writeln!(
            out,
            "{:<17} {:>7} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>9} {:>9}",
            "scenario",
            "clients",
            "requests",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "errors",
            "conflicts",
            "RSS MB",
            "CPU ms/r",
            "DB ms/r"
        );
        for s in &self.scenarios {
            let l = &s.latency_ms;
            let _ = writeln!(
                out,
                "{:<17} {:>7} {:>9} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9} {:>8} {:>9} {:>9}",
                s.name,
                s.clients,
                s.requests,
                s.throughput,
                l.p50,
                l.p95,
                l.p99,
                l.max,
                s.unexpected_errors,
                s.expected_conflicts,
                mb(s.server_rss_peak_kb),
                ms(s.server_cpu_ms),
                ms(s.database_cpu_ms)
            );
        }
        for s in &self.scenarios {
            if let Some(reason) = &s.skipped {
                let _ = writeln!(out, "{}: skipped: {reason}", s.name);
            }
            if !s.errors.is_empty() {
                let list: Vec<String> = s.errors.iter().map(|(c, n)| format!("{c} {n}")).collect();
                let _ = writeln!(out, "{}: errors: {}", s.name, list.join(", "));
            }
            if let Some(v) = &s.verification {
                let writes: Vec<String> = v
                    .acknowledged
                    .iter()
                    .map(|(k, n)| format!("{k} {n}"))
                    .collect();
                let _ = writeln!(
                    out,
                    "{}: acknowledged writes (warm-up included): {}; {} records read back, {} missing",
                    s.name,
                    if writes.is_empty() {
                        "none".into()
                    } else {
                        writes.join(", ")
                    },
                    v.records_checked,
                    v.missing
                );
                let audit = if v.audit.checked {
                    format!(
                        "{} audit events expected, {} found ({} uncertain)",
                        v.audit.expected, v.audit.found, v.audit.uncertain
                    )
                } else {
                    "audit log not checked".into()
                };
                let _ = writeln!(
                    out,
                    "{}: {audit}{}",
                    s.name,
                    v.audit
                        .note
                        .as_ref()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default()
                );
            }
        }
        if let Some(m) = &self.server {
            let _ = writeln!(
                out,
                "server pid {}: peak RSS (VmHWM) {} MB, highest sampled RSS {} MB, RSS now {} MB",
                m.pid,
                mb(m.peak_rss_kb),
                mb(m.sampled_rss_peak_kb),
                mb(m.rss_kb)
            );
        }
        let _ = writeln!(
            out,
            "{}",
            if self.ok {
                "OK: no unexpected errors".to_owned()
            } else {
                format!("FAILED: {} unexpected errors", self.unexpected_errors)
            }
        );
        out
    }
}

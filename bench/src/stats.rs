//! Measurements: latencies in an HDR histogram, errors tallied by code, and the server's
//! memory read from `/proc`.
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histogram tells apart (larger ones are clamped to it).
const MAX_LATENCY_MICROS: u64 = 120_000_000;

/// What a scenario's clients measured.
#[derive(Clone)]
pub struct Stats {
    /// Latencies in microseconds.
    latencies: Histogram<u64>,
    /// Requests that failed, by error code.
    pub errors: BTreeMap<String, u64>,
    /// `CONFLICT`s the write mix expects (stale `expectedVersion`), counted apart.
    pub expected_conflicts: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            latencies: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                .expect("static histogram bounds are valid"),
            errors: BTreeMap::new(),
            expected_conflicts: 0,
        }
    }
}

impl Stats {
    /// Records one request of `latency`, and its error code if it failed.
    pub fn record(&mut self, latency: Duration, error: Option<&str>) {
        let micros = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_MICROS);
        self.latencies.saturating_record(micros);
        if let Some(code) = error {
            self.error(code);
        }
    }

    /// Counts an error that is not tied to one timed request (a failed verification).
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_default() += 1;
    }

    /// Adds `other`'s measurements to these.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms have the same bounds, so adding cannot fail.
        let _ = self.latencies.add(&other.latencies);
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.expected_conflicts += other.expected_conflicts;
    }

    /// Adds `other`'s errors, not its latencies (errors of an unmeasured warm-up count).
    pub fn add_errors(&mut self, other: &Stats) {
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
    }

    /// Timed requests.
    pub fn requests(&self) -> u64 {
        self.latencies.len()
    }

    /// Errors of every code.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Latency percentiles, in milliseconds.
    pub fn latencies(&self) -> Latencies {
        let ms = |micros: u64| micros as f64 / 1000.0;
        if self.latencies.is_empty() {
            return Latencies::default();
        }
        Latencies {
            p50: ms(self.latencies.value_at_quantile(0.50)),
            p95: ms(self.latencies.value_at_quantile(0.95)),
            p99: ms(self.latencies.value_at_quantile(0.99)),
            max: ms(self.latencies.max()),
            mean: self.latencies.mean() / 1000.0,
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Latencies {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// A line `Name:   123 kB` of `/proc/<pid>/status`, in kB.
pub fn proc_status_kb(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// CPU time, in seconds, a process has used (user and system), read from `/proc`; with
/// `and_children`, also that of its live children and of the children it has reaped, as
/// PostgreSQL's postmaster reaps its backends. `None` when the process is gone.
pub fn cpu_seconds(pid: u32, and_children: bool) -> Option<f64> {
    let ticks = procfs::ticks_per_second() as f64;
    let stat = procfs::process::Process::new(pid as i32)
        .ok()?
        .stat()
        .ok()?;
    let mut total = stat.utime + stat.stime;
    if and_children {
        total += stat.cutime.max(0) as u64 + stat.cstime.max(0) as u64;
        for child in procfs::process::all_processes().ok()?.flatten() {
            if let Ok(s) = child.stat()
                && s.ppid == pid as i32
            {
                total += s.utime + s.stime;
            }
        }
    }
    Some(total as f64 / ticks)
}

/// The CPU a process (and, for a database, its children) spends over a phase.
pub struct CpuClock {
    pid: u32,
    and_children: bool,
    started: Option<f64>,
}

impl CpuClock {
    /// Starts counting `pid`'s CPU time from now.
    pub fn start(pid: u32, and_children: bool) -> Self {
        CpuClock {
            pid,
            and_children,
            started: cpu_seconds(pid, and_children),
        }
    }

    /// Milliseconds of CPU per request over `requests` requests since the start.
    pub fn ms_per_request(&self, requests: u64) -> Option<f64> {
        let spent = cpu_seconds(self.pid, self.and_children)? - self.started?;
        (requests > 0).then(|| spent * 1000.0 / requests as f64)
    }
}

/// Samples a process's resident set size (`VmRSS`) while it lives.
pub struct RssSampler {
    peak_kb: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> Self {
        let peak_kb = Arc::new(AtomicU64::new(0));
        let peak = peak_kb.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match proc_status_kb(pid, "VmRSS") {
                    Some(kb) => {
                        peak.fetch_max(kb, Ordering::Relaxed);
                    }
                    None => break,
                }
            }
        });
        RssSampler { peak_kb, task }
    }

    /// Stops sampling; the highest RSS seen, in kB (`None` if never read).
    pub fn stop(self) -> Option<u64> {
        self.task.abort();
        Some(self.peak_kb.load(Ordering::Relaxed)).filter(|kb| *kb > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_errors_and_merging() {
        let mut a = Stats::default();
        for ms in 1..=100u64 {
            a.record(Duration::from_millis(ms), None);
        }
        let mut b = Stats::default();
        b.record(Duration::from_millis(500), Some("INTERNAL"));
        b.expected_conflicts = 2;
        a.merge(&b);
        assert_eq!(a.requests(), 101);
        assert_eq!(a.error_count(), 1);
        assert_eq!(a.errors["INTERNAL"], 1);
        assert_eq!(a.expected_conflicts, 2);
        let l = a.latencies();
        assert!((l.p50 - 51.0).abs() < 0.5, "{l:?}");
        assert!((l.p99 - 100.0).abs() < 0.5, "{l:?}");
        assert!((l.max - 500.0).abs() < 1.0, "{l:?}");
    }

    #[test]
    fn reads_its_own_memory_from_proc() {
        let pid = std::process::id();
        // RSS first: the high-water mark read after it can only be higher.
        let rss = proc_status_kb(pid, "VmRSS").expect("VmRSS of this process");
        let hwm = proc_status_kb(pid, "VmHWM").expect("VmHWM of this process");
        assert!(hwm >= rss && rss > 0, "{hwm} {rss}");
        assert_eq!(proc_status_kb(pid, "NoSuchLine"), None);
    }

    #[test]
    fn counts_its_own_cpu_time() {
        let pid = std::process::id();
        let clock = CpuClock::start(pid, true);
        let started = cpu_seconds(pid, false).expect("this process's CPU time");
        // Spin until the process has used 300 ms of CPU (however busy the machine), with
        // a wall-clock bound so that a clock that never moves fails the test.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut x = 0u64;
        while cpu_seconds(pid, false).expect("CPU time") - started < 0.3 {
            assert!(
                std::time::Instant::now() < deadline,
                "the CPU clock did not move"
            );
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
        let ms = clock.ms_per_request(3).expect("this process's CPU time");
        // At least 300 ms over 3 requests (other test threads may add to it).
        assert!(ms >= 100.0 && ms.is_finite(), "{ms}");
        assert_eq!(clock.ms_per_request(0), None);
        assert_eq!(cpu_seconds(u32::MAX, false), None);
    }
}

//! The summary of a run: a table for people and the same figures as JSON
//! for scripts (`--json FILE`, read by `scripts/bench`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use super::setup::SetupReport;
use super::workers::RunOutcome;
use super::{LoadtestError, LoadtestOptions};

/// Latency percentiles of all requests, microseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Fastest request.
    pub min: u64,
    /// Mean, to 0.1 µs.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Slowest request.
    pub max: u64,
}

/// How the setup went (mirrors [`SetupReport`] in the JSON).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SetupSummary {
    /// Instances created by this run.
    pub created: usize,
    /// Existing instances reused.
    pub reused: usize,
    /// Whole setup, seconds.
    pub seconds: f64,
    /// Creations alone, seconds.
    pub create_seconds: f64,
    /// Creations per second.
    pub creates_per_sec: f64,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Server base URL.
    pub url: String,
    /// `steady`, `stress` or `mixed`.
    pub mode: String,
    /// Observations per request.
    pub batch: usize,
    /// Instances driven.
    pub instances: usize,
    /// Concurrent workers (requests in flight at most).
    pub concurrency: usize,
    /// Instance setup.
    pub setup: SetupSummary,
    /// Wall time of the load phase, seconds.
    pub duration_secs: f64,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 200 with a valid ProcessResult.
    pub successful_requests: u64,
    /// Requests that failed (any other status, transport failure, bad body).
    pub errors: u64,
    /// Observations in successful requests (committed by the server).
    pub observations: u64,
    /// Successful observations per second.
    pub observations_per_sec: f64,
    /// Requests (all outcomes) per second.
    pub requests_per_sec: f64,
    /// Latency of all requests, µs.
    pub latency_us: LatencySummary,
    /// Requests per HTTP status (`none`: no response).
    pub status_counts: BTreeMap<String, u64>,
    /// Failed requests per API error code or transport failure kind.
    pub error_counts: BTreeMap<String, u64>,
}

fn per_sec(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

impl Summary {
    /// Builds the summary from the options, the setup and the merged stats.
    pub fn new(
        options: &LoadtestOptions,
        workers: usize,
        setup: &SetupReport,
        outcome: &RunOutcome,
        elapsed: Duration,
    ) -> Summary {
        let stats = &outcome.stats;
        let h = &stats.latency;
        let latency_us = if h.is_empty() {
            LatencySummary::default()
        } else {
            LatencySummary {
                min: h.min(),
                mean: (h.mean() * 10.0).round() / 10.0,
                p50: h.value_at_quantile(0.50),
                p90: h.value_at_quantile(0.90),
                p99: h.value_at_quantile(0.99),
                p999: h.value_at_quantile(0.999),
                max: h.max(),
            }
        };
        let seconds = elapsed.as_secs_f64();
        Summary {
            url: options.url.clone(),
            mode: options.mode.as_str().to_string(),
            batch: options.batch,
            instances: setup.created + setup.reused,
            concurrency: workers,
            setup: SetupSummary {
                created: setup.created,
                reused: setup.reused,
                seconds: setup.seconds,
                create_seconds: setup.create_seconds,
                creates_per_sec: setup.creates_per_sec,
            },
            duration_secs: seconds,
            requests: stats.requests,
            successful_requests: stats.ok_requests,
            errors: stats.errors(),
            observations: stats.ok_observations,
            observations_per_sec: per_sec(stats.ok_observations, seconds),
            requests_per_sec: per_sec(stats.requests, seconds),
            latency_us,
            status_counts: stats.status_counts.clone(),
            error_counts: stats.error_counts.clone(),
        }
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let ms = |us: u64| format!("{:.3} ms", us as f64 / 1000.0);
        let mut rows: Vec<(String, String)> = vec![
            ("target".into(), self.url.clone()),
            (
                "load".into(),
                format!(
                    "{} instances, concurrency {}, batch {}, mode {}",
                    self.instances, self.concurrency, self.batch, self.mode
                ),
            ),
            (
                "setup".into(),
                format!(
                    "{} created in {:.2} s ({:.0}/s), {} reused",
                    self.setup.created,
                    self.setup.create_seconds,
                    self.setup.creates_per_sec,
                    self.setup.reused
                ),
            ),
            ("duration".into(), format!("{:.2} s", self.duration_secs)),
            (
                "requests".into(),
                format!(
                    "{} ({} ok, {} errors)",
                    self.requests, self.successful_requests, self.errors
                ),
            ),
            ("observations".into(), self.observations.to_string()),
            (
                "observations/s".into(),
                format!("{:.1}", self.observations_per_sec),
            ),
            ("requests/s".into(), format!("{:.1}", self.requests_per_sec)),
            ("latency p50".into(), ms(self.latency_us.p50)),
            ("latency p90".into(), ms(self.latency_us.p90)),
            ("latency p99".into(), ms(self.latency_us.p99)),
            ("latency max".into(), ms(self.latency_us.max)),
        ];
        for (status, count) in &self.status_counts {
            rows.push((format!("status {status}"), count.to_string()));
        }
        for (code, count) in &self.error_counts {
            rows.push((format!("error {code}"), count.to_string()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let _ = writeln!(out, "{key:<width$}  {value}");
        }
        out
    }

    /// Writes the summary as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), LoadtestError> {
        let write_error = |source| LoadtestError::Write {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| write_error(std::io::Error::other(e)))?;
        std::fs::write(path, text + "\n").map_err(write_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::api::RequestOutcome;
    use crate::loadtest::stats::Stats;

    #[test]
    fn summary_table_and_json_agree() {
        let mut stats = Stats::new();
        let ok = RequestOutcome {
            status: Some(200),
            error: None,
        };
        for us in [100, 200, 300, 400, 10_000] {
            stats.record(&ok, Duration::from_micros(us), 2);
        }
        stats.record(
            &RequestOutcome {
                status: Some(500),
                error: Some("internal".into()),
            },
            Duration::from_micros(50),
            2,
        );
        let options = LoadtestOptions::default();
        let setup = SetupReport {
            created: 4,
            ..SetupReport::default()
        };
        let summary = Summary::new(
            &options,
            4,
            &setup,
            &RunOutcome { stats },
            Duration::from_secs(2),
        );
        assert_eq!(summary.requests, 6);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.observations, 10);
        assert!((summary.observations_per_sec - 5.0).abs() < 1e-9);
        assert!(summary.latency_us.p50 >= 200 && summary.latency_us.p50 <= 300);
        assert!(summary.latency_us.max >= 10_000);
        let table = summary.table();
        assert!(table.contains("error internal"), "{table}");
        assert!(table.contains("status 500"), "{table}");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("summary.json");
        summary.write_json(&path).expect("write");
        let back: Summary =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("parse");
        assert_eq!(back, summary);
    }
}

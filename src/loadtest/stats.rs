//! What the workers count: latencies (an HDR histogram with microsecond
//! resolution), status codes and errors by code. Each worker keeps its own
//! [`Stats`] (no sharing on the hot path); they are merged at the end.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

use super::api::RequestOutcome;

/// Highest latency the histogram tracks exactly (longer ones are clamped).
const MAX_TRACKED_MICROS: u64 = 120_000_000;

/// Counters of one worker, or of the whole run once merged.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Request latencies in microseconds (send → body read and validated).
    pub latency: Histogram<u64>,
    /// Requests sent.
    pub requests: u64,
    /// Requests answered 200 with a valid body.
    pub ok_requests: u64,
    /// Observations in those successful requests.
    pub ok_observations: u64,
    /// Requests per HTTP status (`"none"` when no response arrived).
    pub status_counts: BTreeMap<String, u64>,
    /// Failed requests per API error code (or transport failure kind).
    pub error_counts: BTreeMap<String, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}

impl Stats {
    /// Empty counters.
    #[expect(
        clippy::expect_used,
        reason = "constant bounds, checked by every test that builds a Stats"
    )]
    pub fn new() -> Self {
        // 3 significant figures over 1 µs..120 s: constant, valid bounds.
        let latency = Histogram::new_with_bounds(1, MAX_TRACKED_MICROS, 3)
            .expect("constant histogram bounds are valid");
        Stats {
            latency,
            requests: 0,
            ok_requests: 0,
            ok_observations: 0,
            status_counts: BTreeMap::new(),
            error_counts: BTreeMap::new(),
        }
    }

    /// Records one request of `observations` observations.
    pub fn record(&mut self, outcome: &RequestOutcome, latency: Duration, observations: usize) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_TRACKED_MICROS);
        self.latency.saturating_record(micros);
        self.requests += 1;
        let status = outcome
            .status
            .map_or_else(|| "none".to_string(), |s| s.to_string());
        *self.status_counts.entry(status).or_insert(0) += 1;
        match &outcome.error {
            None => {
                self.ok_requests += 1;
                self.ok_observations += observations as u64;
            }
            Some(code) => *self.error_counts.entry(code.clone()).or_insert(0) += 1,
        }
    }

    /// Failed requests.
    pub fn errors(&self) -> u64 {
        self.requests - self.ok_requests
    }

    /// Adds another worker's counters to these.
    pub fn merge(&mut self, other: &Stats) {
        // Both histograms share bounds; a failure would only mean a value
        // out of range, which `record` already clamps.
        let _ = self.latency.add(&other.latency);
        self.requests += other.requests;
        self.ok_requests += other.ok_requests;
        self.ok_observations += other.ok_observations;
        for (k, v) in &other.status_counts {
            *self.status_counts.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &other.error_counts {
            *self.error_counts.entry(k.clone()).or_insert(0) += v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, error: Option<&str>) -> RequestOutcome {
        RequestOutcome {
            status,
            error: error.map(str::to_string),
        }
    }

    #[test]
    fn records_and_merges() {
        let mut a = Stats::new();
        a.record(&outcome(Some(200), None), Duration::from_micros(1500), 5);
        a.record(
            &outcome(Some(429), Some("throttled")),
            Duration::from_micros(300),
            5,
        );
        let mut b = Stats::new();
        b.record(&outcome(None, Some("connection_error")), Duration::ZERO, 5);
        b.record(&outcome(Some(200), None), Duration::from_millis(4), 5);
        a.merge(&b);
        assert_eq!(a.requests, 4);
        assert_eq!(a.ok_requests, 2);
        assert_eq!(a.ok_observations, 10);
        assert_eq!(a.errors(), 2);
        assert_eq!(a.status_counts["200"], 2);
        assert_eq!(a.status_counts["none"], 1);
        assert_eq!(a.error_counts["throttled"], 1);
        assert_eq!(a.latency.len(), 4);
        assert!(a.latency.max() >= 4000 && a.latency.max() < 4010);
    }
}

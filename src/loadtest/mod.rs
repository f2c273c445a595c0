//! `identity-os loadtest`: a load generator that speaks the public API.
//!
//! It creates (or reuses) N instances, drives them from C concurrent
//! workers with caller timestamps spaced so the per-instance throttle never
//! refuses a request, validates every response, and ends with a summary
//! (throughput, latency percentiles, status counts, errors by API code).
//! It is what users run against their deployment and how the project
//! measures itself (`scripts/bench`, BENCHMARKS.md).
//!
//! Layout: [`cli`] (the clap arguments), [`api`] (the HTTP calls and
//! response validation), [`setup`] (creating or reusing instances),
//! [`clock`] (per-instance caller timestamps), [`observations`] (the mode
//! generators), [`workers`] (the request loops), [`stats`] (what the
//! workers count), [`progress`] (the live bar) and [`report`] (the summary
//! table and JSON).

pub mod api;
pub mod cli;
pub mod clock;
pub mod observations;
pub mod progress;
pub mod report;
pub mod setup;
pub mod stats;
pub mod workers;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use cli::LoadtestArgs;
pub use observations::LoadMode;
pub use report::Summary;

/// When a run stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAfter {
    /// Stop sending once this much wall time has passed.
    Duration(Duration),
    /// Stop after this many requests (whatever their outcome).
    Requests(u64),
}

/// Everything a run needs; [`LoadtestArgs`] is the command-line form.
#[derive(Debug, Clone)]
pub struct LoadtestOptions {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000`.
    pub url: String,
    /// API key (`idos_sk_…`) whose account owns the instances.
    pub key: String,
    /// How many instances to drive.
    pub instances: usize,
    /// How many requests are in flight at once (workers).
    pub concurrency: usize,
    /// When to stop.
    pub stop: StopAfter,
    /// Observations per request: 1 uses `/process`, more uses `/process/batch`.
    pub batch: usize,
    /// Which observations to send.
    pub mode: LoadMode,
    /// Reuse the key's existing instances instead of creating new ones.
    pub reuse: bool,
    /// Spacing between consecutive caller timestamps of one instance; must
    /// be at least the server's `MIN_CYCLE_INTERVAL`.
    pub spacing: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Show the live progress bar (only drawn on a terminal).
    pub progress: bool,
}

impl Default for LoadtestOptions {
    fn default() -> Self {
        LoadtestOptions {
            url: "http://127.0.0.1:8000".to_string(),
            key: String::new(),
            instances: 100,
            concurrency: 32,
            stop: StopAfter::Duration(Duration::from_secs(10)),
            batch: 1,
            mode: LoadMode::Mixed,
            reuse: false,
            spacing: Duration::from_secs(2),
            timeout: Duration::from_secs(30),
            progress: true,
        }
    }
}

/// Why a run could not start or finish (request failures during the run
/// are not errors: they are counted in the [`Summary`]).
#[derive(Debug, thiserror::Error)]
pub enum LoadtestError {
    /// A command-line value or option combination is unusable.
    #[error("invalid option: {0}")]
    InvalidOption(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// Preparing the instances failed (creating, listing or reading them).
    #[error("setting up instances failed: {0}")]
    Setup(String),
    /// The JSON summary could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl LoadtestOptions {
    /// Rejects combinations that cannot run.
    pub fn validate(&self) -> Result<(), LoadtestError> {
        let invalid = |m: &str| Err(LoadtestError::InvalidOption(m.to_string()));
        if self.key.trim().is_empty() {
            return invalid("--key is required");
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return invalid("--url must start with http://");
        }
        if self.instances == 0 {
            return invalid("--instances must be at least 1");
        }
        if self.concurrency == 0 {
            return invalid("--concurrency must be at least 1");
        }
        if !(1..=api::MAX_BATCH).contains(&self.batch) {
            return invalid("--batch must be between 1 and 100");
        }
        if self.spacing.is_zero() {
            return invalid("--spacing must be positive");
        }
        match self.stop {
            StopAfter::Duration(d) if d.is_zero() => invalid("--duration must be positive"),
            StopAfter::Requests(0) => invalid("--requests must be at least 1"),
            _ => Ok(()),
        }
    }
}

/// Runs a load test: prepares the instances, drives them until the stop
/// condition, and returns the summary.
pub async fn run(options: LoadtestOptions) -> Result<Summary, LoadtestError> {
    options.validate()?;
    let client = Arc::new(api::ApiClient::new(
        &options.url,
        &options.key,
        options.timeout,
        options.concurrency,
    )?);
    let prepared = setup::prepare(&client, &options).await?;
    let workers = options.concurrency.min(prepared.instances.len());
    let started = Instant::now();
    let outcome = workers::drive(&client, &options, prepared.instances, workers).await;
    let elapsed = started.elapsed();
    Ok(Summary::new(
        &options,
        workers,
        &prepared.report,
        &outcome,
        elapsed,
    ))
}

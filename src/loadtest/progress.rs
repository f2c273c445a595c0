//! The live progress bar: elapsed/remaining, requests per second over the
//! last tick, and the error count. Drawn on stderr only when stdout and
//! stderr are terminals (so scripts and CI logs stay clean) and not
//! `--quiet`; otherwise it is hidden and costs nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::StopAfter;

/// How often the bar is refreshed.
const TICK: Duration = Duration::from_millis(250);

/// Counters the workers bump and the bar reads.
#[derive(Debug, Default)]
pub struct LiveCounters {
    /// Requests completed.
    pub requests: AtomicU64,
    /// Requests that failed.
    pub errors: AtomicU64,
    /// Set when the run is over, to stop the ticker.
    pub done: AtomicBool,
}

/// Whether a bar would be visible here.
pub fn visible(wanted: bool) -> bool {
    wanted && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

fn bar(stop: StopAfter, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let (len, template) = match stop {
        StopAfter::Duration(d) => (
            d.as_millis() as u64,
            "{spinner} [{elapsed_precise}] {wide_bar} {msg}",
        ),
        StopAfter::Requests(n) => (
            n,
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg}",
        ),
    };
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar
}

/// Refreshes the bar every tick until `counters.done`, then clears it.
pub async fn run_bar(counters: Arc<LiveCounters>, stop: StopAfter, show: bool) {
    let bar = bar(stop, show);
    if bar.is_hidden() {
        return;
    }
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    let mut interval = tokio::time::interval(TICK);
    while !counters.done.load(Ordering::Relaxed) {
        interval.tick().await;
        let requests = counters.requests.load(Ordering::Relaxed);
        let errors = counters.errors.load(Ordering::Relaxed);
        let now = Instant::now();
        let window = now.duration_since(last.0).as_secs_f64();
        let rate = if window > 0.0 {
            (requests - last.1) as f64 / window
        } else {
            0.0
        };
        last = (now, requests);
        match stop {
            StopAfter::Duration(d) => {
                let elapsed = started.elapsed().min(d);
                bar.set_position(elapsed.as_millis() as u64);
            }
            StopAfter::Requests(_) => bar.set_position(requests),
        }
        bar.set_message(format!(
            "{requests} requests, {rate:.0} req/s, {errors} errors"
        ));
    }
    bar.finish_and_clear();
}

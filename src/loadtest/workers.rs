//! The request loops. Each worker is a tokio task that owns a disjoint
//! subset of the instances (instance `i` belongs to worker `i mod C`) and
//! round-robins over them, one request at a time: no instance ever has two
//! requests in flight, so its caller timestamps reach the server in order
//! and the throttle never refuses one. All workers share one HTTP client.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::api::ApiClient;
use super::observations::{request_body, ObservationGenerator};
use super::progress::{run_bar, visible, LiveCounters};
use super::setup::Target;
use super::stats::Stats;
use super::{LoadtestOptions, StopAfter};

/// What the run measured.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// All workers' counters, merged.
    pub stats: Stats,
}

/// When a worker stops sending.
#[derive(Clone)]
enum Budget {
    Until(Instant),
    Count { issued: Arc<AtomicU64>, limit: u64 },
}

impl Budget {
    /// Claims the right to send one more request.
    fn claim(&self) -> bool {
        match self {
            Budget::Until(deadline) => Instant::now() < *deadline,
            Budget::Count { issued, limit } => issued.fetch_add(1, Ordering::Relaxed) < *limit,
        }
    }
}

/// Splits the instances into `workers` disjoint subsets.
fn partition(instances: Vec<Target>, workers: usize) -> Vec<Vec<Target>> {
    let mut parts: Vec<Vec<Target>> = (0..workers).map(|_| Vec::new()).collect();
    for (i, target) in instances.into_iter().enumerate() {
        parts[i % workers].push(target);
    }
    parts
}

struct Worker {
    client: Arc<ApiClient>,
    targets: Vec<Target>,
    generator: ObservationGenerator,
    batch: usize,
    budget: Budget,
    live: Arc<LiveCounters>,
}

impl Worker {
    async fn run(mut self) -> Stats {
        let mut stats = Stats::new();
        let batched = self.batch > 1;
        let count = self.targets.len();
        let mut next = 0;
        while count > 0 && self.budget.claim() {
            let target = &mut self.targets[next];
            next = (next + 1) % count;
            let observations: Vec<_> = (0..self.batch)
                .map(|_| self.generator.next(target.clock.tick_text()))
                .collect();
            let body = request_body(&observations, batched);
            let started = Instant::now();
            let outcome = self
                .client
                .send_observations(&target.url, body, batched)
                .await;
            let latency = started.elapsed();
            if outcome.error.as_deref() == Some("throttled") {
                target.clock.leap();
            }
            stats.record(&outcome, latency, self.batch);
            self.live.requests.fetch_add(1, Ordering::Relaxed);
            if outcome.error.is_some() {
                self.live.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        stats
    }
}

/// Drives the instances from `workers` concurrent workers until the stop
/// condition, showing the progress bar meanwhile.
pub async fn drive(
    client: &Arc<ApiClient>,
    options: &LoadtestOptions,
    instances: Vec<Target>,
    workers: usize,
) -> RunOutcome {
    let workers = workers.max(1);
    let live = Arc::new(LiveCounters::default());
    let bar = tokio::spawn(run_bar(
        live.clone(),
        options.stop,
        visible(options.progress),
    ));
    let budget = match options.stop {
        StopAfter::Duration(d) => Budget::Until(Instant::now() + d),
        StopAfter::Requests(limit) => Budget::Count {
            issued: Arc::new(AtomicU64::new(0)),
            limit,
        },
    };
    let handles: Vec<_> = partition(instances, workers)
        .into_iter()
        .enumerate()
        .map(|(index, targets)| {
            let worker = Worker {
                client: client.clone(),
                targets,
                generator: ObservationGenerator::new(options.mode, index as u64),
                batch: options.batch,
                budget: budget.clone(),
                live: live.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut stats = Stats::new();
    for handle in handles {
        match handle.await {
            Ok(part) => stats.merge(&part),
            Err(_) => {
                *stats
                    .error_counts
                    .entry("worker_failed".into())
                    .or_insert(0) += 1;
            }
        }
    }
    live.done.store(true, Ordering::Relaxed);
    let _ = bar.await;
    RunOutcome { stats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::clock::InstanceClock;
    use std::time::Duration;

    #[test]
    fn partitions_are_disjoint_and_balanced() {
        let targets: Vec<Target> = (0..10)
            .map(|i| Target {
                id: format!("inst_{i}"),
                url: String::new(),
                clock: InstanceClock::new(0, None, Duration::from_secs(2)),
            })
            .collect();
        let parts = partition(targets, 3);
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 3, 3]
        );
        let mut ids: Vec<String> = parts.iter().flatten().map(|t| t.id.clone()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
    }

    #[test]
    fn a_count_budget_allows_exactly_that_many() {
        let budget = Budget::Count {
            issued: Arc::new(AtomicU64::new(0)),
            limit: 3,
        };
        let claimed = (0..10).filter(|_| budget.claim()).count();
        assert_eq!(claimed, 3);
    }
}

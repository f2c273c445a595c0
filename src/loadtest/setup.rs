//! Preparing the instances a run drives: creating them (concurrently, so
//! ten thousand take seconds, not minutes) or, with `--reuse`, listing the
//! key's existing ones and starting each clock after its newest timestamp.

use serde::Serialize;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::api::{ApiClient, InstanceInfo};
use super::clock::{origin_now, InstanceClock};
use super::{LoadtestError, LoadtestOptions};
use crate::store::Micros;

/// Most setup requests in flight at once.
const MAX_SETUP_PARALLELISM: usize = 64;

/// One instance a worker drives.
#[derive(Debug, Clone)]
pub struct Target {
    /// `inst_…`.
    pub id: String,
    /// The absolute URL observations are posted to.
    pub url: String,
    /// Its caller-timestamp clock.
    pub clock: InstanceClock,
}

/// What setup did, for the summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetupReport {
    /// Instances created by this run.
    pub created: usize,
    /// Existing instances reused (`--reuse`).
    pub reused: usize,
    /// Wall time of the whole setup (listing, reading, creating), seconds.
    pub seconds: f64,
    /// Wall time of the creations alone, seconds.
    pub create_seconds: f64,
    /// Creations per second (0 when none were created).
    pub creates_per_sec: f64,
}

/// The prepared instances and the setup report.
#[derive(Debug)]
pub struct Prepared {
    /// The instances to drive, each with its clock.
    pub instances: Vec<Target>,
    /// What setup did.
    pub report: SetupReport,
}

/// Runs `task(client, i)` for `i` in `0..count`, at most `parallelism` at
/// once, and returns the results in index order (the first error wins).
async fn parallel<T, F, Fut>(
    client: &Arc<ApiClient>,
    count: usize,
    parallelism: usize,
    task: F,
) -> Result<Vec<T>, String>
where
    T: Send + 'static,
    F: Fn(Arc<ApiClient>, usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, String>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let task = Arc::new(task);
    let mut handles = Vec::new();
    for _ in 0..parallelism.clamp(1, count.max(1)) {
        let (client, next, task) = (client.clone(), next.clone(), task.clone());
        handles.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return Ok(done);
                }
                done.push((i, task(client.clone(), i).await?));
            }
        }));
    }
    let mut all = Vec::with_capacity(count);
    for handle in handles {
        let part: Result<Vec<(usize, T)>, String> = handle
            .await
            .map_err(|e| format!("setup task failed: {e}"))?;
        all.extend(part?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, value)| value).collect())
}

/// Creates or reuses `options.instances` instances and gives each a clock.
pub async fn prepare(
    client: &Arc<ApiClient>,
    options: &LoadtestOptions,
) -> Result<Prepared, LoadtestError> {
    let started = Instant::now();
    let parallelism = options.concurrency.clamp(8, MAX_SETUP_PARALLELISM);
    let existing: Vec<InstanceInfo> = if options.reuse {
        client
            .list_instances(options.instances)
            .await
            .map_err(LoadtestError::Setup)?
    } else {
        Vec::new()
    };
    let reused = existing.len();

    let used: Vec<InstanceInfo> = existing
        .iter()
        .filter(|i| i.cycle_count > 0)
        .cloned()
        .collect();
    let used = Arc::new(used);
    let last_seen: Vec<(String, Option<Micros>)> = {
        let used = used.clone();
        parallel(client, used.len(), parallelism, move |client, i| {
            let id = used[i].id.clone();
            async move {
                let last = client.last_observation_at(&id).await?;
                Ok((id, last))
            }
        })
        .await
        .map_err(LoadtestError::Setup)?
    };
    let last_seen: std::collections::HashMap<String, Option<Micros>> =
        last_seen.into_iter().collect();

    let to_create = options.instances - reused;
    let create_started = Instant::now();
    let run_tag = format!("{:x}", origin_now() / 1_000_000);
    let created: Vec<InstanceInfo> = parallel(client, to_create, parallelism, move |client, i| {
        let name = format!("loadtest-{run_tag}-{i}");
        async move { client.create_instance(&name).await }
    })
    .await
    .map_err(LoadtestError::Setup)?;
    let create_seconds = create_started.elapsed().as_secs_f64();

    let origin = origin_now();
    let path = if options.batch > 1 {
        "process/batch"
    } else {
        "process"
    };
    let instances = existing
        .into_iter()
        .chain(created)
        .map(|info| {
            let last = last_seen.get(&info.id).copied().flatten();
            Target {
                url: client.url(&format!("/v1/instances/{}/{path}", info.id)),
                clock: InstanceClock::new(origin, last, options.spacing),
                id: info.id,
            }
        })
        .collect();
    Ok(Prepared {
        instances,
        report: SetupReport {
            created: to_create,
            reused,
            seconds: started.elapsed().as_secs_f64(),
            create_seconds,
            creates_per_sec: if to_create > 0 && create_seconds > 0.0 {
                to_create as f64 / create_seconds
            } else {
                0.0
            },
        },
    })
}

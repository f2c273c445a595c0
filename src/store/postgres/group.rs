//! Group commit on PostgreSQL: the observations that arrive together are
//! committed by ONE statement (one round trip, one transaction, one WAL
//! flush), with a few groups in flight so the next forms while one commits.
//!
//! The statement carries the whole group as arrays: `unnest` turns them
//! into rows, a versioned `UPDATE … FROM` moves every instance whose
//! version is still the expected one, and the observation, drift and usage
//! inserts join on the instances that moved, so a write whose version
//! conflicts adds nothing. A statement in autocommit is its own
//! transaction: `Ok` means the group is committed. Should the statement
//! fail, every write of the group is retried in its own transaction, so
//! one bad write cannot fail its neighbours.
//!
//! Only plain observations take this path; changes that touch metadata,
//! the initial state, the audit log or an `Idempotency-Key` are written
//! one transaction each ([`instances::write_instance`]).

use deadpool_postgres::{GenericClient, Pool};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::{InstanceWrite, StoreError, StoreResult};
use super::columns::big;
use super::instances;
use super::rows::{DriftColumns, ObservationColumns};
use super::unavailable;

/// Groups committing at once; each holds one pooled connection.
pub(crate) const GROUPS_IN_FLIGHT: usize = 4;
/// The most writes one statement carries.
const MAX_GROUP: usize = 512;

type Reply = oneshot::Sender<StoreResult<()>>;

/// One queued write and where its answer goes.
struct Pending {
    write: InstanceWrite,
    reply: Reply,
}

/// The sending side of the group writer.
#[derive(Clone)]
pub(crate) struct GroupWriter {
    queue: mpsc::UnboundedSender<Pending>,
}

impl GroupWriter {
    /// Starts the task that forms and commits groups; it ends (after the
    /// groups in flight) once every [`GroupWriter`] is dropped.
    pub(crate) fn start(pool: Pool) -> (GroupWriter, tokio::task::JoinHandle<()>) {
        let (queue, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(pool, receiver));
        (GroupWriter { queue }, task)
    }

    /// Queues `write` and waits until its group is committed.
    pub(crate) async fn write(&self, write: InstanceWrite) -> StoreResult<()> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { write, reply })
            .map_err(|_| StoreError::Closed)?;
        answer
            .await
            .map_err(|_| StoreError::Failed("the group writer dropped the write".into()))?
    }
}

/// Whether a write can go in a group statement.
pub(crate) fn fits_group(w: &InstanceWrite) -> bool {
    !w.meta_changed && !w.initial_changed && w.events.is_empty() && w.idempotency.is_none()
}

async fn run(pool: Pool, mut receiver: mpsc::UnboundedReceiver<Pending>) {
    let slots = Arc::new(Semaphore::new(GROUPS_IN_FLIGHT));
    loop {
        // While every slot is busy, writes queue up: the next group is
        // whatever arrived while the others committed.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let Some(first) = receiver.recv().await else {
            break;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            commit(&pool, group).await;
            drop(slot);
        });
    }
    // Closing: wait for the groups in flight.
    let _ = slots.acquire_many(GROUPS_IN_FLIGHT as u32).await;
}

/// Commits one group and answers each of its writes.
async fn commit(pool: &Pool, group: Vec<Pending>) {
    let started = Instant::now();
    metrics::histogram!("identity_os_store_commit_group_size").record(group.len() as f64);
    let status = pool.status();
    metrics::gauge!("identity_os_store_pool_size").set(status.size as f64);
    metrics::gauge!("identity_os_store_pool_available").set(status.available as f64);
    metrics::gauge!("identity_os_store_pool_waiting").set(status.waiting as f64);

    let mut client = match pool.get().await {
        Ok(client) => client,
        Err(e) => {
            let error = Arc::new(unavailable(e));
            for p in group {
                let _ = p.reply.send(Err(StoreError::Shared(error.clone())));
            }
            return;
        }
    };
    // One write per instance per statement (an instance's actor waits for
    // its commit, so a second one is rare); the rest go one by one.
    let mut seen = HashSet::new();
    let (batch, single): (Vec<Pending>, Vec<Pending>) = group
        .into_iter()
        .partition(|p| fits_group(&p.write) && seen.insert(p.write.instance.id.clone()));
    if !batch.is_empty() {
        let writes: Vec<&InstanceWrite> = batch.iter().map(|p| &p.write).collect();
        match group_statement(&client, &writes).await {
            Ok(results) => {
                for (p, result) in batch.into_iter().zip(results) {
                    let _ = p.reply.send(result);
                }
            }
            Err(e) if is_connection_lost(&e) => {
                let error = Arc::new(e);
                for p in batch.into_iter().chain(single) {
                    let _ = p.reply.send(Err(StoreError::Shared(error.clone())));
                }
                return;
            }
            Err(e) => {
                tracing::warn!(error = %crate::logging::ErrorChain(&e), writes = batch.len(),
                    "a group statement failed; retrying each write in its own transaction");
                for p in batch {
                    let result = instances::write_instance(&mut client, &p.write).await;
                    let _ = p.reply.send(result);
                }
            }
        }
    }
    for p in single {
        let result = instances::write_instance(&mut client, &p.write).await;
        let _ = p.reply.send(result);
    }
    metrics::histogram!("identity_os_store_commit_seconds").record(started.elapsed().as_secs_f64());
}

/// The connection broke: retrying on it would fail the same way.
fn is_connection_lost(e: &StoreError) -> bool {
    matches!(e, StoreError::Postgres(e) if e.is_closed() || e.as_db_error().is_none())
}

/// Runs the group statement; each write's outcome (`Ok`, `Conflict`,
/// `NotFound`), or `Err` if the statement itself failed (nothing written).
async fn group_statement(
    c: &impl GenericClient,
    writes: &[&InstanceWrite],
) -> StoreResult<Vec<StoreResult<()>>> {
    let mut ids = Vec::with_capacity(writes.len());
    let mut expected = Vec::with_capacity(writes.len());
    let mut version = Vec::with_capacity(writes.len());
    let mut state = Vec::with_capacity(writes.len());
    let mut updated_at = Vec::with_capacity(writes.len());
    let mut last_observation = Vec::with_capacity(writes.len());
    let mut cycle_count = Vec::with_capacity(writes.len());
    let mut energy = Vec::with_capacity(writes.len());
    let mut stress = Vec::with_capacity(writes.len());
    let mut stability = Vec::with_capacity(writes.len());
    let mut n_observations = Vec::with_capacity(writes.len());
    let mut n_drift = Vec::with_capacity(writes.len());
    let mut observations = ObservationColumns::default();
    let mut drift = DriftColumns::default();
    let mut usage: BTreeMap<(&str, &str, &str), i64> = BTreeMap::new();
    for w in writes {
        let r = &w.instance;
        ids.push(r.id.as_str());
        expected.push(w.expected_version);
        version.push(r.version);
        state.push(r.state.as_slice());
        updated_at.push(r.updated_at);
        last_observation.push(r.last_observation_at);
        cycle_count.push(big(r.summary.cycle_count));
        energy.push(r.summary.energy_level);
        stress.push(r.summary.stress_level.as_str());
        stability.push(r.summary.stability_index);
        n_observations.push(big(w.observations.len() as u64));
        n_drift.push(big(w.drift_events.len() as u64));
        observations.push(std::iter::repeat(r.id.as_str()), w);
        drift.push(std::iter::repeat(r.id.as_str()), w)?;
        if let Some(u) = &w.usage {
            *usage
                .entry((r.id.as_str(), u.account_id.as_str(), u.month.as_str()))
                .or_default() += big(u.cycles);
        }
    }
    let usage_instance: Vec<&str> = usage.keys().map(|k| k.0).collect();
    let usage_account: Vec<&str> = usage.keys().map(|k| k.1).collect();
    let usage_month: Vec<&str> = usage.keys().map(|k| k.2).collect();
    let usage_cycles: Vec<i64> = usage.values().copied().collect();

    let stmt = c.prepare_cached(GROUP_SQL).await?;
    let moved = c
        .query(
            &stmt,
            &[
                &ids,
                &expected,
                &version,
                &state,
                &updated_at,
                &last_observation,
                &cycle_count,
                &energy,
                &stress,
                &stability,
                &n_observations,
                &n_drift,
                &observations.instance,
                &observations.ord,
                &observations.cycle,
                &observations.mode,
                &observations.strength,
                &observations.confidence,
                &observations.context,
                &observations.timestamp,
                &observations.point,
                &drift.instance,
                &drift.ord,
                &drift.level,
                &drift.cycle,
                &drift.magnitude,
                &drift.modes,
                &drift.rolled_back,
                &drift.timestamp,
                &usage_instance,
                &usage_account,
                &usage_month,
                &usage_cycles,
            ],
        )
        .await?;
    let moved: HashSet<String> = moved.iter().map(|r| r.get(0)).collect();
    let mut results = Vec::with_capacity(writes.len());
    for w in writes {
        if moved.contains(&w.instance.id) {
            results.push(Ok(()));
        } else {
            results.push(Err(instances::missing_or_conflict(c, &w.instance.id).await?));
        }
    }
    Ok(results)
}

/// The group statement (see the module comment). `$1..$12` the instances,
/// `$13..$21` the observations, `$22..$29` the drift events, `$30..$33`
/// the usage per instance, account and month.
const GROUP_SQL: &str = "\
WITH w AS (
  SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bytea[], $5::bigint[],
                       $6::bigint[], $7::bigint[], $8::float8[], $9::text[], $10::float8[],
                       $11::bigint[], $12::bigint[])
    AS w(id, expected, version, state, updated_at, last_observation_at, cycle_count,
         energy_level, stress_level, stability_index, n_observations, n_drift)
), moved AS (
  UPDATE instances i SET version = w.version, state = w.state, updated_at = w.updated_at,
    last_observation_at = w.last_observation_at, cycle_count = w.cycle_count,
    energy_level = w.energy_level, stress_level = w.stress_level,
    stability_index = w.stability_index,
    history_count = i.history_count + w.n_observations,
    drift_count = i.drift_count + w.n_drift
  FROM w WHERE i.id = w.id AND i.version = w.expected
  RETURNING i.id, i.history_count - w.n_observations AS base
), observed AS (
  INSERT INTO observations (instance_id, seq, cycle_number, mode_target, signal_strength,
                            confidence, context_json, timestamp, point)
  SELECT x.instance_id, moved.base + x.ord, x.cycle_number, x.mode_target, x.signal_strength,
         x.confidence, x.context_json, x.ts, x.point
  FROM unnest($13::text[], $14::bigint[], $15::bigint[], $16::text[], $17::float8[],
              $18::float8[], $19::text[], $20::bigint[], $21::bytea[])
    AS x(instance_id, ord, cycle_number, mode_target, signal_strength, confidence,
         context_json, ts, point)
  JOIN moved ON moved.id = x.instance_id
), drifted AS (
  INSERT INTO drift_events (instance_id, seq, level, cycle_number, magnitude, affected_modes,
                            rolled_back, timestamp)
  SELECT x.instance_id, moved.base + x.ord, x.level, x.cycle_number, x.magnitude,
         x.affected_modes, x.rolled_back, x.ts
  FROM unnest($22::text[], $23::bigint[], $24::text[], $25::bigint[], $26::float8[],
              $27::text[], $28::bool[], $29::bigint[])
    AS x(instance_id, ord, level, cycle_number, magnitude, affected_modes, rolled_back, ts)
  JOIN moved ON moved.id = x.instance_id
), used AS (
  INSERT INTO usage (account_id, month, cycles)
  SELECT x.account_id, x.month, SUM(x.cycles)::bigint
  FROM unnest($30::text[], $31::text[], $32::text[], $33::bigint[])
    AS x(instance_id, account_id, month, cycles)
  JOIN moved ON moved.id = x.instance_id
  GROUP BY x.account_id, x.month
  ON CONFLICT (account_id, month) DO UPDATE SET cycles = usage.cycles + excluded.cycles
)
SELECT id FROM moved";

//! Committing one group of writes in one transaction.
//!
//! Instance writes (every observation is one) run first, back to back and
//! without savepoints: their expected failures, a version conflict and a
//! missing row, are decided by the conditional UPDATE before anything is
//! written, and their usage goes to the ledger once per account and month
//! for the whole group. Should one of them fail any other way (or panic),
//! the transaction is rolled back and the group starts over the careful
//! way, every write in its own SAVEPOINT, so the failing write gets its own
//! error while the rest still commit. Other writes (closures) always go the
//! careful way. If the COMMIT fails, every write of the group gets the
//! error: `Ok` always means committed.
//!
//! Why a fast path: with durability `full` it cut the writer's CPU per
//! observation by about a tenth and raised throughput by about a sixth
//! (docs/benchmarks-history.md).

use super::super::{FailStop, InstanceWrite, StoreError, StoreResult};
use super::instances;
use super::syncer::{self, Syncer};
use super::writer::{execute_cached, panic_message, Counters, Reply, WriteFn};
use crate::logging::ErrorChain;
use rusqlite::Connection;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The writes of one group, by kind.
#[derive(Default)]
pub(crate) struct Group {
    pub instance_writes: Vec<(Box<InstanceWrite>, Reply)>,
    pub jobs: Vec<(WriteFn, Reply)>,
}

impl Group {
    pub(crate) fn is_empty(&self) -> bool {
        self.instance_writes.is_empty() && self.jobs.is_empty()
    }

    fn len(&self) -> usize {
        self.instance_writes.len() + self.jobs.len()
    }

    /// Answers every write with `FailStopped(reason)` without running any.
    pub(crate) fn refuse(self, reason: &str) {
        let replies = self
            .instance_writes
            .into_iter()
            .map(|(_, reply)| reply)
            .chain(self.jobs.into_iter().map(|(_, reply)| reply));
        for reply in replies {
            let _ = reply.send(Err(StoreError::FailStopped(reason.to_owned())));
        }
    }
}

/// Commits `group` and answers every write in it: at once, or through
/// `syncer` once the WAL is on disk (durability `full`).
pub(crate) fn commit_group(
    conn: &Connection,
    group: Group,
    counters: &Counters,
    syncer: Option<&Syncer>,
    fail_stop: &FailStop,
) {
    let started = Instant::now();
    let size = group.len() as u64;
    counters.writes.fetch_add(size, Ordering::Relaxed);
    counters.largest_group.fetch_max(size, Ordering::Relaxed);
    if !conn.is_autocommit() {
        // Cannot happen with the jobs the store builds; recover rather than
        // fail every group from now on.
        tracing::error!("writer found a transaction open before a group; rolling it back");
        let _ = conn.execute_batch("ROLLBACK");
    }

    let Group {
        instance_writes,
        mut jobs,
    } = group;
    let mut tx = GroupTransaction::with_capacity(jobs.len() + instance_writes.len());
    if !instance_writes.is_empty() {
        let fast = tx.begin(conn).and_then(|()| {
            catch_unwind(AssertUnwindSafe(|| {
                run_instance_writes(conn, &instance_writes)
            }))
            .unwrap_or_else(|panic| {
                Err(StoreError::Failed(format!(
                    "write job panicked: {}",
                    panic_message(&*panic)
                )))
            })
        });
        match fast {
            Ok(results) => {
                for ((_, reply), result) in instance_writes.into_iter().zip(results) {
                    tx.finished(reply, result);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, writes = instance_writes.len(),
                    "an instance write failed inside its group; retrying each in its own savepoint");
                // Nothing of this transaction has been answered yet.
                tx.rollback(conn);
                let retried = instance_writes.into_iter().map(|(write, reply)| {
                    let work: WriteFn = Box::new(move |c| instances::write_instance(c, &write));
                    (work, reply)
                });
                jobs = retried.chain(jobs).collect();
            }
        }
    }
    for (work, reply) in jobs {
        tx.run_job(conn, work, reply);
    }
    tx.commit(conn, counters, fail_stop);

    let elapsed = started.elapsed();
    metrics::histogram!("identity_os_store_commit_group_size").record(size as f64);
    metrics::histogram!("identity_os_store_commit_seconds").record(elapsed.as_secs_f64());
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    counters.commit_micros.fetch_add(micros, Ordering::Relaxed);
    tx.answer(counters, syncer);
}

/// Runs the instance writes of a group in the open transaction, then adds
/// their usage to the ledger. `Ok` holds each write's own outcome (`Ok`, or
/// a conflict / missing row that wrote nothing); `Err` means the
/// transaction may hold a partial write and must be rolled back.
fn run_instance_writes(
    conn: &Connection,
    writes: &[(Box<InstanceWrite>, Reply)],
) -> StoreResult<Vec<StoreResult<()>>> {
    let mut results = Vec::with_capacity(writes.len());
    let mut usage: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (write, _) in writes {
        match instances::write_instance_rows(conn, write) {
            Ok(()) => {
                if let Some(u) = &write.usage {
                    *usage
                        .entry((u.account_id.as_str(), u.month.as_str()))
                        .or_default() += u.cycles;
                }
                results.push(Ok(()));
            }
            Err(e @ (StoreError::Conflict | StoreError::NotFound)) => results.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    for ((account_id, month), cycles) in usage {
        instances::add_usage(conn, account_id, month, cycles)?;
    }
    Ok(results)
}

/// The group's open transaction and the answers it has collected.
struct GroupTransaction {
    /// Final answers (failures, and successes once committed).
    answers: Vec<(Reply, StoreResult<()>)>,
    /// Writes that succeeded in the open transaction; answered at COMMIT.
    pending: Vec<Reply>,
    open: bool,
}

/// What running one job in its savepoint did.
enum JobOutcome {
    /// The job finished; its savepoint was released or rolled back.
    Done(StoreResult<()>),
    /// The group transaction itself is gone (SQLite rolled it back, or a
    /// savepoint could not be handled): nothing since BEGIN is kept.
    Aborted(StoreError),
}

impl GroupTransaction {
    fn with_capacity(n: usize) -> Self {
        GroupTransaction {
            answers: Vec::with_capacity(n),
            pending: Vec::with_capacity(n),
            open: false,
        }
    }

    fn begin(&mut self, conn: &Connection) -> StoreResult<()> {
        if !self.open {
            execute_cached(conn, "BEGIN IMMEDIATE")?;
            self.open = true;
        }
        Ok(())
    }

    fn finished(&mut self, reply: Reply, result: StoreResult<()>) {
        match result {
            Ok(()) => self.pending.push(reply),
            Err(e) => self.answers.push((reply, Err(e))),
        }
    }

    fn rollback(&mut self, conn: &Connection) {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.open = false;
    }

    /// Everything pending is lost: answer it with `error`.
    fn fail_pending(&mut self, error: &Arc<StoreError>) {
        let failed = self
            .pending
            .drain(..)
            .map(|r| (r, Err(StoreError::Shared(error.clone()))));
        self.answers.extend(failed);
    }

    /// Runs one job in its own savepoint of the (opened if need be) transaction.
    fn run_job(&mut self, conn: &Connection, work: WriteFn, reply: Reply) {
        if let Err(e) = self.begin(conn) {
            self.answers.push((reply, Err(e)));
            return;
        }
        match run_in_savepoint(conn, work) {
            JobOutcome::Done(result) => self.finished(reply, result),
            JobOutcome::Aborted(why) => {
                tracing::error!(error = %ErrorChain(&why), "store group transaction aborted");
                self.rollback(conn);
                let why = Arc::new(why);
                self.fail_pending(&why);
                self.answers.push((reply, Err(StoreError::Shared(why))));
            }
        }
    }

    fn commit(&mut self, conn: &Connection, counters: &Counters, fail_stop: &FailStop) {
        if !self.open {
            return;
        }
        match execute_cached(conn, "COMMIT") {
            Ok(()) => {
                self.open = false;
                counters.commits.fetch_add(1, Ordering::Relaxed);
                let committed = self.pending.drain(..).map(|r| (r, Ok(())));
                self.answers.extend(committed);
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = self.pending.len(), "store commit failed");
                counters.commit_failures.fetch_add(1, Ordering::Relaxed);
                // What reached the disk of a failed COMMIT is unknown.
                let reason = format!("a COMMIT failed: {e}");
                fail_stop.trip(reason.clone());
                self.rollback(conn);
                self.fail_pending(&Arc::new(StoreError::FailStopped(reason)));
            }
        }
    }

    fn answer(self, counters: &Counters, syncer: Option<&Syncer>) {
        let failed = self.answers.iter().filter(|(_, r)| r.is_err()).count();
        counters
            .failed_writes
            .fetch_add(failed as u64, Ordering::Relaxed);
        match syncer {
            // Only a success has to wait for the disk.
            Some(syncer) if failed < self.answers.len() => syncer.send(self.answers),
            _ => syncer::answer(self.answers, &Ok(())),
        }
    }
}

/// Runs one job in its own savepoint, rolling the savepoint back if the job
/// fails or panics.
fn run_in_savepoint(conn: &Connection, work: WriteFn) -> JobOutcome {
    if let Err(e) = execute_cached(conn, "SAVEPOINT job") {
        return JobOutcome::Aborted(StoreError::Sqlite(e));
    }
    let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
        let msg = panic_message(&*panic);
        tracing::error!(panic = %msg, "store write job panicked");
        Err(StoreError::Failed(format!("write job panicked: {msg}")))
    });
    if conn.is_autocommit() {
        let why = match result {
            Err(e) => e,
            Ok(()) => StoreError::Failed("the transaction ended inside a job".into()),
        };
        return JobOutcome::Aborted(why);
    }
    let finish = if result.is_ok() {
        execute_cached(conn, "RELEASE job")
    } else {
        execute_cached(conn, "ROLLBACK TO job").and_then(|()| execute_cached(conn, "RELEASE job"))
    };
    match finish {
        Ok(()) => JobOutcome::Done(result),
        Err(e) => JobOutcome::Aborted(StoreError::Sqlite(e)),
    }
}

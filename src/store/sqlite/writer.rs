//! The writer thread: sole owner of the read-write connection, committing
//! queued writes in groups.
//!
//! Group commit: the thread blocks for one job, drains whatever else is
//! already queued (up to [`MAX_GROUP`]), runs every job in its own SAVEPOINT
//! of one transaction, COMMITs once (one fsync for the whole group) and only
//! then answers each job. A job that fails is rolled back to its savepoint
//! and gets its own error; the rest of the group still commits. If the
//! COMMIT fails, every job of the group gets the error: `Ok` always means
//! committed.

use super::super::{StoreError, StoreResult};
use super::checkpointer::Nudge;
use crossbeam_channel::{Receiver, TryRecvError};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Most jobs committed in one transaction.
pub(crate) const MAX_GROUP: usize = 256;

/// When a drain found more than one job (the store is busy), how long the
/// writer keeps collecting before it commits. A lone write is never delayed.
pub(crate) const GATHER_WINDOW: Duration = Duration::from_micros(200);

/// A write: runs inside the group transaction (in its own savepoint).
pub(crate) type WriteFn = Box<dyn FnOnce(&Connection) -> StoreResult<()> + Send>;

/// A job that runs on a connection outside any transaction and sends its
/// own reply (reads, backups).
pub(crate) type ConnFn = Box<dyn FnOnce(&Connection) + Send>;

/// What the writer thread receives.
pub(crate) enum Msg {
    /// A write job and where to report its (post-commit) outcome.
    Write {
        work: WriteFn,
        reply: oneshot::Sender<StoreResult<()>>,
    },
    /// Runs on the write connection after the group is committed (used by
    /// the in-memory backend, whose only connection is the writer's).
    Run(ConnFn),
    /// Finish everything queued before this message, answer, and exit.
    Shutdown(oneshot::Sender<()>),
}

/// Counters the writer updates; read through `SqliteStore::stats`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub commits: AtomicU64,
    pub writes: AtomicU64,
    pub failed_writes: AtomicU64,
    pub commit_failures: AtomicU64,
    pub largest_group: AtomicU64,
    pub commit_micros: AtomicU64,
}

/// Starts the writer thread on `conn`. It stops after a `Shutdown` message
/// or once every sender is gone and the queue is empty. After each commit
/// it nudges the checkpointer, if there is one.
pub(crate) fn spawn(
    conn: Connection,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    checkpointer: Option<Nudge>,
) -> StoreResult<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || run(conn, rx, &counters, checkpointer.as_ref()))
        .map_err(|e| StoreError::Database(format!("cannot start the writer thread: {e}")))
}

fn run(conn: Connection, rx: Receiver<Msg>, counters: &Counters, checkpointer: Option<&Nudge>) {
    while let Ok(first) = rx.recv() {
        let mut group = Vec::with_capacity(16);
        group.push(first);
        gather(&rx, &mut group);
        let stop = process(&conn, group, counters);
        if let Some(nudge) = checkpointer {
            nudge.send();
        }
        if stop {
            break;
        }
    }
    tracing::debug!("store writer stopped");
}

/// Adds already-queued messages to `group`; if there were any (a sign of
/// concurrent load), sleeps through [`GATHER_WINDOW`] and drains again.
fn gather(rx: &Receiver<Msg>, group: &mut Vec<Msg>) {
    let stopping = |g: &Vec<Msg>| matches!(g.last(), Some(Msg::Shutdown(_)));
    while group.len() < MAX_GROUP && !stopping(group) {
        match rx.try_recv() {
            Ok(m) => group.push(m),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
        }
    }
    if group.len() < 2 || GATHER_WINDOW.is_zero() {
        return;
    }
    // Sleep through the window instead of waiting on the queue: waking for
    // every arriving job would cost a context switch each.
    std::thread::sleep(GATHER_WINDOW);
    while group.len() < MAX_GROUP && !stopping(group) {
        match rx.try_recv() {
            Ok(m) => group.push(m),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
        }
    }
}

/// Handles one group; returns true when the thread should stop.
fn process(conn: &Connection, group: Vec<Msg>, counters: &Counters) -> bool {
    let mut writes = Vec::new();
    let mut runs = Vec::new();
    let mut shutdown = None;
    for msg in group {
        match msg {
            Msg::Write { work, reply } => writes.push((work, reply)),
            Msg::Run(f) => runs.push(f),
            Msg::Shutdown(reply) => shutdown = Some(reply),
        }
    }
    if !writes.is_empty() {
        commit_group(conn, writes, counters);
    }
    for f in runs {
        run_guarded(conn, f);
    }
    match shutdown {
        Some(reply) => {
            let _ = reply.send(());
            true
        }
        None => false,
    }
}

/// Runs a job that replies on its own, keeping a panic inside the job from
/// taking the thread down (the dropped reply sender tells the caller).
pub(crate) fn run_guarded(conn: &Connection, f: ConnFn) {
    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(conn))) {
        tracing::error!(panic = %panic_message(&*panic), "store job panicked");
    }
    // A transaction left open would pin a stale snapshot (reader) or block
    // every later BEGIN (writer).
    if !conn.is_autocommit() {
        tracing::error!("store job left a transaction open; rolling it back");
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// What running one job in the group transaction did.
enum JobOutcome {
    /// The job finished; its savepoint was released or rolled back.
    Done(StoreResult<()>),
    /// The group transaction itself is gone (SQLite rolled it back, or a
    /// savepoint could not be handled): nothing since BEGIN is kept.
    Aborted(String),
}

type Reply = oneshot::Sender<StoreResult<()>>;

fn commit_group(conn: &Connection, jobs: Vec<(WriteFn, Reply)>, counters: &Counters) {
    let started = Instant::now();
    let size = jobs.len() as u64;
    counters.writes.fetch_add(size, Ordering::Relaxed);
    counters.largest_group.fetch_max(size, Ordering::Relaxed);

    let mut answers: Vec<(Reply, StoreResult<()>)> = Vec::with_capacity(jobs.len());
    // Jobs that succeeded in the transaction now open; answered at COMMIT.
    let mut pending: Vec<Reply> = Vec::new();
    let mut in_tx = false;
    if !conn.is_autocommit() {
        // Cannot happen with the jobs the store builds; recover rather than
        // fail every group from now on.
        tracing::error!("writer found a transaction open before a group; rolling it back");
        let _ = conn.execute_batch("ROLLBACK");
    }

    for (work, reply) in jobs {
        if !in_tx {
            if let Err(e) = execute_cached(conn, "BEGIN IMMEDIATE") {
                answers.push((reply, Err(StoreError::from(e))));
                continue;
            }
            in_tx = true;
        }
        match run_job(conn, work) {
            JobOutcome::Done(Ok(())) => pending.push(reply),
            JobOutcome::Done(Err(e)) => answers.push((reply, Err(e))),
            JobOutcome::Aborted(why) => {
                tracing::error!(error = %why, "store group transaction aborted");
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                in_tx = false;
                let err = || StoreError::Database(format!("transaction aborted: {why}"));
                answers.extend(pending.drain(..).map(|r| (r, Err(err()))));
                answers.push((reply, Err(err())));
            }
        }
    }

    if in_tx {
        match execute_cached(conn, "COMMIT") {
            Ok(()) => {
                counters.commits.fetch_add(1, Ordering::Relaxed);
                answers.extend(pending.drain(..).map(|r| (r, Ok(()))));
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = pending.len(), "store commit failed");
                counters.commit_failures.fetch_add(1, Ordering::Relaxed);
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                let msg = format!("commit failed: {e}");
                answers.extend(
                    pending
                        .drain(..)
                        .map(|r| (r, Err(StoreError::Database(msg.clone())))),
                );
            }
        }
    }

    let elapsed = started.elapsed();
    metrics::histogram!("identity_os_store_commit_group_size").record(size as f64);
    metrics::histogram!("identity_os_store_commit_seconds").record(elapsed.as_secs_f64());
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    counters.commit_micros.fetch_add(micros, Ordering::Relaxed);
    for (reply, result) in answers {
        if result.is_err() {
            counters.failed_writes.fetch_add(1, Ordering::Relaxed);
        }
        // The caller may have given up waiting; the outcome stands either way.
        let _ = reply.send(result);
    }
}

/// Runs one job in its own savepoint, rolling the savepoint back if the job
/// fails or panics.
fn run_job(conn: &Connection, work: WriteFn) -> JobOutcome {
    if let Err(e) = execute_cached(conn, "SAVEPOINT job") {
        return JobOutcome::Aborted(format!("cannot open savepoint: {e}"));
    }
    let result = catch_unwind(AssertUnwindSafe(|| work(conn))).unwrap_or_else(|panic| {
        let msg = panic_message(&*panic);
        tracing::error!(panic = %msg, "store write job panicked");
        Err(StoreError::Database(format!("write job panicked: {msg}")))
    });
    if conn.is_autocommit() {
        let why = match &result {
            Err(e) => e.to_string(),
            Ok(()) => "the transaction ended inside a job".to_string(),
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
        Err(e) => JobOutcome::Aborted(format!("cannot close savepoint: {e}")),
    }
}

/// Runs one of the writer's fixed transaction-control statements, prepared
/// once per connection instead of parsed for every job.
fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

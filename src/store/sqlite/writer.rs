//! The writer thread: sole owner of the read-write connection, committing
//! queued writes in groups.
//!
//! Group commit: the thread blocks for one job, drains whatever else is
//! already queued (up to [`MAX_GROUP`]) and commits it all in one
//! transaction (see [`super::group`]); only then, and with durability
//! `full` only once the WAL is synced (see [`super::syncer`]), is each job
//! answered. Under load the queue refills while a
//! group commits, so groups grow with the load without the writer ever
//! waiting on purpose: a lone write is never delayed.

use super::super::{FailStop, InstanceWrite, StoreError, StoreResult};
use super::checkpointer::Nudge;
use super::group::{commit_group, Group};
use super::syncer::Syncer;
use crossbeam_channel::{Receiver, TryRecvError};
use rusqlite::Connection;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread::JoinHandle;
use tokio::sync::oneshot;

/// Most jobs committed in one transaction.
pub(crate) const MAX_GROUP: usize = 256;

/// A write: runs inside the group transaction (in its own savepoint).
pub(crate) type WriteFn = Box<dyn FnOnce(&Connection) -> StoreResult<()> + Send>;

/// A job that runs on a connection outside any transaction and sends its
/// own reply (reads, backups).
pub(crate) type ConnFn = Box<dyn FnOnce(&Connection) + Send>;

/// Where a write's (post-commit) outcome goes.
pub(crate) type Reply = oneshot::Sender<StoreResult<()>>;

/// What the writer thread receives.
pub(crate) enum Msg {
    /// A write job and where to report its (post-commit) outcome.
    Write { work: WriteFn, reply: Reply },
    /// An instance's versioned write (every observation is one). Plain
    /// data rather than a closure, so the group can run it without a
    /// savepoint of its own, retry it if its group has to start over, and
    /// fold its usage into one ledger update per account and month.
    WriteInstance {
        write: Box<InstanceWrite>,
        reply: Reply,
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
    /// Shared with the [`Syncer`]'s thread, which counts its fsyncs.
    pub wal_syncs: Arc<AtomicU64>,
}

/// Starts the writer thread on `conn`. It stops after a `Shutdown` message
/// or once every sender is gone and the queue is empty. After each commit
/// it nudges the checkpointer, if there is one; with a [`Syncer`] (durability
/// `full`) a group's answers wait for its WAL fsync there.
pub(crate) fn spawn(
    conn: Connection,
    rx: Receiver<Msg>,
    counters: Arc<Counters>,
    checkpointer: Option<Nudge>,
    syncer: Option<Syncer>,
    fail_stop: Arc<FailStop>,
) -> StoreResult<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("store-writer".into())
        .spawn(move || {
            let writer = AssertUnwindSafe(|| {
                run(
                    conn,
                    rx,
                    &counters,
                    checkpointer.as_ref(),
                    syncer.as_ref(),
                    &fail_stop,
                )
            });
            if let Err(panic) = catch_unwind(writer) {
                fail_stop.trip(format!(
                    "the store writer thread died: {}",
                    panic_message(&*panic)
                ));
            }
        })
        .map_err(|e| StoreError::io("cannot start the writer thread", e))
}

fn run(
    conn: Connection,
    rx: Receiver<Msg>,
    counters: &Counters,
    checkpointer: Option<&Nudge>,
    syncer: Option<&Syncer>,
    fail_stop: &FailStop,
) {
    while let Ok(first) = rx.recv() {
        let mut queued = Vec::with_capacity(16);
        queued.push(first);
        drain(&rx, &mut queued);
        let stop = process(&conn, queued, counters, syncer, fail_stop);
        if let Some(nudge) = checkpointer {
            nudge.send();
        }
        if stop {
            break;
        }
    }
    tracing::debug!("store writer stopped");
}

/// Adds the messages already queued to `queued`, up to [`MAX_GROUP`] and
/// never past a `Shutdown`.
///
/// It does not wait for more: the queue refills by itself while a group
/// commits, and under load a 200 µs gather pause gave the same or lower
/// throughput at both durabilities (docs/benchmarks-history.md).
fn drain(rx: &Receiver<Msg>, queued: &mut Vec<Msg>) {
    while queued.len() < MAX_GROUP && !matches!(queued.last(), Some(Msg::Shutdown(_))) {
        match rx.try_recv() {
            Ok(m) => queued.push(m),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
        }
    }
}

/// Handles one drained batch; returns true when the thread should stop.
fn process(
    conn: &Connection,
    queued: Vec<Msg>,
    counters: &Counters,
    syncer: Option<&Syncer>,
    fail_stop: &FailStop,
) -> bool {
    let mut group = Group::default();
    let mut runs = Vec::new();
    let mut shutdown = None;
    for msg in queued {
        match msg {
            Msg::Write { work, reply } => group.jobs.push((work, reply)),
            Msg::WriteInstance { write, reply } => group.instance_writes.push((write, reply)),
            Msg::Run(f) => runs.push(f),
            Msg::Shutdown(reply) => shutdown = Some(reply),
        }
    }
    if !group.is_empty() {
        match fail_stop.reason() {
            // Nothing more is committed once the store has failed.
            Some(reason) => group.refuse(reason),
            None => commit_group(conn, group, counters, syncer, fail_stop),
        }
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

/// Runs one of the writer's fixed transaction-control statements, prepared
/// once per connection instead of parsed for every job.
pub(crate) fn execute_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

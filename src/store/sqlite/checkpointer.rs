//! The checkpointer thread: copies committed pages from the WAL back into
//! the database file off the writer's critical path.
//!
//! In WAL mode every commit appends pages to the log; a checkpoint copies
//! them into the main file (and fsyncs it). Left to SQLite's default, the
//! writer does that itself every 1 000 pages, in the middle of a group
//! commit: under load that was a third of the writer's time and the worst
//! latency spikes. Here a second connection runs PASSIVE checkpoints (which
//! never block the writer or readers) whenever the writer has committed,
//! at most once per [`INTERVAL`], so a page written many times in between
//! is copied once. The writer keeps SQLite's automatic checkpoint as a
//! backstop at [`WRITER_AUTOCHECKPOINT_PAGES`]: by then nearly everything
//! is already copied, so its share is small, and it is what lets the log
//! restart from the beginning instead of growing while writes never pause.

use super::super::{FailStop, StoreError, StoreResult};
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use rusqlite::Connection;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Shortest pause between two background checkpoints.
pub(crate) const INTERVAL: Duration = Duration::from_millis(250);

/// The writer connection's own `wal_autocheckpoint`, in pages (64 MiB of
/// log at the 2 KiB pages of new files, 128 MiB at 4 KiB).
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 32768;

/// What the writer holds to say "there is something new in the log".
#[derive(Debug, Clone)]
pub(crate) struct Nudge(Sender<()>);

impl Nudge {
    /// Never blocks: one pending nudge is as good as many.
    pub(crate) fn send(&self) {
        match self.0.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

/// Starts the checkpointer on its own read-write connection to the file.
/// It stops once the returned [`Nudge`] (and every clone) is dropped.
pub(crate) fn spawn(
    conn: Connection,
    fail_stop: Arc<FailStop>,
) -> StoreResult<(Nudge, JoinHandle<()>)> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let handle = std::thread::Builder::new()
        .name("store-checkpointer".into())
        .spawn(move || run(&conn, &rx, &fail_stop))
        .map_err(|e| StoreError::io("cannot start the checkpointer thread", e))?;
    Ok((Nudge(tx), handle))
}

fn run(conn: &Connection, nudges: &Receiver<()>, fail_stop: &FailStop) {
    let mut nudged = nudges.recv().is_ok();
    while nudged {
        match checkpoint(conn) {
            Ok(()) => {}
            // An I/O error may have lost pages of the database file that a
            // later, successful fsync would not bring back (FailStop).
            Err(e) if is_io_error(&e) => fail_stop.trip(format!("a checkpoint failed: {e}")),
            // Not fatal (busy, locked): the writer's own automatic
            // checkpoint still runs.
            Err(e) => tracing::warn!(error = %e, "background checkpoint failed"),
        }
        nudged = match pause(nudges) {
            Pause::Nudged => true,
            Pause::Quiet => nudges.recv().is_ok(),
            Pause::Closed => false,
        };
    }
    tracing::debug!("store checkpointer stopped");
}

/// How the pause after a checkpoint ended.
enum Pause {
    /// A commit arrived meanwhile: checkpoint again now.
    Nudged,
    /// Nothing arrived: wait for the next commit.
    Quiet,
    /// The writer is gone (the store is closing): stop now, not after the pause.
    Closed,
}

/// Waits [`INTERVAL`] after a checkpoint, but not a moment longer once the
/// store closes: a closing store (every CLI command, every restart) would
/// otherwise wait out the pause.
fn pause(nudges: &Receiver<()>) -> Pause {
    let until = std::time::Instant::now() + INTERVAL;
    let mut nudged = false;
    loop {
        match nudges.recv_deadline(until) {
            Ok(()) => nudged = true,
            Err(RecvTimeoutError::Timeout) if nudged => return Pause::Nudged,
            Err(RecvTimeoutError::Timeout) => return Pause::Quiet,
            Err(RecvTimeoutError::Disconnected) => return Pause::Closed,
        }
    }
}

/// Whether SQLite reports a failure of the disk or file system.
fn is_io_error(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::SystemIoFailure | rusqlite::ErrorCode::DiskFull)
    )
}

/// One PASSIVE checkpoint: copies what it can without waiting for anyone.
fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    metrics::counter!("identity_os_store_checkpoints_total").increment(1);
    tracing::trace!(busy, log, copied, "background checkpoint");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::schema::open_writer_file;
    use super::*;
    use crate::store::Durability;

    #[test]
    fn copies_committed_pages_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = open_writer_file(&path, Durability::Normal).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let main_file = || std::fs::metadata(&path).unwrap().len();
        assert!(main_file() < 100_000, "the writer checkpointed on its own");

        let (nudge, handle) = spawn(
            open_writer_file(&path, Durability::Normal).unwrap(),
            Arc::new(FailStop::default()),
        )
        .unwrap();
        nudge.send();
        drop(nudge);
        handle.join().unwrap();
        assert!(
            main_file() >= 100_000,
            "main file is only {} bytes",
            main_file()
        );
    }
}

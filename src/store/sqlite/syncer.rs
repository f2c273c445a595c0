//! Durability `full` without the writer waiting on the disk.
//!
//! With `synchronous = FULL`, SQLite fsyncs the WAL inside every COMMIT,
//! and the writer thread cannot start the next group until the disk
//! answers. On this project's machines an fdatasync takes about 0.25 ms,
//! as long as running a whole group of writes, so the writer spent about
//! half its time waiting. Instead, the writer commits with
//! `synchronous = NORMAL` (the WAL frames reach the OS, nothing is synced)
//! and hands the group's answers to this thread. It fsyncs the WAL file
//! once for everything handed over so far, and only then sends the
//! answers. The next group runs meanwhile. A `2xx` still means the
//! change is on disk: an answer is only sent after an fsync that started
//! after its COMMIT.
//!
//! Why this is as safe as `FULL`: SQLite recovers a WAL up to its last
//! valid commit frame, and every frame of an acknowledged group was
//! written before the fsync that covered it. The log only restarts from
//! its beginning after a checkpoint has copied every frame into the
//! database file and synced that file, which `NORMAL` still does. What a
//! power loss can take is only what was never acknowledged. (Readers on
//! other connections can see a group in the fraction of a millisecond
//! between its COMMIT and its fsync.)

use super::super::{FailStop, StoreError, StoreResult};
use super::writer::Reply;
use crossbeam_channel::{Receiver, Sender};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

/// The answers of one committed group.
pub(crate) type Answers = Vec<(Reply, StoreResult<()>)>;

/// The writer's end: where committed groups' answers go.
#[derive(Debug)]
pub(crate) struct Syncer(Sender<Answers>);

impl Syncer {
    /// Answers `answers` once the WAL is synced. Should the thread be gone,
    /// nothing can make these writes durable any more: they are answered
    /// with an error at once.
    pub(crate) fn send(&self, answers: Answers) {
        if let Err(returned) = self.0.send(answers) {
            tracing::error!("the WAL sync thread is gone; failing the group's answers");
            answer(
                returned.into_inner(),
                &Err(Arc::new(StoreError::Failed(
                    "the WAL sync thread is gone".into(),
                ))),
            );
        }
    }
}

/// Starts the thread that syncs `<database>-wal`. It stops once the
/// returned [`Syncer`] is dropped and every queued answer is sent.
pub(crate) fn spawn(
    database: &Path,
    syncs: Arc<AtomicU64>,
    fail_stop: Arc<FailStop>,
) -> StoreResult<(Syncer, JoinHandle<()>)> {
    let mut wal_path = database.as_os_str().to_owned();
    wal_path.push("-wal");
    let mut wal = WalFile {
        path: PathBuf::from(wal_path),
        file: None,
    };
    let (tx, rx) = crossbeam_channel::unbounded();
    let handle = std::thread::Builder::new()
        .name("store-syncer".into())
        .spawn(move || {
            let syncer = AssertUnwindSafe(|| run(&mut wal, &rx, &syncs, &fail_stop));
            if catch_unwind(syncer).is_err() {
                fail_stop.trip("the WAL sync thread died");
            }
        })
        .map_err(|e| StoreError::io("cannot start the WAL sync thread", e))?;
    Ok((Syncer(tx), handle))
}

fn run(wal: &mut WalFile, rx: &Receiver<Answers>, syncs: &AtomicU64, fail_stop: &FailStop) {
    while let Ok(first) = rx.recv() {
        // Everything queued now was committed before this fsync starts.
        let mut groups = vec![first];
        groups.extend(rx.try_iter());
        let started = Instant::now();
        // After one failed fsync no later one proves anything (FailStop).
        let synced = match fail_stop.reason() {
            Some(reason) => Err(reason.to_owned()),
            None => wal.sync().map_err(|e| {
                tracing::error!(error = %e, path = %wal.path.display(), "fsync of the WAL failed");
                let reason = format!("fsync of the WAL failed: {e}");
                fail_stop.trip(reason.clone());
                reason
            }),
        }
        .map_err(|reason| Arc::new(StoreError::FailStopped(reason)));
        syncs.fetch_add(1, Ordering::Relaxed);
        metrics::histogram!("identity_os_store_wal_sync_seconds")
            .record(started.elapsed().as_secs_f64());
        for answers in groups {
            answer(answers, &synced);
        }
    }
    tracing::debug!("store WAL syncer stopped");
}

/// Sends each answer; a success becomes the sync's error if it failed
/// (the writer passes `Ok` for groups that need no sync).
pub(crate) fn answer(answers: Answers, synced: &Result<(), Arc<StoreError>>) {
    for (reply, result) in answers {
        let result = match (result, synced) {
            (Ok(()), Err(why)) => Err(StoreError::Shared(why.clone())),
            (result, _) => result,
        };
        // The caller may have given up waiting; the outcome stands either way.
        let _ = reply.send(result);
    }
}

/// Test-only (feature `fault-injection`): the next WAL fsync fails with
/// `EIO`, as a dying disk's would.
#[cfg(feature = "fault-injection")]
pub static FAIL_NEXT_FSYNC: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The WAL file, opened on first use (SQLite creates it with the first
/// write) and again if it was ever replaced.
struct WalFile {
    path: PathBuf,
    file: Option<File>,
}

impl WalFile {
    fn sync(&mut self) -> std::io::Result<()> {
        #[cfg(feature = "fault-injection")]
        if FAIL_NEXT_FSYNC.swap(false, Ordering::AcqRel) {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        let stale = match &self.file {
            None => true,
            // Unlinked (the last connection closed and a new log began).
            Some(file) => file.metadata()?.nlink() == 0,
        };
        if stale {
            // Only ever fsynced, never written: SQLite owns the contents.
            let file = File::open(&self.path)?;
            // A new file's directory entry must be durable too.
            let dir = match self.path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()?;
            self.file = Some(file);
        }
        match &self.file {
            Some(file) => file.sync_data(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::ErrorChain;
    use tokio::sync::oneshot;

    #[test]
    fn a_replaced_wal_file_is_reopened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db-wal");
        std::fs::write(&path, b"first").unwrap();
        let mut wal = WalFile {
            path: path.clone(),
            file: None,
        };
        wal.sync().unwrap();
        let first = wal.file.as_ref().unwrap().metadata().unwrap().ino();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"second").unwrap();
        wal.sync().unwrap();
        let second = wal.file.as_ref().unwrap().metadata().unwrap().ino();
        assert_ne!(first, second, "the new file is the one synced");
        assert_eq!(wal.file.as_ref().unwrap().metadata().unwrap().nlink(), 1);
    }

    #[test]
    fn a_missing_wal_file_is_an_error_not_a_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = WalFile {
            path: dir.path().join("never-created-wal"),
            file: None,
        };
        assert!(wal.sync().is_err());
    }

    #[test]
    fn when_the_fsync_fails_successes_become_errors_and_errors_stay() {
        let (ok_tx, mut ok_rx) = oneshot::channel();
        let (conflict_tx, mut conflict_rx) = oneshot::channel();
        answer(
            vec![(ok_tx, Ok(())), (conflict_tx, Err(StoreError::Conflict))],
            &Err(Arc::new(StoreError::io(
                "fsync of the WAL failed",
                std::io::Error::other("disk gone"),
            ))),
        );
        let failed = ok_rx.try_recv();
        assert!(
            matches!(&failed, Ok(Err(e @ StoreError::Shared(_))) if ErrorChain(e).to_string().contains("disk gone")),
            "{failed:?}"
        );
        assert!(matches!(
            conflict_rx.try_recv(),
            Ok(Err(StoreError::Conflict))
        ));
    }
}

//! The read pool: a few threads, each owning a read-only connection, taking
//! jobs from a shared queue. In WAL mode readers see the last committed
//! state and never block the writer (or each other).

use super::super::{StoreError, StoreResult};
use super::writer::{run_guarded, ConnFn};
use crossbeam_channel::Receiver;
use rusqlite::Connection;
use std::thread::JoinHandle;

/// Starts one reader thread per connection; each stops once every sender
/// of `rx` is gone and the queue is drained.
pub(crate) fn spawn(
    connections: Vec<Connection>,
    rx: Receiver<ConnFn>,
) -> StoreResult<Vec<JoinHandle<()>>> {
    let mut handles = Vec::with_capacity(connections.len());
    for (i, conn) in connections.into_iter().enumerate() {
        let rx = rx.clone();
        let handle = std::thread::Builder::new()
            .name(format!("store-reader-{i}"))
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    run_guarded(&conn, job);
                }
            })
            .map_err(|e| StoreError::io("cannot start a reader thread", e))?;
        handles.push(handle);
    }
    Ok(handles)
}

/// How many read connections a file store opens: enough to overlap a slow
/// listing with key lookups, few enough to stay cheap.
pub(crate) fn pool_size() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 4)
}

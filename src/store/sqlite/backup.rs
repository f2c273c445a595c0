//! Online backups with SQLite's backup API.

use super::super::{StoreError, StoreResult};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

/// Copies the database behind `src` into a fresh file at `dest` with the
/// online backup API, in one step so the copy is a single consistent
/// snapshot even while writes continue.
pub(crate) fn backup_to(src: &Connection, dest: &Path) -> StoreResult<()> {
    if let Some(parent) = dest.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::io(format!("cannot create {}", parent.display()), e))?;
        }
    }
    let mut dst = Connection::open(dest)?;
    let backup = Backup::new(src, &mut dst)?;
    let mut retries = 0;
    loop {
        match backup.step(-1)? {
            StepResult::Done => break,
            StepResult::More => {}
            _ if retries < 500 => {
                retries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                return Err(StoreError::Failed(
                    "backup: the database stayed locked".into(),
                ))
            }
        }
    }
    drop(backup);
    Ok(())
}

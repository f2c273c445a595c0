//! Tests of the SQLite store, against real files in temporary directories.

mod accounts;
mod billing;
mod drift;
mod group_commit;
mod idempotency;
mod instances;
mod lifecycle;

use super::{schema, SqliteStore};
use crate::engine::{DriftLevel, Mode, StressLevel, MODE_COUNT};
use crate::store::{
    Account, DriftRow, Durability, InstanceRecord, InstanceSummary, InstanceWrite, ObservationRow,
    UsageIncrement,
};
use std::path::PathBuf;
use tempfile::TempDir;

/// A fresh file store in its own temporary directory (kept alive by the
/// returned guard).
fn file_store() -> (SqliteStore, PathBuf, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("identity-os.db");
    let store = SqliteStore::open_file(&path, Durability::Full).expect("open store");
    (store, path, dir)
}

fn account(id: &str) -> Account {
    Account {
        id: id.to_string(),
        name: format!("Account {id}"),
        tier: "free".to_string(),
        created_at: 1_000,
    }
}

fn instance(id: &str, account_id: &str, name: &str, created_at: i64) -> InstanceRecord {
    InstanceRecord {
        id: id.to_string(),
        account_id: account_id.to_string(),
        name: name.to_string(),
        description: String::new(),
        created_at,
        updated_at: created_at,
        version: 1,
        state: br#"{"cycle":0}"#.to_vec(),
        initial_state: br#"{"cycle":0}"#.to_vec(),
        last_observation_at: None,
        summary: InstanceSummary {
            cycle_count: 0,
            energy_level: 1.0,
            stress_level: StressLevel::Low,
            stability_index: 1.0,
        },
    }
}

fn observation(cycle: u64, timestamp: i64) -> ObservationRow {
    ObservationRow {
        cycle_number: cycle,
        mode_target: Mode::Perception,
        signal_strength: 0.5,
        confidence: 0.75,
        context_json: format!(r#"{{"n":{cycle}}}"#),
        timestamp,
        point: None,
    }
}

/// A database file as a build at schema `version` left it: SQLite's default
/// 4 KiB pages, WAL mode, the migrations up to that version.
fn database_of_an_older_build(path: &std::path::Path, version: usize) -> rusqlite::Connection {
    let old = rusqlite::Connection::open(path).unwrap();
    old.pragma_update(None, "page_size", 4096).unwrap();
    old.pragma_update(None, "journal_mode", "WAL").unwrap();
    for script in &schema::MIGRATIONS[..version] {
        old.execute_batch(script).unwrap();
    }
    old.pragma_update(None, "user_version", version as i64)
        .unwrap();
    old
}

/// A drift event of `cycle` at `level`.
fn drift(cycle: u64, level: DriftLevel) -> DriftRow {
    DriftRow {
        cycle_number: cycle,
        level,
        magnitude: cycle as f64 / 10.0,
        affected_modes: vec![Mode::Perception, Mode::ALL[cycle as usize % MODE_COUNT]],
        rolled_back: level == DriftLevel::D3Corrupt,
        timestamp: 50_000 + cycle as i64,
    }
}

/// The next change of `current`: version + 1, `cycles` observations whose
/// cycle numbers continue `first_cycle..`, usage for `month`.
fn next_write(
    current: &InstanceRecord,
    first_cycle: u64,
    cycles: u64,
    month: &str,
) -> InstanceWrite {
    let mut instance = current.clone();
    instance.version = current.version + 1;
    instance.updated_at = current.updated_at + 1;
    instance.summary.cycle_count = first_cycle + cycles - 1;
    instance.state = format!(r#"{{"cycle":{}}}"#, first_cycle + cycles - 1).into_bytes();
    let observations = (first_cycle..first_cycle + cycles)
        .map(|c| observation(c, 10_000 + c as i64))
        .collect();
    InstanceWrite {
        initial_changed: true,
        meta_changed: true,
        instance,
        expected_version: current.version,
        observations,
        drift_events: Vec::new(),
        events: Vec::new(),
        usage: Some(UsageIncrement {
            account_id: current.account_id.clone(),
            month: month.to_string(),
            cycles,
        }),
        idempotency: None,
    }
}

impl SqliteStore {
    /// Runs `f` on the writer's connection, between groups (test probe for
    /// per-connection settings).
    async fn write_probe<T, F>(&self, f: F) -> crate::store::StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> crate::store::StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job: super::ConnFn = Box::new(move |c| {
            let _ = reply.send(f(c));
        });
        {
            let guard = self.channels.read().unwrap();
            let channels = guard.as_ref().unwrap();
            assert!(channels.writer.send(super::Msg::Run(job)).is_ok());
        }
        rx.await.unwrap()
    }
}

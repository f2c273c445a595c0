//! Opening, migrations, persistence, memory backend, backup and close.

use super::super::{schema, SqliteStore};
use super::{account, database_of_an_older_build, file_store, instance, next_write};
use crate::store::{Durability, Store, StoreError};

#[tokio::test(flavor = "multi_thread")]
async fn fresh_file_is_created_and_migrated() {
    let (store, path, _dir) = file_store();
    assert!(path.exists(), "database file created with its parent dirs");
    let version = store.read(schema::schema_version).await.unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    store.ping().await.unwrap();
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_idempotent_on_reopen() {
    let (store, path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.close().await.unwrap();

    // A second open finds nothing to apply and keeps the data.
    let mut conn = schema::open_writer_file(&path, Durability::Full).unwrap();
    assert_eq!(schema::migrate(&mut conn).unwrap(), 0);
    drop(conn);
    let store = SqliteStore::open_file(&path, Durability::Full).unwrap();
    assert_eq!(store.count_accounts().await.unwrap(), 1);
    let version = store.read(schema::schema_version).await.unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn newer_schema_is_refused() {
    let (store, path, _dir) = file_store();
    store.close().await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    match SqliteStore::open_file(&path, Durability::Full) {
        Err(StoreError::Unsupported(_)) => {}
        Err(other) => panic!("expected Unsupported, got {other:?}"),
        Ok(_) => panic!("expected Unsupported, got a store"),
    }
}

/// The writer's connection never fsyncs inside COMMIT (`synchronous =
/// NORMAL`); with durability `full` the syncer thread fsyncs the WAL
/// before each answer instead, and the checkpointer keeps `FULL`.
#[tokio::test(flavor = "multi_thread")]
async fn connection_settings_follow_durability() {
    for (durability, syncs_the_wal) in [(Durability::Full, true), (Durability::Normal, false)] {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_file(dir.path().join("s.db"), durability).unwrap();
        let (sync, fk, mode, page_size) = store
            .write_probe(|c| {
                let sync: i64 = c.pragma_query_value(None, "synchronous", |r| r.get(0))?;
                let fk: i64 = c.pragma_query_value(None, "foreign_keys", |r| r.get(0))?;
                let mode: String = c.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
                let page_size: u32 = c.pragma_query_value(None, "page_size", |r| r.get(0))?;
                Ok((sync, fk, mode, page_size))
            })
            .await
            .unwrap();
        assert_eq!(sync, 1, "the writer commits without an fsync of its own");
        assert_eq!(
            page_size,
            schema::PAGE_SIZE,
            "a new file gets the store's page size"
        );
        assert_eq!(fk, 1);
        assert_eq!(mode, "wal");
        let before = store.stats();
        store.create_account(&account("a")).await.unwrap();
        let rec = instance("i1", "a", "one", 5);
        store.create_instance(&rec, None, None).await.unwrap();
        let after = store.stats();
        let syncs = after.wal_syncs - before.wal_syncs;
        if syncs_the_wal {
            assert!(
                (1..=2).contains(&syncs),
                "every acknowledged write waited for a WAL fsync: {syncs}"
            );
        } else {
            assert_eq!(syncs, 0, "durability normal never fsyncs on commit");
        }
        store.close().await.unwrap();
    }
}

/// A file created with another page size (older builds used SQLite's
/// 4096) keeps it, and works as before.
#[tokio::test(flavor = "multi_thread")]
async fn an_existing_file_keeps_its_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    drop(database_of_an_older_build(&path, 1));
    let store = SqliteStore::open_file(&path, Durability::Full).unwrap();
    store.create_account(&account("a")).await.unwrap();
    store
        .create_instance(&instance("i1", "a", "one", 5), None, None)
        .await
        .unwrap();
    let page_size: u32 = store
        .write_probe(|c| Ok(c.pragma_query_value(None, "page_size", |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(page_size, 4096);
    assert!(store.load_instance("i1").await.unwrap().is_some());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn file_data_survives_close_and_reopen() {
    let (store, path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let rec = instance("i1", "a", "one", 5);
    store.create_instance(&rec, None, None).await.unwrap();
    let write = next_write(&rec, 1, 3, "2026-01");
    let expected = write.instance.clone();
    store.write_instance(write).await.unwrap();
    store.close().await.unwrap();

    let store = SqliteStore::open_file(&path, Durability::Normal).unwrap();
    assert_eq!(store.load_instance("i1").await.unwrap(), Some(expected));
    assert_eq!(store.history("i1", 10, 0).await.unwrap().total, 3);
    assert_eq!(store.usage("a", "2026-01").await.unwrap(), 3);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_works_and_forgets() {
    let store = SqliteStore::open_memory().unwrap();
    let other = SqliteStore::open_memory().unwrap();
    store.create_account(&account("a")).await.unwrap();
    let rec = instance("i1", "a", "one", 5);
    store.create_instance(&rec, Some(1), None).await.unwrap();
    store
        .write_instance(next_write(&rec, 1, 2, "2026-01"))
        .await
        .unwrap();
    assert_eq!(store.load_instance("i1").await.unwrap().unwrap().version, 2);
    assert_eq!(store.history("i1", 10, 0).await.unwrap().total, 2);
    // Two memory stores never share data.
    assert_eq!(other.count_accounts().await.unwrap(), 0);
    store.close().await.unwrap();
    other.close().await.unwrap();

    let again = SqliteStore::open_memory().unwrap();
    assert_eq!(again.count_accounts().await.unwrap(), 0);
    assert_eq!(again.load_instance("i1").await.unwrap(), None);
    again.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_store_answers_closed() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(
        store.create_account(&account("b")).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store.count_accounts().await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(store.ping().await, Err(StoreError::Closed)));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn close_finishes_queued_writes() {
    let (store, path, _dir) = file_store();
    let store = std::sync::Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = std::sync::Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.create_account(&account(&format!("acc{i}"))).await
        }));
    }
    // Let every task enqueue its write, then close while they are pending.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store.close().await.unwrap();
    let mut acknowledged = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            acknowledged += 1;
        }
    }
    let reopened = SqliteStore::open_file(&path, Durability::Full).unwrap();
    assert_eq!(reopened.count_accounts().await.unwrap(), acknowledged);
    reopened.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_produces_a_usable_copy() {
    let (store, _path, dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let rec = instance("i1", "a", "one", 5);
    store.create_instance(&rec, None, None).await.unwrap();
    store
        .write_instance(next_write(&rec, 1, 4, "2026-02"))
        .await
        .unwrap();
    let dest = dir.path().join("backups").join("copy.db");
    store.backup(&dest).await.unwrap();
    // The source keeps working after the backup.
    store.create_account(&account("b")).await.unwrap();
    store.close().await.unwrap();

    let copy = SqliteStore::open_file(&dest, Durability::Full).unwrap();
    assert_eq!(copy.count_accounts().await.unwrap(), 1);
    assert_eq!(copy.load_instance("i1").await.unwrap().unwrap().version, 2);
    assert_eq!(copy.history("i1", 10, 0).await.unwrap().total, 4);
    assert_eq!(copy.usage("a", "2026-02").await.unwrap(), 4);
    copy.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn memory_backup_produces_a_usable_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_memory().unwrap();
    store.create_account(&account("a")).await.unwrap();
    let dest = dir.path().join("mem-copy.db");
    store.backup(&dest).await.unwrap();
    store.close().await.unwrap();

    let copy = SqliteStore::open_file(&dest, Durability::Full).unwrap();
    assert_eq!(copy.get_account("a").await.unwrap(), Some(account("a")));
    copy.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn offline_backup_of_a_live_file() {
    let (store, path, dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let dest = dir.path().join("cli-copy.db");
    SqliteStore::backup_file(&path, &dest).unwrap();
    store.close().await.unwrap();
    let copy = SqliteStore::open_file(&dest, Durability::Full).unwrap();
    assert_eq!(copy.count_accounts().await.unwrap(), 1);
    copy.close().await.unwrap();
    assert!(matches!(
        SqliteStore::backup_file(dir.path().join("missing.db"), &dest),
        Err(StoreError::NotFound)
    ));
}

#[tokio::test(flavor = "multi_thread")]
async fn panicking_reads_do_not_kill_the_pool() {
    let (file, _path, _dir) = file_store();
    for store in [file, SqliteStore::open_memory().unwrap()] {
        for _ in 0..8 {
            let r = store
                .read(|c| -> crate::store::StoreResult<()> {
                    c.execute_batch("BEGIN")?;
                    panic!("read job panics inside a transaction")
                })
                .await;
            assert!(matches!(r, Err(StoreError::Failed(_))));
        }
        for _ in 0..8 {
            store.ping().await.unwrap();
        }
        store.create_account(&account("a")).await.unwrap();
        assert_eq!(store.count_accounts().await.unwrap(), 1);
        store.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_an_abandoned_store() {
    let (store, path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let rec = instance("i1", "a", "one", 5);
    store.create_instance(&rec, None, None).await.unwrap();
    store
        .write_instance(next_write(&rec, 1, 2, "2026-01"))
        .await
        .unwrap();
    // No close, no checkpoint: what was acknowledged is already on disk.
    std::mem::forget(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let (version, observations): (i64, i64) = conn
        .query_row(
            "SELECT version, (SELECT COUNT(*) FROM observations) FROM instances WHERE id = 'i1'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, observations), (2, 2));
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_while_writing_is_a_consistent_snapshot() {
    let (store, _path, dir) = file_store();
    let store = std::sync::Arc::new(store);
    store.create_account(&account("a")).await.unwrap();
    let rec = instance("i1", "a", "one", 5);
    store.create_instance(&rec, None, None).await.unwrap();
    let writer = {
        let store = std::sync::Arc::clone(&store);
        tokio::spawn(async move {
            let mut current = rec;
            for n in 0..200u64 {
                let w = next_write(&current, n + 1, 1, "2026-01");
                current = w.instance.clone();
                store.write_instance(w).await.unwrap();
            }
        })
    };
    let dest = dir.path().join("hot.db");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.backup(&dest).await.unwrap();
    writer.await.unwrap();
    store.close().await.unwrap();

    // In the copy, the instance, its history and the ledger agree.
    let copy = SqliteStore::open_file(&dest, Durability::Full).unwrap();
    let version = copy.load_instance("i1").await.unwrap().unwrap().version;
    let observed = copy.history("i1", 1, 0).await.unwrap().total;
    assert_eq!(observed, (version - 1) as u64);
    assert_eq!(copy.usage("a", "2026-01").await.unwrap(), observed);
    copy.close().await.unwrap();
}

/// A database of a build before the binary state format (schema version 2,
/// states as JSON text in `state_json`) upgrades in place: its instances
/// load with exactly their states, step on, and are rewritten in the
/// binary format.
#[tokio::test(flavor = "multi_thread")]
async fn json_states_of_a_version_2_database_survive_the_upgrade() {
    use crate::actors::{InstanceModel, TimedObservation};
    use crate::engine::{Engine, EngineState, Mode, Observation, Profile};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let profile = Profile {
        core_modes: vec![Mode::Order],
        ..Profile::default()
    };
    let engine = Engine::default();
    let mut state = EngineState::new([0.3, 0.1, 0.2, 0.0, 0.4, 0.1, 0.0], 0.7);
    let initial = state.clone();
    for i in 0..40u32 {
        let observation = Observation::new(Mode::ALL[i as usize % 7], 0.7, 0.9).unwrap();
        state = engine.step(state, &profile, &observation).0;
    }
    let state_json = format!(
        r#"{{"profile":{},"state":{}}}"#,
        serde_json::to_string(&profile).unwrap(),
        serde_json::to_string(&state).unwrap()
    );
    let old = database_of_an_older_build(&path, 2);
    old.execute(
        "INSERT INTO accounts (id, name, tier, created_at) VALUES ('acct', 'A', 'free', 1)",
        [],
    )
    .unwrap();
    old.execute(
        "INSERT INTO instances (id, account_id, name, description, created_at, updated_at, \
         version, state_json, initial_state_json, last_observation_at, cycle_count, \
         energy_level, stress_level, stability_index) \
         VALUES ('inst_0000000000000001', 'acct', 'old', '', 1, 2, 41, ?1, ?2, NULL, 40, \
         0.5, 'LOW', 0.9)",
        rusqlite::params![state_json, serde_json::to_string(&initial).unwrap()],
    )
    .unwrap();
    drop(old);

    let store = SqliteStore::open_file(&path, Durability::Full).unwrap();
    let version = store.read(schema::schema_version).await.unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    let record = store
        .load_instance("inst_0000000000000001")
        .await
        .unwrap()
        .unwrap();
    let model = InstanceModel::from_record(record).unwrap();
    assert_eq!(model.state, state);
    assert_eq!(model.initial, initial);
    assert_eq!(*model.profile, profile);

    let observation = TimedObservation {
        observation: Observation::new(Mode::Order, 0.8, 1.0).unwrap(),
        timestamp: None,
        context_json: "{}".into(),
    };
    let (change, _) = model
        .plan_process(&engine, &[observation], 10_000_000, 0, false)
        .unwrap();
    store.write_instance(change.write).await.unwrap();
    let record = store
        .load_instance("inst_0000000000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        record.state.first(),
        Some(&1),
        "rewritten in the binary format"
    );
    assert_eq!(
        record.initial_state.first(),
        Some(&b'{'),
        "untouched initial state"
    );
    let reloaded = InstanceModel::from_record(record).unwrap();
    assert_eq!(reloaded.state, change.model.state);
    assert_eq!(reloaded.state.cycle(), 41);
    assert_eq!(reloaded.initial, initial);
    store.close().await.unwrap();
}

/// Once the fail-stop latch trips, nothing more is written or acknowledged:
/// writes and `ping` fail with `FailStopped`, reads still answer.
#[tokio::test(flavor = "multi_thread")]
async fn a_tripped_store_refuses_every_write() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.fail_stop().trip("fsync of the WAL failed: injected");
    assert!(matches!(
        store.create_account(&account("b")).await,
        Err(StoreError::FailStopped(reason)) if reason.contains("injected")
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::FailStopped(_))
    ));
    assert_eq!(store.count_accounts().await.unwrap(), 1);
    store.close().await.unwrap();
}

//! Drift events: clustered by instance and level (schema version 4), listed
//! newest first across levels, upgraded from the version-3 layout.

use super::super::{drift as drift_sql, schema, SqliteStore};
use super::{account, database_of_an_older_build, drift, file_store, instance, next_write};
use crate::engine::{DriftLevel, Mode};
use crate::store::{DriftRow, Durability, Store, StoreError};

/// Levels of cycle `c` in the merge test: an irregular mix of three.
fn level_of(c: u64) -> DriftLevel {
    match c % 7 {
        0 | 3 => DriftLevel::D1Context,
        1 | 4 | 5 => DriftLevel::D2Adaptive,
        _ => DriftLevel::D3Corrupt,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn listings_merge_the_levels_newest_first_at_every_offset() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let mut current = instance("i", "a", "x", 1);
    store.create_instance(&current, None, None).await.unwrap();
    // Ten writes of six cycles; cycles 1..=60, every cycle but multiples
    // of 5 has a drift event.
    let mut expected: Vec<DriftRow> = Vec::new();
    for write in 0..10u64 {
        let first = write * 6 + 1;
        let mut w = next_write(&current, first, 6, "2026-05");
        w.drift_events = (first..first + 6)
            .filter(|c| c % 5 != 0)
            .map(|c| drift(c, level_of(c)))
            .collect();
        expected.extend(w.drift_events.iter().cloned());
        current = w.instance.clone();
        store.write_instance(w).await.unwrap();
    }
    expected.reverse();

    for (limit, offset) in [(10, 0), (7, 5), (100, 0), (3, 45), (10, 48), (5, 200)] {
        let page = store.drift_events("i", None, limit, offset).await.unwrap();
        let want: Vec<_> = expected
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .cloned()
            .collect();
        assert_eq!(page.items, want, "limit {limit} offset {offset}");
        assert_eq!(page.total, expected.len() as u64);
    }
    for level in [
        DriftLevel::D1Context,
        DriftLevel::D2Adaptive,
        DriftLevel::D3Corrupt,
    ] {
        let of_level: Vec<_> = expected
            .iter()
            .filter(|d| d.level == level)
            .cloned()
            .collect();
        let page = store.drift_events("i", Some(level), 4, 2).await.unwrap();
        assert_eq!(page.items, of_level[2..6].to_vec(), "{level}");
        assert_eq!(page.total, of_level.len() as u64);
    }
    let none = store
        .drift_events("i", Some(DriftLevel::D0Noise), 10, 0)
        .await
        .unwrap();
    assert_eq!((none.items.len(), none.total), (0, 0));
    let other = store.drift_events("nobody", None, 10, 0).await.unwrap();
    assert_eq!((other.items.len(), other.total), (0, 0));
    store.close().await.unwrap();
}

/// A sort in either listing would read all of an instance's events for
/// every page; the clustered key delivers each level in id order, and
/// SQLite merges the branches.
#[tokio::test(flavor = "multi_thread")]
async fn listings_read_the_key_in_order_without_sorting() {
    let (store, _path, _dir) = file_store();
    for levels in 1..=4 {
        let plan = store
            .read(move |c| drift_sql::listing_plans(c, levels))
            .await
            .unwrap();
        assert!(!plan.contains("TEMP B-TREE"), "{levels} levels:\n{plan}");
        assert!(
            plan.contains("USING PRIMARY KEY"),
            "{levels} levels:\n{plan}"
        );
    }
    store.close().await.unwrap();
}

/// Every drift event takes its observation's id; one without is a bug of
/// the caller, refused without writing anything of that write.
#[tokio::test(flavor = "multi_thread")]
async fn a_drift_event_without_its_observation_is_refused() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let current = instance("i", "a", "x", 1);
    store.create_instance(&current, None, None).await.unwrap();
    let mut w = next_write(&current, 1, 2, "2026-05");
    w.drift_events = vec![
        drift(2, DriftLevel::D1Context),
        drift(9, DriftLevel::D2Adaptive),
    ];
    match store.write_instance(w).await {
        Err(StoreError::Failed(message)) => {
            assert!(message.contains("cycle 9"), "{message}")
        }
        other => panic!("expected a database error, got {other:?}"),
    }
    assert_eq!(store.load_instance("i").await.unwrap().unwrap().version, 1);
    assert_eq!(store.history("i", 10, 0).await.unwrap().total, 0);
    assert_eq!(store.drift_events("i", None, 10, 0).await.unwrap().total, 0);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_events_of_a_version_3_database_survive_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let old = database_of_an_older_build(&path, 3);
    old.execute_batch(
        "INSERT INTO accounts (id, name, tier, created_at) VALUES ('a', 'A', 'free', 1);
         INSERT INTO instances (id, account_id, name, description, created_at, updated_at,
             version, state, initial_state, last_observation_at, cycle_count, energy_level,
             stress_level, stability_index)
             VALUES ('i', 'a', 'x', '', 1, 1, 1, '{\"cycle\":0}', '{\"cycle\":0}', NULL, 0,
                     1.0, 'LOW', 1.0);",
    )
    .unwrap();
    // Version 3 numbered drift events in their own sequence, behind the
    // observations' (one observation per cycle, some with an event).
    for cycle in 1..=6i64 {
        old.execute(
            "INSERT INTO observations (instance_id, cycle_number, mode_target, \
             signal_strength, confidence, context_json, timestamp) \
             VALUES ('i', ?1, 'perception', 0.5, 0.75, '{}', ?1)",
            [cycle],
        )
        .unwrap();
    }
    for (cycle, level) in [(2i64, "D1_context"), (3, "D3_corrupt"), (5, "D1_context")] {
        old.execute(
            "INSERT INTO drift_events (instance_id, cycle_number, level, magnitude, \
             affected_modes, rolled_back, timestamp) \
             VALUES ('i', ?1, ?2, 0.5, '[\"perception\"]', 0, ?1)",
            rusqlite::params![cycle, level],
        )
        .unwrap();
    }
    drop(old);

    let store = SqliteStore::open_file(&path, Durability::Full).unwrap();
    let version = store.read(schema::schema_version).await.unwrap();
    assert_eq!(version, schema::MIGRATIONS.len() as i64);
    let cycles = |page: crate::store::Page<DriftRow>| {
        page.items
            .iter()
            .map(|d| d.cycle_number)
            .collect::<Vec<_>>()
    };
    let page = store.drift_events("i", None, 10, 0).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.items[0].affected_modes, vec![Mode::Perception]);
    assert_eq!(cycles(page), [5, 3, 2]);

    // Events written after the upgrade list before the older ones.
    let current = store.load_instance("i").await.unwrap().unwrap();
    let mut w = next_write(&current, 7, 2, "2026-05");
    w.drift_events = vec![drift(8, DriftLevel::D1Context)];
    store.write_instance(w).await.unwrap();
    let page = store.drift_events("i", None, 10, 0).await.unwrap();
    assert_eq!(cycles(page), [8, 5, 3, 2]);
    let page = store
        .drift_events("i", Some(DriftLevel::D1Context), 10, 0)
        .await
        .unwrap();
    assert_eq!((cycles(page.clone()), page.total), (vec![8, 5, 2], 3));

    store.delete_instance("i", None).await.unwrap();
    assert_eq!(store.drift_events("i", None, 10, 0).await.unwrap().total, 0);
    store.close().await.unwrap();
}

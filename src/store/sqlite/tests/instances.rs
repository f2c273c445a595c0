//! Instances: limits, listing, versioned writes, history, drift, usage.

use super::{account, drift, file_store, instance, next_write, observation};
use crate::engine::DriftLevel;
use crate::store::{
    InstanceEvent, InstanceEventKind, InstanceSort, InstanceWrite, SortOrder, Store, StoreError,
};

#[tokio::test(flavor = "multi_thread")]
async fn create_respects_the_limit() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.create_account(&account("b")).await.unwrap();
    for i in 0..3 {
        let rec = instance(&format!("a{i}"), "a", "x", i);
        store.create_instance(&rec, Some(3), None).await.unwrap();
    }
    let over = instance("a3", "a", "x", 3);
    match store.create_instance(&over, Some(3), None).await {
        Err(StoreError::LimitReached { limit: 3 }) => {}
        other => panic!("expected LimitReached, got {other:?}"),
    }
    assert_eq!(store.count_instances("a").await.unwrap(), 3);
    assert_eq!(store.load_instance("a3").await.unwrap(), None);
    // Other accounts and unlimited creates are unaffected.
    store
        .create_instance(&instance("b0", "b", "x", 0), Some(3), None)
        .await
        .unwrap();
    store.create_instance(&over, None, None).await.unwrap();
    assert_eq!(store.count_instances("a").await.unwrap(), 4);
    // An unknown account is refused by the foreign key.
    assert!(store
        .create_instance(&instance("g", "ghost", "x", 0), None, None)
        .await
        .is_err());
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_creates_never_exceed_the_limit() {
    let (store, _path, _dir) = file_store();
    let store = std::sync::Arc::new(store);
    store.create_account(&account("a")).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let store = std::sync::Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_instance(&instance(&format!("i{i}"), "a", "x", i), Some(10), None)
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::LimitReached { limit: 10 }) => {}
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(ok, 10);
    assert_eq!(store.count_instances("a").await.unwrap(), 10);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn list_sorts_pages_and_counts() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.create_account(&account("b")).await.unwrap();
    // (id, name, created_at): ties on both keys are broken by id.
    let rows = [
        ("i3", "beta", 30),
        ("i1", "alpha", 10),
        ("i2", "beta", 20),
        ("i4", "gamma", 20),
    ];
    for (id, name, created) in rows {
        store
            .create_instance(&instance(id, "a", name, created), None, None)
            .await
            .unwrap();
    }
    store
        .create_instance(&instance("other", "b", "aaa", 0), None, None)
        .await
        .unwrap();

    let ids = |page: &crate::store::Page<crate::store::InstanceRecord>| -> Vec<String> {
        page.items.iter().map(|r| r.id.clone()).collect()
    };
    let page = store
        .list_instances("a", InstanceSort::CreatedAt, SortOrder::Asc, 10, 0)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i1", "i2", "i4", "i3"]);
    assert_eq!(page.total, 4);
    let page = store
        .list_instances("a", InstanceSort::CreatedAt, SortOrder::Desc, 10, 0)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i3", "i4", "i2", "i1"]);
    let page = store
        .list_instances("a", InstanceSort::Name, SortOrder::Asc, 10, 0)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i1", "i2", "i3", "i4"]);
    let page = store
        .list_instances("a", InstanceSort::Name, SortOrder::Desc, 10, 0)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i4", "i3", "i2", "i1"]);

    let page = store
        .list_instances("a", InstanceSort::CreatedAt, SortOrder::Asc, 2, 1)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i2", "i4"]);
    assert_eq!(page.total, 4);
    let page = store
        .list_instances("a", InstanceSort::CreatedAt, SortOrder::Asc, u64::MAX, 3)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["i3"]);
    let page = store
        .list_instances("a", InstanceSort::Name, SortOrder::Asc, 10, 99)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert_eq!(page.total, 4);
    let page = store
        .list_instances("nobody", InstanceSort::Name, SortOrder::Asc, 10, 0)
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (0, 0));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn write_checks_the_version() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let v1 = instance("i", "a", "x", 1);
    store.create_instance(&v1, None, None).await.unwrap();
    assert_eq!(store.load_instance("i").await.unwrap(), Some(v1.clone()));

    let w2 = next_write(&v1, 1, 2, "2026-03");
    let v2 = w2.instance.clone();
    store.write_instance(w2).await.unwrap();
    assert_eq!(store.load_instance("i").await.unwrap(), Some(v2.clone()));

    // A write based on the stale version 1 conflicts and appends nothing.
    let stale = next_write(&v1, 3, 5, "2026-03");
    assert!(matches!(
        store.write_instance(stale).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.load_instance("i").await.unwrap(), Some(v2.clone()));
    assert_eq!(store.history("i", 100, 0).await.unwrap().total, 2);
    assert_eq!(store.usage("a", "2026-03").await.unwrap(), 2);

    store.delete_instance("i", None).await.unwrap();
    assert_eq!(store.load_instance("i").await.unwrap(), None);
    assert_eq!(store.history("i", 100, 0).await.unwrap().total, 0);
    let after_delete = next_write(&v2, 3, 1, "2026-03");
    assert!(matches!(
        store.write_instance(after_delete).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_instance("i", None).await,
        Err(StoreError::NotFound)
    ));
    // Usage is an account ledger: it outlives the instance.
    assert_eq!(store.usage("a", "2026-03").await.unwrap(), 2);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unchanged_metadata_and_initial_state_are_left_alone() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let v1 = instance("i", "a", "name", 1);
    store.create_instance(&v1, None, None).await.unwrap();

    // What an observation sends: flags down, so these fields are ignored
    // (the actor leaves the initial state unencoded).
    let mut w2 = next_write(&v1, 1, 1, "2026-03");
    w2.meta_changed = false;
    w2.initial_changed = false;
    w2.instance.name = "ignored".into();
    w2.instance.initial_state = Vec::new();
    let state = w2.instance.state.clone();
    store.write_instance(w2).await.unwrap();
    let stored = store.load_instance("i").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.state, state);
    assert_eq!(stored.name, "name");
    assert_eq!(stored.initial_state, v1.initial_state);

    // With the flags up, both are written.
    let mut w3 = next_write(&stored, 2, 1, "2026-03");
    w3.instance.name = "renamed".into();
    w3.instance.initial_state = br#"{"initial":2}"#.to_vec();
    store.write_instance(w3).await.unwrap();
    let stored = store.load_instance("i").await.unwrap().unwrap();
    assert_eq!(stored.name, "renamed");
    assert_eq!(stored.initial_state, br#"{"initial":2}"#);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn history_and_drift_are_newest_first() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let mut current = instance("i", "a", "x", 1);
    store.create_instance(&current, None, None).await.unwrap();
    store
        .create_instance(&instance("j", "a", "y", 2), None, None)
        .await
        .unwrap();

    // Cycles 1..=4, then a reset restarts numbering at 1..=2: insertion
    // order, not cycle number, decides "newest".
    let mut w = next_write(&current, 1, 4, "2026-04");
    w.drift_events = vec![
        drift(2, DriftLevel::D1Context),
        drift(4, DriftLevel::D3Corrupt),
    ];
    current = w.instance.clone();
    store.write_instance(w).await.unwrap();
    let mut w = next_write(&current, 1, 2, "2026-04");
    w.drift_events = vec![drift(1, DriftLevel::D1Context)];
    w.events = vec![InstanceEvent {
        kind: InstanceEventKind::Reset,
        detail_json: r#"{"mode":"initial"}"#.to_string(),
        timestamp: 60_000,
    }];
    store.write_instance(w).await.unwrap();

    let page = store.history("i", 3, 0).await.unwrap();
    assert_eq!(page.total, 6);
    let cycles: Vec<_> = page.items.iter().map(|o| o.cycle_number).collect();
    assert_eq!(cycles, [2, 1, 4]);
    assert_eq!(page.items[0], observation(2, 10_002));
    let page = store.history("i", 3, 3).await.unwrap();
    let cycles: Vec<_> = page.items.iter().map(|o| o.cycle_number).collect();
    assert_eq!(cycles, [3, 2, 1]);
    assert_eq!(store.history("j", 10, 0).await.unwrap().total, 0);

    let page = store.drift_events("i", None, 10, 0).await.unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(
        page.items,
        vec![
            drift(1, DriftLevel::D1Context),
            drift(4, DriftLevel::D3Corrupt),
            drift(2, DriftLevel::D1Context)
        ]
    );
    let page = store
        .drift_events("i", Some(DriftLevel::D1Context), 1, 0)
        .await
        .unwrap();
    assert_eq!(
        (page.items.clone(), page.total),
        (vec![drift(1, DriftLevel::D1Context)], 2)
    );
    let page = store
        .drift_events("i", Some(DriftLevel::D1Context), 1, 1)
        .await
        .unwrap();
    assert_eq!(page.items, vec![drift(2, DriftLevel::D1Context)]);
    let page = store
        .drift_events("i", Some(DriftLevel::D2Adaptive), 10, 0)
        .await
        .unwrap();
    assert_eq!((page.items.len(), page.total), (0, 0), "exact level match");

    // Deleting removes history, drift and audit rows together.
    store.delete_instance("i", None).await.unwrap();
    assert_eq!(store.drift_events("i", None, 10, 0).await.unwrap().total, 0);
    let leftovers: i64 = store
        .read(|c| Ok(c.query_row("SELECT COUNT(*) FROM instance_events", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(leftovers, 0);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_accumulates_per_month() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.create_account(&account("b")).await.unwrap();
    let mut current = instance("i", "a", "x", 1);
    store.create_instance(&current, None, None).await.unwrap();
    assert_eq!(store.usage("a", "2026-05").await.unwrap(), 0);

    for (cycles, month) in [(3, "2026-05"), (4, "2026-05"), (10, "2026-06")] {
        let w = next_write(&current, 1, cycles, month);
        current = w.instance.clone();
        store.write_instance(w).await.unwrap();
    }
    // A write without a usage increment leaves the ledger alone.
    let mut w: InstanceWrite = next_write(&current, 1, 1, "2026-05");
    w.usage = None;
    store.write_instance(w).await.unwrap();

    assert_eq!(store.usage("a", "2026-05").await.unwrap(), 7);
    assert_eq!(store.usage("a", "2026-06").await.unwrap(), 10);
    assert_eq!(store.usage("a", "2026-07").await.unwrap(), 0);
    assert_eq!(store.usage("b", "2026-05").await.unwrap(), 0);
    store.close().await.unwrap();
}

//! Group commit: many concurrent writes share few transactions, and one
//! failing job does not spoil its group.

use super::{account, file_store, instance, next_write};
use crate::store::sqlite::SqliteStore;
use crate::store::{InstanceRecord, InstanceWrite, Store, StoreError, StoreResult};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::task::JoinHandle;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_writes_share_commits() {
    const N: usize = 500;
    let (store, _path, _dir) = file_store();
    let store = Arc::new(store);
    store.create_account(&account("a")).await.unwrap();
    let records: Vec<_> = (0..N)
        .map(|i| instance(&format!("i{i:03}"), "a", "x", i as i64))
        .collect();
    let creates: Vec<_> = records
        .iter()
        .cloned()
        .map(|r| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.create_instance(&r, None, None).await })
        })
        .collect();
    for t in creates {
        t.await.unwrap().unwrap();
    }

    let before = store.stats();
    let writes: Vec<_> = records
        .iter()
        .map(|r| spawn_write(&store, next_write(r, 1, 1, "2026-01")))
        .collect();
    for t in writes {
        t.await.unwrap().unwrap();
    }
    let after = store.stats();
    let commits = after.commits - before.commits;
    let jobs = after.writes - before.writes;
    eprintln!(
        "group commit: {jobs} writes in {commits} commits (largest group {})",
        after.largest_group
    );
    assert_eq!(jobs, N as u64);
    assert_eq!(after.failed_writes, 0);
    assert!(
        commits >= 1 && commits < (N as u64) / 5,
        "{commits} commits for {N} writes"
    );

    // Every write really landed.
    assert_eq!(store.usage("a", "2026-01").await.unwrap(), N as u64);
    for r in records.iter().step_by(50) {
        assert_eq!(
            store.load_instance(&r.id).await.unwrap().unwrap().version,
            2
        );
    }
    store.close().await.unwrap();
}

/// A file store holding account `a` with `n` instances.
async fn store_with_instances(n: usize) -> (Arc<SqliteStore>, Vec<InstanceRecord>, TempDir) {
    let (store, _path, dir) = file_store();
    let store = Arc::new(store);
    store.create_account(&account("a")).await.unwrap();
    let records: Vec<_> = (0..n)
        .map(|i| instance(&format!("i{i:03}"), "a", "x", i as i64))
        .collect();
    for r in &records {
        store.create_instance(r, None, None).await.unwrap();
    }
    (store, records, dir)
}

/// Queues `write` from a task of its own; the handle yields its outcome.
fn spawn_write(store: &Arc<SqliteStore>, write: InstanceWrite) -> JoinHandle<StoreResult<()>> {
    let store = Arc::clone(store);
    tokio::spawn(async move { store.write_instance(write).await })
}

/// Keeps the writer busy for 150 ms, so that what is queued meanwhile
/// forms one group; returns once the writer has started on it.
async fn hold_the_writer(store: &Arc<SqliteStore>) -> JoinHandle<StoreResult<()>> {
    let store = Arc::clone(store);
    let blocker = tokio::spawn(async move {
        store
            .write(|_| {
                std::thread::sleep(Duration::from_millis(150));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    blocker
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_jobs_do_not_spoil_their_group() {
    const GOOD: usize = 100;
    let (store, records, _dir) = store_with_instances(GOOD + 1).await;
    // The last instance moves to version 2, so a write expecting 1 is stale.
    let stale_base = records[GOOD].clone();
    store
        .write_instance(next_write(&stale_base, 1, 1, "2026-01"))
        .await
        .unwrap();
    let before = store.stats();

    // Hold the writer busy so everything below queues up into one group.
    let blocker = hold_the_writer(&store).await;

    let mut good = Vec::new();
    for r in &records[..GOOD] {
        good.push(spawn_write(&store, next_write(r, 1, 1, "2026-01")));
    }
    let stale = spawn_write(&store, next_write(&stale_base, 2, 1, "2026-01"));
    let panicking = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .write(|c| {
                    c.execute("INSERT INTO accounts VALUES ('half', 'h', 'free', 0)", [])?;
                    panic!("job panics after writing");
                })
                .await
        })
    };
    let orphan = {
        let store = Arc::clone(&store);
        tokio::spawn(async move {
            store
                .create_instance(&instance("o", "ghost", "x", 0), None, None)
                .await
        })
    };

    blocker.await.unwrap().unwrap();
    for t in good {
        t.await.unwrap().unwrap();
    }
    assert!(matches!(stale.await.unwrap(), Err(StoreError::Conflict)));
    assert!(matches!(
        panicking.await.unwrap(),
        Err(StoreError::Failed(_))
    ));
    assert!(matches!(orphan.await.unwrap(), Err(StoreError::Sqlite(_))));

    let after = store.stats();
    let commits = after.commits - before.commits;
    let jobs = after.writes - before.writes;
    eprintln!(
        "failing jobs: {jobs} writes in {commits} commits, largest group {}",
        after.largest_group
    );
    assert_eq!(jobs, GOOD as u64 + 4);
    assert_eq!(after.failed_writes - before.failed_writes, 3);
    // The blocker's group, then everything else in one (a slow machine may
    // fold the blocker into that group too).
    assert!((1..=2).contains(&commits), "{commits} commits");
    assert!(after.largest_group > GOOD as u64);

    // The good writes landed; the failed jobs left nothing behind.
    assert_eq!(store.usage("a", "2026-01").await.unwrap(), GOOD as u64 + 1);
    assert_eq!(
        store
            .load_instance(&stale_base.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(store.get_account("half").await.unwrap(), None);
    assert_eq!(store.load_instance("o").await.unwrap(), None);
    // The writer survived the panic.
    store.create_account(&account("after")).await.unwrap();
    store.close().await.unwrap();
}

/// An instance write that fails after its UPDATE (here a trigger refuses
/// its history row) sends the group down the careful path: the group is
/// rolled back and rerun one savepoint per write, so only that write fails
/// and the rest of its group, usage included, still commits.
#[tokio::test(flavor = "multi_thread")]
async fn a_write_failing_after_its_update_is_undone_alone() {
    const GOOD: usize = 40;
    let (store, records, _dir) = store_with_instances(GOOD + 1).await;
    store
        .write(|c| {
            c.execute_batch(
                "CREATE TRIGGER refuse_boom BEFORE INSERT ON observations \
                 WHEN NEW.context_json = 'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let before = store.stats();

    let blocker = hold_the_writer(&store).await;
    let mut good = Vec::new();
    for r in &records[..GOOD / 2] {
        good.push(spawn_write(&store, next_write(r, 1, 1, "2026-01")));
    }
    let doomed = {
        let mut write = next_write(&records[GOOD], 1, 1, "2026-01");
        write.observations[0].context_json = "boom".into();
        spawn_write(&store, write)
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    for r in &records[GOOD / 2..GOOD] {
        good.push(spawn_write(&store, next_write(r, 1, 1, "2026-01")));
    }

    blocker.await.unwrap().unwrap();
    for t in good {
        t.await.unwrap().unwrap();
    }
    match doomed.await.unwrap() {
        Err(e @ StoreError::Sqlite(_)) => {
            let message = crate::logging::ErrorChain(&e).to_string();
            assert!(message.contains("boom"), "{message}")
        }
        other => panic!("expected the trigger's error, got {other:?}"),
    }
    let after = store.stats();
    assert_eq!(after.failed_writes - before.failed_writes, 1);
    assert!(
        after.largest_group > GOOD as u64 / 2,
        "the writes shared a group"
    );

    // The good writes and their usage landed; the doomed one left nothing.
    assert_eq!(store.usage("a", "2026-01").await.unwrap(), GOOD as u64);
    for r in &records[..GOOD] {
        let stored = store.load_instance(&r.id).await.unwrap().unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(store.history(&r.id, 10, 0).await.unwrap().total, 1);
    }
    let untouched = store
        .load_instance(&records[GOOD].id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(untouched.version, records[GOOD].version);
    assert_eq!(
        store.history(&records[GOOD].id, 10, 0).await.unwrap().total,
        0
    );
    store.close().await.unwrap();
}

//! The store's contract, run against every backend: SQLite on a file,
//! SQLite in memory and PostgreSQL (a fresh database in the cluster the
//! test command started, `IDENTITY_OS_TEST_POSTGRES_URL`). Then what only
//! a shared database can show: concurrent writers and creates, and nodes
//! starting together.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::engine::{DriftLevel, Mode, StressLevel};

/// A URL of a new, empty database in the test cluster.
pub(crate) async fn fresh_postgres_database() -> String {
    let admin = std::env::var("IDENTITY_OS_TEST_POSTGRES_URL").expect(
        "IDENTITY_OS_TEST_POSTGRES_URL is not set: run scripts/test, which starts PostgreSQL",
    );
    let name = format!("store_{}", crate::accounts::random_id(""));
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    format!("{base}/{name}?{query}")
}

fn postgres_config(url: String) -> StoreConfig {
    StoreConfig {
        backend: Backend::Postgres,
        sqlite_path: Default::default(),
        durability: Durability::Full,
        database_url: url,
        pool_size: 8,
        connect_timeout: Duration::from_secs(5),
    }
}

/// Every backend, each fresh; the guard keeps the SQLite file's directory.
async fn backends() -> Vec<(&'static str, Arc<dyn Store>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = SqliteStore::open_file(dir.path().join("db.sqlite"), Durability::Full)
        .expect("open sqlite");
    let postgres = open(&postgres_config(fresh_postgres_database().await))
        .await
        .expect("open postgres");
    vec![
        ("sqlite", Arc::new(file), Some(dir)),
        (
            "memory",
            Arc::new(SqliteStore::open_memory().expect("memory")),
            None,
        ),
        ("postgres", postgres, None),
    ]
}

fn account(id: &str) -> Account {
    Account {
        id: id.into(),
        name: format!("Account {id}"),
        tier: "free".into(),
        created_at: 1_000,
    }
}

fn instance(id: &str, account_id: &str, name: &str, created_at: i64) -> InstanceRecord {
    InstanceRecord {
        id: id.into(),
        account_id: account_id.into(),
        name: name.into(),
        description: String::new(),
        created_at,
        updated_at: created_at,
        version: 1,
        state: b"state-1".to_vec(),
        initial_state: b"initial".to_vec(),
        last_observation_at: None,
        summary: InstanceSummary {
            cycle_count: 0,
            energy_level: 1.0,
            stress_level: StressLevel::Low,
            stability_index: 1.0,
        },
    }
}

/// An observation write moving `record` from `from` to `from + 1`, with
/// `cycles` observations (the last one drifting) and their usage.
fn observe(record: &InstanceRecord, from: i64, cycles: u64) -> InstanceWrite {
    let mut next = record.clone();
    next.version = from + 1;
    next.state = format!("state-{}", from + 1).into_bytes();
    next.summary.cycle_count = record.summary.cycle_count + cycles;
    let first = record.summary.cycle_count + 1;
    let observations: Vec<ObservationRow> = (first..first + cycles)
        .map(|c| ObservationRow {
            cycle_number: c,
            mode_target: Mode::Exploration,
            signal_strength: 0.5,
            confidence: 0.9,
            context_json: format!(r#"{{"c":{c}}}"#),
            timestamp: c as i64 * 1_000_000,
            point: None,
        })
        .collect();
    let last = first + cycles - 1;
    InstanceWrite {
        instance: next,
        expected_version: from,
        initial_changed: false,
        meta_changed: false,
        observations,
        drift_events: vec![DriftRow {
            cycle_number: last,
            level: DriftLevel::D1Context,
            magnitude: 0.25,
            affected_modes: vec![Mode::Exploration],
            rolled_back: false,
            timestamp: last as i64 * 1_000_000,
        }],
        events: vec![],
        usage: Some(UsageIncrement {
            account_id: record.account_id.clone(),
            month: "2026-12".into(),
            cycles,
        }),
        idempotency: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_keeps_the_same_contract() {
    for (name, store, _guard) in backends().await {
        let s = store.as_ref();
        // First account: once.
        let key = ApiKeyRecord {
            id: "key_1".into(),
            account_id: "a".into(),
            prefix: "idos_sk_abcd".into(),
            created_at: 5,
            revoked_at: None,
            last_used_at: None,
        };
        assert!(
            s.create_first_account(&account("a"), &key, &[7; 32])
                .await
                .unwrap(),
            "{name}"
        );
        let other = ApiKeyRecord {
            id: "key_2".into(),
            account_id: "b".into(),
            ..key.clone()
        };
        assert!(
            !s.create_first_account(&account("b"), &other, &[8; 32])
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(s.count_accounts().await.unwrap(), 1, "{name}");
        let found = s.find_api_key(&[7; 32]).await.unwrap().expect("key");
        assert_eq!(
            (found.key.id.as_str(), found.account.tier.as_str()),
            ("key_1", "free")
        );
        s.set_account_tier("a", "pro").await.unwrap();
        s.revoke_api_key("key_1", 9).await.unwrap();
        let found = s.find_api_key(&[7; 32]).await.unwrap().expect("key");
        assert_eq!(
            (found.key.revoked_at, found.account.tier.as_str()),
            (Some(9), "pro"),
            "{name}"
        );
        assert!(matches!(
            s.revoke_api_key("nope", 1).await,
            Err(StoreError::NotFound)
        ));

        // Instances: the limit, listing, the versioned write.
        let i1 = instance("i1", "a", "beta", 10);
        s.create_instance(&i1, Some(2), None).await.unwrap();
        s.create_instance(&instance("i2", "a", "alpha", 20), Some(2), None)
            .await
            .unwrap();
        let refused = s
            .create_instance(&instance("i3", "a", "x", 30), Some(2), None)
            .await;
        assert!(
            matches!(refused, Err(StoreError::LimitReached { limit: 2 })),
            "{name}"
        );
        assert_eq!(s.count_instances("a").await.unwrap(), 2);
        let page = s
            .list_instances("a", InstanceSort::Name, SortOrder::Asc, 1, 1)
            .await
            .unwrap();
        assert_eq!((page.items[0].id.as_str(), page.total), ("i1", 2), "{name}");

        s.write_instance(observe(&i1, 1, 3)).await.unwrap();
        let stale = s.write_instance(observe(&i1, 1, 1)).await;
        assert!(
            matches!(stale, Err(StoreError::Conflict)),
            "{name}: {stale:?}"
        );
        let loaded = s.load_instance("i1").await.unwrap().expect("row");
        assert_eq!(
            (loaded.version, loaded.state.as_slice()),
            (2, &b"state-2"[..]),
            "{name}"
        );
        s.write_instance(observe(&loaded, 2, 2)).await.unwrap();

        let history = s.history("i1", 2, 1).await.unwrap();
        let cycles: Vec<u64> = history.items.iter().map(|o| o.cycle_number).collect();
        assert_eq!((cycles, history.total), (vec![4, 3], 5), "{name}");
        let drift = s.drift_events("i1", None, 10, 0).await.unwrap();
        let cycles: Vec<u64> = drift.items.iter().map(|d| d.cycle_number).collect();
        assert_eq!((cycles, drift.total), (vec![5, 3], 2), "{name}");
        let d2 = s
            .drift_events("i1", Some(DriftLevel::D2Adaptive), 10, 0)
            .await
            .unwrap();
        assert_eq!(d2.total, 0, "{name}");
        assert_eq!(s.usage("a", "2026-12").await.unwrap(), 5, "{name}");

        // Idempotency: recorded with its change; a second one is refused
        // and its change rolled back.
        let record = IdempotencyRecord {
            account_id: "a".into(),
            key: "k1".into(),
            request_hash: [3; 32],
            status: 201,
            headers: vec![("ETag".into(), "\"3\"".into())],
            body: b"{}".to_vec(),
            created_at: 100,
        };
        let current = s.load_instance("i1").await.unwrap().expect("row");
        let mut keyed = observe(&current, 3, 1);
        keyed.idempotency = Some(record.clone());
        s.write_instance(keyed).await.unwrap();
        let current = s.load_instance("i1").await.unwrap().expect("row");
        let mut again = observe(&current, 4, 1);
        again.idempotency = Some(record.clone());
        assert!(matches!(
            s.write_instance(again).await,
            Err(StoreError::IdempotencyKeyUsed)
        ));
        assert_eq!(
            s.load_instance("i1").await.unwrap().expect("row").version,
            4,
            "{name}"
        );
        assert_eq!(
            s.find_idempotency("a", "k1").await.unwrap(),
            Some(record),
            "{name}"
        );
        assert_eq!(s.expire_idempotency(101).await.unwrap(), 1, "{name}");

        // Billing: an event applies once.
        let change = BillingChange {
            customer_id: Some("cus_1".into()),
            subscription_id: Some("sub_1".into()),
            subscription_status: Some("active".into()),
            tier: Some("indie".into()),
            switches_subscription: true,
            event_created: 50,
            verified: true,
        };
        let applied = s
            .apply_billing_event("evt_1", "x", Some("a"), &change)
            .await
            .unwrap();
        assert_eq!(
            applied,
            BillingEventOutcome::Applied {
                account_id: "a".into()
            },
            "{name}"
        );
        let replay = s
            .apply_billing_event("evt_1", "x", Some("a"), &change)
            .await
            .unwrap();
        assert_eq!(replay, BillingEventOutcome::Replayed, "{name}");
        assert_eq!(s.get_account("a").await.unwrap().expect("a").tier, "indie");
        let by_customer = s.find_account_by_stripe_customer("cus_1").await.unwrap();
        assert_eq!(by_customer.map(|a| a.id).as_deref(), Some("a"), "{name}");
        assert_eq!(
            s.link_stripe_customer("a", "cus_other").await.unwrap(),
            "cus_1"
        );

        // Delete: rows gone, the count freed.
        s.delete_instance("i1", None).await.unwrap();
        assert!(matches!(
            s.delete_instance("i1", None).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(s.history("i1", 10, 0).await.unwrap().total, 0, "{name}");
        assert_eq!(s.count_instances("a").await.unwrap(), 1, "{name}");
        let gone = s.write_instance(observe(&current, 4, 1)).await;
        assert!(
            matches!(gone, Err(StoreError::NotFound)),
            "{name}: {gone:?}"
        );
        s.ping().await.unwrap();
        s.close().await.unwrap();
    }
}

/// Two stores on one PostgreSQL database: two server nodes.
async fn two_nodes() -> (Arc<dyn Store>, Arc<dyn Store>) {
    let url = fresh_postgres_database().await;
    let (ca, cb) = (postgres_config(url.clone()), postgres_config(url));
    let (a, b) = tokio::join!(open(&ca), open(&cb));
    (a.expect("node a"), b.expect("node b"))
}

fn api_key(id: &str, account_id: &str, created_at: Micros) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.into(),
        account_id: account_id.into(),
        prefix: "idos_sk_x".into(),
        created_at,
        revoked_at: None,
        last_used_at: None,
    }
}

/// The `last_used_at` of each of the account's keys, oldest key first.
async fn last_used(s: &dyn Store, account_id: &str) -> Vec<Option<Micros>> {
    let keys = s.list_api_keys(Some(account_id)).await.unwrap();
    keys.iter().map(|k| k.last_used_at).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_records_key_uses_only_when_flushed() {
    for (name, store, _guard) in backends().await {
        let s = store.as_ref();
        s.create_account(&account("a")).await.unwrap();
        s.create_api_key(&api_key("key_1", "a", 1), &[1; 32])
            .await
            .unwrap();
        s.create_api_key(&api_key("key_2", "a", 2), &[2; 32])
            .await
            .unwrap();
        assert_eq!(last_used(s, "a").await, [None, None], "{name}");
        // Noted uses are in memory only until a flush.
        s.note_key_use("key_1", 100);
        s.note_key_use("key_1", 150);
        assert_eq!(last_used(s, "a").await, [None, None], "{name}");
        assert_eq!(s.flush_key_uses().await.unwrap(), 1, "{name}");
        assert_eq!(last_used(s, "a").await, [Some(150), None], "{name}");
        assert_eq!(
            s.flush_key_uses().await.unwrap(),
            0,
            "{name}: nothing noted"
        );
        // Never moved back (another node may have written a later use).
        s.note_key_use("key_1", 120);
        s.note_key_use("key_2", 200);
        s.note_key_use("key_gone", 300);
        assert_eq!(s.flush_key_uses().await.unwrap(), 1, "{name}");
        assert_eq!(last_used(s, "a").await, [Some(150), Some(200)], "{name}");
        // The lookup still answers from its cache and shows the key.
        let found = s.find_api_key(&[1; 32]).await.unwrap().expect("key");
        assert_eq!(found.key.id, "key_1", "{name}");
        s.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_uses_flushed_by_two_nodes_keep_the_latest() {
    let (a, b) = two_nodes().await;
    a.create_account(&account("acct")).await.unwrap();
    a.create_api_key(&api_key("key_1", "acct", 1), &[1; 32])
        .await
        .unwrap();
    a.note_key_use("key_1", 500);
    b.note_key_use("key_1", 400);
    a.flush_key_uses().await.unwrap();
    b.flush_key_uses().await.unwrap();
    assert_eq!(last_used(b.as_ref(), "acct").await, [Some(500)]);
    // A node's close writes what it noted since its last flush.
    b.note_key_use("key_1", 900);
    b.close().await.unwrap();
    assert_eq!(last_used(a.as_ref(), "acct").await, [Some(900)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_create_one_first_account() {
    let (a, b) = two_nodes().await;
    let key = |id: &str| ApiKeyRecord {
        id: id.into(),
        account_id: id.into(),
        prefix: "idos_sk_x".into(),
        created_at: 1,
        revoked_at: None,
        last_used_at: None,
    };
    let (ka, kb) = (key("a"), key("b"));
    let (aa, ab) = (account("a"), account("b"));
    let (first, second) = tokio::join!(
        a.create_first_account(&aa, &ka, &[1; 32]),
        b.create_first_account(&ab, &kb, &[2; 32]),
    );
    assert_eq!(u8::from(first.unwrap()) + u8::from(second.unwrap()), 1);
    assert_eq!(a.count_accounts().await.unwrap(), 1);
    assert_eq!(b.list_api_keys(None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_of_one_version_commit_once() {
    let (a, b) = two_nodes().await;
    a.create_account(&account("acct")).await.unwrap();
    let record = instance("i", "acct", "n", 1);
    a.create_instance(&record, None, None).await.unwrap();
    for round in 0..20 {
        let current = a.load_instance("i").await.unwrap().expect("row");
        let version = current.version;
        let (x, y) = tokio::join!(
            a.write_instance(observe(&current, version, 1)),
            b.write_instance(observe(&current, version, 1)),
        );
        let outcomes = [x.is_ok(), y.is_ok()];
        assert_eq!(
            outcomes.iter().filter(|ok| **ok).count(),
            1,
            "round {round}: {x:?} {y:?}"
        );
        assert!(matches!(x, Ok(()) | Err(StoreError::Conflict)), "{x:?}");
        assert!(matches!(y, Ok(()) | Err(StoreError::Conflict)), "{y:?}");
    }
    let history = a.history("i", 100, 0).await.unwrap();
    assert_eq!(history.total, 20);
    assert_eq!(a.usage("acct", "2026-12").await.unwrap(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_active_key_survives_revocations_from_two_nodes_at_once() {
    // Every backend refuses the last key; then two PostgreSQL nodes race.
    for (name, store, _guard) in backends().await {
        store.create_account(&account("acct")).await.unwrap();
        store
            .create_api_key(&api_key("key_1", "acct", 1), &[1; 32])
            .await
            .unwrap();
        assert!(
            !store
                .revoke_api_key_unless_last("acct", "key_1", 5)
                .await
                .unwrap(),
            "{name}: the only key stays"
        );
        assert!(
            !store
                .revoke_api_key_unless_last("other", "key_1", 5)
                .await
                .unwrap(),
            "{name}: another account's key is not touched"
        );
    }
    let (a, b) = two_nodes().await;
    a.create_account(&account("acct")).await.unwrap();
    for round in 0..10 {
        let (first, second) = (format!("key_{round}_a"), format!("key_{round}_b"));
        let digest = |n: u8| [round * 2 + n; 32];
        a.create_api_key(&api_key(&first, "acct", 1), &digest(1))
            .await
            .unwrap();
        a.create_api_key(&api_key(&second, "acct", 1), &digest(2))
            .await
            .unwrap();
        if round > 0 {
            // Only this round's two keys are active.
            let previous = format!("key_{}_a", round - 1);
            let other = format!("key_{}_b", round - 1);
            for key in [previous, other] {
                let _ = a.revoke_api_key(&key, 2).await;
            }
        }
        let (x, y) = tokio::join!(
            a.revoke_api_key_unless_last("acct", &first, 3),
            b.revoke_api_key_unless_last("acct", &second, 3)
        );
        let revoked = [x.unwrap(), y.unwrap()].iter().filter(|r| **r).count();
        assert_eq!(
            revoked, 1,
            "round {round}: exactly one of the last two goes"
        );
        let active = b
            .list_api_keys(Some("acct"))
            .await
            .unwrap()
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .count();
        assert_eq!(active, 1, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_stop_exactly_at_the_limit() {
    let (a, b) = two_nodes().await;
    a.create_account(&account("acct")).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..24 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            store
                .create_instance(&instance(&format!("i{n}"), "acct", "n", n), Some(5), None)
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => created += 1,
            Err(StoreError::LimitReached { limit: 5 }) => {}
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(created, 5);
    assert_eq!(b.count_instances("acct").await.unwrap(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_observations_share_groups_and_all_commit() {
    let url = fresh_postgres_database().await;
    let store = open(&postgres_config(url)).await.unwrap();
    store.create_account(&account("acct")).await.unwrap();
    let mut tasks = Vec::new();
    for n in 0..64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut record = instance(&format!("i{n}"), "acct", "n", n);
            store.create_instance(&record, None, None).await?;
            for version in 1..=10 {
                let write = observe(&record, version, 1);
                record = write.instance.clone();
                store.write_instance(write).await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.usage("acct", "2026-12").await.unwrap(), 640);
    for n in [0, 31, 63] {
        let history = store.history(&format!("i{n}"), 100, 0).await.unwrap();
        let cycles: Vec<u64> = history.items.iter().map(|o| o.cycle_number).collect();
        assert_eq!(cycles, (1..=10).rev().collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn an_unreachable_database_is_named_without_the_password() {
    let mut config = postgres_config(format!(
        "postgres://user:hunter2@127.0.0.1:{}/db?sslmode=disable",
        unused_port()
    ));
    config.connect_timeout = Duration::from_secs(2);
    let err = open(&config).await.err().expect("refused");
    let text = err.to_string();
    assert!(text.contains("127.0.0.1") && text.contains("/db"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_write_fails_alone_and_its_group_commits() {
    let store = open(&postgres_config(fresh_postgres_database().await))
        .await
        .unwrap();
    store.create_account(&account("acct")).await.unwrap();
    let mut writes = Vec::new();
    for n in 0..16 {
        let record = instance(&format!("i{n}"), "acct", "n", n);
        store.create_instance(&record, None, None).await.unwrap();
        let mut write = observe(&record, 1, 1);
        if n == 7 {
            // A drift event without its observation: this write cannot be
            // encoded, the others must not suffer for it.
            write.drift_events[0].cycle_number = 99;
        }
        writes.push(write);
    }
    let results =
        futures_util::future::join_all(writes.into_iter().map(|w| store.write_instance(w))).await;
    for (n, result) in results.iter().enumerate() {
        if n == 7 {
            assert!(matches!(result, Err(StoreError::Failed(_))), "{result:?}");
        } else {
            assert!(result.is_ok(), "write {n}: {result:?}");
        }
    }
    assert_eq!(store.usage("acct", "2026-12").await.unwrap(), 15);
    assert_eq!(store.history("i7", 10, 0).await.unwrap().total, 0);
}

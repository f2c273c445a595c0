//! Responses recorded under an `Idempotency-Key`: written with their change
//! or not at all, found again, expired.

use super::{account, file_store, instance, next_write};
use crate::store::{IdempotencyRecord, Store, StoreError};

fn record(key: &str, body: &str, at: i64) -> IdempotencyRecord {
    IdempotencyRecord {
        account_id: "a".into(),
        key: key.into(),
        request_hash: [7; 32],
        status: 200,
        headers: vec![("etag".into(), "\"2\"".into())],
        body: body.as_bytes().to_vec(),
        created_at: at,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_commits_with_its_change_and_a_reused_key_rolls_the_change_back() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let created = record("create-1", r#"{"id":"i"}"#, 10);
    store
        .create_instance(&instance("i", "a", "x", 1), None, Some(&created))
        .await
        .unwrap();
    assert_eq!(
        store.find_idempotency("a", "create-1").await.unwrap(),
        Some(created)
    );
    assert_eq!(store.find_idempotency("b", "create-1").await.unwrap(), None);

    let current = store.load_instance("i").await.unwrap().unwrap();
    let mut write = next_write(&current, 1, 2, "2026-05");
    write.idempotency = Some(record("process-1", "first", 20));
    store.write_instance(write).await.unwrap();

    // The same key again: the change is refused whole, the group goes on.
    let current = store.load_instance("i").await.unwrap().unwrap();
    let mut again = next_write(&current, 3, 2, "2026-05");
    again.idempotency = Some(record("process-1", "second", 30));
    let other = next_write(&current, 3, 1, "2026-05");
    let again = store.write_instance(again).await;
    assert!(
        matches!(again, Err(StoreError::IdempotencyKeyUsed)),
        "{again:?}"
    );
    let after = store.load_instance("i").await.unwrap().unwrap();
    assert_eq!(
        after.version, current.version,
        "nothing of the refused change"
    );
    assert_eq!(store.history("i", 10, 0).await.unwrap().total, 2);
    assert_eq!(store.usage("a", "2026-05").await.unwrap(), 2);
    store.write_instance(other).await.unwrap();
    let recorded = store
        .find_idempotency("a", "process-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(recorded.body, b"first");

    // A delete records its answer too.
    store
        .delete_instance("i", Some(&record("delete-1", "gone", 40)))
        .await
        .unwrap();
    assert!(store
        .find_idempotency("a", "delete-1")
        .await
        .unwrap()
        .is_some());

    // Expiry removes what is older than the cut-off only.
    assert_eq!(store.expire_idempotency(25).await.unwrap(), 2);
    assert_eq!(store.find_idempotency("a", "create-1").await.unwrap(), None);
    assert!(store
        .find_idempotency("a", "delete-1")
        .await
        .unwrap()
        .is_some());
    store.close().await.unwrap();
}

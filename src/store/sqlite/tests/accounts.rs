//! Accounts and API keys.

use super::{account, file_store};
use crate::store::{ApiKeyRecord, Store, StoreError};

fn key(id: &str, account_id: &str, created_at: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        id: id.to_string(),
        account_id: account_id.to_string(),
        prefix: format!("idos_sk_{id}"),
        created_at,
        revoked_at: None,
        last_used_at: None,
    }
}

fn digest(n: u8) -> [u8; 32] {
    [n; 32]
}

#[tokio::test(flavor = "multi_thread")]
async fn accounts_round_trip() {
    let (store, _path, _dir) = file_store();
    assert_eq!(store.count_accounts().await.unwrap(), 0);
    assert_eq!(store.get_account("a").await.unwrap(), None);

    let mut b = account("b");
    b.created_at = 2_000;
    store.create_account(&b).await.unwrap();
    store.create_account(&account("a")).await.unwrap();
    assert_eq!(store.count_accounts().await.unwrap(), 2);
    assert_eq!(store.get_account("a").await.unwrap(), Some(account("a")));
    let listed = store.list_accounts().await.unwrap();
    assert_eq!(listed, vec![account("a"), b], "oldest first");

    // A duplicate id is refused and changes nothing.
    assert!(matches!(
        store.create_account(&account("a")).await,
        Err(StoreError::Sqlite(_))
    ));
    assert_eq!(store.count_accounts().await.unwrap(), 2);

    store.set_account_tier("a", "pro").await.unwrap();
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "pro");
    assert!(matches!(
        store.set_account_tier("nobody", "pro").await,
        Err(StoreError::NotFound)
    ));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn api_keys_round_trip() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.create_account(&account("b")).await.unwrap();
    store
        .create_api_key(&key("k1", "a", 10), &digest(1))
        .await
        .unwrap();
    store
        .create_api_key(&key("k2", "b", 20), &digest(2))
        .await
        .unwrap();
    store
        .create_api_key(&key("k3", "a", 30), &digest(3))
        .await
        .unwrap();

    let found = store.find_api_key(&digest(3)).await.unwrap().unwrap();
    assert_eq!(found.key, key("k3", "a", 30));
    assert_eq!(*found.account, account("a"));
    assert_eq!(store.find_api_key(&digest(9)).await.unwrap(), None);

    let all = store.list_api_keys(None).await.unwrap();
    let ids: Vec<_> = all.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k2", "k3"]);
    let of_a = store.list_api_keys(Some("a")).await.unwrap();
    let ids: Vec<_> = of_a.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["k1", "k3"]);
    assert!(store.list_api_keys(Some("zzz")).await.unwrap().is_empty());

    // Digests are unique; keys need an existing account.
    assert!(store
        .create_api_key(&key("k4", "a", 40), &digest(1))
        .await
        .is_err());
    assert!(store
        .create_api_key(&key("k5", "ghost", 40), &digest(5))
        .await
        .is_err());

    store.revoke_api_key("k1", 500).await.unwrap();
    let revoked = store.find_api_key(&digest(1)).await.unwrap().unwrap();
    assert_eq!(revoked.key.revoked_at, Some(500));
    // Revoking again keeps the first time.
    store.revoke_api_key("k1", 900).await.unwrap();
    let revoked = store.find_api_key(&digest(1)).await.unwrap().unwrap();
    assert_eq!(revoked.key.revoked_at, Some(500));
    assert!(matches!(
        store.revoke_api_key("nope", 1).await,
        Err(StoreError::NotFound)
    ));
    store.close().await.unwrap();
}

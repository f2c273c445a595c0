//! Accounts and API keys: creation, the first-start bootstrap, and key
//! authentication. Shared by the CLI, the admin API and the HTTP auth layer.

use rand::distr::{Alphanumeric, SampleString};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

use crate::store::{Account, ApiKeyRecord, Store, StoreError};
use crate::time::now_micros;

/// Prefix of every API key.
pub const KEY_PREFIX: &str = "idos_sk_";
/// Characters of the key shown in listings (`idos_sk_` + 4).
const DISPLAY_PREFIX_LEN: usize = 12;

/// A freshly created key: the only moment the secret exists in clear.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: String,
    pub record: ApiKeyRecord,
}

/// SHA-256 of a key: what the store keeps and looks keys up by. Keys carry
/// 190 random bits (rand's thread-local CSPRNG, seeded from the OS), so a
/// slow password hash would add nothing.
pub fn key_digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// `prefix` + 16 lowercase hex characters from rand's thread-local CSPRNG.
pub fn random_id(prefix: &str) -> String {
    let mut bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// Creates an account on a tier.
pub async fn create_account(
    store: &dyn Store,
    name: &str,
    tier: &str,
) -> Result<Account, StoreError> {
    let account = Account {
        id: random_id("acct_"),
        name: name.to_string(),
        tier: tier.to_string(),
        created_at: now_micros(),
    };
    store.create_account(&account).await?;
    Ok(account)
}

/// Creates a key for an account: `idos_sk_` + 32 base62 characters.
pub async fn create_key(store: &dyn Store, account_id: &str) -> Result<CreatedKey, StoreError> {
    if store.get_account(account_id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    let created = new_key(account_id);
    store
        .create_api_key(&created.record, &key_digest(&created.key))
        .await?;
    Ok(created)
}

/// A fresh key for the account, not yet stored.
fn new_key(account_id: &str) -> CreatedKey {
    let key = format!(
        "{KEY_PREFIX}{}",
        Alphanumeric.sample_string(&mut rand::rng(), 32)
    );
    let record = ApiKeyRecord {
        id: random_id("key_"),
        account_id: account_id.to_string(),
        prefix: key[..DISPLAY_PREFIX_LEN].to_string(),
        created_at: now_micros(),
        revoked_at: None,
        last_used_at: None,
    };
    CreatedKey { key, record }
}

/// On an empty database: creates the owner's unlimited account and its
/// first key. Returns `None` when accounts already exist (the key is never
/// shown again). Atomic in the store, so of several nodes starting together
/// on one empty database exactly one creates (and prints) a key.
pub async fn bootstrap(store: &dyn Store) -> Result<Option<(Account, CreatedKey)>, StoreError> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let account = Account {
        id: random_id("acct_"),
        name: "owner".to_string(),
        tier: "unlimited".to_string(),
        created_at: now_micros(),
    };
    let key = new_key(&account.id);
    let created = store
        .create_first_account(&account, &key.record, &key_digest(&key.key))
        .await?;
    Ok(created.then_some((account, key)))
}

/// Why a presented key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    #[error("unknown API key")]
    Unknown,
    #[error("this API key has been revoked")]
    Revoked,
}

/// Finds the account a key belongs to, and notes the key's use (see
/// [`Store::note_key_use`]).
pub async fn authenticate(
    store: &dyn Store,
    key: &str,
) -> Result<Result<Arc<Account>, KeyRejection>, StoreError> {
    if !key.starts_with(KEY_PREFIX) {
        return Ok(Err(KeyRejection::Unknown));
    }
    Ok(match store.find_api_key(&key_digest(key)).await? {
        None => Err(KeyRejection::Unknown),
        Some(found) if found.key.revoked_at.is_some() => Err(KeyRejection::Revoked),
        Some(found) => {
            store.note_key_use(&found.key.id, now_micros());
            Ok(Arc::clone(&found.account))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_digests_have_the_documented_shape() {
        let id = random_id("inst_");
        assert_eq!(id.len(), 5 + 16);
        assert!(id[5..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(random_id("inst_"), id);
        assert_eq!(key_digest("a"), key_digest("a"));
        assert_ne!(key_digest("a"), key_digest("b"));
    }
}

//! SQL for accounts and API keys.

use deadpool_postgres::GenericClient;
use std::sync::Arc;
use tokio_postgres::Row;

use super::super::{Account, ApiKeyRecord, KeyOwner, StoreError, StoreResult};
use super::columns::count;

/// Key of the advisory lock under which the first account is created, so
/// nodes starting together on an empty database create one between them.
const FIRST_ACCOUNT_LOCK: i64 = 0x1D05_0002;

const KEY_COLUMNS: &str =
    "k.id, k.account_id, k.prefix, k.created_at, k.revoked_at, k.last_used_at";
/// Columns of [`KEY_COLUMNS`]: where the account's follow in a join.
const KEY_COLUMN_COUNT: usize = 6;

fn account_from(row: &Row, at: usize) -> Account {
    Account {
        id: row.get(at),
        name: row.get(at + 1),
        tier: row.get(at + 2),
        created_at: row.get(at + 3),
    }
}

fn key_from(row: &Row) -> ApiKeyRecord {
    ApiKeyRecord {
        id: row.get(0),
        account_id: row.get(1),
        prefix: row.get(2),
        created_at: row.get(3),
        revoked_at: row.get(4),
        last_used_at: row.get(5),
    }
}

pub(crate) async fn insert_account(c: &impl GenericClient, a: &Account) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("INSERT INTO accounts (id, name, tier, created_at) VALUES ($1, $2, $3, $4)")
        .await?;
    c.execute(&stmt, &[&a.id, &a.name, &a.tier, &a.created_at])
        .await?;
    Ok(())
}

pub(crate) async fn get_account(c: &impl GenericClient, id: &str) -> StoreResult<Option<Account>> {
    let stmt = c
        .prepare_cached("SELECT id, name, tier, created_at FROM accounts WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| account_from(&r, 0)))
}

pub(crate) async fn list_accounts(c: &impl GenericClient) -> StoreResult<Vec<Account>> {
    let stmt = c
        .prepare_cached("SELECT id, name, tier, created_at FROM accounts ORDER BY created_at, id")
        .await?;
    Ok(c.query(&stmt, &[])
        .await?
        .iter()
        .map(|r| account_from(r, 0))
        .collect())
}

pub(crate) async fn count_accounts(c: &impl GenericClient) -> StoreResult<u64> {
    let stmt = c.prepare_cached("SELECT COUNT(*) FROM accounts").await?;
    Ok(count(c.query_one(&stmt, &[]).await?.get(0)))
}

pub(crate) async fn set_account_tier(
    c: &impl GenericClient,
    id: &str,
    tier: &str,
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("UPDATE accounts SET tier = $2 WHERE id = $1")
        .await?;
    if c.execute(&stmt, &[&id, &tier]).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn insert_api_key(
    c: &impl GenericClient,
    key: &ApiKeyRecord,
    digest: &[u8; 32],
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO api_keys (id, account_id, digest, prefix, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &key.id,
            &key.account_id,
            &&digest[..],
            &key.prefix,
            &key.created_at,
            &key.revoked_at,
        ],
    )
    .await?;
    Ok(())
}

/// Creates the first account and key unless an account exists; the check
/// and the inserts run under [`FIRST_ACCOUNT_LOCK`] in one transaction.
pub(crate) async fn create_first_account(
    client: &mut deadpool_postgres::Client,
    account: &Account,
    key: &ApiKeyRecord,
    digest: &[u8; 32],
) -> StoreResult<bool> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&FIRST_ACCOUNT_LOCK])
        .await?;
    if count_accounts(&tx).await? > 0 {
        return Ok(false);
    }
    insert_account(&tx, account).await?;
    insert_api_key(&tx, key, digest).await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn find_api_key(
    c: &impl GenericClient,
    digest: &[u8; 32],
) -> StoreResult<Option<KeyOwner>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS}, a.id, a.name, a.tier, a.created_at \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.digest = $1"
    );
    let stmt = c.prepare_cached(&sql).await?;
    Ok(c.query_opt(&stmt, &[&&digest[..]])
        .await?
        .map(|row| KeyOwner {
            key: key_from(&row),
            account: Arc::new(account_from(&row, KEY_COLUMN_COUNT)),
        }))
}

pub(crate) async fn list_api_keys(
    c: &impl GenericClient,
    account_id: Option<&str>,
) -> StoreResult<Vec<ApiKeyRecord>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k \
         WHERE $1::text IS NULL OR k.account_id = $1 ORDER BY k.created_at, k.id"
    );
    let stmt = c.prepare_cached(&sql).await?;
    Ok(c.query(&stmt, &[&account_id])
        .await?
        .iter()
        .map(key_from)
        .collect())
}

/// Revokes an active key of the account unless another stays active. The
/// account row is locked first, so two nodes revoking an account's last
/// two keys at once decide one after the other (each statement of a
/// read-committed transaction sees what committed before it started).
pub(crate) async fn revoke_api_key_unless_last(
    c: &impl GenericClient,
    account_id: &str,
    key_id: &str,
    at: i64,
) -> StoreResult<bool> {
    let lock = c
        .prepare_cached("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE")
        .await?;
    if c.query_opt(&lock, &[&account_id]).await?.is_none() {
        return Ok(false);
    }
    let stmt = c
        .prepare_cached(
            "UPDATE api_keys SET revoked_at = $3 \
             WHERE id = $2 AND account_id = $1 AND revoked_at IS NULL \
               AND EXISTS (SELECT 1 FROM api_keys AS other WHERE other.account_id = $1 \
                           AND other.id <> $2 AND other.revoked_at IS NULL)",
        )
        .await?;
    Ok(c.execute(&stmt, &[&account_id, &key_id, &at]).await? == 1)
}

/// Marks the key revoked. Revoking twice keeps the first revocation time.
pub(crate) async fn revoke_api_key(
    c: &impl GenericClient,
    key_id: &str,
    at: i64,
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
        .await?;
    if c.execute(&stmt, &[&key_id, &at]).await? == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Writes noted key uses as `last_used_at` in one statement, never moving
/// one back (another node may have written a later use); returns how many
/// keys changed.
pub(crate) async fn record_key_uses(
    c: &impl GenericClient,
    uses: &[(String, i64)],
) -> StoreResult<usize> {
    let (ids, ats): (Vec<&str>, Vec<i64>) = uses.iter().map(|(id, at)| (id.as_str(), *at)).unzip();
    let stmt = c
        .prepare_cached(
            "UPDATE api_keys k SET last_used_at = u.at \
             FROM unnest($1::text[], $2::bigint[]) AS u(id, at) \
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
        )
        .await?;
    let changed = c.execute(&stmt, &[&ids, &ats]).await?;
    Ok(usize::try_from(changed).unwrap_or(usize::MAX))
}

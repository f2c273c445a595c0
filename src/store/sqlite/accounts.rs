//! SQL for accounts and API keys. Plain functions over a connection; the
//! store decides which thread (writer or reader) runs them.

use super::super::{Account, ApiKeyRecord, KeyOwner, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;

fn account_from_row(row: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: row.get("id")?,
        name: row.get("name")?,
        tier: row.get("tier")?,
        created_at: row.get("created_at")?,
    })
}

fn key_from_row(row: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: row.get("key_id")?,
        account_id: row.get("key_account_id")?,
        prefix: row.get("prefix")?,
        created_at: row.get("key_created_at")?,
        revoked_at: row.get("revoked_at")?,
        last_used_at: row.get("last_used_at")?,
    })
}

const KEY_COLUMNS: &str = "k.id AS key_id, k.account_id AS key_account_id, k.prefix, \
                           k.created_at AS key_created_at, k.revoked_at, k.last_used_at";

pub(crate) fn insert_account(conn: &Connection, a: &Account) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO accounts (id, name, tier, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![a.id, a.name, a.tier, a.created_at])?;
    Ok(())
}

pub(crate) fn get_account(conn: &Connection, id: &str) -> StoreResult<Option<Account>> {
    Ok(conn
        .prepare_cached("SELECT id, name, tier, created_at FROM accounts WHERE id = ?1")?
        .query_row(params![id], account_from_row)
        .optional()?)
}

pub(crate) fn list_accounts(conn: &Connection) -> StoreResult<Vec<Account>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, tier, created_at FROM accounts ORDER BY created_at, id",
    )?;
    let rows = stmt.query_map([], account_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn count_accounts(conn: &Connection) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM accounts")?
        .query_row([], |r| r.get(0))?)
}

pub(crate) fn set_account_tier(conn: &Connection, id: &str, tier: &str) -> StoreResult<()> {
    let changed = conn
        .prepare_cached("UPDATE accounts SET tier = ?2 WHERE id = ?1")?
        .execute(params![id, tier])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) fn insert_api_key(
    conn: &Connection,
    key: &ApiKeyRecord,
    digest: &[u8; 32],
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (id, account_id, digest, prefix, created_at, revoked_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        key.id,
        key.account_id,
        &digest[..],
        key.prefix,
        key.created_at,
        key.revoked_at
    ])?;
    Ok(())
}

pub(crate) fn find_api_key(conn: &Connection, digest: &[u8; 32]) -> StoreResult<Option<KeyOwner>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS}, a.id, a.name, a.tier, a.created_at \
         FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.digest = ?1"
    );
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![&digest[..]], |row| {
            Ok(KeyOwner {
                key: key_from_row(row)?,
                account: Arc::new(account_from_row(row)?),
            })
        })
        .optional()?)
}

pub(crate) fn list_api_keys(
    conn: &Connection,
    account_id: Option<&str>,
) -> StoreResult<Vec<ApiKeyRecord>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys k \
         WHERE ?1 IS NULL OR k.account_id = ?1 ORDER BY k.created_at, k.id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![account_id], key_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Marks the key revoked. Revoking twice keeps the first revocation time.
pub(crate) fn revoke_api_key(conn: &Connection, key_id: &str, at: i64) -> StoreResult<()> {
    let changed = conn
        .prepare_cached("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1")?
        .execute(params![key_id, at])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// Revokes an active key of the account unless another stays active; on
/// the single writer connection, so two revocations cannot both pass.
pub(crate) fn revoke_api_key_unless_last(
    conn: &Connection,
    account_id: &str,
    key_id: &str,
    at: i64,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(REVOKE_UNLESS_LAST)?
        .execute(params![account_id, key_id, at])?;
    Ok(changed == 1)
}

/// `?1` account, `?2` key, `?3` time (the PostgreSQL backend's is the same
/// statement after it locks the account row).
const REVOKE_UNLESS_LAST: &str = "UPDATE api_keys SET revoked_at = ?3 \
     WHERE id = ?2 AND account_id = ?1 AND revoked_at IS NULL \
       AND EXISTS (SELECT 1 FROM api_keys AS other WHERE other.account_id = ?1 \
                   AND other.id <> ?2 AND other.revoked_at IS NULL)";

/// Writes noted key uses as `last_used_at`, never moving one back; returns
/// how many keys changed (a deleted key is skipped).
pub(crate) fn record_key_uses(conn: &Connection, uses: &[(String, i64)]) -> StoreResult<usize> {
    let mut stmt = conn.prepare_cached(
        "UPDATE api_keys SET last_used_at = ?2 \
         WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
    )?;
    let mut changed = 0;
    for (key_id, at) in uses {
        changed += stmt.execute(params![key_id, at])?;
    }
    Ok(changed)
}

//! SQL for the responses recorded under an `Idempotency-Key`.

use rusqlite::{params, Connection, OptionalExtension};

use super::super::{IdempotencyRecord, StoreError, StoreResult};

/// Records `r` in the open transaction. A key already recorded (a
/// concurrent request with the same key won, on another node) is
/// `IdempotencyKeyUsed`, never `Conflict`: by then the change's own rows
/// are written, and the group writer takes `Conflict` to mean nothing was,
/// so it must roll this write back instead.
pub(crate) fn insert(conn: &Connection, r: &IdempotencyRecord) -> StoreResult<()> {
    let headers = serde_json::to_string(&r.headers).map_err(|source| StoreError::Codec {
        what: "cannot encode recorded headers",
        source,
    })?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, status, headers, body, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
        )?
        .execute(params![
            r.account_id,
            r.key,
            r.request_hash,
            r.status,
            headers,
            r.body,
            r.created_at
        ])?;
    if inserted == 0 {
        return Err(StoreError::IdempotencyKeyUsed);
    }
    Ok(())
}

pub(crate) fn find(
    conn: &Connection,
    account_id: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let row = conn
        .prepare_cached(
            "SELECT request_hash, status, headers, body, created_at FROM idempotency_keys \
             WHERE account_id = ?1 AND key = ?2",
        )?
        .query_row(params![account_id, key], |row| {
            Ok((
                row.get::<_, [u8; 32]>(0)?,
                row.get::<_, u16>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, Vec<u8>>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((request_hash, status, headers, body, created_at)) = row else {
        return Ok(None);
    };
    let headers = serde_json::from_str(&headers).map_err(|source| StoreError::Codec {
        what: "corrupt headers in idempotency_keys",
        source,
    })?;
    Ok(Some(IdempotencyRecord {
        account_id: account_id.to_owned(),
        key: key.to_owned(),
        request_hash,
        status,
        headers,
        body,
        created_at,
    }))
}

pub(crate) fn expire(conn: &Connection, before: i64) -> StoreResult<u64> {
    let removed = conn
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < ?1")?
        .execute(params![before])?;
    Ok(removed as u64)
}

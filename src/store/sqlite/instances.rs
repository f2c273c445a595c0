//! SQL for instance rows: create (with the per-account limit), load, list,
//! the versioned write with its appended rows, and delete.

use super::super::{
    InstanceRecord, InstanceSort, InstanceSummary, InstanceWrite, Page, SortOrder, StoreError,
    StoreResult,
};
use super::history;
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension, Row};

const COLUMNS: &str = "id, account_id, name, description, created_at, updated_at, version, \
                       state, initial_state, last_observation_at, cycle_count, \
                       energy_level, stress_level, stability_index";

fn from_row(row: &Row<'_>) -> rusqlite::Result<InstanceRecord> {
    Ok(InstanceRecord {
        id: row.get(0)?,
        account_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        version: row.get(6)?,
        state: encoded_state(row, 7)?,
        initial_state: encoded_state(row, 8)?,
        last_observation_at: row.get(9)?,
        summary: InstanceSummary {
            cycle_count: row.get(10)?,
            energy_level: row.get(11)?,
            stress_level: row.get(12)?,
            stability_index: row.get(13)?,
        },
    })
}

/// An encoded state column: a BLOB, or the JSON text of rows written
/// before the binary format (the actor layer's decoder reads both).
fn encoded_state(row: &Row<'_>, index: usize) -> rusqlite::Result<Vec<u8>> {
    match row.get_ref(index)? {
        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => Ok(bytes.to_vec()),
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            "state".into(),
            other.data_type(),
        )),
    }
}

/// SQLite takes signed 64-bit limits; anything larger means "no limit".
pub(crate) fn sql_limit(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn count_instances(conn: &Connection, account_id: &str) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM instances WHERE account_id = ?1")?
        .query_row(params![account_id], |r| r.get(0))?)
}

/// Inserts the row unless the account already holds `max_instances`; runs in
/// the writer, so the count and the insert are one atomic step.
pub(crate) fn insert_instance(
    conn: &Connection,
    r: &InstanceRecord,
    max_instances: Option<u64>,
) -> StoreResult<()> {
    if let Some(limit) = max_instances {
        if count_instances(conn, &r.account_id)? >= limit {
            return Err(StoreError::LimitReached { limit });
        }
    }
    let sql = format!(
        "INSERT INTO instances ({COLUMNS}) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
    );
    conn.prepare_cached(&sql)?.execute(params![
        r.id,
        r.account_id,
        r.name,
        r.description,
        r.created_at,
        r.updated_at,
        r.version,
        r.state,
        r.initial_state,
        r.last_observation_at,
        r.summary.cycle_count,
        r.summary.energy_level,
        r.summary.stress_level,
        r.summary.stability_index,
    ])?;
    Ok(())
}

pub(crate) fn load_instance(conn: &Connection, id: &str) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM instances WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![id], from_row)
        .optional()?)
}

/// The account owning the instance: one lookup of the primary key.
pub(crate) fn instance_owner(conn: &Connection, id: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT account_id FROM instances WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?)
}

pub(crate) fn list_instances(
    conn: &Connection,
    account_id: &str,
    sort: InstanceSort,
    order: SortOrder,
    limit: u64,
    offset: u64,
) -> StoreResult<Page<InstanceRecord>> {
    // Only these fixed fragments ever reach the SQL text.
    let key = match sort {
        InstanceSort::CreatedAt => "created_at",
        InstanceSort::Name => "name",
    };
    let dir = match order {
        SortOrder::Asc => "ASC",
        SortOrder::Desc => "DESC",
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM instances WHERE account_id = ?1 \
         ORDER BY {key} {dir}, id {dir} LIMIT ?2 OFFSET ?3"
    );
    // One read transaction: the page and its total come from one snapshot.
    let tx = conn.unchecked_transaction()?;
    let items = {
        let mut stmt = tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(
            params![account_id, sql_limit(limit), sql_limit(offset)],
            from_row,
        )?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    let total = count_instances(&tx, account_id)?;
    tx.commit()?;
    Ok(Page { items, total })
}

/// The optimistic-locked update plus everything appended with it and its
/// usage. Run in a savepoint, so a failure anywhere leaves nothing behind.
pub(crate) fn write_instance(conn: &Connection, w: &InstanceWrite) -> StoreResult<()> {
    write_instance_rows(conn, w)?;
    if let Some(u) = &w.usage {
        add_usage(conn, &u.account_id, &u.month, u.cycles)?;
    }
    Ok(())
}

/// The optimistic-locked update plus the rows appended with it (not the
/// usage). `Conflict` and `NotFound` are decided by the UPDATE itself, so
/// when they are returned nothing has been written: the group writer
/// relies on that to run these writes without a savepoint each.
pub(crate) fn write_instance_rows(conn: &Connection, w: &InstanceWrite) -> StoreResult<()> {
    let r = &w.instance;
    // Observations (the hot path) change neither the metadata nor the
    // initial state: the narrower statement leaves those columns, and the
    // name index, alone.
    let changed = if w.meta_changed || w.initial_changed {
        conn.prepare_cached(
            "UPDATE instances SET name = ?3, description = ?4, updated_at = ?5, version = ?6, \
             state = ?7, initial_state = COALESCE(?8, initial_state), \
             last_observation_at = ?9, \
             cycle_count = ?10, energy_level = ?11, stress_level = ?12, stability_index = ?13 \
             WHERE id = ?1 AND version = ?2",
        )?
        .execute(params![
            r.id,
            w.expected_version,
            r.name,
            r.description,
            r.updated_at,
            r.version,
            r.state,
            w.initial_changed.then_some(&r.initial_state),
            r.last_observation_at,
            r.summary.cycle_count,
            r.summary.energy_level,
            r.summary.stress_level,
            r.summary.stability_index,
        ])?
    } else {
        conn.prepare_cached(
            "UPDATE instances SET updated_at = ?3, version = ?4, state = ?5, \
             last_observation_at = ?6, \
             cycle_count = ?7, energy_level = ?8, stress_level = ?9, stability_index = ?10 \
             WHERE id = ?1 AND version = ?2",
        )?
        .execute(params![
            r.id,
            w.expected_version,
            r.updated_at,
            r.version,
            r.state,
            r.last_observation_at,
            r.summary.cycle_count,
            r.summary.energy_level,
            r.summary.stress_level,
            r.summary.stability_index,
        ])?
    };
    if changed == 0 {
        return Err(missing_or_conflict(conn, &r.id)?);
    }
    history::append(conn, &r.id, w)?;
    match &w.idempotency {
        Some(record) => super::idempotency::insert(conn, record),
        None => Ok(()),
    }
}

/// Why a versioned UPDATE matched no row: the instance is gone, or its
/// version moved on.
fn missing_or_conflict(conn: &Connection, id: &str) -> StoreResult<StoreError> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM instances WHERE id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some();
    Ok(if exists {
        StoreError::Conflict
    } else {
        StoreError::NotFound
    })
}

/// Adds `cycles` to an account's monthly ledger.
pub(crate) fn add_usage(
    conn: &Connection,
    account_id: &str,
    month: &str,
    cycles: u64,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO usage (account_id, month, cycles) VALUES (?1, ?2, ?3) \
         ON CONFLICT(account_id, month) DO UPDATE SET cycles = cycles + excluded.cycles",
    )?
    .execute(params![account_id, month, cycles])?;
    Ok(())
}

/// Removes the instance and every row that refers to it.
pub(crate) fn delete_instance(conn: &Connection, id: &str) -> StoreResult<()> {
    for sql in [
        "DELETE FROM observations WHERE instance_id = ?1",
        "DELETE FROM drift_events WHERE instance_id = ?1",
        "DELETE FROM instance_events WHERE instance_id = ?1",
    ] {
        conn.prepare_cached(sql)?.execute(params![id])?;
    }
    let changed = conn
        .prepare_cached("DELETE FROM instances WHERE id = ?1")?
        .execute(params![id])?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

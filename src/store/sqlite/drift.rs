//! SQL for an instance's drift events.
//!
//! The table is clustered by `(instance_id, level, id)` (schema version 4):
//! recording an event writes one b-tree, where a table with an index by id
//! and one by level wrote three. An event's `id` is the row id of the
//! observation that caused it, so events sort like their observations:
//! "newest first" is `id DESC`. A level filter reads one range of the key
//! in order; the listing of all levels merges the instance's per-level
//! ranges in id order, a merge SQLite runs itself for a `UNION ALL` with
//! `ORDER BY` when every branch is already sorted.

use super::super::{DriftRow, Page, StoreError, StoreResult};
use super::instances::sql_limit;
use crate::engine::DriftLevel;
use crate::store::page_budget::{PageBudget, DRIFT_JSON_BYTES};
use rusqlite::types::Value;
use rusqlite::{
    params, params_from_iter, Connection, OptionalExtension, ParamsFromIter, Transaction,
};

/// The columns a listing reads, in [`drift_row`]'s order.
const COLUMNS: &str = "cycle_number, level, magnitude, affected_modes, rolled_back, timestamp";

/// Inserts the drift events of one write. `observation_ids` holds the
/// `(cycle_number, row id)` of each observation the same write inserted;
/// every event belongs to one of them.
pub(crate) fn insert(
    conn: &Connection,
    instance_id: &str,
    events: &[DriftRow],
    observation_ids: &[(u64, i64)],
) -> StoreResult<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO drift_events (instance_id, level, id, cycle_number, magnitude, \
         affected_modes, rolled_back, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for event in events {
        let id = observation_ids
            .iter()
            .find(|(cycle, _)| *cycle == event.cycle_number)
            .map(|(_, id)| *id)
            .ok_or_else(|| {
                StoreError::Failed(format!(
                    "drift event of cycle {} has no observation in the same write",
                    event.cycle_number
                ))
            })?;
        let modes =
            serde_json::to_string(&event.affected_modes).map_err(|source| StoreError::Codec {
                what: "cannot encode affected modes",
                source,
            })?;
        stmt.execute(params![
            instance_id,
            event.level,
            id,
            event.cycle_number,
            event.magnitude,
            modes,
            event.rolled_back,
            event.timestamp,
        ])?;
    }
    Ok(())
}

/// One page of an instance's drift events, newest first, optionally of one
/// level only, with the total they come from: at most `limit` items, and
/// no more than fit in `max_bytes` (history.rs, `PageBudget`).
pub(crate) fn list(
    conn: &Connection,
    instance_id: &str,
    level: Option<DriftLevel>,
    limit: u64,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Page<DriftRow>> {
    // One read transaction: the page and its total come from one snapshot.
    let tx = conn.unchecked_transaction()?;
    let levels = match level {
        Some(level) => vec![level],
        None => levels_of(&tx, instance_id)?,
    };
    let items = if levels.is_empty() {
        Vec::new()
    } else {
        page_of(&tx, instance_id, &levels, limit, offset, max_bytes)?
    };
    let total = match level {
        Some(level) => tx
            .prepare_cached(
                "SELECT COUNT(*) FROM drift_events WHERE instance_id = ?1 AND level = ?2",
            )?
            .query_row(params![instance_id, level], |r| r.get(0))?,
        None => tx
            .prepare_cached("SELECT COUNT(*) FROM drift_events WHERE instance_id = ?1")?
            .query_row(params![instance_id], |r| r.get(0))?,
    };
    tx.commit()?;
    Ok(Page { items, total })
}

/// The levels an instance has events of, each found with one seek of the
/// key (a handful at most: the engine's drift levels).
fn levels_of(tx: &Transaction<'_>, instance_id: &str) -> StoreResult<Vec<DriftLevel>> {
    let mut next = tx.prepare_cached(
        "SELECT level FROM drift_events WHERE instance_id = ?1 AND level > ?2 \
         ORDER BY level LIMIT 1",
    )?;
    let mut levels: Vec<DriftLevel> = Vec::new();
    loop {
        let after = levels.last().map_or("", |l| l.as_str());
        match next
            .query_row(params![instance_id, after], |r| r.get(0))
            .optional()?
        {
            Some(level) => levels.push(level),
            None => return Ok(levels),
        }
    }
}

/// The page of the events of `levels`, merged newest first, stopping at
/// the first event that does not fit in `max_bytes`.
fn page_of(
    tx: &Transaction<'_>,
    instance_id: &str,
    levels: &[DriftLevel],
    limit: u64,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Vec<DriftRow>> {
    let mut stmt = tx.prepare_cached(&listing_sql(levels.len()))?;
    let mut rows = stmt.query(listing_params(instance_id, levels, limit, offset))?;
    let mut items = Vec::new();
    let mut budget = PageBudget::new(max_bytes);
    while let Some(row) = rows.next()? {
        let (item, modes_bytes) = drift_row(row)?;
        if !budget.take(DRIFT_JSON_BYTES + modes_bytes) {
            break;
        }
        items.push(item);
    }
    Ok(items)
}

/// The listing of `levels` levels merged newest first: `?1` is the
/// instance, `?2`.. the levels, then the limit and the offset.
fn listing_sql(levels: usize) -> String {
    let branches: Vec<String> = (0..levels)
        .map(|i| {
            format!(
                "SELECT id, {COLUMNS} FROM drift_events WHERE instance_id = ?1 AND level = ?{}",
                i + 2
            )
        })
        .collect();
    format!(
        "{} ORDER BY id DESC LIMIT ?{} OFFSET ?{}",
        branches.join(" UNION ALL "),
        levels + 2,
        levels + 3
    )
}

/// The parameters of [`listing_sql`], in its order.
fn listing_params(
    instance_id: &str,
    levels: &[DriftLevel],
    limit: u64,
    offset: u64,
) -> ParamsFromIter<Vec<Value>> {
    let mut values = Vec::with_capacity(levels.len() + 3);
    values.push(Value::Text(instance_id.to_string()));
    values.extend(levels.iter().map(|l| Value::Text(l.as_str().to_owned())));
    values.push(Value::Integer(sql_limit(limit)));
    values.push(Value::Integer(sql_limit(offset)));
    params_from_iter(values)
}

/// A listed row (the id in column 0, then [`COLUMNS`]) and the length of
/// its stored affected modes.
fn drift_row(row: &rusqlite::Row<'_>) -> StoreResult<(DriftRow, usize)> {
    let modes: String = row.get(4)?;
    let affected_modes = serde_json::from_str(&modes).map_err(|source| StoreError::Codec {
        what: "corrupt affected_modes in drift_events",
        source,
    })?;
    let row = DriftRow {
        cycle_number: row.get(1)?,
        level: row.get(2)?,
        magnitude: row.get(3)?,
        affected_modes,
        rolled_back: row.get(5)?,
        timestamp: row.get(6)?,
    };
    Ok((row, modes.len()))
}

/// The query plan of a listing of `levels` levels, for the test that keeps
/// it free of sorting (`USE TEMP B-TREE`): a sort would read every event of
/// the instance for every page.
#[cfg(test)]
pub(crate) fn listing_plans(conn: &Connection, levels: usize) -> StoreResult<String> {
    let names = &DriftLevel::ALL[..levels];
    let sql = format!("EXPLAIN QUERY PLAN {}", listing_sql(levels));
    let mut stmt = conn.prepare(&sql)?;
    let plan = stmt
        .query_map(listing_params("i", names, 10, 0), |r| r.get::<_, String>(3))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plan.join("\n"))
}

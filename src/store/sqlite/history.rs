//! SQL for an instance's append-only rows (observations, drift events,
//! audit events) and the monthly usage ledger.
//!
//! Rows are keyed by an `INTEGER PRIMARY KEY` that only grows, so "newest
//! first" is `ORDER BY id DESC` (cycle numbers restart after a reset).

use super::super::{DriftRow, InstanceWrite, ObservationRow, Page, StoreError, StoreResult};
use super::instances::sql_limit;
use rusqlite::{params, Connection, OptionalExtension};

/// Inserts the observations, drift and audit rows of one write.
pub(crate) fn append(conn: &Connection, instance_id: &str, w: &InstanceWrite) -> StoreResult<()> {
    if !w.observations.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO observations (instance_id, cycle_number, mode_target, signal_strength, \
             confidence, context_json, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for o in &w.observations {
            stmt.execute(params![
                instance_id,
                o.cycle_number,
                o.mode_target,
                o.signal_strength,
                o.confidence,
                o.context_json,
                o.timestamp,
            ])?;
        }
    }
    if !w.drift_events.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO drift_events (instance_id, cycle_number, level, magnitude, \
             affected_modes, rolled_back, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for d in &w.drift_events {
            let modes = serde_json::to_string(&d.affected_modes)
                .map_err(|e| StoreError::Database(format!("cannot encode affected modes: {e}")))?;
            stmt.execute(params![
                instance_id,
                d.cycle_number,
                d.level,
                d.magnitude,
                modes,
                d.rolled_back,
                d.timestamp,
            ])?;
        }
    }
    if !w.events.is_empty() {
        let mut stmt = conn.prepare_cached(
            "INSERT INTO instance_events (instance_id, kind, detail_json, timestamp) \
             VALUES (?1, ?2, ?3, ?4)",
        )?;
        for e in &w.events {
            stmt.execute(params![instance_id, e.kind, e.detail_json, e.timestamp])?;
        }
    }
    Ok(())
}

pub(crate) fn history(
    conn: &Connection,
    instance_id: &str,
    limit: u64,
    offset: u64,
) -> StoreResult<Page<ObservationRow>> {
    // One read transaction: the page and its total come from one snapshot.
    let tx = conn.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(
        "SELECT cycle_number, mode_target, signal_strength, confidence, context_json, timestamp \
         FROM observations WHERE instance_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let rows = stmt.query_map(
        params![instance_id, sql_limit(limit), sql_limit(offset)],
        |row| {
            Ok(ObservationRow {
                cycle_number: row.get(0)?,
                mode_target: row.get(1)?,
                signal_strength: row.get(2)?,
                confidence: row.get(3)?,
                context_json: row.get(4)?,
                timestamp: row.get(5)?,
            })
        },
    )?;
    let items = rows.collect::<Result<Vec<_>, _>>()?;
    drop(stmt);
    let total = tx
        .prepare_cached("SELECT COUNT(*) FROM observations WHERE instance_id = ?1")?
        .query_row(params![instance_id], |r| r.get(0))?;
    tx.commit()?;
    Ok(Page { items, total })
}

pub(crate) fn drift_events(
    conn: &Connection,
    instance_id: &str,
    level: Option<&str>,
    limit: u64,
    offset: u64,
) -> StoreResult<Page<DriftRow>> {
    // Two statement shapes so each can use its own index.
    let filter = if level.is_some() {
        "instance_id = ?1 AND level = ?2"
    } else {
        "instance_id = ?1 AND ?2 IS NULL"
    };
    let sql = format!(
        "SELECT cycle_number, level, magnitude, affected_modes, rolled_back, timestamp \
         FROM drift_events WHERE {filter} ORDER BY id DESC LIMIT ?3 OFFSET ?4"
    );
    let tx = conn.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![
        instance_id,
        level,
        sql_limit(limit),
        sql_limit(offset)
    ])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        let modes: String = row.get(3)?;
        let affected_modes = serde_json::from_str(&modes).map_err(|e| {
            StoreError::Database(format!("corrupt affected_modes in drift_events: {e}"))
        })?;
        items.push(DriftRow {
            cycle_number: row.get(0)?,
            level: row.get(1)?,
            magnitude: row.get(2)?,
            affected_modes,
            rolled_back: row.get(4)?,
            timestamp: row.get(5)?,
        });
    }
    drop(rows);
    drop(stmt);
    let count_sql = format!("SELECT COUNT(*) FROM drift_events WHERE {filter}");
    let total = tx
        .prepare_cached(&count_sql)?
        .query_row(params![instance_id, level], |r| r.get(0))?;
    tx.commit()?;
    Ok(Page { items, total })
}

pub(crate) fn usage(conn: &Connection, account_id: &str, month: &str) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("SELECT cycles FROM usage WHERE account_id = ?1 AND month = ?2")?
        .query_row(params![account_id, month], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

//! SQL for an instance's append-only rows (observations, audit events; the
//! drift events are in drift.rs) and the monthly usage ledger.
//!
//! Rows are keyed by an `INTEGER PRIMARY KEY` that grows with every row an
//! instance gets, so "newest first" is `ORDER BY id DESC` (cycle numbers
//! restart after a reset).

use super::super::{InstanceWrite, ObservationRow, Page, StoreResult};
use super::drift;
use super::instances::sql_limit;
use rusqlite::{params, Connection, OptionalExtension};

/// Inserts the observations, drift and audit rows of one write.
pub(crate) fn append(conn: &Connection, instance_id: &str, w: &InstanceWrite) -> StoreResult<()> {
    // Each drift event takes the id of its observation (drift.rs); most
    // writes have none, and then no ids are kept.
    let keep_ids = !w.drift_events.is_empty();
    let mut observation_ids = Vec::new();
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
            if keep_ids {
                observation_ids.push((o.cycle_number, conn.last_insert_rowid()));
            }
        }
    }
    if keep_ids {
        drift::insert(conn, instance_id, &w.drift_events, &observation_ids)?;
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

pub(crate) fn usage(conn: &Connection, account_id: &str, month: &str) -> StoreResult<u64> {
    Ok(conn
        .prepare_cached("SELECT cycles FROM usage WHERE account_id = ?1 AND month = ?2")?
        .query_row(params![account_id, month], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

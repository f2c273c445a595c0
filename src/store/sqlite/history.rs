//! SQL for an instance's append-only rows (observations, audit events; the
//! drift events are in drift.rs) and the monthly usage ledger.
//!
//! Rows are keyed by an `INTEGER PRIMARY KEY` that grows with every row an
//! instance gets, so "newest first" is `ORDER BY id DESC` (cycle numbers
//! restart after a reset).

use super::super::{InstanceWrite, ObservationRow, Page, StoreResult, TrajectoryRow};
use super::cycle_point::PointColumn;
use super::drift;
use super::instances::sql_limit;
use crate::store::page_budget::{PageBudget, OBSERVATION_JSON_BYTES};
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
             confidence, context_json, timestamp, point) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
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
                PointColumn(o.point),
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

/// One page of an instance's observations, newest first, with the total
/// they come from: at most `limit` items, and no more than fit in
/// `max_bytes` (see [`PageBudget`]).
pub(crate) fn history(
    conn: &Connection,
    instance_id: &str,
    limit: u64,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Page<ObservationRow>> {
    // One read transaction: the page and its total come from one snapshot.
    let tx = conn.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(
        "SELECT cycle_number, mode_target, signal_strength, confidence, context_json, timestamp \
         FROM observations WHERE instance_id = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let mut rows = stmt.query(params![instance_id, sql_limit(limit), sql_limit(offset)])?;
    let mut items = Vec::new();
    let mut budget = PageBudget::new(max_bytes);
    // Stepping stops at the first row that does not fit: the rest of the
    // `limit` is never read.
    while let Some(row) = rows.next()? {
        let item = ObservationRow {
            cycle_number: row.get(0)?,
            mode_target: row.get(1)?,
            signal_strength: row.get(2)?,
            confidence: row.get(3)?,
            context_json: row.get(4)?,
            timestamp: row.get(5)?,
            point: None,
        };
        if !budget.take(OBSERVATION_JSON_BYTES + item.context_json.len()) {
            break;
        }
        items.push(item);
    }
    drop(rows);
    drop(stmt);
    let total = tx
        .prepare_cached("SELECT COUNT(*) FROM observations WHERE instance_id = ?1")?
        .query_row(params![instance_id], |r| r.get(0))?;
    tx.commit()?;
    Ok(Page { items, total })
}

/// One page of an instance's trajectory, newest first, with the total
/// (both of the observations that have a point).
pub(crate) fn trajectory(
    conn: &Connection,
    instance_id: &str,
    limit: u64,
    offset: u64,
) -> StoreResult<Page<TrajectoryRow>> {
    let tx = conn.unchecked_transaction()?;
    let mut stmt = tx.prepare_cached(
        "SELECT cycle_number, timestamp, point FROM observations \
         WHERE instance_id = ?1 AND point IS NOT NULL ORDER BY id DESC LIMIT ?2 OFFSET ?3",
    )?;
    let mut rows = stmt.query(params![instance_id, sql_limit(limit), sql_limit(offset)])?;
    let mut items = Vec::new();
    while let Some(row) = rows.next()? {
        let PointColumn(point) = row.get(2)?;
        if let Some(point) = point {
            items.push(TrajectoryRow {
                cycle_number: row.get(0)?,
                timestamp: row.get(1)?,
                point,
            });
        }
    }
    drop(rows);
    drop(stmt);
    let total = tx
        .prepare_cached(
            "SELECT COUNT(*) FROM observations WHERE instance_id = ?1 AND point IS NOT NULL",
        )?
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

#[cfg(test)]
mod tests {
    use super::super::super::DriftRow;
    use super::super::drift;
    use super::super::schema;
    use super::*;
    use crate::engine::{DriftLevel, Mode};
    use crate::http::wire::{DriftBody, ObservationBody};
    use crate::store::page_budget::DRIFT_JSON_BYTES;

    /// A migrated in-memory database (foreign keys off: rows without their
    /// instance are enough here).
    fn database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        schema::migrate(&mut conn).unwrap();
        conn.pragma_update(None, "foreign_keys", false).unwrap();
        conn
    }

    /// Observations 1..=n of "i", observation k with a context of k * 100
    /// bytes, and a drift event for each.
    fn fill(conn: &Connection, n: u64) {
        for k in 1..=n {
            let context = format!("{{\"k\":\"{}\"}}", "x".repeat(k as usize * 100 - 8));
            conn.execute(
                "INSERT INTO observations (instance_id, cycle_number, mode_target, \
                 signal_strength, confidence, context_json, timestamp) \
                 VALUES ('i', ?1, 'order', 0.5, 1.0, ?2, ?1)",
                params![k, context],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO drift_events (instance_id, level, id, cycle_number, magnitude, \
                 affected_modes, rolled_back, timestamp) \
                 VALUES ('i', 'D1_context', ?1, ?1, 0.3, '[\"order\",\"identity\"]', 0, ?1)",
                params![k],
            )
            .unwrap();
        }
    }

    #[test]
    fn the_budget_always_takes_the_first_item_and_stops_at_the_first_misfit() {
        let mut budget = PageBudget::new(100);
        assert!(budget.take(500), "the first item, however large");
        assert!(!budget.take(1));
        let mut budget = PageBudget::new(100);
        assert!(budget.take(60));
        assert!(budget.take(40), "exactly full");
        assert!(!budget.take(1));
    }

    #[test]
    fn a_history_page_stops_before_the_item_that_does_not_fit() {
        let conn = database();
        fill(&conn, 10);
        // Newest first: contexts of 1000, 900, 800, ... bytes.
        let each = |k: usize| OBSERVATION_JSON_BYTES + k * 100;
        let page = history(&conn, "i", 50, 0, each(10) + each(9)).unwrap();
        let cycles: Vec<u64> = page.items.iter().map(|o| o.cycle_number).collect();
        assert_eq!((cycles, page.total), (vec![10, 9], 10));
        let page = history(&conn, "i", 50, 0, each(10) + each(9) - 1).unwrap();
        assert_eq!(page.items.len(), 1);
        let page = history(&conn, "i", 50, 0, 1).unwrap();
        assert_eq!(page.items.len(), 1, "at least one item");
        let page = history(&conn, "i", 3, 0, usize::MAX).unwrap();
        assert_eq!(page.items.len(), 3, "the item limit still applies");
        // Paging by what was received walks every item once.
        let (mut offset, mut seen) = (0u64, Vec::new());
        loop {
            let page = history(&conn, "i", 50, offset, 2500).unwrap();
            offset += page.items.len() as u64;
            seen.extend(page.items.iter().map(|o| o.cycle_number));
            if offset >= page.total {
                break;
            }
        }
        assert_eq!(seen, (1..=10).rev().collect::<Vec<_>>());
    }

    #[test]
    fn a_drift_page_is_bounded_the_same_way() {
        let conn = database();
        fill(&conn, 10);
        let each = DRIFT_JSON_BYTES + r#"["order","identity"]"#.len();
        for level in [None, Some(DriftLevel::D1Context)] {
            let page = drift::list(&conn, "i", level, 20, 0, 3 * each).unwrap();
            let cycles: Vec<u64> = page.items.iter().map(|d| d.cycle_number).collect();
            assert_eq!((cycles, page.total), (vec![10, 9, 8], 10));
            let page = drift::list(&conn, "i", level, 20, 8, 1).unwrap();
            assert_eq!(page.items.len(), 1, "at least one item");
        }
    }

    #[test]
    fn the_estimates_bound_the_served_json() {
        // Every field at its widest; the served item plus its comma must fit.
        let context = serde_json::json!({"a": "é\"\\\n", "b": [1.0e-300, 12345.678901234567]});
        let row = ObservationRow {
            cycle_number: u64::MAX,
            mode_target: Mode::StressResponse,
            signal_strength: 0.123_456_789_012_345_67,
            confidence: 2.225_073_858_507_201_4e-308,
            context_json: context.to_string(),
            timestamp: 253_402_300_799_999_999,
            point: None,
        };
        let estimate = OBSERVATION_JSON_BYTES + row.context_json.len();
        let served = serde_json::to_string(&ObservationBody::from(row)).unwrap();
        assert!(
            served.len() < estimate,
            "{} ≥ {estimate}: {served}",
            served.len()
        );

        let modes = vec![Mode::StressResponse, Mode::Exploration, Mode::Connection];
        let row = DriftRow {
            cycle_number: u64::MAX,
            level: DriftLevel::D2Adaptive,
            magnitude: 2.225_073_858_507_201_4e-308,
            affected_modes: modes.clone(),
            rolled_back: false,
            timestamp: 253_402_300_799_999_999,
        };
        let estimate = DRIFT_JSON_BYTES + serde_json::to_string(&modes).unwrap().len();
        let served = serde_json::to_string(&DriftBody::from(row)).unwrap();
        assert!(
            served.len() < estimate,
            "{} ≥ {estimate}: {served}",
            served.len()
        );
    }
}

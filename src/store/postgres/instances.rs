//! SQL for instance rows: create (with the per-account limit), load, list,
//! delete, and the careful versioned write (one transaction per change) that
//! the group writer falls back to.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::{
    IdempotencyRecord, InstanceRecord, InstanceSort, InstanceSummary, InstanceWrite, Page,
    SortOrder, StoreError, StoreResult,
};
use super::columns::{big, count, stress_level};
use super::rows;

const COLUMNS: &str = "id, account_id, name, description, created_at, updated_at, version, \
                       state, initial_state, last_observation_at, cycle_count, \
                       energy_level, stress_level, stability_index";

fn from_row(row: &Row) -> StoreResult<InstanceRecord> {
    from_row_at(row, 0)
}

pub(crate) async fn count_instances(c: &impl GenericClient, account_id: &str) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached("SELECT instance_count FROM accounts WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&account_id])
        .await?
        .map_or(0, |r| count(r.get(0))))
}

/// Inserts the row unless the account already holds `max_instances`. The
/// account row is locked first, so concurrent creates (on any node) count
/// and insert one after the other.
pub(crate) async fn insert_instance(
    client: &mut deadpool_postgres::Client,
    r: &InstanceRecord,
    max_instances: Option<u64>,
    idempotency: Option<&IdempotencyRecord>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached("SELECT instance_count FROM accounts WHERE id = $1 FOR UPDATE")
        .await?;
    let held = match tx.query_opt(&stmt, &[&r.account_id]).await? {
        Some(row) => count(row.get(0)),
        None => return Err(StoreError::NotFound),
    };
    if let Some(limit) = max_instances {
        if held >= limit {
            return Err(StoreError::LimitReached { limit });
        }
    }
    let sql = format!(
        "INSERT INTO instances ({COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    );
    let stmt = tx.prepare_cached(&sql).await?;
    tx.execute(
        &stmt,
        &[
            &r.id,
            &r.account_id,
            &r.name,
            &r.description,
            &r.created_at,
            &r.updated_at,
            &r.version,
            &r.state,
            &r.initial_state,
            &r.last_observation_at,
            &big(r.summary.cycle_count),
            &r.summary.energy_level,
            &r.summary.stress_level.as_str(),
            &r.summary.stability_index,
        ],
    )
    .await?;
    let stmt = tx
        .prepare_cached("UPDATE accounts SET instance_count = instance_count + 1 WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&r.account_id]).await?;
    if let Some(record) = idempotency {
        rows::insert_idempotency(&tx, record).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn load_instance(
    c: &impl GenericClient,
    id: &str,
) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM instances WHERE id = $1");
    let stmt = c.prepare_cached(&sql).await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|row| from_row(&row))
        .transpose()
}

pub(crate) async fn instance_owner(
    c: &impl GenericClient,
    id: &str,
) -> StoreResult<Option<String>> {
    let stmt = c
        .prepare_cached("SELECT account_id FROM instances WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
}

pub(crate) async fn instance_version(c: &impl GenericClient, id: &str) -> StoreResult<Option<i64>> {
    let stmt = c
        .prepare_cached("SELECT version FROM instances WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&id]).await?.map(|r| r.get(0)))
}

/// One page and the account's stored instance count, in one statement (one
/// snapshot).
pub(crate) async fn list_instances(
    c: &impl GenericClient,
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
        "SELECT a.instance_count, i.* FROM accounts a LEFT JOIN LATERAL ( \
           SELECT {COLUMNS} FROM instances WHERE account_id = a.id \
           ORDER BY {key} {dir}, id {dir} LIMIT $2 OFFSET $3) i ON true \
         WHERE a.id = $1"
    );
    let stmt = c.prepare_cached(&sql).await?;
    let found = c
        .query(&stmt, &[&account_id, &big(limit), &big(offset)])
        .await?;
    let total = found.first().map_or(0, |r| count(r.get(0)));
    let mut items = Vec::with_capacity(found.len());
    for row in &found {
        if row.get::<_, Option<String>>(1).is_none() {
            continue;
        }
        items.push(from_row_at(row, 1)?);
    }
    Ok(Page { items, total })
}

/// [`from_row`] for a row whose instance columns start at `at`.
fn from_row_at(row: &Row, at: usize) -> StoreResult<InstanceRecord> {
    Ok(InstanceRecord {
        id: row.get(at),
        account_id: row.get(at + 1),
        name: row.get(at + 2),
        description: row.get(at + 3),
        created_at: row.get(at + 4),
        updated_at: row.get(at + 5),
        version: row.get(at + 6),
        state: row.get(at + 7),
        initial_state: row.get(at + 8),
        last_observation_at: row.get(at + 9),
        summary: InstanceSummary {
            cycle_count: count(row.get(at + 10)),
            energy_level: row.get(at + 11),
            stress_level: stress_level(row.get(at + 12))?,
            stability_index: row.get(at + 13),
        },
    })
}

/// One change in its own transaction: the versioned UPDATE (every column
/// the change may touch), the appended rows, usage and the idempotency
/// record. `Conflict` / `NotFound` when the UPDATE matches no row.
pub(crate) async fn write_instance(
    client: &mut deadpool_postgres::Client,
    w: &InstanceWrite,
) -> StoreResult<()> {
    let r = &w.instance;
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached(
            "UPDATE instances SET name = CASE WHEN $3 THEN $4 ELSE name END, \
               description = CASE WHEN $3 THEN $5 ELSE description END, \
               updated_at = $6, version = $7, state = $8, \
               initial_state = COALESCE($9, initial_state), last_observation_at = $10, \
               cycle_count = $11, energy_level = $12, stress_level = $13, \
               stability_index = $14, history_count = history_count + $15, \
               drift_count = drift_count + $16 \
             WHERE id = $1 AND version = $2 \
             RETURNING history_count - $15",
        )
        .await?;
    let observations = big(w.observations.len() as u64);
    let drift = big(w.drift_events.len() as u64);
    let initial = w.initial_changed.then_some(&r.initial_state);
    let updated = tx
        .query_opt(
            &stmt,
            &[
                &r.id,
                &w.expected_version,
                &w.meta_changed,
                &r.name,
                &r.description,
                &r.updated_at,
                &r.version,
                &r.state,
                &initial,
                &r.last_observation_at,
                &big(r.summary.cycle_count),
                &r.summary.energy_level,
                &r.summary.stress_level.as_str(),
                &r.summary.stability_index,
                &observations,
                &drift,
            ],
        )
        .await?;
    let Some(updated) = updated else {
        return Err(missing_or_conflict(&tx, &r.id).await?);
    };
    let base: i64 = updated.get(0);
    rows::append(&tx, &r.id, base, w).await?;
    if let Some(u) = &w.usage {
        rows::add_usage(&tx, &u.account_id, &u.month, u.cycles).await?;
    }
    if let Some(record) = &w.idempotency {
        rows::insert_idempotency(&tx, record).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Why a versioned UPDATE matched no row: the instance is gone, or its
/// version moved on.
pub(crate) async fn missing_or_conflict(
    c: &impl GenericClient,
    id: &str,
) -> StoreResult<StoreError> {
    let stmt = c
        .prepare_cached("SELECT 1 FROM instances WHERE id = $1")
        .await?;
    Ok(match c.query_opt(&stmt, &[&id]).await? {
        Some(_) => StoreError::Conflict,
        None => StoreError::NotFound,
    })
}

/// Removes the instance and every row that refers to it, and counts it out
/// of its account.
pub(crate) async fn delete_instance(
    client: &mut deadpool_postgres::Client,
    id: &str,
    idempotency: Option<&IdempotencyRecord>,
) -> StoreResult<()> {
    let tx = client.transaction().await?;
    let stmt = tx
        .prepare_cached("DELETE FROM instances WHERE id = $1 RETURNING account_id")
        .await?;
    let Some(row) = tx.query_opt(&stmt, &[&id]).await? else {
        return Err(StoreError::NotFound);
    };
    let account_id: String = row.get(0);
    for sql in [
        "DELETE FROM observations WHERE instance_id = $1",
        "DELETE FROM drift_events WHERE instance_id = $1",
        "DELETE FROM instance_events WHERE instance_id = $1",
    ] {
        let stmt = tx.prepare_cached(sql).await?;
        tx.execute(&stmt, &[&id]).await?;
    }
    let stmt = tx
        .prepare_cached("UPDATE accounts SET instance_count = instance_count - 1 WHERE id = $1")
        .await?;
    tx.execute(&stmt, &[&account_id]).await?;
    if let Some(record) = idempotency {
        rows::insert_idempotency(&tx, record).await?;
    }
    tx.commit().await?;
    Ok(())
}

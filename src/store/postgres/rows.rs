//! SQL for an instance's appended rows (observations, drift and audit
//! events), the usage ledger, the idempotency records, and the pages that
//! read them back.
//!
//! A page reads its total from the instance row and its items from the
//! index range below it in one statement, so both come from one snapshot.

use deadpool_postgres::GenericClient;

use super::super::page_budget::{PageBudget, DRIFT_JSON_BYTES, OBSERVATION_JSON_BYTES};
use super::super::sqlite::cycle_point;
use super::super::{
    DriftRow, IdempotencyRecord, InstanceWrite, ObservationRow, Page, StoreError, StoreResult,
    TrajectoryRow,
};
use super::columns::{big, count, drift_level, mode};
use crate::engine::DriftLevel;

/// The observations, drift and audit rows of one write; `base` is the
/// instance's history length before it (its observations get `base + 1`..).
pub(crate) async fn append(
    c: &impl GenericClient,
    instance_id: &str,
    base: i64,
    w: &InstanceWrite,
) -> StoreResult<()> {
    if !w.observations.is_empty() {
        let o = ObservationColumns::of(std::iter::repeat_n(instance_id, w.observations.len()), w)?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO observations (instance_id, seq, cycle_number, mode_target, \
                   signal_strength, confidence, context_json, timestamp, point) \
                 SELECT instance_id, $9 + ord, cycle_number, mode_target, signal_strength, \
                   confidence, context_json, ts, point \
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], \
                   $5::float8[], $6::float8[], $7::text[], $8::bigint[], $10::bytea[]) \
                   AS x(instance_id, ord, cycle_number, mode_target, signal_strength, \
                        confidence, context_json, ts, point)",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &o.instance,
                &o.ord,
                &o.cycle,
                &o.mode,
                &o.strength,
                &o.confidence,
                &o.context,
                &o.timestamp,
                &base,
                &o.point,
            ],
        )
        .await?;
    }
    if !w.drift_events.is_empty() {
        let d = DriftColumns::of(std::iter::repeat_n(instance_id, w.drift_events.len()), w)?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO drift_events (instance_id, seq, level, cycle_number, magnitude, \
                   affected_modes, rolled_back, timestamp) \
                 SELECT instance_id, $9 + ord, level, cycle_number, magnitude, \
                   affected_modes, rolled_back, ts \
                 FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], \
                   $5::float8[], $6::text[], $7::bool[], $8::bigint[]) \
                   AS x(instance_id, ord, level, cycle_number, magnitude, affected_modes, \
                        rolled_back, ts)",
            )
            .await?;
        c.execute(
            &stmt,
            &[
                &d.instance,
                &d.ord,
                &d.level,
                &d.cycle,
                &d.magnitude,
                &d.modes,
                &d.rolled_back,
                &d.timestamp,
                &base,
            ],
        )
        .await?;
    }
    for e in &w.events {
        let stmt = c
            .prepare_cached(
                "INSERT INTO instance_events (instance_id, kind, detail_json, timestamp) \
                 VALUES ($1, $2, $3, $4)",
            )
            .await?;
        c.execute(
            &stmt,
            &[&instance_id, &e.kind.as_str(), &e.detail_json, &e.timestamp],
        )
        .await?;
    }
    Ok(())
}

/// Observations of several writes as column arrays for `unnest`: `ord` is
/// each observation's place (from 1) in its own write.
#[derive(Default)]
pub(crate) struct ObservationColumns<'a> {
    pub instance: Vec<&'a str>,
    pub ord: Vec<i64>,
    pub cycle: Vec<i64>,
    pub mode: Vec<&'static str>,
    pub strength: Vec<f64>,
    pub confidence: Vec<f64>,
    pub context: Vec<&'a str>,
    pub timestamp: Vec<i64>,
    pub point: Vec<Option<Vec<u8>>>,
}

impl<'a> ObservationColumns<'a> {
    fn of(ids: impl Iterator<Item = &'a str>, w: &'a InstanceWrite) -> StoreResult<Self> {
        let mut columns = Self::default();
        columns.push(ids, w);
        Ok(columns)
    }

    /// Adds the observations of `w` (`ids` yields its instance id for each).
    pub(crate) fn push(&mut self, mut ids: impl Iterator<Item = &'a str>, w: &'a InstanceWrite) {
        for (i, o) in w.observations.iter().enumerate() {
            self.instance.push(ids.next().unwrap_or(&w.instance.id));
            self.ord.push(i as i64 + 1);
            self.cycle.push(big(o.cycle_number));
            self.mode.push(o.mode_target.as_str());
            self.strength.push(o.signal_strength);
            self.confidence.push(o.confidence);
            self.context.push(&o.context_json);
            self.timestamp.push(o.timestamp);
            self.point.push(o.point.as_ref().map(cycle_point::encode));
        }
    }
}

/// Drift events of several writes as column arrays: `ord` is the place of
/// the event's observation in its write.
#[derive(Default)]
pub(crate) struct DriftColumns<'a> {
    pub instance: Vec<&'a str>,
    pub ord: Vec<i64>,
    pub level: Vec<&'static str>,
    pub cycle: Vec<i64>,
    pub magnitude: Vec<f64>,
    pub modes: Vec<String>,
    pub rolled_back: Vec<bool>,
    pub timestamp: Vec<i64>,
}

impl<'a> DriftColumns<'a> {
    fn of(ids: impl Iterator<Item = &'a str>, w: &'a InstanceWrite) -> StoreResult<Self> {
        let mut columns = Self::default();
        columns.push(ids, w)?;
        Ok(columns)
    }

    pub(crate) fn push(
        &mut self,
        mut ids: impl Iterator<Item = &'a str>,
        w: &'a InstanceWrite,
    ) -> StoreResult<()> {
        for event in &w.drift_events {
            let ord = w
                .observations
                .iter()
                .position(|o| o.cycle_number == event.cycle_number)
                .ok_or_else(|| {
                    StoreError::Failed(format!(
                        "drift event of cycle {} has no observation in the same write",
                        event.cycle_number
                    ))
                })?;
            let modes = serde_json::to_string(&event.affected_modes).map_err(|source| {
                StoreError::Codec {
                    what: "cannot encode affected modes",
                    source,
                }
            })?;
            self.instance.push(ids.next().unwrap_or(&w.instance.id));
            self.ord.push(ord as i64 + 1);
            self.level.push(event.level.as_str());
            self.cycle.push(big(event.cycle_number));
            self.magnitude.push(event.magnitude);
            self.modes.push(modes);
            self.rolled_back.push(event.rolled_back);
            self.timestamp.push(event.timestamp);
        }
        Ok(())
    }
}

/// Adds `cycles` to an account's monthly ledger.
pub(crate) async fn add_usage(
    c: &impl GenericClient,
    account_id: &str,
    month: &str,
    cycles: u64,
) -> StoreResult<()> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO usage (account_id, month, cycles) VALUES ($1, $2, $3) \
             ON CONFLICT (account_id, month) DO UPDATE SET cycles = usage.cycles + excluded.cycles",
        )
        .await?;
    c.execute(&stmt, &[&account_id, &month, &big(cycles)])
        .await?;
    Ok(())
}

pub(crate) async fn usage(
    c: &impl GenericClient,
    account_id: &str,
    month: &str,
) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached("SELECT cycles FROM usage WHERE account_id = $1 AND month = $2")
        .await?;
    Ok(c.query_opt(&stmt, &[&account_id, &month])
        .await?
        .map_or(0, |r| count(r.get(0))))
}

/// Records `r` in the open transaction; a key already recorded (a
/// concurrent request with the same key won) is `IdempotencyKeyUsed`, and
/// the caller's transaction is dropped, rolling its change back.
pub(crate) async fn insert_idempotency(
    c: &impl GenericClient,
    r: &IdempotencyRecord,
) -> StoreResult<()> {
    let headers = serde_json::to_string(&r.headers).map_err(|source| StoreError::Codec {
        what: "cannot encode recorded headers",
        source,
    })?;
    let stmt = c
        .prepare_cached(
            "INSERT INTO idempotency_keys (account_id, key, request_hash, status, headers, body, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .await?;
    let inserted = c
        .execute(
            &stmt,
            &[
                &r.account_id,
                &r.key,
                &&r.request_hash[..],
                &i32::from(r.status),
                &headers,
                &r.body,
                &r.created_at,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::IdempotencyKeyUsed);
    }
    Ok(())
}

pub(crate) async fn find_idempotency(
    c: &impl GenericClient,
    account_id: &str,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    let stmt = c
        .prepare_cached(
            "SELECT request_hash, status, headers, body, created_at FROM idempotency_keys \
             WHERE account_id = $1 AND key = $2",
        )
        .await?;
    let Some(row) = c.query_opt(&stmt, &[&account_id, &key]).await? else {
        return Ok(None);
    };
    let hash: Vec<u8> = row.get(0);
    let request_hash = <[u8; 32]>::try_from(hash.as_slice())
        .map_err(|_| StoreError::Failed("corrupt request hash in idempotency_keys".into()))?;
    let headers: String = row.get(2);
    let headers = serde_json::from_str(&headers).map_err(|source| StoreError::Codec {
        what: "corrupt headers in idempotency_keys",
        source,
    })?;
    Ok(Some(IdempotencyRecord {
        account_id: account_id.to_owned(),
        key: key.to_owned(),
        request_hash,
        status: u16::try_from(row.get::<_, i32>(1)).unwrap_or(500),
        headers,
        body: row.get(3),
        created_at: row.get(4),
    }))
}

pub(crate) async fn expire_idempotency(c: &impl GenericClient, before: i64) -> StoreResult<u64> {
    let stmt = c
        .prepare_cached("DELETE FROM idempotency_keys WHERE created_at < $1")
        .await?;
    Ok(c.execute(&stmt, &[&before]).await?)
}

/// Observations newest first: the instance's stored history length and the
/// range `seq <= total - offset` of its primary key.
pub(crate) async fn history(
    c: &impl GenericClient,
    instance_id: &str,
    limit: u64,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Page<ObservationRow>> {
    let stmt = c
        .prepare_cached(
            "SELECT i.history_count, o.cycle_number, o.mode_target, o.signal_strength, \
               o.confidence, o.context_json, o.timestamp \
             FROM instances i LEFT JOIN LATERAL ( \
               SELECT * FROM observations WHERE instance_id = i.id \
                 AND seq <= i.history_count - $2 ORDER BY seq DESC LIMIT $3) o ON true \
             WHERE i.id = $1",
        )
        .await?;
    let rows = c
        .query(&stmt, &[&instance_id, &big(offset), &big(limit)])
        .await?;
    let total = rows.first().map_or(0, |r| count(r.get(0)));
    let mut items = Vec::with_capacity(rows.len());
    let mut budget = PageBudget::new(max_bytes);
    for row in &rows {
        let Some(cycle) = row.get::<_, Option<i64>>(1) else {
            continue;
        };
        let item = ObservationRow {
            cycle_number: count(cycle),
            mode_target: mode(row.get(2))?,
            signal_strength: row.get(3),
            confidence: row.get(4),
            context_json: row.get(5),
            timestamp: row.get(6),
            point: None,
        };
        if !budget.take(OBSERVATION_JSON_BYTES + item.context_json.len()) {
            break;
        }
        items.push(item);
    }
    Ok(Page { items, total })
}

/// The trajectory newest first: every observation of this backend carries
/// its point, so the total is the stored history length.
pub(crate) async fn trajectory(
    c: &impl GenericClient,
    instance_id: &str,
    limit: u64,
    offset: u64,
) -> StoreResult<Page<TrajectoryRow>> {
    let stmt = c
        .prepare_cached(
            "SELECT i.history_count, o.cycle_number, o.timestamp, o.point \
             FROM instances i LEFT JOIN LATERAL ( \
               SELECT * FROM observations WHERE instance_id = i.id \
                 AND seq <= i.history_count - $2 ORDER BY seq DESC LIMIT $3) o ON true \
             WHERE i.id = $1",
        )
        .await?;
    let rows = c
        .query(&stmt, &[&instance_id, &big(offset), &big(limit)])
        .await?;
    let total = rows.first().map_or(0, |r| count(r.get(0)));
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let Some(cycle) = row.get::<_, Option<i64>>(1) else {
            continue;
        };
        let point: Option<Vec<u8>> = row.get(3);
        if let Some(point) = point.as_deref().and_then(cycle_point::decode) {
            items.push(TrajectoryRow {
                cycle_number: count(cycle),
                timestamp: row.get(2),
                point,
            });
        }
    }
    Ok(Page { items, total })
}

/// Drift events newest first, optionally of one level. The total of all
/// levels is the stored `drift_count`; of one level, a count on its index.
pub(crate) async fn drift_events(
    c: &impl GenericClient,
    instance_id: &str,
    level: Option<DriftLevel>,
    limit: u64,
    offset: u64,
    max_bytes: usize,
) -> StoreResult<Page<DriftRow>> {
    let stmt = c
        .prepare_cached(
            "SELECT CASE WHEN $2::text IS NULL THEN i.drift_count ELSE \
               (SELECT COUNT(*) FROM drift_events WHERE instance_id = i.id AND level = $2) END, \
               d.cycle_number, d.level, d.magnitude, d.affected_modes, d.rolled_back, d.timestamp \
             FROM instances i LEFT JOIN LATERAL ( \
               SELECT * FROM drift_events WHERE instance_id = i.id \
                 AND ($2::text IS NULL OR level = $2) \
               ORDER BY seq DESC LIMIT $3 OFFSET $4) d ON true \
             WHERE i.id = $1",
        )
        .await?;
    let level = level.map(DriftLevel::as_str);
    let rows = c
        .query(&stmt, &[&instance_id, &level, &big(limit), &big(offset)])
        .await?;
    let total = rows.first().map_or(0, |r| count(r.get(0)));
    let mut items = Vec::with_capacity(rows.len());
    let mut budget = PageBudget::new(max_bytes);
    for row in &rows {
        let Some(cycle) = row.get::<_, Option<i64>>(1) else {
            continue;
        };
        let modes: String = row.get(4);
        if !budget.take(DRIFT_JSON_BYTES + modes.len()) {
            break;
        }
        let affected_modes = serde_json::from_str(&modes).map_err(|source| StoreError::Codec {
            what: "corrupt affected modes in drift_events",
            source,
        })?;
        items.push(DriftRow {
            cycle_number: count(cycle),
            level: drift_level(row.get(2))?,
            magnitude: row.get(3),
            affected_modes,
            rolled_back: row.get(5),
            timestamp: row.get(6),
        });
    }
    Ok(Page { items, total })
}

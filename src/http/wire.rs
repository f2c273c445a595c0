//! Response bodies exactly as docs/api.md and the Python SDK expect them.
//!
//! The engine's views carry the behavioural fields; these types add what
//! only the server knows (ids, versions, timestamps).

use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::actors::{InstanceMeta, InstanceView, ProcessOutcome, StepView};
use crate::engine::{
    DriftLevel, DriftReading, Engine, EngineState, ExecutionContract, Mode, Profile, SnapshotView,
    StressLevel,
};
use crate::store::{DriftRow, InstanceRecord, Micros, ObservationRow};
use crate::time::format_timestamp;

/// Schema version of snapshots and contracts.
pub const SCHEMA_VERSION: &str = "1.0";

/// An instance (create, get, list, patch).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Instance)]
pub struct InstanceBody {
    /// `inst_` + 16 lowercase hex digits.
    #[schema(pattern = "^inst_[0-9a-f]{16}$")]
    pub id: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    pub description: String,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Completed engine cycles.
    pub cycle_count: u64,
    /// Energy in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub energy_level: f64,
    /// `LOW`, `MED`, `HIGH` or `OVER`.
    pub stress_level: StressLevel,
    /// Stability in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub stability_index: f64,
    /// Optimistic-lock version (also the `ETag`).
    #[schema(minimum = 1)]
    pub version: i64,
}

impl InstanceBody {
    /// From a live actor's view.
    pub fn from_view(view: &InstanceView) -> Self {
        let meta = &view.meta;
        InstanceBody {
            id: meta.id.clone(),
            name: meta.name.clone(),
            description: meta.description.clone(),
            created_at: format_timestamp(meta.created_at),
            updated_at: format_timestamp(meta.updated_at),
            cycle_count: view.state.cycle(),
            energy_level: view.state.energy(),
            stress_level: view.state.stress_level(),
            stability_index: view.state.stability(),
            version: meta.version,
        }
    }

    /// From a stored row (listings read the summary columns).
    pub fn from_record(record: &InstanceRecord) -> Self {
        InstanceBody {
            id: record.id.clone(),
            name: record.name.clone(),
            description: record.description.clone(),
            created_at: format_timestamp(record.created_at),
            updated_at: format_timestamp(record.updated_at),
            cycle_count: record.summary.cycle_count,
            energy_level: record.summary.energy_level,
            stress_level: record.summary.stress_level,
            stability_index: record.summary.stability_index,
            version: record.version,
        }
    }
}

/// A snapshot: the engine's view plus identity and time.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Snapshot)]
pub struct SnapshotBody {
    /// Always `1.0`.
    #[schema(value_type = String, example = "1.0")]
    pub schema_version: &'static str,
    /// The instance.
    #[schema(pattern = "^inst_[0-9a-f]{16}$")]
    pub instance_id: String,
    /// Stable id of this state: `snap_` + 16 hex digits.
    #[schema(pattern = "^snap_[0-9a-f]{16}$")]
    pub snapshot_id: String,
    /// The engine's view of the state.
    #[serde(flatten)]
    pub view: SnapshotView,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The instance version this state belongs to.
    #[schema(minimum = 1)]
    pub version: i64,
}

/// A stable id for one state of one instance: the same state at the same
/// version always has the same snapshot id.
fn snapshot_id(instance_id: &str, version: i64, cycle: u64) -> String {
    let digest = Sha256::digest(format!("{instance_id}:{version}:{cycle}").as_bytes());
    format!("snap_{}", hex::encode(&digest[..8]))
}

impl SnapshotBody {
    /// The snapshot of `state` at `meta.version`, stamped `at`.
    pub fn new(engine: &Engine, meta: &InstanceMeta, state: &EngineState, at: Micros) -> Self {
        SnapshotBody {
            schema_version: SCHEMA_VERSION,
            instance_id: meta.id.clone(),
            snapshot_id: snapshot_id(&meta.id, meta.version, state.cycle()),
            view: engine.snapshot(state),
            timestamp: format_timestamp(at),
            version: meta.version,
        }
    }
}

/// An execution contract with the instance id.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Contract)]
pub struct ContractBody {
    /// Always `1.0`.
    #[schema(value_type = String, example = "1.0")]
    pub schema_version: &'static str,
    /// The instance.
    #[schema(pattern = "^inst_[0-9a-f]{16}$")]
    pub instance_id: String,
    /// The engine's contract.
    #[serde(flatten)]
    pub contract: ExecutionContract,
}

impl ContractBody {
    /// The contract of `state` under `profile`.
    pub fn new(engine: &Engine, instance_id: &str, state: &EngineState, profile: &Profile) -> Self {
        ContractBody {
            schema_version: SCHEMA_VERSION,
            instance_id: instance_id.to_string(),
            contract: engine.contract(state, profile),
        }
    }
}

/// A drift reading: of the cycle a `process` call produced, or one event
/// of the drift log.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Drift)]
pub struct DriftBody {
    /// The cycle of the reading.
    pub cycle_number: u64,
    /// Its drift level.
    pub level: DriftLevel,
    /// How far the modes moved from their anchor.
    pub magnitude: f64,
    /// The modes that moved most.
    pub affected_modes: Vec<Mode>,
    /// Whether the state was rolled back to the last stable point (D3).
    pub rolled_back: bool,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub timestamp: String,
}

impl DriftBody {
    fn new(drift: &DriftReading, cycle_number: u64, at: Micros) -> Self {
        DriftBody {
            cycle_number,
            level: drift.level,
            magnitude: drift.magnitude,
            affected_modes: drift.affected_modes.clone(),
            rolled_back: drift.rolled_back,
            timestamp: format_timestamp(at),
        }
    }
}

impl From<DriftRow> for DriftBody {
    fn from(row: DriftRow) -> Self {
        DriftBody {
            cycle_number: row.cycle_number,
            level: row.level,
            magnitude: row.magnitude,
            affected_modes: row.affected_modes,
            rolled_back: row.rolled_back,
            timestamp: format_timestamp(row.timestamp),
        }
    }
}

/// One ProcessResult.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProcessResult)]
pub struct ProcessResultBody {
    /// The state after the observation.
    pub snapshot: SnapshotBody,
    /// The contract for that state.
    pub contract: ContractBody,
    /// The drift reading; `null` during the warm-up (first 20 cycles).
    #[schema(required = true)]
    pub drift: Option<DriftBody>,
}

impl ProcessResultBody {
    fn new(engine: &Engine, outcome: &ProcessOutcome, step: &StepView) -> Self {
        ProcessResultBody {
            snapshot: SnapshotBody::new(engine, &outcome.meta, &step.state, step.timestamp),
            contract: ContractBody::new(engine, &outcome.meta.id, &step.state, &outcome.profile),
            drift: step
                .drift
                .as_ref()
                .map(|d| DriftBody::new(d, step.state.cycle(), step.timestamp)),
        }
    }

    /// One result per step the outcome kept.
    pub fn all(engine: &Engine, outcome: &ProcessOutcome) -> Vec<Self> {
        outcome
            .steps
            .iter()
            .map(|step| Self::new(engine, outcome, step))
            .collect()
    }
}

/// A page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageBody<T: Serialize> {
    /// The instance whose log this is (history and drift pages only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, pattern = "^inst_[0-9a-f]{16}$")]
    pub instance_id: Option<String>,
    /// This page.
    pub items: Vec<T>,
    /// All items there are.
    pub total: u64,
    /// The page size asked for.
    #[schema(minimum = 1)]
    pub limit: u64,
    /// Items skipped.
    pub offset: u64,
    /// Whether more items follow this page.
    pub has_more: bool,
}

impl<T: Serialize> PageBody<T> {
    /// Builds the page and its `has_more` flag.
    pub fn new(
        instance_id: Option<String>,
        items: Vec<T>,
        total: u64,
        limit: u64,
        offset: u64,
    ) -> Self {
        let has_more = offset.saturating_add(items.len() as u64) < total;
        PageBody {
            instance_id,
            items,
            total,
            limit,
            offset,
            has_more,
        }
    }
}

/// One history item.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = HistoryItem)]
pub struct ObservationBody {
    /// The cycle this observation produced.
    pub cycle_number: u64,
    /// The targeted mode.
    pub mode_target: Mode,
    /// Signal strength in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub signal_strength: f64,
    /// Confidence in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub confidence: f64,
    /// The caller's metadata, as sent.
    #[schema(value_type = Object)]
    pub context: serde_json::Value,
    /// Effective time of the observation, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub timestamp: String,
}

impl From<ObservationRow> for ObservationBody {
    fn from(row: ObservationRow) -> Self {
        ObservationBody {
            cycle_number: row.cycle_number,
            mode_target: row.mode_target,
            signal_strength: row.signal_strength,
            confidence: row.confidence,
            context: serde_json::from_str(&row.context_json)
                .unwrap_or_else(|_| serde_json::json!({})),
            timestamp: format_timestamp(row.timestamp),
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;

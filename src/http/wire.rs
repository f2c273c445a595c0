//! Response bodies exactly as API.md and the Python SDK expect them.
//!
//! The engine's views carry the behavioural fields; these types add what
//! only the server knows (ids, versions, timestamps).

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::actors::{InstanceMeta, InstanceView, ProcessOutcome, StepView};
use crate::engine::{
    DriftReading, Engine, EngineState, ExecutionContract, Mode, Profile, SnapshotView,
};
use crate::store::{DriftRow, InstanceRecord, Micros, ObservationRow};
use crate::time::format_timestamp;

/// Schema version of snapshots and contracts.
pub const SCHEMA_VERSION: &str = "1.0";

/// An instance (create, get, list, patch).
#[derive(Debug, Serialize)]
pub struct InstanceBody {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub cycle_count: u64,
    pub energy_level: f64,
    pub stress_level: String,
    pub stability_index: f64,
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
            stress_level: view.state.stress_level().as_str().to_string(),
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
            stress_level: record.summary.stress_level.clone(),
            stability_index: record.summary.stability_index,
            version: record.version,
        }
    }
}

/// A snapshot: the engine's view plus identity and time.
#[derive(Debug, Serialize)]
pub struct SnapshotBody {
    pub schema_version: &'static str,
    pub instance_id: String,
    pub snapshot_id: String,
    #[serde(flatten)]
    pub view: SnapshotView,
    pub timestamp: String,
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
#[derive(Debug, Serialize)]
pub struct ContractBody {
    pub schema_version: &'static str,
    pub instance_id: String,
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

/// The drift reading of one processed observation.
#[derive(Debug, Serialize)]
pub struct DriftBody {
    pub level: &'static str,
    pub magnitude: f64,
    pub affected_modes: Vec<Mode>,
    pub rolled_back: bool,
    pub timestamp: String,
}

impl DriftBody {
    fn new(drift: &DriftReading, at: Micros) -> Self {
        DriftBody {
            level: drift.level.as_str(),
            magnitude: drift.magnitude,
            affected_modes: drift.affected_modes.clone(),
            rolled_back: drift.rolled_back,
            timestamp: format_timestamp(at),
        }
    }
}

/// One ProcessResult.
#[derive(Debug, Serialize)]
pub struct ProcessResultBody {
    pub snapshot: SnapshotBody,
    pub contract: ContractBody,
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
                .map(|d| DriftBody::new(d, step.timestamp)),
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
#[derive(Debug, Serialize)]
pub struct PageBody<T: Serialize> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u64,
    pub offset: u64,
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
#[derive(Debug, Serialize)]
pub struct ObservationBody {
    pub cycle_number: u64,
    pub mode_target: String,
    pub signal_strength: f64,
    pub confidence: f64,
    pub context: serde_json::Value,
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

/// One drift-log item.
#[derive(Debug, Serialize)]
pub struct DriftEventBody {
    pub cycle_number: u64,
    pub level: String,
    pub magnitude: f64,
    pub affected_modes: Vec<String>,
    pub rolled_back: bool,
    pub timestamp: String,
}

impl From<DriftRow> for DriftEventBody {
    fn from(row: DriftRow) -> Self {
        DriftEventBody {
            cycle_number: row.cycle_number,
            level: row.level,
            magnitude: row.magnitude,
            affected_modes: row.affected_modes,
            rolled_back: row.rolled_back,
            timestamp: format_timestamp(row.timestamp),
        }
    }
}

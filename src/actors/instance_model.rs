//! What an instance actor owns, and the transitions it applies.
//!
//! Every transition is computed first as a [`PlannedChange`] (new model +
//! the rows to append), handed to the store, and only adopted once the store
//! has committed it. So a failed commit leaves the actor exactly as it was.

use std::sync::Arc;

use crate::engine::{DriftReading, Engine, EngineState, Observation, Profile, MODE_COUNT};
use crate::store::{
    DriftRow, InstanceEvent, InstanceEventKind, InstanceRecord, InstanceSummary, InstanceWrite,
    Micros, ObservationRow, UsageIncrement,
};
use crate::time::month_of;

use super::{state_codec, InstanceError};

/// Instance metadata as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMeta {
    pub id: String,
    pub name: String,
    pub description: String,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub version: i64,
}

/// One validated observation with its caller time (if any) and context.
#[derive(Debug, Clone)]
pub struct TimedObservation {
    pub observation: Observation,
    pub timestamp: Option<Micros>,
    /// The caller's `context` object, serialised.
    pub context_json: String,
}

/// The state after one cycle, for building a ProcessResult.
#[derive(Debug, Clone)]
pub struct StepView {
    pub state: EngineState,
    pub drift: Option<DriftReading>,
    pub timestamp: Micros,
}

/// Which state `reset` restores (docs/api.md "reset"): the wire's `mode`,
/// and the `mode` recorded in the reset's audit event.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResetMode {
    /// The state the instance was created with (or last set by a personality test).
    #[default]
    Initial,
    /// Neutral defaults (all modes 0, energy 0.8, profile kept).
    Default,
    /// The last state the drift detector considered stable.
    LastStable,
}

/// The longest `Retry-After` a throttled observation is told. Caller
/// timestamps can put an instance's clock far ahead of the server's; the
/// honest wait could then be years, which a client honouring the header
/// would sleep through. The message says how to get out (timestamps after
/// the instance's clock, or a reset).
pub const MAX_RETRY_AFTER_SECS: u64 = 60;

/// Energy of a state reset to neutral defaults.
const DEFAULT_ENERGY: f64 = 0.8;

/// The owned state of one instance actor.
#[derive(Debug, Clone)]
pub struct InstanceModel {
    pub meta: InstanceMeta,
    pub account_id: String,
    pub profile: Arc<Profile>,
    pub state: EngineState,
    pub initial: EngineState,
    pub last_observation_at: Option<Micros>,
}

/// A change computed but not yet committed.
#[derive(Debug)]
pub struct PlannedChange {
    pub model: InstanceModel,
    pub write: InstanceWrite,
}

impl InstanceModel {
    /// A brand-new instance (not yet stored).
    pub fn new(
        meta: InstanceMeta,
        account_id: String,
        profile: Profile,
        initial: EngineState,
    ) -> Self {
        InstanceModel {
            meta,
            account_id,
            profile: Arc::new(profile),
            state: initial.clone(),
            initial,
            last_observation_at: None,
        }
    }

    /// Decodes a stored row.
    pub fn from_record(record: InstanceRecord) -> Result<Self, InstanceError> {
        let persisted = state_codec::decode_state(&record.state)?;
        let initial = state_codec::decode_initial(&record.initial_state)?;
        Ok(InstanceModel {
            meta: InstanceMeta {
                id: record.id,
                name: record.name,
                description: record.description,
                created_at: record.created_at,
                updated_at: record.updated_at,
                version: record.version,
            },
            account_id: record.account_id,
            profile: Arc::new(persisted.profile),
            state: persisted.state,
            initial,
            last_observation_at: record.last_observation_at,
        })
    }

    /// Encodes the model as a row.
    pub fn to_record(&self) -> Result<InstanceRecord, InstanceError> {
        self.encode_record(true)
    }

    /// Encodes the model as a row; the initial state only if `with_initial`
    /// (otherwise that field is left empty).
    fn encode_record(&self, with_initial: bool) -> Result<InstanceRecord, InstanceError> {
        let initial_state = if with_initial {
            state_codec::encode_initial(&self.initial)?
        } else {
            Vec::new()
        };
        Ok(InstanceRecord {
            id: self.meta.id.clone(),
            account_id: self.account_id.clone(),
            name: self.meta.name.clone(),
            description: self.meta.description.clone(),
            created_at: self.meta.created_at,
            updated_at: self.meta.updated_at,
            version: self.meta.version,
            state: state_codec::encode_state(&self.profile, &self.state)?,
            initial_state,
            last_observation_at: self.last_observation_at,
            summary: InstanceSummary {
                cycle_count: self.state.cycle(),
                energy_level: self.state.energy(),
                stress_level: self.state.stress_level(),
                stability_index: self.state.stability(),
            },
        })
    }

    /// The read-only view of this model.
    pub fn view(&self) -> super::InstanceView {
        super::InstanceView {
            meta: self.meta.clone(),
            profile: self.profile.clone(),
            state: self.state.clone(),
        }
    }

    /// The next version of this model, touched at `now`.
    fn successor(&self, now: Micros) -> InstanceModel {
        let mut next = self.clone();
        next.meta.version += 1;
        next.meta.updated_at = now;
        next
    }

    fn plan(&self, model: InstanceModel) -> Result<PlannedChange, InstanceError> {
        let initial_changed = model.initial != self.initial;
        let write = InstanceWrite {
            initial_changed,
            meta_changed: model.meta.name != self.meta.name
                || model.meta.description != self.meta.description,
            instance: model.encode_record(initial_changed)?,
            expected_version: self.meta.version,
            observations: Vec::new(),
            drift_events: Vec::new(),
            events: Vec::new(),
            usage: None,
            idempotency: None,
        };
        Ok(PlannedChange { model, write })
    }

    /// Refuses a request whose `If-Match` names another version.
    pub fn check_version(&self, if_match: Option<i64>) -> Result<(), InstanceError> {
        match if_match {
            Some(expected) if expected != self.meta.version => {
                Err(InstanceError::VersionMismatch {
                    current: self.meta.version,
                })
            }
            _ => Ok(()),
        }
    }

    /// Renames / redescribes the instance.
    pub fn plan_update(
        &self,
        name: Option<String>,
        description: Option<String>,
        now: Micros,
    ) -> Result<PlannedChange, InstanceError> {
        let mut next = self.successor(now);
        if let Some(name) = name {
            next.meta.name = name;
        }
        if let Some(description) = description {
            next.meta.description = description;
        }
        self.plan(next)
    }

    /// Steps the engine through a batch of observations.
    ///
    /// The throttle (docs/api.md "Throttling") applies to the batch as a whole:
    /// its effective time is the first observation's timestamp, or `now`.
    /// Returns the planned change and the per-cycle views (all of them, or
    /// only the last unless `keep_intermediate`).
    pub fn plan_process(
        &self,
        engine: &Engine,
        observations: &[TimedObservation],
        now: Micros,
        min_interval: Micros,
        keep_intermediate: bool,
    ) -> Result<(PlannedChange, Vec<StepView>), InstanceError> {
        let effective = observations
            .first()
            .and_then(|o| o.timestamp)
            .unwrap_or(now);
        if let Some(last) = self.last_observation_at {
            if effective.saturating_sub(last) < min_interval {
                let wait_micros = last.saturating_add(min_interval).saturating_sub(now).max(0);
                let retry_after_secs = (wait_micros as u64)
                    .div_ceil(1_000_000)
                    .clamp(1, MAX_RETRY_AFTER_SECS);
                metrics::counter!("identity_os_limiter_rejections_total", "reason" => "throttled")
                    .increment(1);
                return Err(InstanceError::Throttled { retry_after_secs });
            }
        }
        let mut next = self.successor(now);
        let mut rows = Vec::with_capacity(observations.len());
        let mut drift_rows = Vec::new();
        let mut views = Vec::with_capacity(if keep_intermediate {
            observations.len()
        } else {
            1
        });
        let mut latest = effective;
        for (i, timed) in observations.iter().enumerate() {
            let at = timed.timestamp.unwrap_or(now);
            latest = latest.max(at);
            let (state, result) = engine.step(next.state, &next.profile, &timed.observation);
            next.state = state;
            rows.push(ObservationRow {
                cycle_number: next.state.cycle(),
                mode_target: timed.observation.mode(),
                signal_strength: timed.observation.signal_strength(),
                confidence: timed.observation.confidence(),
                context_json: timed.context_json.clone(),
                timestamp: at,
                point: Some(super::instance_events::point_of(
                    &next.state,
                    result.drift.as_ref(),
                )),
            });
            if let (true, Some(drift)) = (result.drift_event_recorded, &result.drift) {
                drift_rows.push(DriftRow {
                    cycle_number: next.state.cycle(),
                    level: drift.level,
                    magnitude: drift.magnitude,
                    affected_modes: drift.affected_modes.clone(),
                    rolled_back: drift.rolled_back,
                    timestamp: at,
                });
            }
            if keep_intermediate || i + 1 == observations.len() {
                views.push(StepView {
                    state: next.state.clone(),
                    drift: result.drift,
                    timestamp: at,
                });
            }
        }
        next.last_observation_at = Some(latest);
        let mut change = self.plan(next)?;
        change.write.usage = Some(UsageIncrement {
            account_id: self.account_id.clone(),
            month: month_of(now),
            cycles: observations.len() as u64,
        });
        change.write.observations = rows;
        change.write.drift_events = drift_rows;
        Ok((change, views))
    }

    /// Restores the initial, neutral or last stable state (docs/api.md "reset").
    /// It also clears the throttle's clock: whatever timestamps the
    /// instance was driven with, the next observation is accepted.
    pub fn plan_reset(&self, mode: ResetMode, now: Micros) -> Result<PlannedChange, InstanceError> {
        let mut next = self.successor(now);
        next.last_observation_at = None;
        next.state = match mode {
            ResetMode::Initial => self.initial.clone(),
            ResetMode::Default => EngineState::new([0.0; MODE_COUNT], DEFAULT_ENERGY),
            ResetMode::LastStable => self
                .state
                .restore_last_stable()
                .ok_or(InstanceError::NoStablePoint)?,
        };
        let mut change = self.plan(next)?;
        change.write.events.push(InstanceEvent {
            kind: InstanceEventKind::Reset,
            detail_json: serde_json::json!({ "mode": mode, "from_cycle": self.state.cycle() })
                .to_string(),
            timestamp: now,
        });
        Ok(change)
    }

    /// Applies a personality-test profile: it becomes both the current and
    /// the `initial` state (energy and profile kept).
    pub fn plan_test_profile(
        &self,
        modes: [f64; MODE_COUNT],
        now: Micros,
    ) -> Result<PlannedChange, InstanceError> {
        let mut next = self.successor(now);
        let fresh = EngineState::new(modes, self.initial.energy());
        next.state = fresh.clone();
        next.initial = fresh;
        let mut change = self.plan(next)?;
        change.write.events.push(InstanceEvent {
            kind: InstanceEventKind::PersonalityTest,
            detail_json:
                serde_json::json!({ "mode_profile": modes, "from_cycle": self.state.cycle() })
                    .to_string(),
            timestamp: now,
        });
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Mode, Observation, MODE_COUNT};

    /// After 300 cycles, the row the model encodes decodes to the same
    /// model (the codec itself: state_codec_tests.rs).
    #[test]
    fn a_stored_state_reads_back_exactly() {
        let engine = Engine::default();
        let meta = InstanceMeta {
            id: "inst_0123456789abcdef".into(),
            name: "n".into(),
            description: String::new(),
            created_at: 0,
            updated_at: 0,
            version: 1,
        };
        let profile = Profile {
            description: Some("quotes \" backslash \\ control \u{1} \u{e9}\u{1f600}".into()),
            core_modes: vec![Mode::Exploration],
            ..Profile::default()
        };
        let mut model = InstanceModel::new(
            meta,
            "acct".into(),
            profile,
            EngineState::new([0.1; MODE_COUNT], 0.9),
        );
        let mut state = model.state.clone();
        for i in 0..300u32 {
            let mode = Mode::ALL[i as usize % MODE_COUNT];
            let observation = Observation::new(mode, f64::from(i % 10) / 9.0, 0.9)
                .unwrap_or_else(|e| panic!("{e}"));
            state = engine.step(state, &model.profile, &observation).0;
        }
        model.state = state;
        let record = model.to_record().unwrap_or_else(|e| panic!("{e}"));
        let back = InstanceModel::from_record(record).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.state, model.state);
        assert_eq!(back.profile, model.profile);
        assert_eq!(back.initial, model.initial);
    }
}

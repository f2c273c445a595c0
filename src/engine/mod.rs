//! The deterministic behavioural engine (docs/engine.md).
//!
//! Pure: no clock, no randomness, no I/O, no async. The server wraps it and
//! it never reaches back.

mod action;
mod arbitration;
mod contract;
mod cycle;
mod drift;
mod levels;
mod math;
mod memory;
mod mode;
mod observation;
mod params;
mod profile;
mod self_model;
mod snapshot;
mod state;

pub mod personas;

pub use action::{
    mode_actions, Action, ActionSet, ACTION_COUNT, ALWAYS_FORBIDDEN, NEUTRAL, RISKY, SAFE,
};
pub use contract::{
    calm_decision_style, CollaborationStyle, DecisionStyle, Degree, ExecutionContract, HardLocks,
    MemoryContext, RecoveryPath, RecoveryProfile, SelfModelContext, Tempo, TrustProfile,
};
pub use cycle::CycleResult;
pub use drift::DriftReading;
pub use levels::{DriftLevel, StressLevel, SystemState};
pub use memory::BehavioralPattern;
pub use mode::{Mode, UnknownMode, MODE_COUNT};
pub use observation::{Observation, ObservationError};
pub use params::{EngineParams, ParamError};
pub use profile::{
    DriftTolerance, EnergyPolicy, InvalidProfileValue, Profile, RiskPosture, StressTolerance,
};
pub use snapshot::{ModeStrengths, SnapshotView};
pub use state::EngineState;

/// The engine: a parameter set and the pure functions over engine state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Engine {
    params: EngineParams,
}

impl Engine {
    /// An engine with these parameters (validate them first with
    /// [`EngineParams::validate`]; invalid ones never panic but give
    /// meaningless results).
    pub fn new(params: EngineParams) -> Engine {
        Engine { params }
    }

    /// The parameters in use.
    pub fn params(&self) -> &EngineParams {
        &self.params
    }

    /// Runs one cycle: consumes the state, returns the next one and what
    /// the cycle reported.
    pub fn step(
        &self,
        state: EngineState,
        profile: &Profile,
        observation: &Observation,
    ) -> (EngineState, CycleResult) {
        cycle::run(&self.params, state, profile, observation)
    }

    /// The execution contract for a state.
    pub fn contract(&self, state: &EngineState, profile: &Profile) -> ExecutionContract {
        contract::build(&self.params, state, profile)
    }

    /// The snapshot view of a state.
    pub fn snapshot(&self, state: &EngineState) -> SnapshotView {
        snapshot::build(state)
    }
}

#[cfg(test)]
mod acceptance_tests;
#[cfg(test)]
mod property_tests;

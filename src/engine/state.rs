//! The complete, serialisable engine state of one instance.

use serde::{Deserialize, Serialize};

use super::drift::DriftState;
use super::levels::{StressLevel, SystemState};
use super::math::clamp;
use super::memory::Memory;
use super::mode::MODE_COUNT;
use super::self_model::SelfModel;

/// Energy used when the constructor is handed a non-finite energy.
pub const DEFAULT_ENERGY: f64 = 0.8;

/// The part of the state that a rollback (or a `last_stable` reset) restores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StablePoint {
    pub(crate) modes: [f64; MODE_COUNT],
    pub(crate) energy: f64,
    pub(crate) level: StressLevel,
    pub(crate) system: SystemState,
    pub(crate) calm_streak: u32,
}

/// Everything the engine remembers about an instance between cycles.
/// Serialises losslessly (serde_json with `float_roundtrip`) so the server
/// can persist it and continue bit-identically.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineState {
    pub(crate) modes: [f64; MODE_COUNT],
    pub(crate) energy: f64,
    pub(crate) level: StressLevel,
    pub(crate) system: SystemState,
    pub(crate) calm_streak: u32,
    pub(crate) cycle: u64,
    pub(crate) stability: f64,
    pub(crate) drift: DriftState,
    pub(crate) last_stable: Option<StablePoint>,
    pub(crate) memory: Memory,
    pub(crate) self_model: SelfModel,
}

impl EngineState {
    /// A fresh state from the initial mode strengths and energy. Values are
    /// clamped into range (modes to [-1, 1], energy to [0, 1]); non-finite
    /// modes become 0 and a non-finite energy becomes the 0.8 default.
    pub fn new(modes: [f64; MODE_COUNT], energy: f64) -> EngineState {
        let modes = modes.map(|m| {
            if m.is_finite() {
                clamp(m, -1.0, 1.0)
            } else {
                0.0
            }
        });
        let energy = if energy.is_finite() {
            clamp(energy, 0.0, 1.0)
        } else {
            DEFAULT_ENERGY
        };
        EngineState {
            modes,
            energy,
            level: StressLevel::Low,
            system: SystemState::Baseline,
            calm_streak: 0,
            cycle: 0,
            stability: 1.0,
            drift: DriftState::default(),
            last_stable: None,
            memory: Memory::new(energy),
            self_model: SelfModel::default(),
        }
    }

    /// Completed cycles.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }

    /// Energy in [0, 1].
    pub fn energy(&self) -> f64 {
        self.energy
    }

    /// Current stress level.
    pub fn stress_level(&self) -> StressLevel {
        self.level
    }

    /// Current system state.
    pub fn system_state(&self) -> SystemState {
        self.system
    }

    /// Stability index in [0, 1].
    pub fn stability(&self) -> f64 {
        self.stability
    }

    /// Mode strengths in mode order, each in [-1, 1].
    pub fn modes(&self) -> [f64; MODE_COUNT] {
        self.modes
    }

    /// Whether the drift detector has recorded a stable point yet.
    pub fn has_stable_point(&self) -> bool {
        self.last_stable.is_some()
    }

    /// This state with mode strengths, energy, stress level, system state
    /// and calm streak taken from the last stable point; everything else
    /// (cycle, memory, self-model, drift anchor) is kept. `None` before the
    /// first stable point (end of warm-up).
    pub fn restore_last_stable(&self) -> Option<EngineState> {
        let point = self.last_stable?;
        let mut restored = self.clone();
        restored.apply_stable_point(&point);
        Some(restored)
    }

    pub(crate) fn stable_point(&self) -> StablePoint {
        StablePoint {
            modes: self.modes,
            energy: self.energy,
            level: self.level,
            system: self.system,
            calm_streak: self.calm_streak,
        }
    }

    pub(crate) fn apply_stable_point(&mut self, point: &StablePoint) {
        self.modes = point.modes;
        self.energy = point.energy;
        self.level = point.level;
        self.system = point.system;
        self.calm_streak = point.calm_streak;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_state_matches_the_spec() {
        let s = EngineState::new([0.0; MODE_COUNT], 0.8);
        assert_eq!(s.cycle(), 0);
        assert_eq!(s.energy(), 0.8);
        assert_eq!(s.stress_level(), StressLevel::Low);
        assert_eq!(s.system_state(), SystemState::Baseline);
        assert_eq!(s.stability(), 1.0);
        assert_eq!(s.self_model.resilience, 0.5);
        assert_eq!(s.self_model.trait_stability, 1.0);
        assert_eq!(s.self_model.efficiency, 0.5);
        assert_eq!(s.memory.energy_trend, 0.8);
        assert_eq!(s.memory.energy_min, 0.8);
        assert!(!s.has_stable_point());
        assert!(s.restore_last_stable().is_none());
    }

    #[test]
    fn constructor_clamps_defensively() {
        let s = EngineState::new(
            [2.0, -3.0, f64::NAN, 0.5, 0.0, 0.0, f64::INFINITY],
            f64::NAN,
        );
        assert_eq!(s.modes(), [1.0, -1.0, 0.0, 0.5, 0.0, 0.0, 0.0]);
        assert_eq!(s.energy(), DEFAULT_ENERGY);
        assert_eq!(EngineState::new([0.0; 7], 1.7).energy(), 1.0);
        assert_eq!(EngineState::new([0.0; 7], -0.2).energy(), 0.0);
    }

    #[test]
    fn round_trips_through_json() {
        let s = EngineState::new([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], 0.123456789);
        let json = serde_json::to_string(&s).unwrap_or_default();
        let back: Option<EngineState> = serde_json::from_str(&json).ok();
        assert_eq!(back, Some(s));
    }
}

//! The self-model (docs/engine.md steps 5 and 10): stress resilience from
//! completed episodes, trait stability, energy efficiency, burn rate and
//! identity coherence.

use serde::{Deserialize, Serialize};

use super::levels::SystemState;
use super::mode::Mode;
use super::params::EngineParams;
use super::profile::Profile;

/// Weight of the previous resilience when an episode completes.
const RESILIENCE_DECAY: f64 = 0.7;
/// Weight of the previous trait stability per post-warm-up cycle.
const TRAIT_DECAY: f64 = 0.98;
/// Magnitude scale in the trait-stability update.
const TRAIT_MAGNITUDE_SCALE: f64 = 2.5;
/// Weight of the previous burn rate.
const BURN_DECAY: f64 = 0.8;
/// Weight of the descriptive part of coherence (normative gets the rest).
const DESCRIPTIVE_WEIGHT: f64 = 0.6;

/// Self-model kept in the engine state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SelfModel {
    pub(crate) resilience: f64,
    pub(crate) trait_stability: f64,
    pub(crate) efficiency: f64,
    pub(crate) episodes: u32,
    pub(crate) coherence: f64,
    pub(crate) burn: f64,
    pub(crate) episode_start: Option<u64>,
    pub(crate) last_episode_end: Option<u64>,
    pub(crate) window_activation: f64,
    pub(crate) window_spent: f64,
    pub(crate) window_len: u64,
}

impl Default for SelfModel {
    fn default() -> Self {
        SelfModel {
            resilience: 0.5,
            trait_stability: 1.0,
            efficiency: 0.5,
            episodes: 0,
            coherence: 1.0,
            burn: 0.0,
            episode_start: None,
            last_episode_end: None,
            window_activation: 0.0,
            window_spent: 0.0,
            window_len: 0,
        }
    }
}

/// What one cycle contributes to the self-model.
pub(crate) struct SelfFacts {
    pub(crate) cycle: u64,
    pub(crate) drift_magnitude: Option<f64>,
    pub(crate) activation: f64,
    pub(crate) energy_drop: f64,
}

/// Identity coherence: 0.6 · (1 − |stability − trait_stability|) + 0.4 ·
/// (share of the distinct core modes that are dominant; 1 without core modes).
pub(crate) fn coherence(
    profile: &Profile,
    dominant: &[Option<Mode>; 2],
    stability: f64,
    trait_stability: f64,
) -> f64 {
    let core = profile.distinct_core_count();
    let normative = if core == 0 {
        1.0
    } else {
        let hits = dominant
            .iter()
            .flatten()
            .filter(|m| profile.is_core(**m))
            .count();
        hits as f64 / core as f64
    };
    let descriptive = 1.0 - (stability - trait_stability).abs();
    DESCRIPTIVE_WEIGHT * descriptive + (1.0 - DESCRIPTIVE_WEIGHT) * normative
}

impl SelfModel {
    /// Starts an episode on entering stress; completes it on leaving
    /// (resilience = 0.7·r + 0.3·0.5^(d/half_life), episodes + 1).
    pub(crate) fn system_transition(
        &mut self,
        params: &EngineParams,
        from: SystemState,
        to: SystemState,
        cycle: u64,
    ) {
        let was = from == SystemState::Stress;
        let is = to == SystemState::Stress;
        if !was && is {
            self.episode_start = Some(cycle);
        } else if was && !is {
            if let Some(start) = self.episode_start.take() {
                let d = cycle.saturating_sub(start) as f64;
                let half_life = if params.episode_half_life > 0.0 {
                    params.episode_half_life
                } else {
                    1.0
                };
                self.resilience = RESILIENCE_DECAY * self.resilience
                    + (1.0 - RESILIENCE_DECAY) * 0.5f64.powf(d / half_life);
                self.episodes = self.episodes.saturating_add(1);
            }
            self.last_episode_end = Some(cycle);
        }
    }

    /// The step-10 update of trait stability, efficiency and burn rate
    /// (coherence is set by the caller, which knows the arbitration).
    pub(crate) fn update(&mut self, params: &EngineParams, f: &SelfFacts) {
        if let Some(magnitude) = f.drift_magnitude {
            self.trait_stability = TRAIT_DECAY * self.trait_stability
                + (1.0 - TRAIT_DECAY) * (1.0 - (TRAIT_MAGNITUDE_SCALE * magnitude).min(1.0));
        }
        let drop = f.energy_drop.max(0.0);
        self.window_activation += f.activation;
        self.window_spent += drop;
        self.window_len = self.window_len.saturating_add(1);
        if params.efficiency_window > 0 && f.cycle.is_multiple_of(params.efficiency_window) {
            let act = self.window_activation / self.window_len as f64;
            let spent = self.window_spent;
            if act + spent > 0.0 {
                self.efficiency = act / (act + spent);
            }
            self.window_activation = 0.0;
            self.window_spent = 0.0;
            self.window_len = 0;
        }
        self.burn = BURN_DECAY * self.burn + (1.0 - BURN_DECAY) * drop;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episode_resilience() {
        let p = EngineParams::default();
        let mut s = SelfModel::default();
        s.system_transition(&p, SystemState::Baseline, SystemState::Stress, 10);
        s.system_transition(&p, SystemState::Stress, SystemState::Stress, 30);
        s.system_transition(&p, SystemState::Stress, SystemState::Baseline, 60);
        assert_eq!(s.episodes, 1);
        assert!((s.resilience - (0.35 + 0.3 * 0.5)).abs() < 1e-12);
        assert_eq!(s.last_episode_end, Some(60));
    }

    #[test]
    fn efficiency_window_and_burn() {
        let p = EngineParams::default();
        let mut s = SelfModel::default();
        for cycle in 1..=50 {
            let f = SelfFacts {
                cycle,
                drift_magnitude: None,
                activation: 0.5,
                energy_drop: 0.01,
            };
            s.update(&p, &f);
        }
        assert!((s.efficiency - 0.5 / (0.5 + 0.5)).abs() < 1e-9);
        assert_eq!(s.window_len, 0);
        assert!(s.burn > 0.0 && s.burn < 0.01);
        let f = SelfFacts {
            cycle: 51,
            drift_magnitude: Some(0.2),
            activation: 0.0,
            energy_drop: -0.05,
        };
        s.update(&p, &f);
        assert!((s.trait_stability - (0.98 + 0.02 * 0.5)).abs() < 1e-12);
    }

    #[test]
    fn coherence_mixes_descriptive_and_normative() {
        let mut profile = Profile::default();
        assert_eq!(coherence(&profile, &[None, None], 1.0, 1.0), 1.0);
        profile.core_modes = vec![Mode::Exploration, Mode::Connection];
        let c = coherence(
            &profile,
            &[Some(Mode::Exploration), Some(Mode::Order)],
            0.9,
            1.0,
        );
        assert!((c - (0.6 * 0.9 + 0.4 * 0.5)).abs() < 1e-12);
    }
}

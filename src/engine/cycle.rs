//! One engine cycle (docs/engine.md "One cycle, step by step"), steps 1–10 in
//! the documented order.

use serde::{Deserialize, Serialize};

use super::arbitration::Arbitration;
use super::drift::{DriftPhase, DriftReading};
use super::levels::{DriftLevel, StressLevel, SystemState};
use super::math::{clamp, normalised_distance};
use super::memory::CycleFacts;
use super::mode::{Mode, MODE_COUNT};
use super::observation::Observation;
use super::params::EngineParams;
use super::profile::StressTolerance;
use super::profile::{Profile, RESILIENT_THETA_OVER_MAX};
use super::self_model::{coherence, SelfFacts};
use super::state::EngineState;

/// Weight of the previous stability.
const STABILITY_DECAY: f64 = 0.95;
/// Scale of the per-cycle movement in the stability quality term.
const STABILITY_MOVEMENT_SCALE: f64 = 10.0;
/// Weight of |v[stress]| in the stability quality term.
const STABILITY_STRESS_WEIGHT: f64 = 0.5;

/// What a cycle reports besides the new state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CycleResult {
    /// The drift reading; `None` during warm-up and at the anchor cycle.
    pub drift: Option<DriftReading>,
    /// Whether this cycle is a drift event for the drift history (every
    /// D1+ cycle, and a D0 cycle right after a D1+ cycle).
    pub drift_event_recorded: bool,
}

/// The values of the previous state that later steps refer to as "prev".
struct Prev {
    modes: [f64; MODE_COUNT],
    energy: f64,
    level: StressLevel,
    system: SystemState,
    calm_streak: u32,
    stability: f64,
    spike_count: u32,
    energy_min: f64,
    trait_stability: f64,
}

/// Step 1: the EMA learning rate k for the target.
fn learning_rate(params: &EngineParams, prev: &Prev, target: Mode, confidence: f64) -> f64 {
    let mut a = params.alpha;
    if target == Mode::StressResponse {
        a *= params.stress_learning_multiplier;
        if prev.spike_count >= params.sensitised_spike_count {
            a *= params.sensitised_learning_factor;
        }
    } else if prev.level == StressLevel::Med {
        a *= params.med_damping;
    }
    clamp(a * confidence, 0.0, 1.0)
}

/// Step 2: how far v[stress] moves toward 0 on a non-stress turn.
fn bleed(params: &EngineParams, prev_level: StressLevel, target: Mode, strength: f64) -> f64 {
    match prev_level {
        StressLevel::Low => params.bleed_low,
        StressLevel::Med => params.bleed_med,
        StressLevel::High => params.bleed_high,
        StressLevel::Over => {
            let calm = strength <= params.calm_strength_max || target == Mode::Connection;
            if calm {
                params.bleed_over
            } else {
                0.0
            }
        }
    }
}

/// Step 3: the new energy.
fn next_energy(params: &EngineParams, profile: &Profile, prev: &Prev) -> f64 {
    let m = profile.energy_policy.cost_multiplier();
    let conserve = prev.energy_min < params.conserve_threshold;
    let (cost, recovery, floor) = if prev.system == SystemState::Stress {
        let floor = if conserve {
            params.stress_energy_floor_conserve
        } else {
            params.stress_energy_floor
        };
        (
            (params.energy_cost + params.stress_overhead) * m,
            0.0,
            floor,
        )
    } else {
        let recovery = if prev.level == StressLevel::Med {
            params.recovery_med
        } else {
            params.recovery_low
        };
        let floor = if conserve {
            params.energy_floor_conserve
        } else {
            params.energy_floor
        };
        (params.energy_cost * m, recovery, floor)
    };
    clamp(prev.energy - cost + recovery, floor.min(prev.energy), 1.0).max(0.0)
}

/// Step 4 thresholds (θ_MED, θ_HIGH, θ_OVER) after the profile's stress
/// tolerance and spike sensitisation.
pub(crate) fn stress_thresholds(
    params: &EngineParams,
    tolerance: StressTolerance,
    spike_count: u32,
) -> (f64, f64, f64) {
    let (high_shift, over_shift) = tolerance.threshold_shifts();
    let mut high = params.theta_high + high_shift;
    let mut over = params.theta_over + over_shift;
    if tolerance == StressTolerance::Resilient {
        over = over.min(RESILIENT_THETA_OVER_MAX);
    }
    if spike_count >= params.sensitised_spike_count {
        high -= params.sensitised_theta_high_shift;
        over -= params.sensitised_theta_over_shift;
    }
    (params.theta_med, high, over)
}

/// Step 4: the stress level of |v[stress]|.
fn classify_stress(stress: f64, (med, high, over): (f64, f64, f64)) -> StressLevel {
    let s = stress.abs();
    if s >= over {
        StressLevel::Over
    } else if s >= high {
        StressLevel::High
    } else if s >= med {
        StressLevel::Med
    } else {
        StressLevel::Low
    }
}

/// Step 5 (without the cycle counter and episodes): system state and calm streak.
fn next_system(
    params: &EngineParams,
    prev: &Prev,
    s: &EngineState,
    target: Mode,
) -> (SystemState, u32) {
    let (mut system, calm) = if s.level.is_high() {
        (SystemState::Stress, 0)
    } else if prev.system == SystemState::Stress {
        let calm = if target == Mode::StressResponse {
            0
        } else {
            prev.calm_streak.saturating_add(1)
        };
        let system = if calm >= params.stress_exit_calm_cycles {
            SystemState::Baseline
        } else {
            SystemState::Stress
        };
        (system, calm)
    } else {
        (SystemState::Baseline, prev.calm_streak)
    };
    let v = &s.modes;
    let growth = s.level == StressLevel::Low
        && s.energy >= params.growth_min_energy
        && prev.stability >= params.growth_min_stability
        && (v[Mode::Exploration.index()] >= params.growth_min_mode
            || v[Mode::Identity.index()] >= params.growth_min_mode);
    if system == SystemState::Baseline && growth {
        system = SystemState::Growth;
    }
    (system, calm)
}

/// Step 7: the stability index.
fn next_stability(prev: &Prev, v: &[f64; MODE_COUNT]) -> f64 {
    let delta = normalised_distance(v, &prev.modes);
    let movement = 1.0 - (STABILITY_MOVEMENT_SCALE * delta).min(1.0);
    let stress = 1.0 - STABILITY_STRESS_WEIGHT * v[Mode::StressResponse.index()].abs();
    clamp(
        STABILITY_DECAY * prev.stability + (1.0 - STABILITY_DECAY) * movement * stress,
        0.0,
        1.0,
    )
}

/// Runs one full cycle.
pub(crate) fn run(
    params: &EngineParams,
    mut s: EngineState,
    profile: &Profile,
    obs: &Observation,
) -> (EngineState, CycleResult) {
    let prev = Prev {
        modes: s.modes,
        energy: s.energy,
        level: s.level,
        system: s.system,
        calm_streak: s.calm_streak,
        stability: s.stability,
        spike_count: s.memory.spike_count,
        energy_min: s.memory.energy_min,
        trait_stability: s.self_model.trait_stability,
    };
    let target = obs.mode();
    let (strength, confidence) = (obs.signal_strength(), obs.confidence());
    let i = target.index();
    let stress = Mode::StressResponse.index();

    // 1. Mode EMA.
    let k = learning_rate(params, &prev, target, confidence);
    s.modes[i] = clamp(s.modes[i] * (1.0 - k) + strength * k, -1.0, 1.0);

    // 2. Stress bleed.
    if target != Mode::StressResponse {
        let b = bleed(params, prev.level, target, strength);
        let x = s.modes[stress];
        s.modes[stress] = if x > 0.0 {
            (x - b).max(0.0)
        } else {
            (x + b).min(0.0)
        };
    }

    // 3. Energy.
    s.energy = next_energy(params, profile, &prev);

    // 4. Stress level.
    let thresholds = stress_thresholds(params, profile.stress_tolerance, prev.spike_count);
    s.level = classify_stress(s.modes[stress], thresholds);

    // 5. System state, cycle counter, episodes.
    let (system, calm) = next_system(params, &prev, &s, target);
    s.system = system;
    s.calm_streak = calm;
    s.cycle = s.cycle.saturating_add(1);
    let cycle = s.cycle;
    s.self_model
        .system_transition(params, prev.system, s.system, cycle);

    // 6. Drift (and rollback on D3).
    let phase = s
        .drift
        .measure(params, profile, prev.trait_stability, cycle, &s.modes);
    let recorded = s.drift.record(&phase, cycle);
    let (drift, d0_or_anchor) = match phase {
        DriftPhase::WarmUp => (None, false),
        DriftPhase::AnchorSet => (None, true),
        DriftPhase::Measured(level, magnitude, affected_modes) => {
            let mut rolled_back = false;
            if level == DriftLevel::D3Corrupt {
                if let Some(point) = s.last_stable {
                    let before = s.system;
                    s.apply_stable_point(&point);
                    s.self_model
                        .system_transition(params, before, s.system, cycle);
                    rolled_back = true;
                }
            }
            let reading = DriftReading {
                level,
                magnitude,
                affected_modes,
                rolled_back,
            };
            (Some(reading), level == DriftLevel::D0Noise)
        }
    };

    // 7. Stability and the last stable point.
    s.stability = next_stability(&prev, &s.modes);
    if d0_or_anchor {
        s.last_stable = Some(s.stable_point());
    }

    // 8. Arbitration.
    let arbitration = Arbitration::new(&s.modes, s.level, profile, params.active_threshold);

    // 9. Memory.
    s.memory.update(&CycleFacts {
        cycle,
        prev_level: prev.level,
        level: s.level,
        drift: drift.as_ref().map(|d| d.level),
        drift_recorded: recorded,
        energy: s.energy,
        dominant: arbitration.top(),
        target,
    });

    // 10. Self-model.
    s.self_model.update(
        params,
        &SelfFacts {
            cycle,
            drift_magnitude: drift.as_ref().map(|d| d.magnitude),
            activation: strength * confidence,
            energy_drop: prev.energy - s.energy,
        },
    );
    s.self_model.coherence = coherence(
        profile,
        &arbitration.dominant,
        s.stability,
        s.self_model.trait_stability,
    );

    (
        s,
        CycleResult {
            drift,
            drift_event_recorded: recorded,
        },
    )
}

#[cfg(test)]
#[path = "cycle_tests.rs"]
mod tests;

//! Every tunable number of the engine (docs/engine.md "Parameters"), with the
//! documented defaults and validation for values loaded from configuration.

use serde::{Deserialize, Serialize};

/// Engine parameters; the `[engine]` config section deserialises into this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineParams {
    /// Base EMA learning rate α.
    pub alpha: f64,
    /// Learning-rate multiplier when the target is stress_response.
    pub stress_learning_multiplier: f64,
    /// Extra stress learning-rate factor once the spike count reaches `sensitised_spike_count`.
    pub sensitised_learning_factor: f64,
    /// Spike count from which the stress response is sensitised.
    pub sensitised_spike_count: u32,
    /// θ_HIGH reduction once sensitised.
    pub sensitised_theta_high_shift: f64,
    /// θ_OVER reduction once sensitised.
    pub sensitised_theta_over_shift: f64,
    /// Learning-rate factor for non-stress targets while the level is MED.
    pub med_damping: f64,
    /// Stress threshold for MED.
    pub theta_med: f64,
    /// Stress threshold for HIGH.
    pub theta_high: f64,
    /// Stress threshold for OVER.
    pub theta_over: f64,
    /// Stress bleed per non-stress cycle at LOW.
    pub bleed_low: f64,
    /// Stress bleed per non-stress cycle at MED.
    pub bleed_med: f64,
    /// Stress bleed per non-stress cycle at HIGH.
    pub bleed_high: f64,
    /// Stress bleed per calm non-stress cycle at OVER.
    pub bleed_over: f64,
    /// A turn is calm when its strength is at most this (or it targets connection).
    pub calm_strength_max: f64,
    /// Energy cost per cycle (before the policy multiplier).
    pub energy_cost: f64,
    /// Extra energy cost per cycle while the system is in stress.
    pub stress_overhead: f64,
    /// Energy recovery per cycle at LOW (outside stress).
    pub recovery_low: f64,
    /// Energy recovery per cycle at MED (outside stress).
    pub recovery_med: f64,
    /// Energy floor outside stress.
    pub energy_floor: f64,
    /// Energy floor outside stress once conserving.
    pub energy_floor_conserve: f64,
    /// Energy floor in stress.
    pub stress_energy_floor: f64,
    /// Energy floor in stress once conserving.
    pub stress_energy_floor_conserve: f64,
    /// Conservation starts once the lowest energy observed is below this.
    pub conserve_threshold: f64,
    /// Consecutive calm cycles needed to leave stress.
    pub stress_exit_calm_cycles: u32,
    /// Minimum energy for growth.
    pub growth_min_energy: f64,
    /// Minimum (previous) stability for growth.
    pub growth_min_stability: f64,
    /// Exploration or identity strength needed for growth.
    pub growth_min_mode: f64,
    /// Episode duration at which its resilience contribution halves.
    pub episode_half_life: f64,
    /// Arbitrated strength at which a mode is active.
    pub active_threshold: f64,
    /// The drift anchor is set at this cycle; no drift before it.
    pub drift_warmup_cycles: u64,
    /// How fast the anchor follows on D0 cycles.
    pub anchor_rate: f64,
    /// Upper bound of D0 (before profile and trait-stability shifts).
    pub theta_d0: f64,
    /// Upper bound of D1.
    pub theta_d1: f64,
    /// Upper bound of D2.
    pub theta_d2: f64,
    /// Per-mode deviation from the anchor that lists a mode as affected.
    pub affected_mode_min: f64,
    /// Cycles per energy-efficiency window.
    pub efficiency_window: u64,
}

impl Default for EngineParams {
    fn default() -> Self {
        EngineParams {
            alpha: 0.10,
            stress_learning_multiplier: 4.5,
            sensitised_learning_factor: 0.9,
            sensitised_spike_count: 2,
            sensitised_theta_high_shift: 0.05,
            sensitised_theta_over_shift: 0.03,
            med_damping: 0.8,
            theta_med: 0.25,
            theta_high: 0.55,
            theta_over: 0.90,
            bleed_low: 0.02,
            bleed_med: 0.02,
            bleed_high: 0.01,
            bleed_over: 0.02,
            calm_strength_max: 0.5,
            energy_cost: 0.02,
            stress_overhead: 0.11,
            recovery_low: 0.05,
            recovery_med: 0.02,
            energy_floor: 0.20,
            energy_floor_conserve: 0.30,
            stress_energy_floor: 0.0,
            stress_energy_floor_conserve: 0.10,
            conserve_threshold: 0.10,
            stress_exit_calm_cycles: 5,
            growth_min_energy: 0.6,
            growth_min_stability: 0.7,
            growth_min_mode: 0.3,
            episode_half_life: 50.0,
            active_threshold: 0.05,
            drift_warmup_cycles: 20,
            anchor_rate: 0.05,
            theta_d0: 0.08,
            theta_d1: 0.24,
            theta_d2: 0.40,
            affected_mode_min: 0.1,
            efficiency_window: 50,
        }
    }
}

/// A parameter set that would make the engine misbehave.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParamError {
    /// NaN or infinite.
    #[error("engine parameter {field} must be finite, got {value}")]
    NonFinite {
        /// Parameter name.
        field: &'static str,
        /// Rejected value.
        value: f64,
    },
    /// Below zero.
    #[error("engine parameter {field} must not be negative, got {value}")]
    Negative {
        /// Parameter name.
        field: &'static str,
        /// Rejected value.
        value: f64,
    },
    /// A rate, threshold or level that must lie in [0, 1].
    #[error("engine parameter {field} must be at most 1.0, got {value}")]
    AboveOne {
        /// Parameter name.
        field: &'static str,
        /// Rejected value.
        value: f64,
    },
    /// Must be strictly positive.
    #[error("engine parameter {field} must be greater than zero")]
    NotPositive {
        /// Parameter name.
        field: &'static str,
    },
    /// Two thresholds that must be strictly increasing are not.
    #[error("engine parameter {lower} ({lower_value}) must be less than {upper} ({upper_value})")]
    NotIncreasing {
        /// The lower threshold's name.
        lower: &'static str,
        /// Its value.
        lower_value: f64,
        /// The upper threshold's name.
        upper: &'static str,
        /// Its value.
        upper_value: f64,
    },
}

impl ParamError {
    /// The offending parameter (the lower one for ordering errors).
    pub fn field(&self) -> &'static str {
        match self {
            ParamError::NonFinite { field, .. }
            | ParamError::Negative { field, .. }
            | ParamError::AboveOne { field, .. }
            | ParamError::NotPositive { field } => field,
            ParamError::NotIncreasing { lower, .. } => lower,
        }
    }
}

impl EngineParams {
    /// Float parameters with whether each must lie within [0, 1].
    fn float_fields(&self) -> [(&'static str, f64, bool); 34] {
        [
            ("alpha", self.alpha, true),
            (
                "stress_learning_multiplier",
                self.stress_learning_multiplier,
                false,
            ),
            (
                "sensitised_learning_factor",
                self.sensitised_learning_factor,
                false,
            ),
            (
                "sensitised_theta_high_shift",
                self.sensitised_theta_high_shift,
                true,
            ),
            (
                "sensitised_theta_over_shift",
                self.sensitised_theta_over_shift,
                true,
            ),
            ("med_damping", self.med_damping, false),
            ("theta_med", self.theta_med, true),
            ("theta_high", self.theta_high, true),
            ("theta_over", self.theta_over, true),
            ("bleed_low", self.bleed_low, true),
            ("bleed_med", self.bleed_med, true),
            ("bleed_high", self.bleed_high, true),
            ("bleed_over", self.bleed_over, true),
            ("calm_strength_max", self.calm_strength_max, true),
            ("energy_cost", self.energy_cost, true),
            ("stress_overhead", self.stress_overhead, true),
            ("recovery_low", self.recovery_low, true),
            ("recovery_med", self.recovery_med, true),
            ("energy_floor", self.energy_floor, true),
            ("energy_floor_conserve", self.energy_floor_conserve, true),
            ("stress_energy_floor", self.stress_energy_floor, true),
            (
                "stress_energy_floor_conserve",
                self.stress_energy_floor_conserve,
                true,
            ),
            ("conserve_threshold", self.conserve_threshold, true),
            ("growth_min_energy", self.growth_min_energy, true),
            ("growth_min_stability", self.growth_min_stability, true),
            ("growth_min_mode", self.growth_min_mode, true),
            ("episode_half_life", self.episode_half_life, false),
            ("active_threshold", self.active_threshold, true),
            ("anchor_rate", self.anchor_rate, true),
            ("theta_d0", self.theta_d0, true),
            ("theta_d1", self.theta_d1, true),
            ("theta_d2", self.theta_d2, true),
            ("affected_mode_min", self.affected_mode_min, false),
            ("efficiency_window", self.efficiency_window as f64, false),
        ]
    }

    /// Checks every parameter: finite, non-negative, rates and thresholds
    /// within [0, 1], thresholds strictly increasing, windows non-empty.
    pub fn validate(&self) -> Result<(), ParamError> {
        for (field, value, unit) in self.float_fields() {
            if !value.is_finite() {
                return Err(ParamError::NonFinite { field, value });
            }
            if value < 0.0 {
                return Err(ParamError::Negative { field, value });
            }
            if unit && value > 1.0 {
                return Err(ParamError::AboveOne { field, value });
            }
        }
        if self.episode_half_life <= 0.0 {
            return Err(ParamError::NotPositive {
                field: "episode_half_life",
            });
        }
        if self.efficiency_window == 0 {
            return Err(ParamError::NotPositive {
                field: "efficiency_window",
            });
        }
        if self.drift_warmup_cycles == 0 {
            return Err(ParamError::NotPositive {
                field: "drift_warmup_cycles",
            });
        }
        if self.stress_exit_calm_cycles == 0 {
            return Err(ParamError::NotPositive {
                field: "stress_exit_calm_cycles",
            });
        }
        let ordered = [
            ("theta_med", self.theta_med, "theta_high", self.theta_high),
            ("theta_high", self.theta_high, "theta_over", self.theta_over),
            ("theta_d0", self.theta_d0, "theta_d1", self.theta_d1),
            ("theta_d1", self.theta_d1, "theta_d2", self.theta_d2),
        ];
        for (lower, lower_value, upper, upper_value) in ordered {
            if lower_value >= upper_value {
                return Err(ParamError::NotIncreasing {
                    lower,
                    lower_value,
                    upper,
                    upper_value,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_the_spec() {
        let p = EngineParams::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            (p.theta_med, p.theta_high, p.theta_over),
            (0.25, 0.55, 0.90)
        );
        assert_eq!((p.theta_d0, p.theta_d1, p.theta_d2), (0.08, 0.24, 0.40));
        assert_eq!(p.drift_warmup_cycles, 20);
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let bad = EngineParams {
            alpha: f64::NAN,
            ..Default::default()
        };
        assert_eq!(bad.validate().err().map(|e| e.field()), Some("alpha"));
        let bad = EngineParams {
            bleed_high: -0.1,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ParamError::Negative {
                field: "bleed_high",
                ..
            })
        ));
        let bad = EngineParams {
            theta_over: 1.5,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ParamError::AboveOne {
                field: "theta_over",
                ..
            })
        ));
        let bad = EngineParams {
            theta_high: 0.2,
            ..Default::default()
        };
        let err = bad.validate().err();
        assert_eq!(err.as_ref().map(|e| e.field()), Some("theta_med"));
        assert!(err.is_some_and(|e| e.to_string().contains("theta_high")));
        let bad = EngineParams {
            efficiency_window: 0,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ParamError::NotPositive { .. })
        ));
    }

    #[test]
    fn deserialises_partially_and_rejects_unknown_fields() {
        let p: Result<EngineParams, _> = serde_json::from_str(r#"{"alpha":0.2}"#);
        assert_eq!(p.ok().map(|p| (p.alpha, p.theta_high)), Some((0.2, 0.55)));
        assert!(serde_json::from_str::<EngineParams>(r#"{"alpah":0.2}"#).is_err());
    }
}

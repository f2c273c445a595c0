//! Drift detection (docs/engine.md step 6): how far the mode vector has moved
//! from a slowly following anchor set at the end of the warm-up.

use serde::{Deserialize, Serialize};

use super::levels::DriftLevel;
use super::math::normalised_distance;
use super::mode::{Mode, MODE_COUNT};
use super::params::EngineParams;
use super::profile::Profile;

/// Trait stability from which θ_D0 tightens.
const TRAIT_STABILITY_TIGHTEN_MIN: f64 = 0.8;
/// How much θ_D0 tightens for a stable trait.
const TRAIT_STABILITY_TIGHTEN: f64 = 0.01;

/// Drift detector memory kept in the engine state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DriftState {
    pub(crate) anchor: Option<[f64; MODE_COUNT]>,
    pub(crate) last_level: Option<DriftLevel>,
    pub(crate) last_magnitude: Option<f64>,
    /// Cycles of the two most recent D3 events, newest first.
    pub(crate) recent_d3: [Option<u64>; 2],
}

/// The drift outcome of one cycle, as reported to the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReading {
    /// Severity.
    pub level: DriftLevel,
    /// ‖v − anchor‖₂ / √7, measured before any rollback.
    pub magnitude: f64,
    /// Modes whose deviation from the anchor is ≥ 0.1, largest first.
    pub affected_modes: Vec<Mode>,
    /// Whether the cycle was rolled back to the last stable point (D3).
    pub rolled_back: bool,
}

/// What the detector concluded this cycle.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum DriftPhase {
    /// Before the anchor cycle: no drift.
    WarmUp,
    /// The anchor was set from the current vector: no drift yet.
    AnchorSet,
    /// A measured level and magnitude, and the affected modes (measured
    /// against the anchor before it followed).
    Measured(DriftLevel, f64, Vec<Mode>),
}

/// θ_D0 after the profile's drift tolerance and the trait-stability tightening.
pub(crate) fn theta_d0(params: &EngineParams, profile: &Profile, prev_trait_stability: f64) -> f64 {
    let mut theta = params.theta_d0 + profile.drift_tolerance.theta_d0_shift();
    if prev_trait_stability >= TRAIT_STABILITY_TIGHTEN_MIN {
        theta -= TRAIT_STABILITY_TIGHTEN;
    }
    theta
}

/// Classifies a magnitude against the (adjusted) thresholds.
pub(crate) fn classify(magnitude: f64, theta_d0: f64, params: &EngineParams) -> DriftLevel {
    if magnitude < theta_d0 {
        DriftLevel::D0Noise
    } else if magnitude < params.theta_d1 {
        DriftLevel::D1Context
    } else if magnitude < params.theta_d2 {
        DriftLevel::D2Adaptive
    } else {
        DriftLevel::D3Corrupt
    }
}

impl DriftState {
    /// Measures drift for `cycle` against the anchor and moves the anchor:
    /// set at the warm-up cycle (or whenever it is missing afterwards),
    /// following `v` slowly on D0 cycles.
    pub(crate) fn measure(
        &mut self,
        params: &EngineParams,
        profile: &Profile,
        prev_trait_stability: f64,
        cycle: u64,
        v: &[f64; MODE_COUNT],
    ) -> DriftPhase {
        if cycle < params.drift_warmup_cycles {
            return DriftPhase::WarmUp;
        }
        let anchor = match self.anchor.as_mut() {
            Some(anchor) if cycle != params.drift_warmup_cycles => anchor,
            _ => {
                self.anchor = Some(*v);
                return DriftPhase::AnchorSet;
            }
        };
        let magnitude = normalised_distance(v, anchor);
        let level = classify(
            magnitude,
            theta_d0(params, profile, prev_trait_stability),
            params,
        );
        let affected = Self::affected_modes(anchor, v, params.affected_mode_min);
        if level == DriftLevel::D0Noise {
            for (a, x) in anchor.iter_mut().zip(v) {
                *a += params.anchor_rate * (x - *a);
            }
        }
        DriftPhase::Measured(level, magnitude, affected)
    }

    /// Modes deviating from the anchor by at least `min`, largest deviation
    /// first, ties in mode order. Allocates only when some mode qualifies.
    pub(crate) fn affected_modes(
        anchor: &[f64; MODE_COUNT],
        v: &[f64; MODE_COUNT],
        min: f64,
    ) -> Vec<Mode> {
        let mut picked = [(Mode::Perception, 0.0f64); MODE_COUNT];
        let mut n = 0;
        for mode in Mode::ALL {
            let dev = (v[mode.index()] - anchor[mode.index()]).abs();
            if dev >= min {
                let mut at = n;
                while at > 0 && picked[at - 1].1 < dev {
                    picked[at] = picked[at - 1];
                    at -= 1;
                }
                picked[at] = (mode, dev);
                n += 1;
            }
        }
        picked[..n].iter().map(|(m, _)| *m).collect()
    }

    /// Remembers this cycle's level and whether it is a recorded drift event:
    /// every D1+ cycle, and a D0 cycle right after a D1+ cycle.
    pub(crate) fn record(&mut self, phase: &DriftPhase, cycle: u64) -> bool {
        let (level, magnitude) = match phase {
            DriftPhase::Measured(level, magnitude, _) => (Some(*level), Some(*magnitude)),
            DriftPhase::WarmUp | DriftPhase::AnchorSet => (None, None),
        };
        let recorded = match level {
            Some(DriftLevel::D0Noise) => {
                self.last_level.is_some_and(|l| l >= DriftLevel::D1Context)
            }
            Some(_) => true,
            None => false,
        };
        if level == Some(DriftLevel::D3Corrupt) {
            self.recent_d3 = [Some(cycle), self.recent_d3[0]];
        }
        self.last_level = level;
        self.last_magnitude = magnitude;
        recorded
    }

    /// Whether two D3 events happened within the last `window` cycles.
    pub(crate) fn two_d3_within(&self, cycle: u64, window: u64) -> bool {
        self.recent_d3[1].is_some_and(|older| cycle.saturating_sub(older) < window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_up_then_anchor_then_measure() {
        let p = EngineParams::default();
        let profile = Profile::default();
        let mut d = DriftState::default();
        let v = [0.5; MODE_COUNT];
        assert_eq!(d.measure(&p, &profile, 1.0, 19, &v), DriftPhase::WarmUp);
        assert_eq!(d.measure(&p, &profile, 1.0, 20, &v), DriftPhase::AnchorSet);
        assert_eq!(d.anchor, Some(v));
        let mut w = v;
        w[0] = 0.5 + 0.3;
        match d.measure(&p, &profile, 1.0, 21, &w) {
            DriftPhase::Measured(level, m, affected) => {
                assert_eq!(affected, vec![Mode::Perception]);
                assert_eq!(level, DriftLevel::D1Context);
                assert!((m - 0.3 / 7f64.sqrt()).abs() < 1e-12);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn thresholds_follow_profile_and_trait_stability() {
        let p = EngineParams::default();
        let mut profile = Profile::default();
        assert!((theta_d0(&p, &profile, 0.9) - 0.07).abs() < 1e-12);
        assert!((theta_d0(&p, &profile, 0.5) - 0.08).abs() < 1e-12);
        profile.drift_tolerance = crate::engine::DriftTolerance::Permissive;
        assert!((theta_d0(&p, &profile, 0.5) - 0.12).abs() < 1e-12);
        assert_eq!(classify(0.1, 0.08, &p), DriftLevel::D1Context);
        assert_eq!(classify(0.3, 0.08, &p), DriftLevel::D2Adaptive);
        assert_eq!(classify(0.4, 0.08, &p), DriftLevel::D3Corrupt);
    }

    #[test]
    fn d0_moves_the_anchor_five_percent() {
        let p = EngineParams::default();
        let mut d = DriftState {
            anchor: Some([0.0; MODE_COUNT]),
            ..Default::default()
        };
        let v = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        assert!(matches!(
            d.measure(&p, &Profile::default(), 1.0, 30, &v),
            DriftPhase::Measured(DriftLevel::D0Noise, _, _)
        ));
        assert!(d
            .anchor
            .is_some_and(|a| (a[0] - 0.005).abs() < 1e-15 && a[1] == 0.0));
    }

    #[test]
    fn affected_modes_sorted_by_deviation() {
        let anchor = [0.0; MODE_COUNT];
        let v = [0.1, 0.5, 0.0, -0.5, 0.05, 0.2, 0.0];
        assert_eq!(
            DriftState::affected_modes(&anchor, &v, 0.1),
            vec![
                Mode::Exploration,
                Mode::Assertion,
                Mode::Identity,
                Mode::Perception
            ]
        );
    }

    #[test]
    fn recording_rule() {
        let mut d = DriftState::default();
        assert!(!d.record(&DriftPhase::AnchorSet, 20));
        assert!(!d.record(&DriftPhase::Measured(DriftLevel::D0Noise, 0.01, vec![]), 21));
        assert!(d.record(
            &DriftPhase::Measured(DriftLevel::D2Adaptive, 0.3, vec![]),
            22
        ));
        assert!(d.record(&DriftPhase::Measured(DriftLevel::D0Noise, 0.01, vec![]), 23));
        assert!(!d.record(&DriftPhase::Measured(DriftLevel::D0Noise, 0.01, vec![]), 24));
        d.record(
            &DriftPhase::Measured(DriftLevel::D3Corrupt, 0.5, vec![]),
            30,
        );
        assert!(!d.two_d3_within(31, 50));
        d.record(
            &DriftPhase::Measured(DriftLevel::D3Corrupt, 0.5, vec![]),
            60,
        );
        assert!(d.two_d3_within(79, 50));
        assert!(!d.two_d3_within(80, 50));
    }
}

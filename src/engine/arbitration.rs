//! Arbitration (docs/engine.md step 8): which modes are active, dominant and
//! suppressed at the current stress level.

use super::levels::StressLevel;
use super::math::clamp;
use super::mode::{Mode, MODE_COUNT};
use super::profile::{Profile, CORE_MODE_FACTOR, SUPPRESSED_MODE_FACTOR};

/// Per-level mode weights (perception … stress_response).
const fn level_weights(level: StressLevel) -> [f64; MODE_COUNT] {
    match level {
        StressLevel::Low => [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
        StressLevel::Med => [1.0, 0.8, 1.0, 0.8, 1.0, 1.0, 1.2],
        StressLevel::High => [1.0, 0.5, 1.0, 0.5, 0.8, 1.0, 1.5],
        StressLevel::Over => [0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 2.0],
    }
}

/// The arbitrated view of a mode vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Arbitration {
    /// a[m] = clamp(w[m]·v[m], −1, 1).
    pub(crate) weighted: [f64; MODE_COUNT],
    /// The (at most) two highest active modes, ties in mode order.
    pub(crate) dominant: [Option<Mode>; 2],
    /// Suppressed flags in mode order.
    pub(crate) suppressed: [bool; MODE_COUNT],
}

impl Arbitration {
    /// Arbitrates `v` at `level` with the profile's core/suppressed factors.
    pub(crate) fn new(
        v: &[f64; MODE_COUNT],
        level: StressLevel,
        profile: &Profile,
        active_threshold: f64,
    ) -> Arbitration {
        let weights = level_weights(level);
        let mut weighted = [0.0; MODE_COUNT];
        let mut suppressed = [false; MODE_COUNT];
        let mut first: Option<(Mode, f64)> = None;
        let mut second: Option<(Mode, f64)> = None;
        for mode in Mode::ALL {
            let i = mode.index();
            let listed = profile.is_suppressed(mode);
            let mut w = weights[i];
            if profile.is_core(mode) {
                w *= CORE_MODE_FACTOR;
            }
            if listed {
                w *= SUPPRESSED_MODE_FACTOR;
            }
            let a = clamp(w * v[i], -1.0, 1.0);
            weighted[i] = a;
            let active = a >= active_threshold;
            suppressed[i] = a < 0.0 || (v[i] >= active_threshold && !active) || listed;
            if active {
                match first {
                    Some((_, best)) if a <= best => {
                        if second.is_none_or(|(_, s)| a > s) {
                            second = Some((mode, a));
                        }
                    }
                    _ => {
                        second = first;
                        first = Some((mode, a));
                    }
                }
            }
        }
        Arbitration {
            weighted,
            dominant: [first.map(|f| f.0), second.map(|s| s.0)],
            suppressed,
        }
    }

    /// The first dominant mode.
    pub(crate) fn top(&self) -> Option<Mode> {
        self.dominant[0]
    }

    /// Dominant modes as a list.
    pub(crate) fn dominant_vec(&self) -> Vec<Mode> {
        self.dominant.iter().flatten().copied().collect()
    }

    /// Suppressed modes in mode order.
    pub(crate) fn suppressed_vec(&self) -> Vec<Mode> {
        Mode::ALL
            .into_iter()
            .filter(|m| self.suppressed[m.index()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_two_highest_with_ties_in_mode_order() {
        let v = [0.3, 0.5, 0.5, 0.1, 0.0, 0.0, 0.0];
        let a = Arbitration::new(&v, StressLevel::Low, &Profile::default(), 0.05);
        assert_eq!(a.dominant, [Some(Mode::Exploration), Some(Mode::Order)]);
        let v = [0.3, 0.2, 0.6, 0.0, 0.0, 0.0, 0.0];
        let a = Arbitration::new(&v, StressLevel::Low, &Profile::default(), 0.05);
        assert_eq!(a.dominant, [Some(Mode::Order), Some(Mode::Perception)]);
    }

    #[test]
    fn over_weights_favour_stress_and_suppress_the_rest() {
        let v = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5];
        let a = Arbitration::new(&v, StressLevel::Over, &Profile::default(), 0.05);
        assert_eq!(a.dominant, [Some(Mode::StressResponse), None]);
        assert_eq!(a.weighted[6], 1.0);
        assert_eq!(a.suppressed_vec(), vec![Mode::Perception]);
    }

    #[test]
    fn profile_factors_and_negative_modes() {
        let profile = Profile {
            core_modes: vec![Mode::Connection],
            suppressed_modes: vec![Mode::Assertion],
            ..Default::default()
        };
        let v = [0.0, -0.2, 0.0, 0.5, 0.41, 0.0, 0.0];
        let a = Arbitration::new(&v, StressLevel::Low, &profile, 0.05);
        assert_eq!(a.dominant, [Some(Mode::Connection), Some(Mode::Assertion)]);
        assert_eq!(a.suppressed_vec(), vec![Mode::Exploration, Mode::Assertion]);
        assert!(
            Arbitration::new(&[0.0; 7], StressLevel::Low, &profile, 0.05)
                .top()
                .is_none()
        );
    }
}

//! Pause/escalation signals, remaining steps and the trust profile.

use serde::{Deserialize, Serialize};

use crate::engine::levels::{StressLevel, SystemState};
use crate::engine::math::clamp;
use crate::engine::memory::BehavioralPattern;

/// Energy at or below which a stressed agent should pause.
const PAUSE_ENERGY: f64 = 0.05;
/// Window in which two D3 events force a pause.
pub(crate) const D3_PAUSE_WINDOW: u64 = 50;
/// Coherence below which the agent should pause.
const PAUSE_COHERENCE: f64 = 0.3;
/// Consecutive OVER cycles that escalate.
const ESCALATE_OVER_STREAK: u32 = 10;
/// Consecutive zero-energy cycles that escalate.
const ESCALATE_ZERO_ENERGY_STREAK: u32 = 5;
/// Coherence below which the agent escalates.
const ESCALATE_COHERENCE: f64 = 0.2;
/// Burn rate below which the remaining steps are unbounded (null).
const MIN_BURN: f64 = 1e-6;
/// Cap on `max_steps_remaining`.
const MAX_STEPS_CAP: u32 = 10_000;
/// Trust weights of resilience, energy and coherence.
const TRUST_WEIGHTS: (f64, f64, f64) = (0.5, 0.3, 0.2);
/// Trust needed for delegation.
const DELEGATION_TRUST: f64 = 0.5;
/// Trust needed for autonomous / supervised collaboration.
const AUTONOMOUS_TRUST: f64 = 0.7;
const SUPERVISED_TRUST: f64 = 0.4;

/// The inputs the pause and escalation signals depend on.
pub(crate) struct TimingInputs {
    pub(crate) system: SystemState,
    pub(crate) energy: f64,
    pub(crate) pattern: BehavioralPattern,
    pub(crate) two_recent_d3: bool,
    pub(crate) coherence: f64,
    pub(crate) over_streak: u32,
    pub(crate) zero_energy_streak: u32,
}

/// Whether the agent should stop and wait.
pub(crate) fn should_pause(x: &TimingInputs) -> bool {
    (x.system == SystemState::Stress && x.energy <= PAUSE_ENERGY)
        || x.pattern == BehavioralPattern::EnergyDepleted
        || x.two_recent_d3
        || x.coherence < PAUSE_COHERENCE
}

/// Whether a human should be brought in.
pub(crate) fn should_escalate(x: &TimingInputs) -> bool {
    x.over_streak >= ESCALATE_OVER_STREAK
        || x.zero_energy_streak >= ESCALATE_ZERO_ENERGY_STREAK
        || x.coherence < ESCALATE_COHERENCE
}

/// floor(energy / burn) capped at 10 000; `None` while nothing is burning.
pub(crate) fn max_steps_remaining(energy: f64, burn: f64) -> Option<u32> {
    if burn.is_nan() || burn < MIN_BURN {
        return None;
    }
    let steps = (energy.max(0.0) / burn).floor();
    Some(if steps >= f64::from(MAX_STEPS_CAP) {
        MAX_STEPS_CAP
    } else {
        steps as u32
    })
}

/// How closely the agent should be supervised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CollaborationStyle {
    /// Trust ≥ 0.7.
    Autonomous,
    /// Trust ≥ 0.4.
    Supervised,
    /// Below 0.4: work side by side.
    Paired,
}

/// Contract `trust_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrustProfile {
    /// Trust in [0, 1].
    pub trust: f64,
    /// Whether work may be delegated to the agent.
    pub delegation_allowed: bool,
    /// Supervision style.
    pub collaboration_style: CollaborationStyle,
}

/// Trust penalty per stress level.
const fn penalty(level: StressLevel) -> f64 {
    match level {
        StressLevel::Low => 0.0,
        StressLevel::Med => 0.1,
        StressLevel::High => 0.3,
        StressLevel::Over => 0.5,
    }
}

/// docs/engine.md trust_profile rules.
pub(crate) fn trust_profile(
    resilience: f64,
    energy: f64,
    coherence: f64,
    level: StressLevel,
) -> TrustProfile {
    let (wr, we, wc) = TRUST_WEIGHTS;
    let trust = clamp(
        wr * resilience + we * energy + wc * coherence - penalty(level),
        0.0,
        1.0,
    );
    let collaboration_style = if trust >= AUTONOMOUS_TRUST {
        CollaborationStyle::Autonomous
    } else if trust >= SUPERVISED_TRUST {
        CollaborationStyle::Supervised
    } else {
        CollaborationStyle::Paired
    };
    TrustProfile {
        trust,
        delegation_allowed: trust >= DELEGATION_TRUST && level <= StressLevel::Med,
        collaboration_style,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> TimingInputs {
        TimingInputs {
            system: SystemState::Baseline,
            energy: 0.8,
            pattern: BehavioralPattern::Stable,
            two_recent_d3: false,
            coherence: 1.0,
            over_streak: 0,
            zero_energy_streak: 0,
        }
    }

    #[test]
    fn pause_and_escalate() {
        let mut x = inputs();
        assert!(!should_pause(&x) && !should_escalate(&x));
        x.system = SystemState::Stress;
        x.energy = 0.05;
        assert!(should_pause(&x));
        let mut x = inputs();
        x.coherence = 0.25;
        assert!(should_pause(&x) && !should_escalate(&x));
        x.coherence = 0.19;
        assert!(should_escalate(&x));
        let mut x = inputs();
        x.over_streak = 10;
        assert!(should_escalate(&x));
        let mut x = inputs();
        x.zero_energy_streak = 5;
        assert!(should_escalate(&x) && !should_pause(&x));
    }

    #[test]
    fn remaining_steps() {
        assert_eq!(max_steps_remaining(0.8, 0.0), None);
        assert_eq!(max_steps_remaining(0.8, 5e-7), None);
        assert_eq!(max_steps_remaining(0.83, 0.02), Some(41));
        assert_eq!(max_steps_remaining(1.0, 1e-5), Some(10_000));
        assert_eq!(max_steps_remaining(0.5, f64::NAN), None);
    }

    #[test]
    fn trust() {
        let t = trust_profile(0.5, 0.83, 1.0, StressLevel::Low);
        assert!((t.trust - (0.25 + 0.249 + 0.2)).abs() < 1e-12);
        assert_eq!(t.collaboration_style, CollaborationStyle::Supervised);
        assert!(t.delegation_allowed);
        let t = trust_profile(0.5, 0.1, 0.3, StressLevel::Over);
        assert_eq!(t.trust, 0.0);
        assert!(!t.delegation_allowed);
        assert_eq!(t.collaboration_style, CollaborationStyle::Paired);
    }
}

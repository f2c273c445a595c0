//! Decision style, recovery profile and hard locks of the contract.

use serde::{Deserialize, Serialize};

use crate::engine::levels::{StressLevel, SystemState};
use crate::engine::mode::Mode;
use crate::engine::profile::RiskPosture;

/// Switch rate from which recovery is called oscillating.
const OSCILLATING_SWITCHES: f64 = 10.0;
/// Spike count from which recovery is called oscillating.
const OSCILLATING_SPIKES: u32 = 3;
/// Cycles after an episode during which recovery is gradual.
pub(crate) const RECOVERY_WINDOW: u64 = 20;
/// Resilience and energy needed for rapid recovery.
const RAPID_MIN: f64 = 0.6;
/// Energy below which support is required.
const SUPPORT_ENERGY: f64 = 0.2;
/// Energy below which a cooldown is required.
const COOLDOWN_ENERGY: f64 = 0.3;
/// Identity strength that locks goals and pivots.
const IDENTITY_LOCK: f64 = 0.8;

/// How fast the agent should move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Tempo {
    /// Deliberate, the default under pressure.
    Measured,
    /// Wide-ranging (exploration).
    Exploratory,
    /// Quick to act (assertion, order).
    Decisive,
    /// Watch first (perception).
    Observant,
}

/// A three-step degree used for expressiveness and commitment threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Degree {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// How the agent should decide (contract `decision_style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionStyle {
    /// Pace of action.
    pub tempo: Tempo,
    /// Risk appetite.
    pub risk: RiskPosture,
    /// How much to express.
    pub expressiveness: Degree,
    /// How much evidence to need before committing.
    pub commitment_threshold: Degree,
}

/// The inputs decision style depends on.
pub(crate) struct StyleInputs {
    pub(crate) top: Option<Mode>,
    pub(crate) level: StressLevel,
    pub(crate) path_a: bool,
    pub(crate) risk_posture: Option<RiskPosture>,
}

/// The decision style of a calm agent (level LOW, no stress history, no
/// configured risk posture) whose first dominant mode is `top`: what a
/// persona built around that mode reads like.
pub fn calm_decision_style(top: Mode) -> DecisionStyle {
    decision_style(&StyleInputs {
        top: Some(top),
        level: StressLevel::Low,
        path_a: false,
        risk_posture: None,
    })
}

/// docs/engine.md decision_style rules.
pub(crate) fn decision_style(x: &StyleInputs) -> DecisionStyle {
    let hi = x.level.is_high();
    let path_b = x.path_a && x.level != StressLevel::Low;
    let guarded = hi || path_b;
    let tempo = match x.top {
        _ if guarded => Tempo::Measured,
        Some(Mode::Exploration) => Tempo::Exploratory,
        Some(Mode::Assertion | Mode::Order) => Tempo::Decisive,
        Some(Mode::Perception) => Tempo::Observant,
        _ => Tempo::Measured,
    };
    let risk = match (x.risk_posture, x.top) {
        _ if guarded => RiskPosture::Averse,
        (Some(posture), _) => posture,
        (None, Some(Mode::Exploration | Mode::Assertion)) => RiskPosture::Seeking,
        (None, Some(Mode::Order | Mode::Identity)) => RiskPosture::Bounded,
        (None, _) => RiskPosture::Moderate,
    };
    let expressiveness = match x.top {
        _ if x.level == StressLevel::Over => Degree::Low,
        Some(Mode::Connection | Mode::Exploration) => Degree::High,
        Some(Mode::Perception | Mode::Order) => Degree::Low,
        _ => Degree::Medium,
    };
    let commitment_threshold = match x.top {
        _ if hi => Degree::High,
        Some(Mode::Assertion | Mode::Exploration) => Degree::Low,
        Some(Mode::Perception | Mode::Identity) => Degree::High,
        _ => Degree::Medium,
    };
    DecisionStyle {
        tempo,
        risk,
        expressiveness,
        commitment_threshold,
    }
}

/// The recovery route the agent is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RecoveryPath {
    /// Swinging in and out of stress or between targets.
    Oscillating,
    /// In or just out of an episode.
    Gradual,
    /// Experienced and resilient with energy to spare.
    Rapid,
    /// Nothing to recover from.
    Baseline,
}

/// Contract `recovery_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecoveryProfile {
    /// The recovery route.
    pub preferred_path: RecoveryPath,
    /// Whether a human or supervisor should step in.
    pub support_required: bool,
    /// Whether the agent should slow down.
    pub cooldown_required: bool,
}

/// The inputs the recovery profile depends on.
pub(crate) struct RecoveryInputs {
    pub(crate) mode_switches_recent: f64,
    pub(crate) spike_count: u32,
    pub(crate) system: SystemState,
    pub(crate) cycles_since_episode_end: Option<u64>,
    pub(crate) resilience: f64,
    pub(crate) energy: f64,
    pub(crate) episodes: u32,
    pub(crate) level: StressLevel,
}

/// docs/engine.md recovery_profile rules.
pub(crate) fn recovery_profile(x: &RecoveryInputs) -> RecoveryProfile {
    let stressed = x.system == SystemState::Stress;
    let preferred_path =
        if x.mode_switches_recent >= OSCILLATING_SWITCHES || x.spike_count >= OSCILLATING_SPIKES {
            RecoveryPath::Oscillating
        } else if stressed
            || x.cycles_since_episode_end
                .is_some_and(|c| c < RECOVERY_WINDOW)
        {
            RecoveryPath::Gradual
        } else if x.resilience >= RAPID_MIN && x.energy >= RAPID_MIN && x.episodes >= 1 {
            RecoveryPath::Rapid
        } else {
            RecoveryPath::Baseline
        };
    RecoveryProfile {
        preferred_path,
        support_required: x.level == StressLevel::Over || x.energy < SUPPORT_ENERGY,
        cooldown_required: stressed || x.energy < COOLDOWN_ENERGY,
    }
}

/// Contract `hard_locks`: hard limits, `null` when not in force.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HardLocks {
    /// Maximum options to consider (OVER).
    pub option_set_max: Option<u32>,
    /// Novelty allowed (OVER).
    pub novelty_rate: Option<f64>,
    /// Minimum noise filtering (OVER).
    pub noise_filter_min: Option<f64>,
    /// Minimum execution strictness (OVER).
    pub exec_strictness_min: Option<f64>,
    /// Minimum resistance to goal changes (strong identity).
    pub goal_resistance_min: Option<f64>,
    /// Minimum evidence for a pivot (strong identity).
    pub pivot_threshold_min: Option<f64>,
}

/// docs/engine.md hard_locks rules.
pub(crate) fn hard_locks(level: StressLevel, identity: f64) -> HardLocks {
    let mut locks = HardLocks::default();
    if level == StressLevel::Over {
        locks.option_set_max = Some(4);
        locks.novelty_rate = Some(0.0);
        locks.noise_filter_min = Some(0.7);
        locks.exec_strictness_min = Some(0.9);
    }
    if identity >= IDENTITY_LOCK {
        locks.goal_resistance_min = Some(0.7);
        locks.pivot_threshold_min = Some(0.8);
    }
    locks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn style(
        top: Option<Mode>,
        level: StressLevel,
        path_a: bool,
        risk: Option<RiskPosture>,
    ) -> DecisionStyle {
        decision_style(&StyleInputs {
            top,
            level,
            path_a,
            risk_posture: risk,
        })
    }

    #[test]
    fn decision_style_rules() {
        let s = style(Some(Mode::Exploration), StressLevel::Low, false, None);
        assert_eq!(
            (s.tempo, s.risk, s.expressiveness, s.commitment_threshold),
            (
                Tempo::Exploratory,
                RiskPosture::Seeking,
                Degree::High,
                Degree::Low
            )
        );
        let s = style(
            Some(Mode::Order),
            StressLevel::Med,
            false,
            Some(RiskPosture::Seeking),
        );
        assert_eq!(
            (s.tempo, s.risk, s.expressiveness),
            (Tempo::Decisive, RiskPosture::Seeking, Degree::Low)
        );
        let s = style(
            Some(Mode::Exploration),
            StressLevel::Med,
            true,
            Some(RiskPosture::Seeking),
        );
        assert_eq!((s.tempo, s.risk), (Tempo::Measured, RiskPosture::Averse));
        let s = style(Some(Mode::StressResponse), StressLevel::Over, false, None);
        assert_eq!(
            (s.tempo, s.risk, s.expressiveness, s.commitment_threshold),
            (
                Tempo::Measured,
                RiskPosture::Averse,
                Degree::Low,
                Degree::High
            )
        );
        let s = style(None, StressLevel::Low, false, None);
        assert_eq!(
            (s.tempo, s.risk, s.expressiveness, s.commitment_threshold),
            (
                Tempo::Measured,
                RiskPosture::Moderate,
                Degree::Medium,
                Degree::Medium
            )
        );
        assert_eq!(serde_json::to_value(s).ok(), serde_json::from_str(r#"{"tempo":"measured","risk":"moderate","expressiveness":"medium","commitment_threshold":"medium"}"#).ok());
    }

    #[test]
    fn recovery_and_locks() {
        let mut x = RecoveryInputs {
            mode_switches_recent: 0.0,
            spike_count: 0,
            system: SystemState::Baseline,
            cycles_since_episode_end: Some(25),
            resilience: 0.65,
            energy: 0.7,
            episodes: 1,
            level: StressLevel::Low,
        };
        assert_eq!(recovery_profile(&x).preferred_path, RecoveryPath::Rapid);
        x.cycles_since_episode_end = Some(19);
        assert_eq!(recovery_profile(&x).preferred_path, RecoveryPath::Gradual);
        x.spike_count = 3;
        assert_eq!(
            recovery_profile(&x).preferred_path,
            RecoveryPath::Oscillating
        );
        x.energy = 0.15;
        let r = recovery_profile(&x);
        assert!(r.support_required && r.cooldown_required);
        let locks = hard_locks(StressLevel::Over, 0.85);
        assert_eq!(
            (locks.option_set_max, locks.pivot_threshold_min),
            (Some(4), Some(0.8))
        );
        assert_eq!(hard_locks(StressLevel::High, 0.5), HardLocks::default());
    }
}

//! The descriptive building blocks of a persona: decision style, stress
//! recovery, expressions, and the action vocabulary they draw on.
//!
//! The words are the ones the engine's contract uses (ENGINE.md, "The
//! contract"), so a persona reads like the contract an agent of that
//! persona would typically produce when calm.

use crate::engine::Mode;
use serde::Serialize;

/// The engine's action vocabulary, in its fixed order (ENGINE.md).
pub const ACTIONS: [&str; 12] = [
    "explore",
    "question",
    "elaborate",
    "suggest",
    "execute",
    "stabilize",
    "clarify",
    "defer",
    "challenge",
    "comfort",
    "withdraw",
    "pivot",
];

/// Actions that stay allowed under heavy stress (ENGINE.md SAFE set).
pub const SAFE_ACTIONS: [&str; 4] = ["stabilize", "clarify", "defer", "withdraw"];

/// The actions a mode contributes when it is dominant (ENGINE.md table).
pub fn mode_actions(mode: Mode) -> &'static [&'static str] {
    match mode {
        Mode::Perception => &["question", "clarify", "elaborate"],
        Mode::Exploration => &["explore", "question", "pivot", "suggest"],
        Mode::Order => &["execute", "stabilize", "clarify"],
        Mode::Assertion => &["execute", "challenge", "suggest"],
        Mode::Connection => &["comfort", "elaborate", "suggest"],
        Mode::Identity => &["challenge", "clarify", "stabilize"],
        Mode::StressResponse => &["stabilize", "defer", "withdraw", "clarify"],
    }
}

/// How quickly the agent moves from deliberation to action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PersonaTempo)]
pub enum Tempo {
    /// Deliberate, even pace.
    Measured,
    /// Ranges widely before converging.
    Exploratory,
    /// Commits and moves quickly.
    Decisive,
    /// Watches and gathers information first.
    Observant,
}

/// Appetite for uncertain outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PersonaRisk)]
pub enum Risk {
    /// Avoids risk.
    Averse,
    /// Takes ordinary, considered risks.
    Moderate,
    /// Accepts risk within firm limits.
    Bounded,
    /// Looks for upside and accepts risk to get it.
    Seeking,
}

/// A three-step scale used for expressiveness and commitment threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PersonaDegree)]
pub enum Degree {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

/// How a persona decides, in the vocabulary of the contract's `decision_style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PersonaDecisionStyle)]
pub struct DecisionStyle {
    /// Pace of decisions.
    pub tempo: Tempo,
    /// Appetite for risk.
    pub risk: Risk,
    /// How much of its reasoning and feeling the agent shows.
    pub expressiveness: Degree,
    /// How much evidence the agent needs before committing.
    pub commitment_threshold: Degree,
}

impl DecisionStyle {
    /// The calm-state decision style the engine derives when `top` is the
    /// first dominant mode and no risk posture is configured (ENGINE.md).
    pub fn for_top_mode(top: Mode) -> DecisionStyle {
        let tempo = match top {
            Mode::Exploration => Tempo::Exploratory,
            Mode::Assertion | Mode::Order => Tempo::Decisive,
            Mode::Perception => Tempo::Observant,
            _ => Tempo::Measured,
        };
        let risk = match top {
            Mode::Exploration | Mode::Assertion => Risk::Seeking,
            Mode::Order | Mode::Identity => Risk::Bounded,
            _ => Risk::Moderate,
        };
        let expressiveness = match top {
            Mode::Connection | Mode::Exploration => Degree::High,
            Mode::Perception | Mode::Order => Degree::Low,
            _ => Degree::Medium,
        };
        let commitment_threshold = match top {
            Mode::Assertion | Mode::Exploration => Degree::Low,
            Mode::Perception | Mode::Identity => Degree::High,
            _ => Degree::Medium,
        };
        DecisionStyle {
            tempo,
            risk,
            expressiveness,
            commitment_threshold,
        }
    }
}

/// The recovery path, in the vocabulary of the contract's `recovery_profile`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = PersonaRecoveryPath)]
pub enum RecoveryPath {
    /// Settles back without a distinct recovery phase.
    Baseline,
    /// Recovers step by step over a number of calm turns.
    Gradual,
    /// Bounces back quickly once the pressure lifts.
    Rapid,
    /// Swings between engagement and retreat while it recovers.
    Oscillating,
}

/// How a persona typically gets stressed and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PersonaStressRecovery)]
pub struct StressRecovery {
    /// The usual way back to calm.
    pub preferred_path: RecoveryPath,
    /// Situations that typically push this persona into stress.
    #[schema(value_type = Vec<String>)]
    pub typical_triggers: &'static [&'static str],
    /// Actions (from [`ACTIONS`]) it leans on while recovering.
    #[schema(value_type = Vec<crate::engine::Action>)]
    pub recovery_actions: &'static [&'static str],
}

/// How a persona behaves in one kind of situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PersonaExpression)]
pub struct Expression {
    /// The situation, e.g. `"under pressure"`.
    pub context: &'static str,
    /// What the agent does in it.
    pub behavior: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_actions_come_from_the_vocabulary() {
        for mode in Mode::ALL {
            for action in mode_actions(mode) {
                assert!(ACTIONS.contains(action), "{mode}: {action}");
            }
        }
        for action in SAFE_ACTIONS {
            assert!(ACTIONS.contains(&action));
        }
    }

    #[test]
    fn decision_style_serialises_with_contract_words() {
        let style = DecisionStyle::for_top_mode(Mode::Perception);
        let json = serde_json::to_value(style).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tempo": "observant", "risk": "moderate",
                "expressiveness": "low", "commitment_threshold": "high"})
        );
        let json = serde_json::to_value(RecoveryPath::Oscillating).unwrap();
        assert_eq!(json, "oscillating");
    }
}

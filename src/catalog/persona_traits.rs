//! The descriptive building blocks of a persona: stress recovery and
//! expressions. Decision style and recovery path are the engine's own
//! types, so a persona can only use words the contract uses.
//!
//! The words are the ones the engine's contract uses (docs/engine.md, "The
//! contract"), so a persona reads like the contract an agent of that
//! persona would typically produce when calm.

use serde::Serialize;

pub use crate::engine::{DecisionStyle, Degree, RecoveryPath, RiskPosture as Risk, Tempo};

/// How a persona typically gets stressed and how it recovers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = PersonaStressRecovery)]
pub struct StressRecovery {
    /// The usual way back to calm.
    pub preferred_path: RecoveryPath,
    /// Situations that typically push this persona into stress.
    #[schema(value_type = Vec<String>)]
    pub typical_triggers: &'static [&'static str],
    /// Actions (from the engine's vocabulary) it leans on while recovering.
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
    use crate::engine::{calm_decision_style, Mode};

    #[test]
    fn decision_style_serialises_with_contract_words() {
        let json = serde_json::to_value(calm_decision_style(Mode::Perception)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tempo": "observant", "risk": "moderate",
                "expressiveness": "low", "commitment_threshold": "high"})
        );
        let json = serde_json::to_value(super::RecoveryPath::Oscillating).unwrap();
        assert_eq!(json, "oscillating");
    }
}

//! The snapshot view: mode strengths, levels and persona matches.

use serde::{Deserialize, Serialize};

use super::levels::{StressLevel, SystemState};
use super::mode::MODE_COUNT;
use super::personas;
use super::state::EngineState;

/// Mode strengths as a JSON object keyed by mode name, in mode order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModeStrengths {
    /// Perception strength.
    pub perception: f64,
    /// Exploration strength.
    pub exploration: f64,
    /// Order strength.
    pub order: f64,
    /// Assertion strength.
    pub assertion: f64,
    /// Connection strength.
    pub connection: f64,
    /// Identity strength.
    pub identity: f64,
    /// Stress-response strength.
    pub stress_response: f64,
}

impl From<[f64; MODE_COUNT]> for ModeStrengths {
    fn from(v: [f64; MODE_COUNT]) -> Self {
        let [perception, exploration, order, assertion, connection, identity, stress_response] = v;
        ModeStrengths {
            perception,
            exploration,
            order,
            assertion,
            connection,
            identity,
            stress_response,
        }
    }
}

impl From<ModeStrengths> for [f64; MODE_COUNT] {
    fn from(m: ModeStrengths) -> Self {
        [
            m.perception,
            m.exploration,
            m.order,
            m.assertion,
            m.connection,
            m.identity,
            m.stress_response,
        ]
    }
}

/// The snapshot body without the server's ids, timestamp and version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnapshotView {
    /// Mode strengths.
    pub mode_strengths: ModeStrengths,
    /// Stress level.
    pub stress_level: StressLevel,
    /// System state.
    pub system_state: SystemState,
    /// Energy in [0, 1].
    pub energy_level: f64,
    /// Stability in [0, 1].
    pub stability_index: f64,
    /// Completed cycles.
    pub cycle_count: u64,
    /// Best persona id with score ≥ 0.5 (`persona_…`), if any.
    pub persona_primary: Option<String>,
    /// Second-best persona id with score ≥ 0.5, if any.
    pub persona_secondary: Option<String>,
    /// Active composite names.
    pub active_composites: Vec<String>,
}

/// Builds the snapshot view of a state.
pub(crate) fn build(state: &EngineState) -> SnapshotView {
    let scores = personas::match_scores(&state.modes);
    let (primary, secondary) = personas::primary_secondary(&scores);
    SnapshotView {
        mode_strengths: state.modes.into(),
        stress_level: state.level,
        system_state: state.system,
        energy_level: state.energy,
        stability_index: state.stability,
        cycle_count: state.cycle,
        persona_primary: primary.map(personas::persona_id),
        persona_secondary: secondary.map(personas::persona_id),
        active_composites: personas::active_composites(&scores)
            .into_iter()
            .map(str::to_string)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let state = EngineState::new([0.85, 0.15, 0.75, 0.2, 0.2, 0.35, 0.05], 0.8);
        let view = build(&state);
        assert_eq!(view.persona_primary.as_deref(), Some("persona_analytical"));
        let json = serde_json::to_string(&view).unwrap_or_default();
        assert!(
            json.starts_with(
                r#"{"mode_strengths":{"perception":0.85,"exploration":0.15,"order":0.75"#
            ),
            "{json}"
        );
        assert!(json.contains(r#""stress_level":"LOW","system_state":"baseline","energy_level":0.8,"stability_index":1.0,"cycle_count":0"#), "{json}");
        let empty = build(&EngineState::new([0.0; MODE_COUNT], 0.8));
        assert_eq!(
            (empty.persona_primary, empty.persona_secondary),
            (None, None)
        );
        assert!(empty.active_composites.is_empty());
    }
}

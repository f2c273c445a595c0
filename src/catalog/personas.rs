//! The twelve reference personas (docs/api.md "Personas"): their wire shape and
//! lookup.
//!
//! The written content lives in `persona_data`; each persona's
//! `mode_profile` is taken from the engine's table
//! ([`crate::engine::personas::PERSONAS`]) so matching and the catalogue
//! always agree.

use super::mode_profile::ModeProfile;
use super::persona_data::{PersonaDef, DEFS};
use super::persona_traits::{DecisionStyle, Expression, StressRecovery};
use crate::engine::personas::{persona_id, persona_profile};
use crate::engine::Mode;
use serde::Serialize;
use std::sync::LazyLock;

/// Prefix of every persona id.
pub const PERSONA_ID_PREFIX: &str = "persona_";

/// A reference persona as `GET /v1/personas` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Persona {
    /// Public id: `persona_` + [`Persona::key`], e.g. `persona_analytical`.
    pub id: String,
    /// The engine's key, e.g. `analytical` (not on the wire).
    #[serde(skip)]
    #[schema(ignore)]
    pub key: &'static str,
    /// Display name, e.g. `The Analyst`.
    pub name: &'static str,
    /// One-word archetype, e.g. `detail-oriented`.
    pub archetype: &'static str,
    /// What the agent is like and when to choose it.
    pub description: &'static str,
    /// First dominant mode.
    pub mode_a: Mode,
    /// Second dominant mode.
    pub mode_b: Mode,
    /// The persona's reference mode vector (the engine's table).
    #[schema(value_type = crate::engine::ModeStrengths)]
    pub mode_profile: ModeProfile,
    /// Values the persona holds.
    #[schema(value_type = Vec<String>)]
    pub core_values: &'static [&'static str],
    /// Actions (engine vocabulary, lowercase) it reaches for first.
    #[schema(value_type = Vec<crate::engine::Action>)]
    pub preferred_actions: &'static [&'static str],
    /// Its calm-state decision style, in the contract's words.
    pub decision_style: DecisionStyle,
    /// What stresses it and how it recovers.
    pub stress_recovery: StressRecovery,
    /// How it behaves in typical situations.
    #[schema(value_type = Vec<Expression>)]
    pub expressions: &'static [Expression],
}

impl Persona {
    fn from_def(def: &PersonaDef) -> Persona {
        let profile = persona_profile(def.key)
            .unwrap_or_else(|| panic!("persona {:?} is missing from the engine table", def.key));
        Persona {
            id: persona_id(def.key),
            key: def.key,
            name: def.name,
            archetype: def.archetype,
            description: def.description,
            mode_a: def.mode_a,
            mode_b: def.mode_b,
            mode_profile: ModeProfile(profile),
            core_values: def.core_values,
            preferred_actions: def.preferred_actions,
            decision_style: def.decision_style,
            stress_recovery: def.stress_recovery,
            expressions: def.expressions,
        }
    }
}

static ALL: LazyLock<Vec<Persona>> = LazyLock::new(|| DEFS.iter().map(Persona::from_def).collect());

/// All twelve personas, in the engine's persona order.
pub fn all() -> &'static [Persona] {
    &ALL
}

/// Strips the `persona_` prefix if present. Matching is exact (lowercase).
fn key_of(key_or_id: &str) -> &str {
    key_or_id
        .strip_prefix(PERSONA_ID_PREFIX)
        .unwrap_or(key_or_id)
}

/// A persona by id (`persona_analytical`) or bare key (`analytical`).
/// Lookup is case-sensitive; unknown → `None`.
pub fn get(key_or_id: &str) -> Option<&'static Persona> {
    let key = key_of(key_or_id);
    all().iter().find(|p| p.key == key)
}

/// The display name of a persona by id or key, e.g. `The Analyst`.
pub fn name_of(key_or_id: &str) -> Option<&'static str> {
    let key = key_of(key_or_id);
    DEFS.iter().find(|d| d.key == key).map(|d| d.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::personas::PERSONAS;
    use crate::engine::Mode::*;
    use crate::engine::{calm_decision_style, mode_actions, Action, SAFE};

    /// The table from docs/api.md: key, name, archetype, mode_a, mode_b.
    const SPEC: [(&str, &str, &str, Mode, Mode); 12] = [
        (
            "analytical",
            "The Analyst",
            "detail-oriented",
            Perception,
            Order,
        ),
        (
            "creative",
            "The Creator",
            "imaginative",
            Exploration,
            Assertion,
        ),
        ("leader", "The Leader", "commanding", Assertion, Identity),
        (
            "supporter",
            "The Supporter",
            "empathetic",
            Connection,
            Perception,
        ),
        (
            "explorer",
            "The Explorer",
            "adventurous",
            Exploration,
            Connection,
        ),
        ("guardian", "The Guardian", "protective", Order, Identity),
        (
            "philosopher",
            "The Philosopher",
            "thoughtful",
            Identity,
            Perception,
        ),
        (
            "performer",
            "The Performer",
            "expressive",
            Connection,
            Assertion,
        ),
        ("scholar", "The Scholar", "intellectual", Perception, Order),
        ("diplomat", "The Diplomat", "harmonious", Connection, Order),
        (
            "pioneer",
            "The Pioneer",
            "ambitious",
            Exploration,
            Assertion,
        ),
        (
            "catalyst",
            "The Catalyst",
            "dynamic",
            Exploration,
            Connection,
        ),
    ];

    #[test]
    fn twelve_personas_exactly_as_the_spec_lists_them() {
        let personas = all();
        assert_eq!(personas.len(), 12);
        for (p, (key, name, archetype, a, b)) in personas.iter().zip(SPEC) {
            assert_eq!(p.id, format!("persona_{key}"));
            assert_eq!(p.key, key);
            assert_eq!(
                (p.name, p.archetype, p.mode_a, p.mode_b),
                (name, archetype, a, b),
                "{key}"
            );
        }
    }

    #[test]
    fn mode_profiles_are_the_engine_table_and_pairwise_distinct() {
        for (p, (key, profile)) in all().iter().zip(PERSONAS.iter()) {
            assert_eq!(p.key, *key);
            assert_eq!(p.mode_profile.0, *profile);
        }
        for (i, p) in all().iter().enumerate() {
            for q in &all()[i + 1..] {
                assert_ne!(p.mode_profile, q.mode_profile, "{} vs {}", p.id, q.id);
            }
        }
    }

    #[test]
    fn dominant_modes_are_the_two_strongest_of_the_profile() {
        for p in all() {
            let (a, b) = (p.mode_profile.get(p.mode_a), p.mode_profile.get(p.mode_b));
            for m in Mode::ALL
                .into_iter()
                .filter(|m| ![p.mode_a, p.mode_b].contains(m))
            {
                assert!(p.mode_profile.get(m) < a.min(b), "{}: {m}", p.id);
            }
        }
    }

    #[test]
    fn actions_come_from_the_vocabulary() {
        for p in all() {
            assert!((3..=5).contains(&p.preferred_actions.len()), "{}", p.id);
            for (i, action) in p.preferred_actions.iter().enumerate() {
                assert!(
                    Action::ALL.iter().any(|a| a.as_str() == *action),
                    "{}: {action}",
                    p.id
                );
                assert!(
                    !p.preferred_actions[..i].contains(action),
                    "{}: duplicate {action}",
                    p.id
                );
            }
            let dominant: Vec<&str> = [p.mode_a, p.mode_b]
                .into_iter()
                .flat_map(|m| mode_actions(m).iter())
                .map(Action::as_str)
                .collect();
            let from_dominant = p
                .preferred_actions
                .iter()
                .filter(|a| dominant.contains(a))
                .count();
            assert!(
                from_dominant >= 3,
                "{}: only {from_dominant} actions from its modes",
                p.id
            );
            let recovery = p.stress_recovery.recovery_actions;
            assert!(!recovery.is_empty());
            for action in recovery {
                assert!(
                    SAFE.iter().any(|a| a.as_str() == *action) || *action == "comfort",
                    "{}: {action}",
                    p.id
                );
            }
        }
    }

    #[test]
    fn decision_style_follows_the_dominant_modes() {
        for p in all() {
            let (a, b) = (calm_decision_style(p.mode_a), calm_decision_style(p.mode_b));
            let s = p.decision_style;
            assert!(s.tempo == a.tempo || s.tempo == b.tempo, "{} tempo", p.id);
            assert!(s.risk == a.risk || s.risk == b.risk, "{} risk", p.id);
            assert!(
                s.expressiveness == a.expressiveness || s.expressiveness == b.expressiveness,
                "{}",
                p.id
            );
            let c = s.commitment_threshold;
            assert!(
                c == a.commitment_threshold || c == b.commitment_threshold,
                "{}",
                p.id
            );
        }
    }

    #[test]
    fn written_content_is_complete() {
        for p in all() {
            let sentences = p.description.matches(". ").count() + 1;
            assert!(
                (2..=3).contains(&sentences),
                "{}: {sentences} sentences",
                p.id
            );
            assert!(p.description.ends_with('.'));
            assert!(p.core_values.len() >= 3);
            assert!(!p.stress_recovery.typical_triggers.is_empty());
            assert!((3..=4).contains(&p.expressions.len()), "{}", p.id);
            assert!(p.expressions.iter().any(|e| e.context == "under pressure"));
            for e in p.expressions {
                assert!(
                    !e.context.is_empty() && e.behavior.ends_with('.'),
                    "{}",
                    p.id
                );
            }
        }
    }

    #[test]
    fn lookup_by_id_and_key() {
        assert_eq!(
            get("persona_analytical").map(|p| p.name),
            Some("The Analyst")
        );
        assert_eq!(
            get("analytical").map(|p| p.id.as_str()),
            Some("persona_analytical")
        );
        assert!(get("persona_unknown").is_none());
        assert!(get("persona_").is_none());
        assert!(get("").is_none());
        assert!(get("PERSONA_ANALYTICAL").is_none());
        assert_eq!(name_of("persona_catalyst"), Some("The Catalyst"));
        assert_eq!(name_of("diplomat"), Some("The Diplomat"));
        assert_eq!(name_of("nobody"), None);
    }

    #[test]
    fn wire_shape() {
        let json = serde_json::to_value(get("persona_performer").unwrap()).unwrap();
        let obj = json.as_object().unwrap();
        for field in [
            "id",
            "name",
            "archetype",
            "description",
            "mode_a",
            "mode_b",
            "mode_profile",
            "core_values",
            "preferred_actions",
            "decision_style",
            "stress_recovery",
            "expressions",
        ] {
            assert!(obj.contains_key(field), "{field}");
        }
        assert!(!obj.contains_key("key"));
        assert_eq!(json["id"], "persona_performer");
        assert_eq!(json["mode_a"], "connection");
        assert_eq!(json["mode_b"], "assertion");
        assert_eq!(json["mode_profile"]["connection"], 0.85);
        assert_eq!(json["mode_profile"].as_object().unwrap().len(), 7);
        assert_eq!(json["decision_style"]["tempo"], "decisive");
        assert_eq!(json["stress_recovery"]["preferred_path"], "rapid");
        assert!(json["expressions"][0]["context"].is_string());
        assert!(json["expressions"][0]["behavior"].is_string());
    }
}

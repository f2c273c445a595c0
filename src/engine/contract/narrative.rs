//! The deterministic `narrative_prompt` text.

use crate::engine::levels::{StressLevel, SystemState};

/// Opener used when the profile has no description.
const NEUTRAL_OPENER: &str = "You are an agent with a consistent, self-aware identity.";
/// Stability at or above which behaviour is described as consistent.
const CONSISTENT_STABILITY: f64 = 0.8;
/// Stability at or above which behaviour is described as somewhat variable.
const VARIABLE_STABILITY: f64 = 0.5;

/// What the narrative is built from.
pub(crate) struct NarrativeInputs<'a> {
    pub(crate) description: Option<&'a str>,
    pub(crate) resilience: f64,
    pub(crate) stability: f64,
    pub(crate) level: StressLevel,
    pub(crate) system: SystemState,
    pub(crate) recently_recovered: bool,
}

fn opener(description: Option<&str>) -> String {
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if d.ends_with(['.', '!', '?']) => d.to_string(),
        Some(d) => format!("{d}."),
        None => NEUTRAL_OPENER.to_string(),
    }
}

fn resilience_phrase(resilience: f64) -> &'static str {
    if resilience < 0.4 {
        "You are still learning to recover from pressure, so pace yourself."
    } else if resilience < 0.6 {
        "You recover from pressure at a steady pace."
    } else {
        "You recover from pressure quickly and reliably."
    }
}

fn stability_phrase(stability: f64) -> &'static str {
    if stability >= CONSISTENT_STABILITY {
        "Your behaviour has been consistent."
    } else if stability >= VARIABLE_STABILITY {
        "Your behaviour has been somewhat variable; favour familiar approaches."
    } else {
        "Your behaviour has been unsettled; keep steps small and explicit."
    }
}

fn situation_phrase(x: &NarrativeInputs<'_>) -> &'static str {
    if x.level.is_high() {
        "Right now you are under pressure: keep options few, act safely and stabilise first."
    } else if x.recently_recovered {
        "You are recovering from a recent stress episode: ease back in gradually."
    } else if x.system == SystemState::Growth {
        "You are growing: there is room to explore and elaborate."
    } else {
        "Things are calm: work normally."
    }
}

/// Opener, resilience, stability and situation, one sentence each.
pub(crate) fn narrative(x: &NarrativeInputs<'_>) -> String {
    format!(
        "{} {} {} {}",
        opener(x.description),
        resilience_phrase(x.resilience),
        stability_phrase(x.stability),
        situation_phrase(x)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_the_description() {
        let x = NarrativeInputs {
            description: Some("A curious research agent"),
            resilience: 0.5,
            stability: 0.99,
            level: StressLevel::Low,
            system: SystemState::Baseline,
            recently_recovered: false,
        };
        let text = narrative(&x);
        assert!(
            text.starts_with("A curious research agent. You recover"),
            "{text}"
        );
        let text = narrative(&NarrativeInputs {
            description: None,
            level: StressLevel::Over,
            ..x
        });
        assert!(
            text.starts_with(NEUTRAL_OPENER) && text.contains("under pressure"),
            "{text}"
        );
    }

    #[test]
    fn situation_priority() {
        let x = NarrativeInputs {
            description: Some("  "),
            resilience: 0.2,
            stability: 0.3,
            level: StressLevel::Med,
            system: SystemState::Growth,
            recently_recovered: true,
        };
        let text = narrative(&x);
        assert!(
            text.contains("recovering")
                && text.contains("still learning")
                && text.contains("unsettled"),
            "{text}"
        );
    }
}

//! Allowed and forbidden actions for a level (docs/engine.md "Actions").

use crate::engine::action::Action;
use crate::engine::action::{mode_actions, ActionSet, GROWTH_EXTRA, NEUTRAL, REGULAR, RISKY, SAFE};
use crate::engine::levels::{StressLevel, SystemState};
use crate::engine::mode::Mode;

/// The actions opened and restricted by one contract. `restricted` never
/// contains the always-forbidden pair; the wire list appends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ActionGate {
    pub(crate) allowed: ActionSet,
    pub(crate) restricted: ActionSet,
}

/// Union of the dominant modes' actions (NEUTRAL without a dominant mode),
/// plus explore/elaborate in growth.
pub(crate) fn mode_action_set(dominant: &[Option<Mode>; 2], system: SystemState) -> ActionSet {
    let mut set = ActionSet::EMPTY;
    for mode in dominant.iter().flatten() {
        set = set.union(mode_actions(*mode));
    }
    if set.is_empty() {
        set = NEUTRAL;
    }
    if system == SystemState::Growth {
        set = set.union(GROWTH_EXTRA);
    }
    set
}

/// Applies the per-level table.
pub(crate) fn gate(
    level: StressLevel,
    modes: ActionSet,
    path_a: bool,
    recovery_learned: bool,
) -> ActionGate {
    let comfort = ActionSet::of(&[Action::Comfort]);
    match level {
        StressLevel::Low => ActionGate {
            allowed: modes,
            restricted: ActionSet::EMPTY,
        },
        StressLevel::Med if path_a => ActionGate {
            allowed: modes.minus(RISKY),
            restricted: RISKY,
        },
        StressLevel::Med => ActionGate {
            allowed: modes,
            restricted: ActionSet::EMPTY,
        },
        StressLevel::High => {
            let mut allowed = modes.minus(RISKY).minus(comfort).union(SAFE);
            let mut restricted = RISKY;
            if recovery_learned {
                allowed = allowed.union(comfort);
            } else {
                restricted = restricted.union(comfort);
            }
            ActionGate {
                allowed,
                restricted,
            }
        }
        StressLevel::Over => ActionGate {
            allowed: SAFE,
            restricted: REGULAR.minus(SAFE),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::action::ALWAYS_FORBIDDEN;

    #[test]
    fn neutral_and_growth_sets() {
        assert_eq!(
            mode_action_set(&[None, None], SystemState::Baseline),
            NEUTRAL
        );
        let growth = mode_action_set(&[Some(Mode::Order), None], SystemState::Growth);
        assert!(growth.contains(Action::Explore) && growth.contains(Action::Execute));
    }

    #[test]
    fn level_table() {
        let modes = mode_action_set(
            &[Some(Mode::Exploration), Some(Mode::Connection)],
            SystemState::Baseline,
        );
        let low = gate(StressLevel::Low, modes, true, true);
        assert_eq!(low.allowed, modes);
        let med = gate(StressLevel::Med, modes, true, true);
        assert!(med.allowed.intersect(RISKY).is_empty() && med.restricted == RISKY);
        let high = gate(StressLevel::High, modes, false, false);
        assert!(SAFE.is_subset(high.allowed) && !high.allowed.contains(Action::Comfort));
        assert!(high.restricted.contains(Action::Comfort));
        let high = gate(StressLevel::High, modes, false, true);
        assert!(high.allowed.contains(Action::Comfort));
        let over = gate(StressLevel::Over, modes, false, true);
        assert_eq!(over.allowed, SAFE);
        assert!(over.restricted.intersect(ALWAYS_FORBIDDEN).is_empty());
        assert_eq!(over.restricted.union(SAFE), REGULAR);
    }
}

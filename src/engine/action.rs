//! The action vocabulary and a compact set type over it.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::mode::Mode;

/// Number of actions in the vocabulary (12 regular + 2 always forbidden).
pub const ACTION_COUNT: usize = 14;

/// An action an agent may be allowed or forbidden to take. The declaration
/// order is the vocabulary order used for every action list on the wire.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Try something new.
    Explore,
    /// Ask for information.
    Question,
    /// Expand on a point.
    Elaborate,
    /// Propose an option.
    Suggest,
    /// Carry out a plan.
    Execute,
    /// Restore order and calm.
    Stabilize,
    /// Resolve ambiguity.
    Clarify,
    /// Postpone a decision.
    Defer,
    /// Push back on a claim or plan.
    Challenge,
    /// Offer emotional support.
    Comfort,
    /// Step back from the interaction.
    Withdraw,
    /// Change direction.
    Pivot,
    /// Never allowed.
    EmotionalManipulation,
    /// Never allowed.
    IdentityOverride,
}

impl Action {
    /// Every action in vocabulary order.
    pub const ALL: [Action; ACTION_COUNT] = [
        Action::Explore,
        Action::Question,
        Action::Elaborate,
        Action::Suggest,
        Action::Execute,
        Action::Stabilize,
        Action::Clarify,
        Action::Defer,
        Action::Challenge,
        Action::Comfort,
        Action::Withdraw,
        Action::Pivot,
        Action::EmotionalManipulation,
        Action::IdentityOverride,
    ];

    /// The wire name (lowercase snake_case).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Explore => "explore",
            Action::Question => "question",
            Action::Elaborate => "elaborate",
            Action::Suggest => "suggest",
            Action::Execute => "execute",
            Action::Stabilize => "stabilize",
            Action::Clarify => "clarify",
            Action::Defer => "defer",
            Action::Challenge => "challenge",
            Action::Comfort => "comfort",
            Action::Withdraw => "withdraw",
            Action::Pivot => "pivot",
            Action::EmotionalManipulation => "emotional_manipulation",
            Action::IdentityOverride => "identity_override",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of actions as a bit mask, so the contract can do set algebra
/// without allocating; iteration is always in vocabulary order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionSet(u16);

impl ActionSet {
    /// The empty set.
    pub const EMPTY: ActionSet = ActionSet(0);

    /// The set holding exactly `actions`.
    pub const fn of(actions: &[Action]) -> ActionSet {
        let mut bits = 0u16;
        let mut i = 0;
        while i < actions.len() {
            bits |= actions[i].bit();
            i += 1;
        }
        ActionSet(bits)
    }

    /// Whether `action` is in the set.
    pub const fn contains(self, action: Action) -> bool {
        self.0 & action.bit() != 0
    }

    /// Set union.
    pub const fn union(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 | other.0)
    }

    /// Set difference (`self` minus `other`).
    pub const fn minus(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & !other.0)
    }

    /// Set intersection.
    pub const fn intersect(self, other: ActionSet) -> ActionSet {
        ActionSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every member of `self` is in `other`.
    pub const fn is_subset(self, other: ActionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Members in vocabulary order.
    pub fn iter(self) -> impl Iterator<Item = Action> {
        Action::ALL.into_iter().filter(move |a| self.contains(*a))
    }

    /// Members in vocabulary order, collected.
    pub fn to_vec(self) -> Vec<Action> {
        self.iter().collect()
    }
}

/// Actions that are safe under any stress (docs/engine.md SAFE).
pub const SAFE: ActionSet = ActionSet::of(&[
    Action::Stabilize,
    Action::Clarify,
    Action::Defer,
    Action::Withdraw,
]);

/// Actions withheld under high stress (docs/engine.md RISKY).
pub const RISKY: ActionSet = ActionSet::of(&[
    Action::Execute,
    Action::Challenge,
    Action::Explore,
    Action::Pivot,
]);

/// Actions offered when no mode is active (docs/engine.md NEUTRAL).
pub const NEUTRAL: ActionSet = ActionSet::of(&[
    Action::Question,
    Action::Elaborate,
    Action::Suggest,
    Action::Clarify,
    Action::Defer,
]);

/// The two actions that are forbidden in every contract.
pub const ALWAYS_FORBIDDEN: ActionSet =
    ActionSet::of(&[Action::EmotionalManipulation, Action::IdentityOverride]);

/// The twelve regular actions (everything but the always-forbidden two).
pub const REGULAR: ActionSet =
    ActionSet(((1u32 << ACTION_COUNT) - 1) as u16).minus(ALWAYS_FORBIDDEN);

/// Extra actions opened up while the system is in growth.
pub const GROWTH_EXTRA: ActionSet = ActionSet::of(&[Action::Explore, Action::Elaborate]);

/// The actions a mode contributes when it is dominant (docs/engine.md table).
pub const fn mode_actions(mode: Mode) -> ActionSet {
    use Action::*;
    match mode {
        Mode::Perception => ActionSet::of(&[Question, Clarify, Elaborate]),
        Mode::Exploration => ActionSet::of(&[Explore, Question, Pivot, Suggest]),
        Mode::Order => ActionSet::of(&[Execute, Stabilize, Clarify]),
        Mode::Assertion => ActionSet::of(&[Execute, Challenge, Suggest]),
        Mode::Connection => ActionSet::of(&[Comfort, Elaborate, Suggest]),
        Mode::Identity => ActionSet::of(&[Challenge, Clarify, Stabilize]),
        Mode::StressResponse => ActionSet::of(&[Stabilize, Defer, Withdraw, Clarify]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_in_snake_case_and_vocabulary_order() {
        let names: Vec<String> = Action::ALL
            .iter()
            .map(|a| serde_json::to_string(a).unwrap_or_default())
            .collect();
        assert_eq!(names[0], "\"explore\"");
        assert_eq!(names[12], "\"emotional_manipulation\"");
        for a in Action::ALL {
            assert_eq!(
                serde_json::to_string(&a).ok(),
                Some(format!("\"{}\"", a.as_str()))
            );
        }
        let all = ActionSet::of(&Action::ALL).to_vec();
        assert_eq!(all, Action::ALL.to_vec());
    }

    #[test]
    fn set_algebra() {
        assert_eq!(REGULAR.iter().count(), 12);
        assert!(SAFE.is_subset(REGULAR));
        assert!(SAFE.intersect(RISKY).is_empty());
        assert_eq!(mode_actions(Mode::StressResponse), SAFE);
        assert!(!REGULAR.contains(Action::IdentityOverride));
    }
}

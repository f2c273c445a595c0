//! The seven behavioural modes, in the fixed order every vector uses.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Number of modes; every mode vector has this length.
pub const MODE_COUNT: usize = 7;

/// A behavioural mode. The discriminant is the index into mode vectors,
/// so the order here is part of the engine's definition (docs/engine.md).
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
pub enum Mode {
    /// Taking in and analysing information.
    Perception = 0,
    /// Seeking novelty.
    Exploration = 1,
    /// Structure and execution.
    Order = 2,
    /// Asserting goals and positions.
    Assertion = 3,
    /// Relating to others.
    Connection = 4,
    /// Holding to values and self.
    Identity = 5,
    /// Reacting to pressure.
    StressResponse = 6,
}

impl Mode {
    /// All modes in vector order.
    pub const ALL: [Mode; MODE_COUNT] = [
        Mode::Perception,
        Mode::Exploration,
        Mode::Order,
        Mode::Assertion,
        Mode::Connection,
        Mode::Identity,
        Mode::StressResponse,
    ];

    /// Index of this mode in a mode vector.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The wire name (always lowercase).
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Perception => "perception",
            Mode::Exploration => "exploration",
            Mode::Order => "order",
            Mode::Assertion => "assertion",
            Mode::Connection => "connection",
            Mode::Identity => "identity",
            Mode::StressResponse => "stress_response",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a mode name that is not one of the seven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}; expected one of perception, exploration, order, assertion, connection, identity, stress_response")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    /// Mode names are accepted case-insensitively (docs/api.md).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_prints_lowercase() {
        assert_eq!("EXPLORATION".parse::<Mode>(), Ok(Mode::Exploration));
        assert_eq!("Stress_Response".parse::<Mode>(), Ok(Mode::StressResponse));
        assert_eq!(Mode::StressResponse.to_string(), "stress_response");
        assert!("calm".parse::<Mode>().is_err());
    }

    #[test]
    fn order_matches_indices() {
        for (i, m) in Mode::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
        }
    }
}

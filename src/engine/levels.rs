//! The discrete levels the engine reports: stress level, system state and
//! drift level.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Stress level, ordered by severity (LOW < MED < HIGH < OVER).
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
pub enum StressLevel {
    /// Calm.
    #[serde(rename = "LOW")]
    Low,
    /// Elevated; exploration and assertion are damped.
    #[serde(rename = "MED")]
    Med,
    /// High; the system is in stress and risky actions are withheld.
    #[serde(rename = "HIGH")]
    High,
    /// Overloaded; only safe actions are allowed.
    #[serde(rename = "OVER")]
    Over,
}

impl StressLevel {
    /// The wire name (`LOW`, `MED`, `HIGH`, `OVER`).
    pub const fn as_str(self) -> &'static str {
        match self {
            StressLevel::Low => "LOW",
            StressLevel::Med => "MED",
            StressLevel::High => "HIGH",
            StressLevel::Over => "OVER",
        }
    }

    /// Whether this level puts the system under stress (HIGH or OVER).
    pub const fn is_high(self) -> bool {
        matches!(self, StressLevel::High | StressLevel::Over)
    }
}

impl fmt::Display for StressLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The coarse system state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SystemState {
    /// Normal operation.
    Baseline,
    /// A stress episode is in progress.
    Stress,
    /// Calm, energetic, stable and exploring: growth actions open up.
    Growth,
}

impl SystemState {
    /// The wire name (lowercase).
    pub const fn as_str(self) -> &'static str {
        match self {
            SystemState::Baseline => "baseline",
            SystemState::Stress => "stress",
            SystemState::Growth => "growth",
        }
    }
}

impl fmt::Display for SystemState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far the mode vector has drifted from its anchor, ordered by severity.
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
pub enum DriftLevel {
    /// Noise; the anchor follows slowly.
    #[serde(rename = "D0_noise")]
    D0Noise,
    /// A context-driven deviation.
    #[serde(rename = "D1_context")]
    D1Context,
    /// An adaptive shift.
    #[serde(rename = "D2_adaptive")]
    D2Adaptive,
    /// Corruption; the state is rolled back to the last stable point.
    #[serde(rename = "D3_corrupt")]
    D3Corrupt,
}

impl DriftLevel {
    /// All levels in severity order.
    pub const ALL: [DriftLevel; 4] = [
        DriftLevel::D0Noise,
        DriftLevel::D1Context,
        DriftLevel::D2Adaptive,
        DriftLevel::D3Corrupt,
    ];

    /// The wire name (`D0_noise`, `D1_context`, `D2_adaptive`, `D3_corrupt`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DriftLevel::D0Noise => "D0_noise",
            DriftLevel::D1Context => "D1_context",
            DriftLevel::D2Adaptive => "D2_adaptive",
            DriftLevel::D3Corrupt => "D3_corrupt",
        }
    }

    /// The short form (`D0` … `D3`).
    pub const fn short(self) -> &'static str {
        match self {
            DriftLevel::D0Noise => "D0",
            DriftLevel::D1Context => "D1",
            DriftLevel::D2Adaptive => "D2",
            DriftLevel::D3Corrupt => "D3",
        }
    }

    /// Parses a drift-history filter: the wire name or its short form
    /// (`D1` or `D1_context`), case-insensitively.
    pub fn parse_filter(s: &str) -> Option<DriftLevel> {
        let s = s.trim();
        DriftLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s) || l.short().eq_ignore_ascii_case(s))
    }
}

impl fmt::Display for DriftLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names() {
        assert_eq!(
            serde_json::to_string(&StressLevel::Over).ok().as_deref(),
            Some("\"OVER\"")
        );
        assert_eq!(
            serde_json::to_string(&SystemState::Growth).ok().as_deref(),
            Some("\"growth\"")
        );
        assert_eq!(
            serde_json::to_string(&DriftLevel::D2Adaptive)
                .ok()
                .as_deref(),
            Some("\"D2_adaptive\"")
        );
        for l in DriftLevel::ALL {
            assert_eq!(
                serde_json::to_string(&l).ok(),
                Some(format!("\"{}\"", l.as_str()))
            );
        }
    }

    #[test]
    fn severity_order() {
        assert!(StressLevel::Low < StressLevel::Med);
        assert!(StressLevel::High < StressLevel::Over);
        assert!(DriftLevel::D0Noise < DriftLevel::D3Corrupt);
    }

    #[test]
    fn drift_filter_accepts_short_and_long_forms() {
        assert_eq!(DriftLevel::parse_filter("D1"), Some(DriftLevel::D1Context));
        assert_eq!(
            DriftLevel::parse_filter("d1_CONTEXT"),
            Some(DriftLevel::D1Context)
        );
        assert_eq!(DriftLevel::parse_filter("d3"), Some(DriftLevel::D3Corrupt));
        assert_eq!(
            DriftLevel::parse_filter("D0_noise"),
            Some(DriftLevel::D0Noise)
        );
        assert_eq!(DriftLevel::parse_filter("D4"), None);
        assert_eq!(DriftLevel::parse_filter("D1_noise"), None);
    }
}

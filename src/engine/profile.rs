//! The static behavioural profile of an instance (`initial_config.profile`).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use super::mode::Mode;

/// Error for a profile option that is not one of its allowed words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}; expected one of {expected}")]
pub struct InvalidProfileValue {
    /// The profile field being parsed, e.g. `energy_policy`.
    pub field: &'static str,
    /// The rejected input.
    pub value: String,
    /// The allowed words, comma separated.
    pub expected: &'static str,
}

/// Declares a lowercase-serialised profile option with `as_str` and a
/// case-insensitive `FromStr`.
macro_rules! profile_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal, $expected:literal,
     { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire word (lowercase).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = InvalidProfileValue;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| InvalidProfileValue {
                        field: $field,
                        value: s.to_string(),
                        expected: $expected,
                    })
            }
        }
    };
}

profile_enum!(
    /// Risk appetite; also the vocabulary of `decision_style.risk`.
    RiskPosture, "risk_posture", "seeking, moderate, averse, bounded", {
        /// Takes risks readily.
        Seeking => "seeking",
        /// Middle of the road.
        Moderate => "moderate",
        /// Avoids risk.
        Averse => "averse",
        /// Takes risks only within explicit bounds.
        Bounded => "bounded",
    }
);

profile_enum!(
    /// How fast the instance spends energy (cost multiplier 0.5 / 1 / 1.5).
    #[derive(Default)]
    EnergyPolicy, "energy_policy", "conservative, balanced, aggressive", {
        /// Half the energy cost.
        Conservative => "conservative",
        /// The default cost.
        #[default]
        Balanced => "balanced",
        /// One and a half times the cost.
        Aggressive => "aggressive",
    }
);

profile_enum!(
    /// How much stress it takes to reach HIGH and OVER.
    #[derive(Default)]
    StressTolerance, "stress_tolerance", "fragile, normal, resilient", {
        /// Lower HIGH/OVER thresholds.
        Fragile => "fragile",
        /// The default thresholds.
        #[default]
        Normal => "normal",
        /// Higher HIGH/OVER thresholds.
        Resilient => "resilient",
    }
);

profile_enum!(
    /// How much drift still counts as noise (θ_D0 shift).
    #[derive(Default)]
    DriftTolerance, "drift_tolerance", "strict, normal, permissive", {
        /// Lower θ_D0.
        Strict => "strict",
        /// The default θ_D0.
        #[default]
        Normal => "normal",
        /// Higher θ_D0.
        Permissive => "permissive",
    }
);

impl EnergyPolicy {
    /// Multiplier applied to the per-cycle energy cost.
    pub const fn cost_multiplier(self) -> f64 {
        match self {
            EnergyPolicy::Conservative => 0.5,
            EnergyPolicy::Balanced => 1.0,
            EnergyPolicy::Aggressive => 1.5,
        }
    }
}

/// Cap on θ_OVER after the resilient shift.
pub const RESILIENT_THETA_OVER_MAX: f64 = 0.95;

impl StressTolerance {
    /// Shifts applied to (θ_HIGH, θ_OVER).
    pub const fn threshold_shifts(self) -> (f64, f64) {
        match self {
            StressTolerance::Fragile => (-0.05, -0.05),
            StressTolerance::Normal => (0.0, 0.0),
            StressTolerance::Resilient => (0.05, 0.03),
        }
    }
}

impl DriftTolerance {
    /// Shift applied to θ_D0.
    pub const fn theta_d0_shift(self) -> f64 {
        match self {
            DriftTolerance::Strict => -0.02,
            DriftTolerance::Normal => 0.0,
            DriftTolerance::Permissive => 0.04,
        }
    }
}

/// Arbitration weight factor for core modes.
pub const CORE_MODE_FACTOR: f64 = 1.25;
/// Arbitration weight factor for suppressed modes.
pub const SUPPRESSED_MODE_FACTOR: f64 = 0.6;

/// The static profile of an instance; every field is optional on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Modes the identity is built around (weight × 1.25, coherence reference).
    pub core_modes: Vec<Mode>,
    /// Modes held down (weight × 0.6, always reported as suppressed).
    pub suppressed_modes: Vec<Mode>,
    /// Overrides `decision_style.risk` at LOW/MED when not stressed.
    pub risk_posture: Option<RiskPosture>,
    /// Energy cost multiplier.
    pub energy_policy: EnergyPolicy,
    /// Stress threshold shifts.
    pub stress_tolerance: StressTolerance,
    /// Drift noise threshold shift.
    pub drift_tolerance: DriftTolerance,
    /// Free text (≤ 500 chars, enforced by the server); opens the narrative.
    pub description: Option<String>,
}

impl Profile {
    /// Whether `mode` is one of the core modes.
    pub fn is_core(&self, mode: Mode) -> bool {
        self.core_modes.contains(&mode)
    }

    /// Whether `mode` is listed as suppressed.
    pub fn is_suppressed(&self, mode: Mode) -> bool {
        self.suppressed_modes.contains(&mode)
    }

    /// Number of distinct core modes.
    pub fn distinct_core_count(&self) -> usize {
        Mode::ALL.iter().filter(|m| self.is_core(**m)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!("SEEKING".parse::<RiskPosture>(), Ok(RiskPosture::Seeking));
        assert_eq!(
            "Aggressive".parse::<EnergyPolicy>(),
            Ok(EnergyPolicy::Aggressive)
        );
        assert_eq!(
            "resilient".parse::<StressTolerance>(),
            Ok(StressTolerance::Resilient)
        );
        assert_eq!(
            "Strict".parse::<DriftTolerance>(),
            Ok(DriftTolerance::Strict)
        );
        let err = "wild".parse::<RiskPosture>().err();
        assert!(err.is_some_and(|e| e.to_string().contains("risk_posture")));
    }

    #[test]
    fn defaults_and_serde() {
        let p = Profile::default();
        assert_eq!(p.energy_policy, EnergyPolicy::Balanced);
        assert_eq!(p.stress_tolerance, StressTolerance::Normal);
        assert_eq!(p.drift_tolerance, DriftTolerance::Normal);
        let parsed: Result<Profile, _> = serde_json::from_str(
            r#"{"core_modes":["exploration","connection"],"risk_posture":"seeking"}"#,
        );
        let parsed = parsed.ok().unwrap_or_default();
        assert_eq!(parsed.core_modes, vec![Mode::Exploration, Mode::Connection]);
        assert_eq!(parsed.risk_posture, Some(RiskPosture::Seeking));
        assert!(serde_json::from_str::<Profile>(r#"{"mood":"x"}"#).is_err());
        assert_eq!(
            serde_json::to_string(&EnergyPolicy::Conservative)
                .ok()
                .as_deref(),
            Some("\"conservative\"")
        );
    }
}

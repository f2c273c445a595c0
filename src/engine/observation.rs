//! A validated observation: the only input that drives a cycle.

use serde::Serialize;

use super::mode::Mode;

/// Why an observation was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ObservationError {
    /// NaN or ±infinity.
    #[error("{field} must be a finite number in [0.0, 1.0], got {value}")]
    NonFinite {
        /// `signal_strength` or `confidence`.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
    /// Finite but outside [0, 1].
    #[error("{field} must be in [0.0, 1.0], got {value}")]
    OutOfRange {
        /// `signal_strength` or `confidence`.
        field: &'static str,
        /// The rejected value.
        value: f64,
    },
}

impl ObservationError {
    /// The offending field, for structured error details.
    pub fn field(&self) -> &'static str {
        match self {
            ObservationError::NonFinite { field, .. }
            | ObservationError::OutOfRange { field, .. } => field,
        }
    }
}

/// One observation: a target mode, how strong the signal is and how sure
/// the caller is. Fields are private so every instance is valid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    mode: Mode,
    signal_strength: f64,
    confidence: f64,
}

fn unit(field: &'static str, value: f64) -> Result<f64, ObservationError> {
    if !value.is_finite() {
        Err(ObservationError::NonFinite { field, value })
    } else if !(0.0..=1.0).contains(&value) {
        Err(ObservationError::OutOfRange { field, value })
    } else {
        Ok(value)
    }
}

impl Observation {
    /// Validates and builds an observation; strength and confidence must be
    /// finite and within [0, 1].
    pub fn new(
        mode: Mode,
        signal_strength: f64,
        confidence: f64,
    ) -> Result<Self, ObservationError> {
        Ok(Observation {
            mode,
            signal_strength: unit("signal_strength", signal_strength)?,
            confidence: unit("confidence", confidence)?,
        })
    }

    /// The target mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Signal strength in [0, 1].
    pub fn signal_strength(&self) -> f64 {
        self.signal_strength
    }

    /// Confidence in [0, 1].
    pub fn confidence(&self) -> f64 {
        self.confidence
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_closed_unit_interval() {
        for (s, c) in [(0.0, 0.0), (1.0, 1.0), (0.5, 0.25)] {
            let o = Observation::new(Mode::Order, s, c);
            assert_eq!(
                o.map(|o| (o.mode(), o.signal_strength(), o.confidence())),
                Ok((Mode::Order, s, c))
            );
        }
    }

    #[test]
    fn rejects_out_of_range_and_non_finite_values() {
        let cases = [
            (1.01, 1.0, "signal_strength"),
            (-0.1, 1.0, "signal_strength"),
            (f64::NAN, 1.0, "signal_strength"),
            (f64::INFINITY, 1.0, "signal_strength"),
            (0.5, 1.5, "confidence"),
            (0.5, f64::NEG_INFINITY, "confidence"),
            (0.5, f64::NAN, "confidence"),
        ];
        for (s, c, field) in cases {
            let err = Observation::new(Mode::Identity, s, c).err();
            let err = err.unwrap_or(ObservationError::OutOfRange {
                field: "none",
                value: 0.0,
            });
            assert_eq!(err.field(), field);
            let msg = err.to_string();
            assert!(msg.contains(field) && msg.contains("[0.0, 1.0]"), "{msg}");
        }
        assert!(matches!(
            Observation::new(Mode::Identity, f64::NAN, 1.0),
            Err(ObservationError::NonFinite { .. })
        ));
    }

    #[test]
    fn unknown_modes_are_rejected_by_name() {
        let err = "curiosity"
            .parse::<Mode>()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("curiosity") && err.contains("stress_response"),
            "{err}"
        );
        assert_eq!("Perception".parse::<Mode>(), Ok(Mode::Perception));
    }
}

//! Conversions between the store's types and PostgreSQL columns: the
//! engine's enums as their wire names (text), counts as `bigint`.

use super::super::{StoreError, StoreResult};
use crate::engine::{DriftLevel, Mode, StressLevel};

/// A text column back into one of `all`; any other text is an error at the
/// store, not a string the wire layer would have to re-check.
fn parse<T: Copy>(
    text: &str,
    all: &[T],
    name: fn(T) -> &'static str,
    what: &str,
) -> StoreResult<T> {
    all.iter()
        .copied()
        .find(|v| name(*v) == text)
        .ok_or_else(|| StoreError::Failed(format!("stored {text:?} is not a {what}")))
}

pub(crate) fn mode(text: &str) -> StoreResult<Mode> {
    parse(text, &Mode::ALL, Mode::as_str, "mode")
}

pub(crate) fn drift_level(text: &str) -> StoreResult<DriftLevel> {
    parse(text, &DriftLevel::ALL, DriftLevel::as_str, "drift level")
}

pub(crate) fn stress_level(text: &str) -> StoreResult<StressLevel> {
    parse(
        text,
        &[
            StressLevel::Low,
            StressLevel::Med,
            StressLevel::High,
            StressLevel::Over,
        ],
        StressLevel::as_str,
        "stress level",
    )
}

/// A count or cycle number as `bigint` (PostgreSQL has no unsigned type);
/// values past `i64::MAX` cannot occur and saturate.
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `bigint` count back; a negative one would be corruption and reads 0.
pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_unknown_text_is_refused() {
        for m in Mode::ALL {
            assert_eq!(mode(m.as_str()).unwrap(), m);
        }
        for l in DriftLevel::ALL {
            assert_eq!(drift_level(l.as_str()).unwrap(), l);
        }
        assert_eq!(stress_level("OVER").unwrap(), StressLevel::Over);
        assert!(mode("calm").is_err());
        assert_eq!((big(u64::MAX), count(-1)), (i64::MAX, 0));
    }
}

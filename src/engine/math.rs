//! Small numeric helpers that never panic and never let NaN through.

use super::mode::MODE_COUNT;

/// √7, the normaliser that maps mode-vector distances into [0, 1]-ish.
pub(crate) const SQRT_MODES: f64 = 2.6457513110645907;

/// Clamps into [lo, hi]; NaN maps to `lo`, and `lo > hi` yields `hi`
/// (unlike `f64::clamp`, which panics on those).
pub(crate) fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    x.max(lo).min(hi)
}

/// Euclidean distance between two mode vectors divided by √7.
pub(crate) fn normalised_distance(a: &[f64; MODE_COUNT], b: &[f64; MODE_COUNT]) -> f64 {
    let mut sum = 0.0;
    for i in 0..MODE_COUNT {
        let d = a[i] - b[i];
        sum += d * d;
    }
    sum.sqrt() / SQRT_MODES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamp_is_total() {
        assert_eq!(clamp(f64::NAN, 0.0, 1.0), 0.0);
        assert_eq!(clamp(2.0, 0.0, 1.0), 1.0);
        assert_eq!(clamp(0.5, 0.8, 0.2), 0.2);
        assert_eq!(SQRT_MODES, 7f64.sqrt());
    }

    #[test]
    fn distance_is_normalised() {
        assert!((normalised_distance(&[1.0; 7], &[0.0; 7]) - 1.0).abs() < 1e-15);
    }
}

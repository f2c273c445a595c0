//! What the load tester sends: the mode generators and the request bodies.
//!
//! Each worker has its own deterministic generator (seeded by the worker
//! index), so two runs with the same options send the same observations.

use serde::Serialize;

/// Which observations a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LoadMode {
    /// Rotating non-stress modes at mid strengths: the engine's calm path.
    Steady,
    /// Mostly strong `stress_response`: drives stress levels, drift and
    /// rollbacks, the engine's expensive path.
    Stress,
    /// Both: steady traffic with stress bursts.
    Mixed,
}

impl LoadMode {
    /// The lowercase name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadMode::Steady => "steady",
            LoadMode::Stress => "stress",
            LoadMode::Mixed => "mixed",
        }
    }
}

/// The non-stress modes, rotated by `steady`.
const CALM_MODES: [&str; 6] = [
    "perception",
    "exploration",
    "order",
    "assertion",
    "connection",
    "identity",
];

/// One observation as sent on the wire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireObservation {
    /// One of the 7 modes.
    pub mode_target: &'static str,
    /// 0..=1.
    pub signal_strength: f64,
    /// 0..=1.
    pub confidence: f64,
    /// Caller timestamp (RFC 3339), from the instance's logical clock.
    pub timestamp: String,
}

#[derive(Serialize)]
struct BatchBody<'a> {
    observations: &'a [WireObservation],
}

/// A small deterministic generator (splitmix64): fast, no shared state.
#[derive(Debug, Clone)]
pub struct ObservationGenerator {
    mode: LoadMode,
    state: u64,
    rotation: usize,
}

impl ObservationGenerator {
    /// A generator for one worker.
    pub fn new(mode: LoadMode, seed: u64) -> Self {
        ObservationGenerator {
            mode,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03,
            rotation: seed as usize % CALM_MODES.len(),
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi), rounded to 3 decimals (short on the wire).
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((lo + unit * (hi - lo)) * 1000.0).round() / 1000.0
    }

    fn calm(&mut self) -> (&'static str, f64) {
        let mode = CALM_MODES[self.rotation % CALM_MODES.len()];
        self.rotation = self.rotation.wrapping_add(1);
        (mode, self.uniform(0.35, 0.65))
    }

    fn stressful(&mut self) -> (&'static str, f64) {
        ("stress_response", self.uniform(0.7, 1.0))
    }

    /// The next observation, stamped with `timestamp`.
    pub fn next(&mut self, timestamp: String) -> WireObservation {
        let roll = self.uniform(0.0, 1.0);
        let (mode_target, signal_strength) = match self.mode {
            LoadMode::Steady => self.calm(),
            LoadMode::Stress if roll < 0.8 => self.stressful(),
            LoadMode::Stress => self.calm(),
            LoadMode::Mixed if roll < 0.3 => self.stressful(),
            LoadMode::Mixed => self.calm(),
        };
        WireObservation {
            mode_target,
            signal_strength,
            confidence: self.uniform(0.8, 1.0),
            timestamp,
        }
    }
}

/// The JSON body of a `/process` (one observation) or `/process/batch`
/// (several) request.
pub fn request_body(observations: &[WireObservation], batch: bool) -> Vec<u8> {
    let encoded = match (batch, observations) {
        (false, [one]) => serde_json::to_vec(one),
        _ => serde_json::to_vec(&BatchBody { observations }),
    };
    // Serialising these plain structs cannot fail; an empty body would be
    // reported by the server as a validation error, never silently lost.
    encoded.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(mode: LoadMode, n: usize) -> Vec<WireObservation> {
        let mut generator = ObservationGenerator::new(mode, 7);
        (0..n).map(|_| generator.next(String::new())).collect()
    }

    #[test]
    fn steady_never_stresses_and_stays_mid_strength() {
        let all = sample(LoadMode::Steady, 500);
        assert!(all.iter().all(|o| o.mode_target != "stress_response"));
        assert!(all
            .iter()
            .all(|o| (0.35..=0.65).contains(&o.signal_strength)));
        let distinct: std::collections::BTreeSet<_> = all.iter().map(|o| o.mode_target).collect();
        assert_eq!(distinct.len(), CALM_MODES.len());
    }

    #[test]
    fn stress_is_mostly_stress_and_mixed_is_some() {
        let count = |mode| {
            sample(mode, 1000)
                .iter()
                .filter(|o| o.mode_target == "stress_response")
                .count()
        };
        assert!(count(LoadMode::Stress) > 700);
        let mixed = count(LoadMode::Mixed);
        assert!((200..400).contains(&mixed), "{mixed}");
    }

    #[test]
    fn generators_are_deterministic_and_values_in_range() {
        assert_eq!(sample(LoadMode::Mixed, 50), sample(LoadMode::Mixed, 50));
        for o in sample(LoadMode::Stress, 500) {
            assert!((0.0..=1.0).contains(&o.signal_strength));
            assert!((0.8..=1.0).contains(&o.confidence));
        }
    }

    #[test]
    fn bodies_are_a_bare_observation_or_a_batch() {
        let one = sample(LoadMode::Steady, 1);
        let body: serde_json::Value =
            serde_json::from_slice(&request_body(&one, false)).expect("json");
        assert!(body["mode_target"].is_string());
        let two = sample(LoadMode::Steady, 2);
        let body: serde_json::Value =
            serde_json::from_slice(&request_body(&two, true)).expect("json");
        assert_eq!(body["observations"].as_array().map(Vec::len), Some(2));
    }
}

use super::*;
use crate::engine::{Engine, Mode, Observation, MODE_COUNT};

/// A profile whose description needs escaping in JSON, and a state that
/// has been through every branch the engine has (stress, drift, a stable
/// point, memory streaks) by 300 mixed cycles.
fn lived_in() -> (Profile, EngineState) {
    let profile = Profile {
        description: Some("quotes \" backslash \\ control \u{1} \u{e9}\u{1f600}".into()),
        core_modes: vec![Mode::Exploration, Mode::Order],
        suppressed_modes: vec![Mode::StressResponse],
        ..Profile::default()
    };
    let engine = Engine::default();
    let mut state = EngineState::new([0.1, -0.2, 0.3, 0.0, 0.5, -1.0, 1.0], 0.9);
    for i in 0..300u32 {
        let mode = Mode::ALL[(i as usize * 3) % MODE_COUNT];
        let observation =
            Observation::new(mode, f64::from(i % 10) / 9.0, 0.5 + f64::from(i % 2) / 2.0)
                .unwrap_or_else(|e| panic!("{e}"));
        state = engine.step(state, &profile, &observation).0;
    }
    (profile, state)
}

#[test]
fn a_state_reads_back_bit_for_bit() {
    let (profile, state) = lived_in();
    let bytes = encode_state(&profile, &state).unwrap_or_else(|e| panic!("{e}"));
    let back = decode_state(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.profile, profile);
    assert_eq!(back.state, state);
    // `==` on f64 cannot tell 0.0 from -0.0; the bytes of a re-encoding can.
    let again = encode_state(&back.profile, &back.state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again, bytes);

    let initial = encode_initial(&state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        decode_initial(&initial).unwrap_or_else(|e| panic!("{e}")),
        state
    );
}

/// Why the format exists: a quarter of the JSON it replaced.
#[test]
fn the_binary_state_is_a_quarter_of_its_json() {
    let (profile, state) = lived_in();
    let binary = encode_state(&profile, &state).unwrap_or_else(|e| panic!("{e}"));
    let json = serde_json::to_vec(&PersistedStateRef {
        profile: &profile,
        state: &state,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        binary.len() * 3 < json.len(),
        "binary {} bytes, JSON {} bytes",
        binary.len(),
        json.len()
    );
}

/// Rows written by builds before the binary format hold serde_json text.
#[test]
fn json_rows_of_older_builds_still_read() {
    let (profile, state) = lived_in();
    let json = serde_json::to_vec(&PersistedStateRef {
        profile: &profile,
        state: &state,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let back = decode_state(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.profile, profile);
    assert_eq!(back.state, state);
    let initial = serde_json::to_vec(&state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        decode_initial(&initial).unwrap_or_else(|e| panic!("{e}")),
        state
    );
}

/// The stored bytes of a fresh state, pinned: if this fails, the encoded
/// types changed (a field, its order, an enum's variants) and rows already
/// on disk would no longer read. Give the new layout a new tag and keep a
/// decoder for this one instead of updating the constant.
#[test]
fn the_v1_layout_does_not_change() {
    let state = EngineState::new([0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.25], 0.75);
    let bytes = encode_state(&Profile::default(), &state).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(hex::encode(&bytes), GOLDEN_FRESH_STATE);
    let back = decode_state(&bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.state, state);
}

const GOLDEN_FRESH_STATE: &str = concat!(
    "0100000001010100000000000000e03f00000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000d03f",
    "000000000000e83f00000000000000000000f03f000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000e83f",
    "000000000000e83f00000000000000000000000000000000000000e03f000000",
    "000000f03f000000000000e03f00000000000000f03f00000000000000000000",
    "0000000000000000000000000000000000",
);

#[test]
fn damaged_bytes_are_reported_not_misread() {
    let (profile, state) = lived_in();
    let bytes = encode_state(&profile, &state).unwrap_or_else(|e| panic!("{e}"));
    let mut trailing = bytes.clone();
    trailing.push(0);
    let cases: [(&str, &[u8]); 5] = [
        ("empty", &[]),
        ("unknown tag", &[7, 1, 2, 3]),
        ("truncated", &bytes[..bytes.len() / 2]),
        ("trailing bytes", &trailing),
        ("broken JSON", b"{\"profile\":"),
    ];
    for (what, input) in cases {
        match decode_state(input) {
            Err(InstanceError::Corrupt(_)) => {}
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
    }
}

//! The hot responses are written by sonic-rs, not serde_json (see
//! `handlers::with_etag`): prove, on real engine output, that both write
//! the very same bytes, so the switch cannot change the wire.

use std::sync::Arc;

use super::ProcessResultBody;
use crate::actors::{InstanceMeta, InstanceModel, ProcessOutcome, TimedObservation};
use crate::engine::{Engine, EngineState, Mode, Observation, Profile, MODE_COUNT};

/// 400 cycles through every mode at varied strengths, stress spikes
/// included, so drift, pauses and composites all show up.
fn outcome() -> (Engine, ProcessOutcome) {
    let engine = Engine::default();
    let meta = InstanceMeta {
        id: "inst_0123456789abcdef".into(),
        name: "wire \"test\" \u{e9}\u{1f600}\n".into(),
        description: "control \u{1} and \\ backslash".into(),
        created_at: 1_700_000_000_000_000,
        updated_at: 1_700_000_000_000_000,
        version: 1,
    };
    // The description opens the narrative: every kind of character that
    // needs escaping reaches the response.
    let profile = Profile {
        description: Some("quotes \" backslash \\ tab \t control \u{1} \u{e9}\u{1f600}".into()),
        core_modes: vec![Mode::Exploration, Mode::Connection],
        ..Profile::default()
    };
    let model = InstanceModel::new(
        meta,
        "acct_test".into(),
        profile.clone(),
        EngineState::new([0.0; MODE_COUNT], 0.8),
    );
    let observations: Vec<TimedObservation> = (0..400u32)
        .map(|i| {
            let mode = Mode::ALL[(i as usize * 5) % MODE_COUNT];
            let strength = f64::from(i % 10) / 9.0;
            let confidence = 0.3 + f64::from(i % 7) / 10.0;
            TimedObservation {
                observation: Observation::new(mode, strength, confidence)
                    .unwrap_or_else(|e| panic!("{e}")),
                timestamp: Some(1_700_000_000_000_000 + i64::from(i) * 1_000_000),
                context_json: "{}".into(),
            }
        })
        .collect();
    let (_, steps) = model
        .plan_process(&engine, &observations, 1_800_000_000_000_000, 0, true)
        .unwrap_or_else(|e| panic!("{e}"));
    let outcome = ProcessOutcome {
        meta: model.meta.clone(),
        profile: Arc::new(profile),
        steps,
    };
    (engine, outcome)
}

#[test]
fn sonic_rs_and_serde_json_write_the_same_process_results() {
    let (engine, outcome) = outcome();
    let bodies = ProcessResultBody::all(&engine, &outcome);
    assert_eq!(bodies.len(), 400);
    let first = serde_json::to_string(&bodies[0]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        first.contains(r#"quotes \" backslash \\ tab \t control \u0001"#),
        "the narrative carries the characters that need escaping: {first}"
    );
    for (i, body) in bodies.iter().enumerate() {
        let reference = serde_json::to_vec(body).unwrap_or_else(|e| panic!("{e}"));
        let fast = sonic_rs::to_vec(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&reference),
            "cycle {i}"
        );
    }
}

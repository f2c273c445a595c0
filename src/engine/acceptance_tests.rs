//! The documented behaviours of docs/engine.md ("acceptance") and the wire
//! shape of the contract.

use super::*;

fn obs(mode: Mode, s: f64, c: f64) -> Observation {
    Observation::new(mode, s, c).unwrap_or_else(|e| panic!("{e}"))
}

const NON_STRESS: [Mode; 6] = [
    Mode::Perception,
    Mode::Exploration,
    Mode::Order,
    Mode::Assertion,
    Mode::Connection,
    Mode::Identity,
];

const SAFE_LIST: [Action; 4] = [
    Action::Stabilize,
    Action::Clarify,
    Action::Defer,
    Action::Withdraw,
];

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Runs five stress_response observations at `strength` from a fresh
/// state with energy 1.0; returns (level, energy, allowed) per cycle.
fn five_stress(strength: f64) -> Vec<(StressLevel, f64, Vec<Action>)> {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 1.0);
    let mut out = vec![];
    for _ in 0..5 {
        s = engine
            .step(s, &profile, &obs(Mode::StressResponse, strength, 1.0))
            .0;
        let contract = engine.contract(&s, &profile);
        out.push((s.stress_level(), s.energy(), contract.allowed_actions));
    }
    out
}

#[test]
fn tutorial_five_stress_observations_at_0_9() {
    use StressLevel::*;
    let rows = five_stress(0.9);
    let levels: Vec<_> = rows.iter().map(|r| r.0).collect();
    assert_eq!(levels, vec![Med, High, High, High, High]);
    for ((_, energy, _), expected) in rows.iter().zip([1.00, 1.00, 0.87, 0.74, 0.61]) {
        assert!(
            (round2(*energy) - expected).abs() < 1e-9,
            "{energy} vs {expected}"
        );
        assert!((energy - expected).abs() < 1e-12, "{energy} vs {expected}");
    }
    for (_, _, allowed) in &rows {
        assert_eq!(allowed, &SAFE_LIST.to_vec());
    }
}

#[test]
fn tutorial_five_stress_observations_at_0_95() {
    use StressLevel::*;
    let levels: Vec<_> = five_stress(0.95).iter().map(|r| r.0).collect();
    assert_eq!(levels, vec![Med, High, High, High, Over]);
}

#[test]
fn single_perception_observation_from_defaults() {
    let engine = Engine::default();
    let profile = Profile::default();
    let s = EngineState::new([0.0; MODE_COUNT], 0.8);
    let (s, r) = engine.step(s, &profile, &obs(Mode::Perception, 0.7, 1.0));
    assert!((s.energy() - 0.83).abs() < 1e-12);
    assert_eq!(s.stress_level(), StressLevel::Low);
    assert!((s.modes()[0] - 0.07).abs() < 1e-12);
    assert_eq!(
        r,
        CycleResult {
            drift: None,
            drift_event_recorded: false
        }
    );
    let c = engine.contract(&s, &profile);
    assert_eq!(c.dominant_modes, vec![Mode::Perception]);
    assert_eq!(
        c.allowed_actions,
        vec![Action::Question, Action::Elaborate, Action::Clarify]
    );
    assert_eq!(
        c.forbidden_actions,
        vec![Action::EmotionalManipulation, Action::IdentityOverride]
    );
    assert_eq!(c.drift_level, None);
    assert_eq!(c.max_steps_remaining, None, "no energy has been burnt yet");
}

/// Steady alternating input over the six non-stress modes, strengths
/// cycling through 0.3 … 0.7, from an instance initialised at 0.5.
#[test]
fn steady_alternating_input_stays_low_without_drift_events() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0], 0.8);
    let mut measured = 0;
    for n in 0..300usize {
        let strength = 0.3 + 0.1 * ((n / 6) % 5) as f64;
        let (next, r) = engine.step(s, &profile, &obs(NON_STRESS[n % 6], strength, 1.0));
        s = next;
        assert_eq!(s.stress_level(), StressLevel::Low);
        assert!(!r.drift_event_recorded, "cycle {}", s.cycle());
        if let Some(d) = r.drift {
            assert_eq!(d.level, DriftLevel::D0Noise);
            measured += 1;
        }
    }
    assert_eq!(measured, 280);
    assert_eq!(
        engine
            .contract(&s, &profile)
            .memory_context
            .drift_events_total,
        0
    );
}

/// Literal-spec finding: from an all-zero state the modes are still
/// converging when the anchor is set at cycle 20; the anchor only follows
/// on D0 cycles, so the same steady input is reported as D1, then D2.
#[test]
fn steady_input_from_an_all_zero_state_drifts_while_modes_converge() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 0.8);
    let mut counts = [0usize; 4];
    let mut first_d1 = None;
    for n in 0..300usize {
        let strength = 0.3 + 0.08 * (n % 6) as f64;
        let (next, r) = engine.step(s, &profile, &obs(NON_STRESS[n % 6], strength, 1.0));
        s = next;
        assert_eq!(s.stress_level(), StressLevel::Low);
        if let Some(d) = r.drift {
            counts[d.level as usize] += 1;
            if d.level == DriftLevel::D1Context && first_d1.is_none() {
                first_d1 = Some((s.cycle(), d.magnitude));
            }
        }
    }
    assert_eq!(counts, [21, 78, 181, 0]);
    assert!(first_d1.is_some_and(|(c, m)| c == 42 && (m - 0.0702).abs() < 1e-4));
}

/// Alternating between group A (perception, order, identity) and group B
/// (exploration, assertion, connection) while shifting strength from A to
/// B over 80 cycles.
#[test]
fn gradual_shift_between_mode_groups_reports_d1_and_d2() {
    let engine = Engine::default();
    let profile = Profile::default();
    let a = [Mode::Perception, Mode::Order, Mode::Identity];
    let b = [Mode::Exploration, Mode::Assertion, Mode::Connection];
    let mut s = EngineState::new([0.6, 0.0, 0.6, 0.0, 0.0, 0.6, 0.0], 0.8);
    let mut recorded = [0usize; 4];
    for n in 0..200usize {
        let t = (n as f64 / 80.0).min(1.0);
        let (mode, strength) = if n % 2 == 0 {
            (a[(n / 2) % 3], 0.6 * (1.0 - t))
        } else {
            (b[(n / 2) % 3], 0.6 * t)
        };
        let (next, r) = engine.step(s, &profile, &obs(mode, strength, 1.0));
        s = next;
        if let (Some(d), true) = (r.drift, r.drift_event_recorded) {
            recorded[d.level as usize] += 1;
        }
        assert_eq!(s.stress_level(), StressLevel::Low);
    }
    assert!(recorded[1] > 0 && recorded[2] > 0, "{recorded:?}");
    let c = engine.contract(&s, &profile);
    assert!(c.memory_context.d1_recent > 0.0 && c.memory_context.d2_recent > 0.0);
    assert!(c.memory_context.turns_since_last_d2.is_some());
}

#[test]
fn stress_spike_reaches_over_drains_energy_and_recovers() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0], 1.0);
    for n in 0..30usize {
        s = engine
            .step(s, &profile, &obs(NON_STRESS[n % 6], 0.5, 1.0))
            .0;
    }
    let energy_before = s.energy();
    let mut reached_over = false;
    let mut entered = None;
    for n in 0..50usize {
        s = engine
            .step(
                s,
                &profile,
                &obs(Mode::StressResponse, [0.8, 0.9, 1.0][n % 3], 1.0),
            )
            .0;
        reached_over |= s.stress_level() == StressLevel::Over;
        if entered.is_none() && s.system_state() == SystemState::Stress {
            entered = Some(s.cycle());
        }
        let c = engine.contract(&s, &profile);
        if s.stress_level() == StressLevel::Over {
            assert_eq!(c.allowed_actions, SAFE_LIST.to_vec());
            assert_eq!(c.hard_locks.option_set_max, Some(4));
        }
    }
    assert!(reached_over);
    assert!(
        s.energy() < 0.1 && energy_before == 1.0,
        "energy {}",
        s.energy()
    );
    let c = engine.contract(&s, &profile);
    assert!(c.should_escalate, "OVER for 10+ cycles");
    assert_eq!(c.recovery_profile.preferred_path, RecoveryPath::Oscillating);
    let mut left = None;
    for n in 0..200usize {
        s = engine
            .step(s, &profile, &obs(NON_STRESS[n % 6], 0.4, 1.0))
            .0;
        if s.system_state() != SystemState::Stress {
            left = Some(s.cycle());
            break;
        }
    }
    let (start, end) = match (entered, left) {
        (Some(a), Some(b)) => (a, b),
        other => panic!("no complete episode: {other:?}"),
    };
    assert_eq!(s.system_state(), SystemState::Baseline);
    let c = engine.contract(&s, &profile);
    assert_eq!(c.self_model_context.episodes_completed, 1);
    let d = (end - start) as f64;
    let expected = 0.7 * 0.5 + 0.3 * 0.5f64.powf(d / 50.0);
    assert!((c.self_model_context.stress_resilience - expected).abs() < 1e-12);
    assert_eq!((start, end), (32, 122));
}

#[test]
fn contract_serialises_with_the_wire_field_order() {
    let engine = Engine::default();
    let profile = Profile {
        core_modes: vec![Mode::Exploration, Mode::Connection],
        risk_posture: Some(RiskPosture::Seeking),
        description: Some("A curious research agent".into()),
        ..Default::default()
    };
    let s = EngineState::new([0.0; MODE_COUNT], 0.8);
    let (s, _) = engine.step(s, &profile, &obs(Mode::Exploration, 0.8, 0.9));
    let json = serde_json::to_string(&engine.contract(&s, &profile)).unwrap_or_default();
    let keys = [
        "cycle_count",
        "dominant_modes",
        "suppressed_modes",
        "allowed_actions",
        "forbidden_actions",
        "decision_style",
        "tempo",
        "risk",
        "expressiveness",
        "commitment_threshold",
        "recovery_profile",
        "preferred_path",
        "support_required",
        "cooldown_required",
        "current_stress_level",
        "current_system_state",
        "energy_level",
        "stability_index",
        "hard_locks",
        "option_set_max",
        "novelty_rate",
        "noise_filter_min",
        "exec_strictness_min",
        "goal_resistance_min",
        "pivot_threshold_min",
        "drift_level",
        "drift_magnitude",
        "should_pause",
        "should_escalate",
        "max_steps_remaining",
        "trust_profile",
        "trust",
        "delegation_allowed",
        "collaboration_style",
        "narrative_prompt",
        "memory_context",
        "stress_spike_count",
        "avg_spike_interval",
        "current_stress_streak",
        "max_stress_streak",
        "d1_recent",
        "d2_recent",
        "turns_since_last_d2",
        "drift_events_total",
        "energy_trend",
        "energy_min_observed",
        "dominant_mode",
        "dominant_mode_streak",
        "mode_switches_recent",
        "behavioral_pattern",
        "self_model_context",
        "stress_resilience",
        "trait_stability",
        "energy_efficiency",
        "episodes_completed",
        "identity_coherence",
    ];
    let mut from = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = json[from..].find(&needle).map(|i| i + from);
        assert!(at.is_some(), "{key} missing or out of order in {json}");
        from = at.unwrap_or(from);
    }
    assert!(
        json.contains(r#""dominant_modes":["exploration"]"#),
        "{json}"
    );
    assert!(
        json.contains(r#""allowed_actions":["explore","question","suggest","pivot"]"#),
        "{json}"
    );
    assert!(json.contains(r#""decision_style":{"tempo":"exploratory","risk":"seeking","expressiveness":"high","commitment_threshold":"low"}"#), "{json}");
    assert!(
        json.contains(r#""hard_locks":{"option_set_max":null,"novelty_rate":null"#),
        "{json}"
    );
    assert!(json.contains(r#""behavioral_pattern":"stable""#), "{json}");
    assert!(
        json.contains(r#""narrative_prompt":"A curious research agent. "#),
        "{json}"
    );
}

#[test]
fn d3_twice_within_fifty_cycles_pauses() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 0.8);
    for _ in 0..20 {
        s = engine.step(s, &profile, &obs(Mode::Order, 0.1, 1.0)).0;
    }
    for _ in 0..2 {
        s.modes = [0.9, 0.9, -0.5, 0.9, 0.9, 0.9, 0.0];
        let (next, r) = engine.step(s, &profile, &obs(Mode::Identity, 1.0, 1.0));
        s = next;
        assert!(r.drift.is_some_and(|d| d.rolled_back));
    }
    let c = engine.contract(&s, &profile);
    assert!(c.should_pause);
    assert_eq!(c.drift_level, Some(DriftLevel::D3Corrupt));
}

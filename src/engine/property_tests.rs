//! Property tests over random observation sequences and profiles.

use proptest::prelude::*;

use super::*;

fn unit() -> impl Strategy<Value = f64> {
    prop_oneof![1 => Just(0.0), 1 => Just(1.0), 8 => 0.0..=1.0f64]
}

fn mode() -> impl Strategy<Value = Mode> {
    (0..MODE_COUNT).prop_map(|i| Mode::ALL[i])
}

fn observation() -> impl Strategy<Value = Observation> {
    (mode(), unit(), unit())
        .prop_map(|(m, s, c)| Observation::new(m, s, c).unwrap_or_else(|e| panic!("{e}")))
}

fn strong(modes: &'static [Mode]) -> impl Strategy<Value = Observation> {
    (proptest::sample::select(modes), 0.8..=1.0f64)
        .prop_map(|(m, s)| Observation::new(m, s, 1.0).unwrap_or_else(|e| panic!("{e}")))
}

const CALM_MODES: [Mode; 6] = [
    Mode::Perception,
    Mode::Exploration,
    Mode::Order,
    Mode::Assertion,
    Mode::Connection,
    Mode::Identity,
];

/// A start state and an observation sequence, drawn from three scenarios:
/// uniform noise, stress bursts (HIGH/OVER, episodes), and a strong push
/// away from a negative start (D2/D3 drift and rollbacks).
fn scenario(max_len: usize) -> impl Strategy<Value = (EngineState, Vec<Observation>)> {
    let noise = (
        initial_state(),
        proptest::collection::vec(observation(), 0..max_len),
    );
    let bursts = (
        initial_state(),
        proptest::collection::vec(
            prop_oneof![4 => observation(), 1 => strong(&[Mode::StressResponse])],
            0..max_len,
        ),
    );
    let push = (
        proptest::array::uniform7(-1.0..=-0.6f64).prop_map(|v| EngineState::new(v, 0.8)),
        proptest::collection::vec(
            prop_oneof![1 => observation(), 3 => strong(&CALM_MODES)],
            0..max_len,
        ),
    );
    prop_oneof![noise, bursts, push]
}

fn profile() -> impl Strategy<Value = Profile> {
    (
        proptest::collection::vec(mode(), 0..4),
        proptest::collection::vec(mode(), 0..3),
        proptest::option::of(proptest::sample::select(RiskPosture::ALL.to_vec())),
        proptest::sample::select(EnergyPolicy::ALL.to_vec()),
        proptest::sample::select(StressTolerance::ALL.to_vec()),
        proptest::sample::select(DriftTolerance::ALL.to_vec()),
        proptest::option::of("[a-z ]{0,40}"),
    )
        .prop_map(
            |(
                core_modes,
                suppressed_modes,
                risk_posture,
                energy_policy,
                stress_tolerance,
                drift_tolerance,
                description,
            )| Profile {
                core_modes,
                suppressed_modes,
                risk_posture,
                energy_policy,
                stress_tolerance,
                drift_tolerance,
                description,
            },
        )
}

fn initial_state() -> impl Strategy<Value = EngineState> {
    (proptest::array::uniform7(-1.0..=1.0f64), unit()).prop_map(|(v, e)| EngineState::new(v, e))
}

fn in_unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

fn check_invariants(state: &EngineState, c: &ExecutionContract) -> Result<(), TestCaseError> {
    let allowed = ActionSet::of(&c.allowed_actions);
    let forbidden = ActionSet::of(&c.forbidden_actions);
    prop_assert!(
        allowed.intersect(forbidden).is_empty(),
        "allowed ∩ forbidden ≠ ∅: {c:?}"
    );
    prop_assert!(ALWAYS_FORBIDDEN.is_subset(forbidden));
    prop_assert!(allowed.intersect(ALWAYS_FORBIDDEN).is_empty());
    prop_assert_eq!(
        &c.allowed_actions,
        &allowed.to_vec(),
        "allowed not in vocabulary order"
    );
    let n = c.forbidden_actions.len();
    prop_assert!(n >= 2);
    prop_assert_eq!(
        &c.forbidden_actions[n - 2..],
        &[Action::EmotionalManipulation, Action::IdentityOverride][..]
    );
    prop_assert_eq!(
        &c.forbidden_actions[..n - 2],
        &forbidden.minus(ALWAYS_FORBIDDEN).to_vec()[..]
    );
    match c.current_stress_level {
        StressLevel::Over => prop_assert_eq!(allowed, SAFE),
        StressLevel::High => prop_assert!(SAFE.is_subset(allowed)),
        _ => {}
    }
    if c.current_stress_level.is_high() {
        prop_assert!(allowed.intersect(RISKY).is_empty());
    }
    for m in state.modes() {
        prop_assert!((-1.0..=1.0).contains(&m), "mode {m}");
    }
    prop_assert!(in_unit(state.energy()) && in_unit(state.stability()));
    prop_assert!(in_unit(c.energy_level) && in_unit(c.stability_index));
    prop_assert!(in_unit(c.trust_profile.trust));
    prop_assert!(in_unit(c.self_model_context.stress_resilience));
    prop_assert!(in_unit(c.self_model_context.trait_stability));
    prop_assert!(in_unit(c.self_model_context.energy_efficiency));
    prop_assert!(in_unit(c.self_model_context.identity_coherence));
    prop_assert!(c.dominant_modes.len() <= 2);
    if let Some(m) = c.drift_magnitude {
        prop_assert!(m.is_finite() && m >= 0.0);
    }
    Ok(())
}

/// Runs the sequence, returning the JSON of every state, result, contract
/// and snapshot along the way.
fn trace(
    engine: &Engine,
    mut state: EngineState,
    profile: &Profile,
    seq: &[Observation],
) -> (EngineState, Vec<String>) {
    let mut out = Vec::with_capacity(seq.len());
    for o in seq {
        let (next, result) = engine.step(state, profile, o);
        state = next;
        let contract = engine.contract(&state, profile);
        let snapshot = engine.snapshot(&state);
        out.push(
            serde_json::to_string(&(&state, &result, &contract, &snapshot))
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }
    (state, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn contract_invariants_and_ranges_hold_every_cycle(
        (state, seq) in scenario(200),
        profile in profile(),
    ) {
        let engine = Engine::default();
        let mut state = state;
        check_invariants(&state, &engine.contract(&state, &profile))?;
        for o in &seq {
            let (next, result) = engine.step(state, &profile, o);
            state = next;
            let c = engine.contract(&state, &profile);
            check_invariants(&state, &c)?;
            prop_assert_eq!(result.drift.is_some(), state.cycle() > engine.params().drift_warmup_cycles);
            if let Some(d) = &result.drift {
                prop_assert!(d.magnitude.is_finite() && d.magnitude >= 0.0);
                prop_assert!(!d.rolled_back || d.level == DriftLevel::D3Corrupt);
                if d.level != DriftLevel::D0Noise {
                    prop_assert!(result.drift_event_recorded);
                }
            }
            let snap = engine.snapshot(&state);
            prop_assert_eq!(<[f64; MODE_COUNT]>::from(snap.mode_strengths), state.modes());
        }
    }

    #[test]
    fn identical_input_gives_identical_output(
        (state, seq) in scenario(200),
        profile in profile(),
    ) {
        let engine = Engine::default();
        let (_, first) = trace(&engine, state.clone(), &profile, &seq);
        let (_, second) = trace(&engine, state, &profile, &seq);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn persisting_and_restoring_mid_sequence_changes_nothing(
        (state, seq) in scenario(200),
        profile in profile(),
        split in 0.0..1.0f64,
    ) {
        let engine = Engine::default();
        let k = ((seq.len() as f64) * split) as usize;
        let (direct_end, direct) = trace(&engine, state.clone(), &profile, &seq);
        let (mid, head) = trace(&engine, state, &profile, &seq[..k]);
        let json = serde_json::to_string(&mid).unwrap_or_else(|e| panic!("{e}"));
        let restored: EngineState = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        prop_assert_eq!(&restored, &mid);
        let (resumed_end, tail) = trace(&engine, restored, &profile, &seq[k..]);
        prop_assert_eq!(&direct[..k], &head[..]);
        prop_assert_eq!(&direct[k..], &tail[..]);
        prop_assert_eq!(direct_end, resumed_end);
    }

    #[test]
    fn restore_last_stable_keeps_everything_but_the_stable_fields(
        (state, seq) in scenario(120),
        profile in profile(),
    ) {
        let engine = Engine::default();
        let (state, _) = trace(&engine, state, &profile, &seq);
        match state.restore_last_stable() {
            None => prop_assert!(state.cycle() < engine.params().drift_warmup_cycles),
            Some(r) => {
                prop_assert_eq!(r.cycle(), state.cycle());
                prop_assert_eq!(&r.memory, &state.memory);
                let point = state.last_stable.unwrap_or_else(|| panic!("stable point"));
                prop_assert_eq!(r.modes(), point.modes);
                prop_assert_eq!(r.energy(), point.energy);
                prop_assert_eq!(r.stress_level(), point.level);
                prop_assert_eq!(r.system_state(), point.system);
            }
        }
    }

    #[test]
    fn observation_accepts_exactly_finite_unit_values(
        s in prop_oneof![any::<f64>(), -0.5..1.5f64],
        c in prop_oneof![any::<f64>(), -0.5..1.5f64],
    ) {
        let ok = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        let result = Observation::new(Mode::Order, s, c);
        prop_assert_eq!(result.is_ok(), ok(s) && ok(c));
        if let Err(e) = result {
            prop_assert_eq!(e.field(), if ok(s) { "confidence" } else { "signal_strength" });
        }
    }

    #[test]
    fn engine_never_panics_on_arbitrary_deserialised_state(
        v in proptest::array::uniform7(-5.0..5.0f64),
        energy in -5.0..5.0f64,
        stability in -5.0..5.0f64,
        seq in proptest::collection::vec(observation(), 0..50),
    ) {
        let engine = Engine::default();
        let mut state = EngineState::new([0.0; MODE_COUNT], 0.8);
        state.modes = v;
        state.energy = energy;
        state.stability = stability;
        for o in &seq {
            state = engine.step(state, &Profile::default(), o).0;
            let _ = engine.contract(&state, &Profile::default());
            let _ = engine.snapshot(&state);
        }
    }
}

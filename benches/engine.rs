//! Criterion benchmarks of the engine: one cycle (`step`), one cycle plus
//! the execution contract, and the snapshot view, on a warmed-up state fed
//! a realistic rotating observation sequence.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use identity_os::engine::{Engine, EngineState, Mode, Observation, Profile, RiskPosture};

/// Cycles run before measuring (well past the 20-cycle drift warm-up).
const WARM_UP_CYCLES: usize = 200;

/// A 60-observation rotation: the six non-stress modes at varying
/// strengths and confidences, with an occasional mild stress signal.
fn observations() -> Vec<Observation> {
    let calm = [
        Mode::Perception,
        Mode::Exploration,
        Mode::Order,
        Mode::Assertion,
        Mode::Connection,
        Mode::Identity,
    ];
    (0..60)
        .filter_map(|n: usize| {
            let (mode, strength) = if n % 10 == 9 {
                (Mode::StressResponse, 0.6)
            } else {
                (calm[n % 6], 0.3 + 0.1 * ((n / 6) % 5) as f64)
            };
            let confidence = 0.7 + 0.1 * (n % 4) as f64;
            Observation::new(mode, strength, confidence).ok()
        })
        .collect()
}

fn profile() -> Profile {
    Profile {
        core_modes: vec![Mode::Exploration, Mode::Connection],
        risk_posture: Some(RiskPosture::Seeking),
        description: Some("A curious research agent".into()),
        ..Default::default()
    }
}

fn warmed(engine: &Engine, profile: &Profile, obs: &[Observation]) -> EngineState {
    let mut state = EngineState::new([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0], 0.8);
    for o in obs.iter().cycle().take(WARM_UP_CYCLES) {
        state = engine.step(state, profile, o).0;
    }
    state
}

fn bench_engine(c: &mut Criterion) {
    let engine = Engine::default();
    let profile = profile();
    let obs = observations();
    let start = warmed(&engine, &profile, &obs);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));

    group.bench_function("step", |b| {
        b.iter_custom(|iters| {
            let mut state = start.clone();
            let t = Instant::now();
            for (_, o) in (0..iters).zip(obs.iter().cycle()) {
                let (next, result) = engine.step(state, &profile, black_box(o));
                black_box(&result);
                state = next;
            }
            let elapsed = t.elapsed();
            black_box(state);
            elapsed
        })
    });

    group.bench_function("step_and_contract", |b| {
        b.iter_custom(|iters| {
            let mut state = start.clone();
            let t = Instant::now();
            for (_, o) in (0..iters).zip(obs.iter().cycle()) {
                let (next, result) = engine.step(state, &profile, black_box(o));
                black_box(&result);
                state = next;
                black_box(engine.contract(&state, &profile));
            }
            let elapsed = t.elapsed();
            black_box(state);
            elapsed
        })
    });

    group.bench_function("snapshot", |b| {
        b.iter(|| engine.snapshot(black_box(&start)))
    });
    group.finish();
}

criterion_group!(benches, bench_engine);
criterion_main!(benches);

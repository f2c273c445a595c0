//! Unit tests of the individual cycle steps.

use super::*;
use crate::engine::profile::EnergyPolicy;
use crate::engine::Engine;

fn prev(level: StressLevel, system: SystemState) -> Prev {
    Prev {
        modes: [0.0; MODE_COUNT],
        energy: 0.8,
        level,
        system,
        calm_streak: 0,
        stability: 1.0,
        spike_count: 0,
        energy_min: 0.8,
        trait_stability: 1.0,
    }
}

fn obs(mode: Mode, s: f64, c: f64) -> Observation {
    Observation::new(mode, s, c).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn step1_learning_rates() {
    let p = EngineParams::default();
    let mut pr = prev(StressLevel::Low, SystemState::Baseline);
    assert!((learning_rate(&p, &pr, Mode::Order, 1.0) - 0.1).abs() < 1e-15);
    assert!((learning_rate(&p, &pr, Mode::StressResponse, 1.0) - 0.45).abs() < 1e-15);
    assert!((learning_rate(&p, &pr, Mode::StressResponse, 0.5) - 0.225).abs() < 1e-15);
    pr.spike_count = 2;
    assert!((learning_rate(&p, &pr, Mode::StressResponse, 1.0) - 0.405).abs() < 1e-12);
    pr.level = StressLevel::Med;
    assert!((learning_rate(&p, &pr, Mode::Order, 1.0) - 0.08).abs() < 1e-15);
    let big = EngineParams {
        alpha: 0.5,
        ..Default::default()
    };
    assert_eq!(learning_rate(&big, &pr, Mode::StressResponse, 1.0), 1.0);
}

#[test]
fn step2_bleed_by_level_and_calm() {
    let p = EngineParams::default();
    assert_eq!(bleed(&p, StressLevel::Low, Mode::Order, 0.9), 0.02);
    assert_eq!(bleed(&p, StressLevel::High, Mode::Order, 0.9), 0.01);
    assert_eq!(bleed(&p, StressLevel::Over, Mode::Order, 0.9), 0.0);
    assert_eq!(bleed(&p, StressLevel::Over, Mode::Order, 0.5), 0.02);
    assert_eq!(bleed(&p, StressLevel::Over, Mode::Connection, 0.9), 0.02);
    let engine = Engine::default();
    let mut s = EngineState::new([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.015], 0.8);
    s = engine
        .step(s, &Profile::default(), &obs(Mode::Order, 0.5, 1.0))
        .0;
    assert_eq!(s.modes()[6], 0.0, "bleed stops at zero");
    let mut s = EngineState::new([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.1], 0.8);
    s = engine
        .step(s, &Profile::default(), &obs(Mode::Order, 0.5, 1.0))
        .0;
    assert!(
        (s.modes()[6] + 0.08).abs() < 1e-15,
        "negative values move up toward zero"
    );
}

#[test]
fn step3_energy_costs_recovery_and_floors() {
    let p = EngineParams::default();
    let profile = Profile::default();
    let pr = prev(StressLevel::Low, SystemState::Baseline);
    assert!((next_energy(&p, &profile, &pr) - 0.83).abs() < 1e-12);
    let pr = prev(StressLevel::Med, SystemState::Baseline);
    assert!((next_energy(&p, &profile, &pr) - 0.80).abs() < 1e-12);
    let pr = prev(StressLevel::High, SystemState::Stress);
    assert!((next_energy(&p, &profile, &pr) - 0.67).abs() < 1e-12);
    let aggressive = Profile {
        energy_policy: EnergyPolicy::Aggressive,
        ..Default::default()
    };
    assert!((next_energy(&p, &aggressive, &pr) - (0.8 - 0.195)).abs() < 1e-12);
    let mut pr = prev(StressLevel::High, SystemState::Stress);
    pr.energy = 0.05;
    pr.energy_min = 0.05;
    assert_eq!(
        next_energy(&p, &profile, &pr),
        0.05,
        "floor never pulls energy below the previous value"
    );
    pr.energy = 0.12;
    pr.energy_min = 0.2;
    assert!(
        (next_energy(&p, &profile, &pr) - 0.0).abs() < 1e-12,
        "stress floor 0 without conservation"
    );
    pr.energy_min = 0.05;
    assert!(
        (next_energy(&p, &profile, &pr) - 0.10).abs() < 1e-12,
        "stress floor 0.10 when conserving"
    );
    let mut pr = prev(StressLevel::Low, SystemState::Baseline);
    pr.energy = 0.21;
    let costly = EngineParams {
        energy_cost: 0.2,
        ..Default::default()
    };
    assert!((next_energy(&costly, &profile, &pr) - 0.2).abs() < 1e-12);
    pr.energy_min = 0.05;
    assert!((next_energy(&costly, &profile, &pr) - 0.21).abs() < 1e-12);
}

#[test]
fn step4_thresholds() {
    let p = EngineParams::default();
    assert_eq!(
        stress_thresholds(&p, StressTolerance::Normal, 0),
        (0.25, 0.55, 0.90)
    );
    let (m, h, o) = stress_thresholds(&p, StressTolerance::Fragile, 0);
    assert!((m - 0.25).abs() + (h - 0.50).abs() + (o - 0.85).abs() < 1e-12);
    let (_, h, o) = stress_thresholds(&p, StressTolerance::Resilient, 0);
    assert!((h - 0.60).abs() + (o - 0.93).abs() < 1e-12);
    let high_over = EngineParams {
        theta_over: 0.94,
        ..Default::default()
    };
    assert_eq!(
        stress_thresholds(&high_over, StressTolerance::Resilient, 0).2,
        0.95
    );
    let (_, h, o) = stress_thresholds(&p, StressTolerance::Normal, 2);
    assert!((h - 0.50).abs() + (o - 0.87).abs() < 1e-12);
    let t = (0.25, 0.55, 0.90);
    assert_eq!(classify_stress(0.2, t), StressLevel::Low);
    assert_eq!(classify_stress(0.25, t), StressLevel::Med);
    assert_eq!(classify_stress(-0.6, t), StressLevel::High);
    assert_eq!(classify_stress(0.9, t), StressLevel::Over);
}

#[test]
fn step5_system_transitions() {
    let p = EngineParams::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 0.8);
    s.level = StressLevel::High;
    assert_eq!(
        next_system(
            &p,
            &prev(StressLevel::Low, SystemState::Baseline),
            &s,
            Mode::Order
        ),
        (SystemState::Stress, 0)
    );
    s.level = StressLevel::Med;
    let mut pr = prev(StressLevel::High, SystemState::Stress);
    pr.calm_streak = 3;
    assert_eq!(
        next_system(&p, &pr, &s, Mode::Order),
        (SystemState::Stress, 4)
    );
    assert_eq!(
        next_system(&p, &pr, &s, Mode::StressResponse),
        (SystemState::Stress, 0)
    );
    pr.calm_streak = 4;
    assert_eq!(
        next_system(&p, &pr, &s, Mode::Order),
        (SystemState::Baseline, 5)
    );
    s.level = StressLevel::Low;
    s.modes[Mode::Exploration.index()] = 0.3;
    assert_eq!(
        next_system(
            &p,
            &prev(StressLevel::Low, SystemState::Growth),
            &s,
            Mode::Order
        )
        .0,
        SystemState::Growth
    );
    s.energy = 0.59;
    assert_eq!(
        next_system(
            &p,
            &prev(StressLevel::Low, SystemState::Growth),
            &s,
            Mode::Order
        )
        .0,
        SystemState::Baseline
    );
    s.energy = 0.6;
    let mut pr = prev(StressLevel::Low, SystemState::Baseline);
    pr.stability = 0.69;
    assert_eq!(
        next_system(&p, &pr, &s, Mode::Order).0,
        SystemState::Baseline
    );
}

#[test]
fn step7_stability() {
    let pr = prev(StressLevel::Low, SystemState::Baseline);
    assert_eq!(next_stability(&pr, &[0.0; MODE_COUNT]), 1.0);
    let v = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.4];
    let delta = 0.4 / 7f64.sqrt();
    let expected = 0.95 + 0.05 * (1.0 - (10.0 * delta).min(1.0)) * (1.0 - 0.2);
    assert!((next_stability(&pr, &v) - expected).abs() < 1e-15);
}

#[test]
fn cycle_counter_episode_and_stable_point() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 0.8);
    for n in 1..=20u64 {
        let (next, r) = engine.step(s, &profile, &obs(Mode::Perception, 0.5, 1.0));
        s = next;
        assert_eq!(s.cycle(), n);
        assert!(r.drift.is_none() && !r.drift_event_recorded);
        assert_eq!(s.has_stable_point(), n == 20);
    }
    let (s, r) = engine.step(s, &profile, &obs(Mode::Perception, 0.5, 1.0));
    assert_eq!(r.drift.as_ref().map(|d| d.level), Some(DriftLevel::D0Noise));
    assert!(!r.drift_event_recorded);
    let restored = s.restore_last_stable();
    assert!(restored
        .as_ref()
        .is_some_and(|r| r.cycle() == 21 && r.modes() == s.modes()));
}

#[test]
fn d3_rolls_back_to_the_last_stable_point() {
    let engine = Engine::default();
    let profile = Profile::default();
    let mut s = EngineState::new([0.0; MODE_COUNT], 0.8);
    for _ in 0..20 {
        s = engine.step(s, &profile, &obs(Mode::Order, 0.1, 1.0)).0;
    }
    let stable = s.stable_point();
    // Force a large jump away from the anchor, as a corrupted vector would be.
    s.modes = [0.9, 0.9, -0.5, 0.9, 0.9, 0.9, 0.0];
    let (s, r) = engine.step(s, &profile, &obs(Mode::Identity, 1.0, 1.0));
    let reading = r.drift.unwrap_or_else(|| panic!("drift expected"));
    assert_eq!(reading.level, DriftLevel::D3Corrupt);
    assert!(reading.rolled_back && r.drift_event_recorded);
    assert!(reading.magnitude >= 0.40);
    assert_eq!(reading.affected_modes[0], Mode::Identity);
    assert_eq!(s.modes(), stable.modes);
    assert_eq!(s.energy(), stable.energy);
    assert_eq!(s.drift.recent_d3[0], Some(21));
}

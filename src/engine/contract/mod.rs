//! The execution contract (docs/engine.md "The contract"): what the agent may do
//! now, derived purely from the state and the profile.

mod actions;
mod narrative;
mod style;
mod timing;

use serde::{Deserialize, Serialize};

pub use style::{
    calm_decision_style, DecisionStyle, Degree, HardLocks, RecoveryPath, RecoveryProfile, Tempo,
};
pub use timing::{CollaborationStyle, TrustProfile};

use super::action::{Action, ALWAYS_FORBIDDEN};
use super::arbitration::Arbitration;
use super::levels::{DriftLevel, StressLevel, SystemState};
use super::memory::BehavioralPattern;
use super::mode::Mode;
use super::params::EngineParams;
use super::profile::Profile;
use super::self_model::coherence;
use super::state::EngineState;

/// Resilience below which an experienced agent takes the cautious path A.
const PATH_A_RESILIENCE: f64 = 0.45;

/// Contract `memory_context`: the fourteen memory signals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemoryContext {
    /// Spikes into HIGH/OVER (and HIGH → OVER).
    pub stress_spike_count: u32,
    /// Smoothed cycles between spikes (0 before the second spike).
    pub avg_spike_interval: f64,
    /// Consecutive HIGH/OVER cycles now.
    pub current_stress_streak: u32,
    /// Longest HIGH/OVER streak so far.
    pub max_stress_streak: u32,
    /// Decaying count of D1 cycles.
    pub d1_recent: f64,
    /// Decaying count of D2/D3 cycles.
    pub d2_recent: f64,
    /// Cycles since the last D2/D3 cycle, null if none.
    pub turns_since_last_d2: Option<u64>,
    /// Recorded drift events.
    pub drift_events_total: u64,
    /// Smoothed energy.
    pub energy_trend: f64,
    /// Lowest energy seen.
    pub energy_min_observed: f64,
    /// First dominant mode of the last cycle, null if none.
    pub dominant_mode: Option<Mode>,
    /// Cycles that mode has been dominant in a row.
    pub dominant_mode_streak: u32,
    /// Decaying count of target switches.
    pub mode_switches_recent: f64,
    /// Summary label.
    pub behavioral_pattern: BehavioralPattern,
}

/// Contract `self_model_context`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SelfModelContext {
    /// Learned from completed stress episodes.
    pub stress_resilience: f64,
    /// How steady the identity has been since warm-up.
    pub trait_stability: f64,
    /// Activation per energy spent over the last full window.
    pub energy_efficiency: f64,
    /// Completed stress episodes.
    pub episodes_completed: u32,
    /// Agreement of behaviour with itself and with the core modes.
    pub identity_coherence: f64,
}

/// The execution contract; field order and names are the wire format
/// (the server adds `schema_version` and `instance_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionContract {
    /// Completed cycles.
    pub cycle_count: u64,
    /// Up to two dominant modes, strongest first.
    pub dominant_modes: Vec<Mode>,
    /// Suppressed modes in mode order.
    pub suppressed_modes: Vec<Mode>,
    /// Allowed actions in vocabulary order.
    pub allowed_actions: Vec<Action>,
    /// Forbidden actions: restricted ones in vocabulary order, then the always-forbidden two.
    pub forbidden_actions: Vec<Action>,
    /// How to decide.
    pub decision_style: DecisionStyle,
    /// How to recover.
    pub recovery_profile: RecoveryProfile,
    /// Stress level.
    pub current_stress_level: StressLevel,
    /// System state.
    pub current_system_state: SystemState,
    /// Energy in [0, 1].
    pub energy_level: f64,
    /// Stability in [0, 1].
    pub stability_index: f64,
    /// Hard limits in force.
    pub hard_locks: HardLocks,
    /// Last drift level, null during warm-up.
    pub drift_level: Option<DriftLevel>,
    /// Last drift magnitude, null during warm-up.
    pub drift_magnitude: Option<f64>,
    /// Stop and wait.
    pub should_pause: bool,
    /// Bring in a human.
    pub should_escalate: bool,
    /// Cycles of energy left at the current burn rate, null when not burning.
    pub max_steps_remaining: Option<u32>,
    /// How much to trust the agent.
    pub trust_profile: TrustProfile,
    /// A prompt describing the agent's current situation.
    pub narrative_prompt: String,
    /// Memory signals.
    pub memory_context: MemoryContext,
    /// Self-model summary.
    pub self_model_context: SelfModelContext,
}

/// Builds the contract for `state` under `profile`.
pub(crate) fn build(
    params: &EngineParams,
    state: &EngineState,
    profile: &Profile,
) -> ExecutionContract {
    let arb = Arbitration::new(&state.modes, state.level, profile, params.active_threshold);
    let sm = &state.self_model;
    let mem = &state.memory;
    let coherence = coherence(profile, &arb.dominant, state.stability, sm.trait_stability);
    let path_a = sm.resilience < PATH_A_RESILIENCE && sm.episodes >= 1;
    let recovery_learned = sm.episodes >= 1;
    let since_episode_end = sm
        .last_episode_end
        .map(|end| state.cycle.saturating_sub(end));
    let pattern = mem.pattern(state.energy);

    let modes = actions::mode_action_set(&arb.dominant, state.system);
    let gate = actions::gate(state.level, modes, path_a, recovery_learned);
    let mut forbidden_actions = gate.restricted.to_vec();
    forbidden_actions.extend(ALWAYS_FORBIDDEN.iter());

    let decision_style = style::decision_style(&style::StyleInputs {
        top: arb.top(),
        level: state.level,
        path_a,
        risk_posture: profile.risk_posture,
    });
    let recovery_profile = style::recovery_profile(&style::RecoveryInputs {
        mode_switches_recent: mem.mode_switches_recent,
        spike_count: mem.spike_count,
        system: state.system,
        cycles_since_episode_end: since_episode_end,
        resilience: sm.resilience,
        energy: state.energy,
        episodes: sm.episodes,
        level: state.level,
    });
    let timing_inputs = timing::TimingInputs {
        system: state.system,
        energy: state.energy,
        pattern,
        two_recent_d3: state
            .drift
            .two_d3_within(state.cycle, timing::D3_PAUSE_WINDOW),
        coherence,
        over_streak: mem.over_streak,
        zero_energy_streak: mem.zero_energy_streak,
    };
    let narrative_prompt = narrative::narrative(&narrative::NarrativeInputs {
        description: profile.description.as_deref(),
        resilience: sm.resilience,
        stability: state.stability,
        level: state.level,
        system: state.system,
        recently_recovered: since_episode_end.is_some_and(|c| c < style::RECOVERY_WINDOW),
    });

    ExecutionContract {
        cycle_count: state.cycle,
        dominant_modes: arb.dominant_vec(),
        suppressed_modes: arb.suppressed_vec(),
        allowed_actions: gate.allowed.to_vec(),
        forbidden_actions,
        decision_style,
        recovery_profile,
        current_stress_level: state.level,
        current_system_state: state.system,
        energy_level: state.energy,
        stability_index: state.stability,
        hard_locks: style::hard_locks(state.level, state.modes[Mode::Identity.index()]),
        drift_level: state.drift.last_level,
        drift_magnitude: state.drift.last_magnitude,
        should_pause: timing::should_pause(&timing_inputs),
        should_escalate: timing::should_escalate(&timing_inputs),
        max_steps_remaining: timing::max_steps_remaining(state.energy, sm.burn),
        trust_profile: timing::trust_profile(sm.resilience, state.energy, coherence, state.level),
        narrative_prompt,
        memory_context: MemoryContext {
            stress_spike_count: mem.spike_count,
            avg_spike_interval: mem.avg_spike_interval,
            current_stress_streak: mem.current_stress_streak,
            max_stress_streak: mem.max_stress_streak,
            d1_recent: mem.d1_recent,
            d2_recent: mem.d2_recent,
            turns_since_last_d2: mem.turns_since_last_d2(state.cycle),
            drift_events_total: mem.drift_events_total,
            energy_trend: mem.energy_trend,
            energy_min_observed: mem.energy_min,
            dominant_mode: mem.dominant_mode,
            dominant_mode_streak: mem.dominant_mode_streak,
            mode_switches_recent: mem.mode_switches_recent,
            behavioral_pattern: pattern,
        },
        self_model_context: SelfModelContext {
            stress_resilience: sm.resilience,
            trait_stability: sm.trait_stability,
            energy_efficiency: sm.efficiency,
            episodes_completed: sm.episodes,
            identity_coherence: coherence,
        },
    }
}

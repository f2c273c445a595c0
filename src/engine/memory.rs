//! The memory summary (docs/engine.md step 9): fourteen signals about the
//! instance's recent history, plus the counters needed to maintain them.

use serde::{Deserialize, Serialize};

use super::levels::{DriftLevel, StressLevel};
use super::mode::Mode;

/// Decay of `d1_recent` / `d2_recent` per cycle.
const DRIFT_RECENT_DECAY: f64 = 0.99;
/// Weight of the previous value in `energy_trend`.
const ENERGY_TREND_DECAY: f64 = 0.95;
/// Decay of `mode_switches_recent` per cycle.
const SWITCH_DECAY: f64 = 0.95;
/// Weight of the previous average in `avg_spike_interval`.
const SPIKE_INTERVAL_DECAY: f64 = 0.7;

/// Pattern thresholds, in the order they are tested.
const DEPLETED_ENERGY: f64 = 0.1;
const SUSTAINED_STREAK: u32 = 10;
const RECURRING_SPIKES: u32 = 3;
const RECURRING_INTERVAL: f64 = 50.0;
const ACTIVE_DRIFT: f64 = 5.0;
const VOLATILE_SWITCHES: f64 = 10.0;
const LOCKED_STREAK: u32 = 50;

/// The summary label of recent behaviour (first matching rule wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BehavioralPattern {
    /// Energy below 0.1.
    EnergyDepleted,
    /// At least 10 consecutive HIGH/OVER cycles.
    SustainedStress,
    /// At least 3 spikes less than 50 cycles apart on average.
    RecurringStress,
    /// Recent D1 + D2 events add up to at least 5.
    ActiveDrift,
    /// Frequent target switches.
    Volatile,
    /// The same dominant mode for at least 50 cycles.
    ModeLocked,
    /// None of the above.
    Stable,
}

impl BehavioralPattern {
    /// The wire word.
    pub const fn as_str(self) -> &'static str {
        match self {
            BehavioralPattern::EnergyDepleted => "energy_depleted",
            BehavioralPattern::SustainedStress => "sustained_stress",
            BehavioralPattern::RecurringStress => "recurring_stress",
            BehavioralPattern::ActiveDrift => "active_drift",
            BehavioralPattern::Volatile => "volatile",
            BehavioralPattern::ModeLocked => "mode_locked",
            BehavioralPattern::Stable => "stable",
        }
    }
}

/// Memory kept in the engine state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Memory {
    pub(crate) spike_count: u32,
    pub(crate) last_spike_cycle: Option<u64>,
    pub(crate) avg_spike_interval: f64,
    pub(crate) current_stress_streak: u32,
    pub(crate) max_stress_streak: u32,
    pub(crate) d1_recent: f64,
    pub(crate) d2_recent: f64,
    pub(crate) last_d2_cycle: Option<u64>,
    pub(crate) drift_events_total: u64,
    pub(crate) energy_trend: f64,
    pub(crate) energy_min: f64,
    pub(crate) dominant_mode: Option<Mode>,
    pub(crate) dominant_mode_streak: u32,
    pub(crate) mode_switches_recent: f64,
    pub(crate) previous_target: Option<Mode>,
    pub(crate) over_streak: u32,
    pub(crate) zero_energy_streak: u32,
}

/// What one cycle contributes to memory.
pub(crate) struct CycleFacts {
    pub(crate) cycle: u64,
    pub(crate) prev_level: StressLevel,
    pub(crate) level: StressLevel,
    pub(crate) drift: Option<DriftLevel>,
    pub(crate) drift_recorded: bool,
    pub(crate) energy: f64,
    pub(crate) dominant: Option<Mode>,
    pub(crate) target: Mode,
}

impl Memory {
    /// Fresh memory: energy trend and minimum start at the initial energy.
    pub(crate) fn new(energy: f64) -> Memory {
        Memory {
            spike_count: 0,
            last_spike_cycle: None,
            avg_spike_interval: 0.0,
            current_stress_streak: 0,
            max_stress_streak: 0,
            d1_recent: 0.0,
            d2_recent: 0.0,
            last_d2_cycle: None,
            drift_events_total: 0,
            energy_trend: energy,
            energy_min: energy,
            dominant_mode: None,
            dominant_mode_streak: 0,
            mode_switches_recent: 0.0,
            previous_target: None,
            over_streak: 0,
            zero_energy_streak: 0,
        }
    }

    /// Folds one cycle into the summary.
    pub(crate) fn update(&mut self, f: &CycleFacts) {
        let spike = (f.prev_level <= StressLevel::Med && f.level.is_high())
            || (f.prev_level == StressLevel::High && f.level == StressLevel::Over);
        if spike {
            if let Some(last) = self.last_spike_cycle {
                let gap = f.cycle.saturating_sub(last) as f64;
                self.avg_spike_interval = if self.spike_count <= 1 {
                    gap
                } else {
                    SPIKE_INTERVAL_DECAY * self.avg_spike_interval
                        + (1.0 - SPIKE_INTERVAL_DECAY) * gap
                };
            }
            self.spike_count = self.spike_count.saturating_add(1);
            self.last_spike_cycle = Some(f.cycle);
        }

        if f.level.is_high() {
            self.current_stress_streak = self.current_stress_streak.saturating_add(1);
        } else {
            self.current_stress_streak = 0;
        }
        self.max_stress_streak = self.max_stress_streak.max(self.current_stress_streak);

        let d1 = f.drift == Some(DriftLevel::D1Context);
        let d2 = matches!(
            f.drift,
            Some(DriftLevel::D2Adaptive | DriftLevel::D3Corrupt)
        );
        self.d1_recent = DRIFT_RECENT_DECAY * self.d1_recent + if d1 { 1.0 } else { 0.0 };
        self.d2_recent = DRIFT_RECENT_DECAY * self.d2_recent + if d2 { 1.0 } else { 0.0 };
        if d2 {
            self.last_d2_cycle = Some(f.cycle);
        }
        if f.drift_recorded {
            self.drift_events_total = self.drift_events_total.saturating_add(1);
        }

        self.energy_trend =
            ENERGY_TREND_DECAY * self.energy_trend + (1.0 - ENERGY_TREND_DECAY) * f.energy;
        self.energy_min = self.energy_min.min(f.energy);

        self.dominant_mode_streak = match f.dominant {
            None => 0,
            Some(m) if self.dominant_mode == Some(m) => self.dominant_mode_streak.saturating_add(1),
            Some(_) => 1,
        };
        self.dominant_mode = f.dominant;

        let switched = self.previous_target.is_some_and(|t| t != f.target);
        self.mode_switches_recent =
            SWITCH_DECAY * self.mode_switches_recent + if switched { 1.0 } else { 0.0 };
        self.previous_target = Some(f.target);

        self.over_streak = if f.level == StressLevel::Over {
            self.over_streak.saturating_add(1)
        } else {
            0
        };
        self.zero_energy_streak = if f.energy <= 0.0 {
            self.zero_energy_streak.saturating_add(1)
        } else {
            0
        };
    }

    /// Cycles since the last D2/D3 cycle, `None` if there was none.
    pub(crate) fn turns_since_last_d2(&self, cycle: u64) -> Option<u64> {
        self.last_d2_cycle.map(|c| cycle.saturating_sub(c))
    }

    /// The first pattern that holds for the current energy.
    pub(crate) fn pattern(&self, energy: f64) -> BehavioralPattern {
        if energy < DEPLETED_ENERGY {
            BehavioralPattern::EnergyDepleted
        } else if self.current_stress_streak >= SUSTAINED_STREAK {
            BehavioralPattern::SustainedStress
        } else if self.spike_count >= RECURRING_SPIKES
            && self.avg_spike_interval < RECURRING_INTERVAL
        {
            BehavioralPattern::RecurringStress
        } else if self.d1_recent + self.d2_recent >= ACTIVE_DRIFT {
            BehavioralPattern::ActiveDrift
        } else if self.mode_switches_recent >= VOLATILE_SWITCHES {
            BehavioralPattern::Volatile
        } else if self.dominant_mode_streak >= LOCKED_STREAK {
            BehavioralPattern::ModeLocked
        } else {
            BehavioralPattern::Stable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cycle: u64, prev_level: StressLevel, level: StressLevel) -> CycleFacts {
        CycleFacts {
            cycle,
            prev_level,
            level,
            drift: None,
            drift_recorded: false,
            energy: 0.8,
            dominant: None,
            target: Mode::Perception,
        }
    }

    #[test]
    fn spikes_and_intervals() {
        use StressLevel::*;
        let mut m = Memory::new(0.8);
        m.update(&facts(3, Med, High));
        assert_eq!((m.spike_count, m.avg_spike_interval), (1, 0.0));
        m.update(&facts(5, High, Over));
        assert_eq!((m.spike_count, m.avg_spike_interval), (2, 2.0));
        m.update(&facts(6, Over, High));
        m.update(&facts(15, High, Over));
        assert_eq!(m.spike_count, 3);
        assert!((m.avg_spike_interval - (0.7 * 2.0 + 0.3 * 10.0)).abs() < 1e-12);
        assert_eq!(m.current_stress_streak, 4);
        m.update(&facts(16, Over, Low));
        assert_eq!((m.current_stress_streak, m.max_stress_streak), (0, 4));
        assert_eq!(m.pattern(0.8), BehavioralPattern::RecurringStress);
        assert_eq!(m.pattern(0.05), BehavioralPattern::EnergyDepleted);
    }

    #[test]
    fn drift_counters_and_switches() {
        let mut m = Memory::new(0.8);
        let mut f = facts(21, StressLevel::Low, StressLevel::Low);
        f.drift = Some(DriftLevel::D1Context);
        f.drift_recorded = true;
        m.update(&f);
        f.cycle = 22;
        f.drift = Some(DriftLevel::D3Corrupt);
        f.target = Mode::Order;
        f.dominant = Some(Mode::Order);
        m.update(&f);
        assert!((m.d1_recent - 0.99).abs() < 1e-12);
        assert_eq!(m.d2_recent, 1.0);
        assert_eq!(m.turns_since_last_d2(25), Some(3));
        assert_eq!(m.drift_events_total, 2);
        assert_eq!(m.mode_switches_recent, 1.0);
        assert_eq!(
            (m.dominant_mode, m.dominant_mode_streak),
            (Some(Mode::Order), 1)
        );
        assert_eq!(
            serde_json::to_string(&BehavioralPattern::ModeLocked)
                .ok()
                .as_deref(),
            Some("\"mode_locked\"")
        );
    }
}

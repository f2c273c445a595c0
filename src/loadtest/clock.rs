//! Per-instance logical clocks for caller timestamps.
//!
//! The server refuses an observation closer than `MIN_CYCLE_INTERVAL` to
//! the instance's previous one (docs/api.md "Throttling") unless the caller
//! supplies timestamps spaced at least that far apart — the documented way
//! to drive many observations quickly. Each instance gets its own clock
//! that starts at a common origin in the future and advances by a fixed
//! spacing per observation, so timestamps are strictly increasing however
//! fast requests go. A rerun with `--reuse` starts each clock after the
//! instance's newest recorded timestamp, so it stays monotonic too.

use std::time::Duration;

use crate::store::Micros;
use crate::time::{format_timestamp, now_micros};

/// How far in the future the clocks start: far enough that a run never
/// catches up with real time, close enough that ordinary untimed traffic
/// to the same instances resumes after a day.
const ORIGIN_AHEAD: Micros = 24 * 3600 * 1_000_000;

/// Origins are rounded up to a whole minute, so timestamps read cleanly.
const ROUND: Micros = 60 * 1_000_000;

/// The common origin for a run started now: now + 1 day, rounded up to a
/// whole minute.
pub fn origin_now() -> Micros {
    origin_at(now_micros())
}

/// The origin for a run started at `now` (see [`origin_now`]).
pub fn origin_at(now: Micros) -> Micros {
    let ahead = now + ORIGIN_AHEAD;
    ahead + (ROUND - ahead.rem_euclid(ROUND)) % ROUND
}

/// One instance's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceClock {
    next: Micros,
    spacing: Micros,
}

impl InstanceClock {
    /// A clock whose first timestamp is the origin, or one spacing after
    /// the instance's newest recorded timestamp if that is later.
    pub fn new(origin: Micros, last_seen: Option<Micros>, spacing: Duration) -> Self {
        let spacing = i64::try_from(spacing.as_micros()).unwrap_or(i64::MAX / 4);
        let next = match last_seen {
            Some(last) => origin.max(last.saturating_add(spacing)),
            None => origin,
        };
        InstanceClock { next, spacing }
    }

    /// The next timestamp, then advances the clock.
    pub fn tick(&mut self) -> Micros {
        let at = self.next;
        self.next = self.next.saturating_add(self.spacing);
        at
    }

    /// The next timestamp as RFC 3339, then advances the clock.
    pub fn tick_text(&mut self) -> String {
        format_timestamp(self.tick())
    }

    /// Moves the clock a whole day forward: used after the server said
    /// `throttled`, which means something else wrote a later timestamp.
    pub fn leap(&mut self) {
        self.next = self.next.saturating_add(ORIGIN_AHEAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_a_day_ahead_on_a_whole_minute() {
        let now = 1_800_000_000_123_456;
        let origin = origin_at(now);
        assert_eq!(origin % ROUND, 0);
        assert!(origin >= now + ORIGIN_AHEAD && origin < now + ORIGIN_AHEAD + ROUND);
        assert_eq!(origin_at(origin - ORIGIN_AHEAD), origin);
    }

    #[test]
    fn ticks_are_spaced_and_resume_after_the_last_seen_timestamp() {
        let spacing = Duration::from_secs(2);
        let mut clock = InstanceClock::new(1_000_000_000, None, spacing);
        assert_eq!(clock.tick(), 1_000_000_000);
        assert_eq!(clock.tick(), 1_002_000_000);
        let mut resumed = InstanceClock::new(1_000_000_000, Some(5_000_000_000), spacing);
        assert_eq!(resumed.tick(), 5_002_000_000);
        let mut early = InstanceClock::new(9_000_000_000, Some(5_000_000_000), spacing);
        assert_eq!(early.tick(), 9_000_000_000);
        early.leap();
        assert_eq!(early.tick(), 9_002_000_000 + ORIGIN_AHEAD);
    }
}

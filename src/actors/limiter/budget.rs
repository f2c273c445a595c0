//! One account's per-minute budget: a GCRA limiter (governor) whose burst
//! is the tier's per-minute figure.

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::time::now_micros;

type Gcra = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// The outcome of charging one request to a budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Requests per minute of the tier; `None` = no limit.
    pub limit: Option<u32>,
    /// Requests left before `rate_limited`.
    pub remaining: u32,
    /// Unix seconds when the budget is fully restored.
    pub reset_at: i64,
    /// `Some(seconds)` when the request is refused.
    pub retry_after_secs: Option<u64>,
}

impl RateDecision {
    /// The decision of a GCRA of burst `limit` at `now_secs`: the burst
    /// left, or how long to wait.
    pub fn of_gcra(limit: u32, now_secs: i64, outcome: Result<u32, Duration>) -> Self {
        let seconds_per_request = 60.0 / f64::from(limit);
        let reset_at = |remaining: u32| {
            now_secs + (f64::from(limit - remaining.min(limit)) * seconds_per_request).ceil() as i64
        };
        match outcome {
            Ok(remaining) => RateDecision {
                limit: Some(limit),
                remaining,
                reset_at: reset_at(remaining),
                retry_after_secs: None,
            },
            Err(wait) => RateDecision {
                limit: Some(limit),
                remaining: 0,
                reset_at: reset_at(0),
                retry_after_secs: Some(wait.as_secs_f64().ceil().max(1.0) as u64),
            },
        }
    }

    /// The decision when there is no per-minute limit.
    pub fn unlimited(now_secs: i64) -> Self {
        RateDecision {
            limit: None,
            remaining: u32::MAX,
            reset_at: now_secs,
            retry_after_secs: None,
        }
    }
}

/// A tier's per-minute budget for one account.
pub struct AccountBudget {
    /// The tier the budget was built for (rebuilt when the tier changes).
    pub tier: String,
    limit: Option<NonZeroU32>,
    gcra: Option<Gcra>,
    /// Unix seconds of the last charge, for pruning idle budgets.
    pub last_used: AtomicI64,
}

impl AccountBudget {
    /// A budget of `rate_per_minute` (0 = unlimited).
    pub fn new(tier: &str, rate_per_minute: u64) -> Self {
        let limit = NonZeroU32::new(u32::try_from(rate_per_minute).unwrap_or(u32::MAX));
        let gcra = limit
            .map(|l| RateLimiter::direct(Quota::per_minute(l).allow_burst(l)).with_middleware());
        AccountBudget {
            tier: tier.to_string(),
            limit,
            gcra,
            last_used: AtomicI64::new(now_micros() / 1_000_000),
        }
    }

    /// Charges one request.
    pub fn charge(&self) -> RateDecision {
        let now_secs = now_micros() / 1_000_000;
        self.last_used.store(now_secs, Ordering::Relaxed);
        let (Some(limit), Some(gcra)) = (self.limit, &self.gcra) else {
            return RateDecision::unlimited(now_secs);
        };
        let outcome = gcra
            .check()
            .map(|snapshot| snapshot.remaining_burst_capacity())
            .map_err(|not_until| not_until.wait_time_from(gcra.clock().now()));
        RateDecision::of_gcra(limit.get(), now_secs, outcome)
    }

    /// Whether the budget is unused and could be rebuilt without loss.
    pub fn idle_since(&self, cutoff_secs: i64) -> bool {
        self.last_used.load(Ordering::Relaxed) < cutoff_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_the_per_minute_figure_then_refusal() {
        let budget = AccountBudget::new("free", 10);
        for expected_remaining in (0..10).rev() {
            let decision = budget.charge();
            assert_eq!(decision.retry_after_secs, None);
            assert_eq!(decision.remaining, expected_remaining);
            assert_eq!(decision.limit, Some(10));
        }
        let refused = budget.charge();
        assert_eq!(refused.remaining, 0);
        assert!(
            refused
                .retry_after_secs
                .is_some_and(|s| (1..=6).contains(&s)),
            "{refused:?}"
        );
    }

    #[test]
    fn unlimited_never_refuses() {
        let budget = AccountBudget::new("unlimited", 0);
        for _ in 0..10_000 {
            assert_eq!(budget.charge().retry_after_secs, None);
        }
        assert_eq!(budget.charge().limit, None);
    }
}

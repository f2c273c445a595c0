//! A short circuit breaker in front of Redis: after a failure, calls fail
//! at once for a moment instead of each waiting out a timeout, and the
//! transitions are logged once each.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use crate::time::now_micros;

/// How long calls fail fast after a Redis failure.
const OPEN_FOR_MICROS: i64 = 1_000_000;

/// Up/down state of the Redis backend.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Unix microseconds until which calls are not attempted.
    open_until: AtomicI64,
    /// Whether the last call failed (for logging transitions once).
    down: AtomicBool,
}

impl Breaker {
    /// Whether a call may be attempted now.
    pub fn allows(&self) -> bool {
        now_micros() >= self.open_until.load(Ordering::Acquire)
    }

    /// A call succeeded.
    pub fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("limiter backend redis is reachable again");
            metrics::gauge!("identity_os_limiter_backend_up").set(1.0);
        }
    }

    /// A call failed: open the breaker for a moment.
    pub fn failed(&self, error: &dyn std::fmt::Display) {
        self.open_until
            .store(now_micros() + OPEN_FOR_MICROS, Ordering::Release);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %error, "limiter backend redis is unreachable");
            metrics::gauge!("identity_os_limiter_backend_up").set(0.0);
        }
    }
}

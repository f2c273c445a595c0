//! Exactly-once changes under retries.
//!
//! A request with an `Idempotency-Key` carries an [`Idempotency`]: the
//! actor renders the response of its change *before* committing it, so the
//! response is recorded in the same transaction as the change, and a
//! repeat of the request (the HTTP layer looks the key up first) gets that
//! response back and changes nothing.
//!
//! Without a key, a timed observation (or batch) equal to the one the
//! instance last committed is recognised as a retry by its
//! [`Fingerprint`]: it would otherwise be throttled (its timestamp is not
//! after the last one) although it was recorded. The actor keeps that last
//! result in memory, so this holds while the instance stays live (an idle
//! actor passivates after `actors.idle_timeout_secs`, far longer than any
//! client's retry delay).

use std::hash::{DefaultHasher, Hash, Hasher};

use super::instance::ProcessOutcome;
use super::instance_model::TimedObservation;
use crate::store::{IdempotencyRecord, Micros};

/// A response as the HTTP layer sends it: what a keyed change records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedResponse {
    pub status: u16,
    /// Headers besides `Content-Type: application/json`.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Renders the response a change of type `T` will be answered with.
pub type Render<T> = Box<dyn Fn(&T) -> RenderedResponse + Send>;

/// What a request carrying `Idempotency-Key` asks its change to record.
pub struct Idempotency<T> {
    pub account_id: String,
    pub key: String,
    /// SHA-256 of the method, path, query and body.
    pub request_hash: [u8; 32],
    pub render: Render<T>,
}

impl<T> Idempotency<T> {
    /// The record of `outcome`, the result the change will have once
    /// committed (again, when a lost race has the change planned anew).
    pub fn record(&self, outcome: &T, now: Micros) -> IdempotencyRecord {
        let rendered = (self.render)(outcome);
        IdempotencyRecord {
            account_id: self.account_id.clone(),
            key: self.key.clone(),
            request_hash: self.request_hash,
            status: rendered.status,
            headers: rendered.headers,
            body: rendered.body,
            created_at: now,
        }
    }
}

/// Identifies a timed request by its content: every observation's
/// timestamp, mode, strength, confidence and context, and whether
/// intermediate results were asked for. A collision could only answer a
/// request with the recorded result of another that had the same
/// timestamps, which the throttle would have refused anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl Fingerprint {
    /// `None` unless every observation has its own timestamp.
    pub fn of(observations: &[TimedObservation], keep_intermediate: bool) -> Option<Fingerprint> {
        let mut hasher = DefaultHasher::new();
        keep_intermediate.hash(&mut hasher);
        for o in observations {
            o.timestamp?.hash(&mut hasher);
            o.observation.mode().hash(&mut hasher);
            o.observation.signal_strength().to_bits().hash(&mut hasher);
            o.observation.confidence().to_bits().hash(&mut hasher);
            o.context_json.hash(&mut hasher);
        }
        Some(Fingerprint(hasher.finish()))
    }
}

/// The last committed timed request of an instance and its result.
#[derive(Debug, Clone)]
pub struct LastTimedRequest {
    pub fingerprint: Fingerprint,
    pub outcome: std::sync::Arc<ProcessOutcome>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Mode, Observation};

    fn timed(timestamp: Option<Micros>, strength: f64, context: &str) -> TimedObservation {
        TimedObservation {
            observation: Observation::new(Mode::Exploration, strength, 1.0).unwrap(),
            timestamp,
            context_json: context.to_owned(),
        }
    }

    #[test]
    fn fingerprints_tell_content_apart_and_need_timestamps() {
        let a = [timed(Some(1_000_000), 0.5, "{}")];
        assert_eq!(Fingerprint::of(&a, false), Fingerprint::of(&a, false));
        assert_ne!(Fingerprint::of(&a, false), Fingerprint::of(&a, true));
        for other in [
            [timed(Some(2_000_000), 0.5, "{}")],
            [timed(Some(1_000_000), 0.6, "{}")],
            [timed(Some(1_000_000), 0.5, r#"{"a":1}"#)],
        ] {
            assert_ne!(Fingerprint::of(&a, false), Fingerprint::of(&other, false));
        }
        assert_eq!(Fingerprint::of(&[timed(None, 0.5, "{}")], false), None);
    }
}

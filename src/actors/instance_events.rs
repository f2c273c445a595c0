//! Fan-out of committed instance changes to live subscribers (the
//! `GET /v1/instances/{id}/events` streams).
//!
//! The actor publishes after each commit; a publish with no subscriber is
//! one map lookup. Each watched instance has a bounded broadcast channel: a
//! subscriber that falls more than [`CHANNEL_CAPACITY`] changes behind is
//! told it lagged instead of slowing the actor. Streams per account are
//! counted here, so the limit holds across instances.

use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{broadcast, watch};

use crate::store::{CyclePoint, Micros};

/// Changes a subscriber may fall behind before it is told it lagged.
pub const CHANNEL_CAPACITY: usize = 256;

/// One committed change, as subscribers see it. `version` is the
/// instance's version after the change.
#[derive(Debug, Clone, PartialEq)]
pub enum InstanceChange {
    /// A `process` or batch commit: its last cycle.
    Observation {
        version: i64,
        cycle_number: u64,
        /// Observations the commit applied (a batch's length).
        observations: u64,
        timestamp: Micros,
        point: CyclePoint,
    },
    /// A reset: the restored state's figures.
    Reset {
        version: i64,
        mode: super::ResetMode,
        cycle_count: u64,
        timestamp: Micros,
        point: CyclePoint,
    },
    /// A rename or a personality test's profile.
    Updated { version: i64, timestamp: Micros },
    /// The instance is gone; its stream ends after this.
    Deleted { timestamp: Micros },
}

/// The subscribers of every watched instance and the open streams of each
/// account.
pub struct InstanceEvents {
    channels: DashMap<String, broadcast::Sender<Arc<InstanceChange>>>,
    streams: DashMap<String, usize>,
    closing: watch::Sender<bool>,
    closed: AtomicBool,
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubscribeError {
    /// The account has its limit of open streams.
    #[error("this account already has {limit} open event streams; close one first")]
    TooManyStreams { limit: usize },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closing,
}

/// An open stream: its receiver, and the account's count of open streams
/// (taken back when dropped, after the receiver).
pub struct Subscription {
    pub changes: broadcast::Receiver<Arc<InstanceChange>>,
    _permit: StreamPermit,
}

/// One counted stream of an account.
struct StreamPermit {
    events: Arc<InstanceEvents>,
    account_id: String,
    instance_id: String,
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        self.events
            .streams
            .remove_if_mut(&self.account_id, |_, open| {
                *open = open.saturating_sub(1);
                *open == 0
            });
        self.events
            .channels
            .remove_if(&self.instance_id, |_, tx| tx.receiver_count() == 0);
    }
}

impl Default for InstanceEvents {
    fn default() -> Self {
        InstanceEvents {
            channels: DashMap::new(),
            streams: DashMap::new(),
            closing: watch::channel(false).0,
            closed: AtomicBool::new(false),
        }
    }
}

impl InstanceEvents {
    /// Sends a committed change to the instance's subscribers, if any.
    pub fn publish(&self, instance_id: &str, change: InstanceChange) {
        if let Some(tx) = self.channels.get(instance_id) {
            let _ = tx.send(Arc::new(change));
        }
    }

    /// Opens a stream of the account's instance, unless the account has
    /// `limit` open already (0 = no limit) or the server is shutting down.
    /// Subscribe before reading the instance's version, so no change
    /// committed after that read is missed.
    pub fn subscribe(
        self: &Arc<Self>,
        account_id: &str,
        instance_id: &str,
        limit: usize,
    ) -> Result<Subscription, SubscribeError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(SubscribeError::Closing);
        }
        {
            let mut open = self.streams.entry(account_id.to_owned()).or_insert(0);
            if limit != 0 && *open >= limit {
                return Err(SubscribeError::TooManyStreams { limit });
            }
            *open += 1;
        }
        let permit = StreamPermit {
            events: self.clone(),
            account_id: account_id.to_owned(),
            instance_id: instance_id.to_owned(),
        };
        let changes = self
            .channels
            .entry(instance_id.to_owned())
            .or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0)
            .subscribe();
        Ok(Subscription {
            changes,
            _permit: permit,
        })
    }

    /// Resolves once the server starts shutting down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Ends every stream (shutdown) and refuses new ones.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.closing.send_replace(true);
    }

    /// Open streams of an account.
    pub fn open_streams(&self, account_id: &str) -> usize {
        self.streams.get(account_id).map_or(0, |open| *open)
    }
}

/// The trajectory point of a state: what a cycle stores and its event shows.
pub fn point_of(
    state: &crate::engine::EngineState,
    drift: Option<&crate::engine::DriftReading>,
) -> CyclePoint {
    CyclePoint {
        energy_level: state.energy(),
        stress_level: state.stress_level(),
        stability_index: state.stability(),
        mode_strengths: state.modes(),
        dominant_mode: state.memory.dominant_mode,
        drift: drift.map(|d| crate::store::CycleDrift {
            level: d.level,
            magnitude: d.magnitude,
            rolled_back: d.rolled_back,
        }),
    }
}

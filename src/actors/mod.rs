//! Actors: one owner per piece of mutable state.
//!
//! - [`InstanceActor`]: one per live instance; serialises its requests,
//!   steps the engine and persists before replying.
//! - [`InstanceSupervisor`]: restarts failed instance actors on demand and
//!   evicts idle ones when too many are live.
//! - [`limiter::LimiterActor`]: per-minute budgets and monthly quotas.
//! - [`BillingActor`]: the only component that talks to Stripe (billing).
//! - [`InstanceRegistry`]: the handle request handlers use to reach an
//!   instance's actor (spawning it from the store on first use).

mod billing;
pub mod idempotency;
mod instance;
pub mod instance_events;
mod instance_model;
pub mod limiter;
mod registry;
mod state_codec;
mod supervisor;

pub use billing::{
    BillingActor, BillingError, BillingHandle, BillingMessage, EventResult, StripeEvent,
    WebhookError,
};
pub use instance::{InstanceActor, InstanceMessage, InstanceView, ProcessOutcome, ProcessReply};
pub use instance_model::{InstanceMeta, InstanceModel, ResetMode, StepView, TimedObservation};
pub use registry::{InstanceContext, InstanceRegistry, RegistryStats};
pub use state_codec::CodecError;
pub use supervisor::{InstanceSupervisor, SupervisorMessage};

use crate::store::StoreError;

/// Why an instance request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// No such instance for this account (or any account).
    #[error("instance {0} not found")]
    NotFound(String),
    /// `If-Match` named another version, or a concurrent writer won.
    #[error("version conflict: the instance is at version {current}; re-read it and retry")]
    VersionMismatch { current: i64 },
    /// The observation is closer than `MIN_CYCLE_INTERVAL` to the previous one.
    #[error("observation throttled: instances accept one observation per MIN_CYCLE_INTERVAL; retry in {retry_after_secs} s, or send caller timestamps later than the instance's last one (a reset clears it)")]
    Throttled { retry_after_secs: u64 },
    /// `reset {"mode":"last_stable"}` before the drift detector saw a stable state.
    #[error("no stable point has been recorded yet (the drift warm-up takes 20 cycles)")]
    NoStablePoint,
    /// Stored state could not be decoded.
    #[error("stored instance state is unreadable")]
    Corrupt(#[from] state_codec::CodecError),
    /// The instance's actor failed while handling this request.
    #[error("the instance actor failed while handling the request")]
    ActorFailed,
    /// The server is shutting down.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

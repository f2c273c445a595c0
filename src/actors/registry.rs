//! The registry: how request handlers reach an instance's actor.
//!
//! Lookups are lock-free reads of a concurrent map, so the hot path does
//! not queue behind one mailbox; the map's writers are the spawn path here
//! and the actors themselves when they passivate. Lifecycle decisions
//! (supervision, eviction) belong to the [`InstanceSupervisor`].

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use ractor::{Actor, ActorId, ActorRef, MessagingErr, RpcReplyPort};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::engine::Engine;
use crate::store::{Micros, Store};
use crate::time::now_micros;

use super::instance::{InstanceActor, InstanceMessage};
use super::instance_events::InstanceEvents;
use super::instance_model::InstanceModel;
use super::supervisor::SupervisorMessage;
use super::InstanceError;

/// How often a request retries when it raced with its actor stopping.
const MAX_ATTEMPTS: usize = 4;

/// A live actor and when it was last asked for (seconds), for LRU eviction.
pub(super) struct LiveInstance {
    pub(super) actor: ActorRef<InstanceMessage>,
    pub(super) last_used: AtomicI64,
}

/// What every instance actor shares: the store, the engine, the settings,
/// and the map of live actors.
pub struct InstanceContext {
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    /// `MIN_CYCLE_INTERVAL` in microseconds.
    pub min_cycle_interval: Micros,
    pub idle_timeout: Duration,
    pub max_live_instances: usize,
    pub(super) live: DashMap<String, LiveInstance>,
    pub(super) supervisor: OnceLock<ActorRef<SupervisorMessage>>,
    pub(super) spawned: AtomicU64,
    pub(super) restarts: AtomicU64,
    shutting_down: AtomicBool,
    /// Committed changes, fanned out to event-stream subscribers.
    pub events: Arc<InstanceEvents>,
}

impl InstanceContext {
    /// Removes `id` from the live map if it is still this actor's entry.
    pub(super) fn forget(&self, id: &str, actor: ActorId) {
        self.live
            .remove_if(id, |_, live| live.actor.get_id() == actor);
        self.shrink_when_sparse();
    }

    /// Gives the map's table back once at most a quarter of it is used, so
    /// a passivation sweep after a burst of instances returns that memory
    /// too (measured: about 35 bytes per instance at 100 000 instances).
    fn shrink_when_sparse(&self) {
        if self.live.len() * 4 < self.live.capacity() {
            self.live.shrink_to_fit();
        }
    }

    /// Removes whichever entry belongs to this actor (after a failure).
    pub(super) fn forget_actor(&self, actor: ActorId) {
        self.live.retain(|_, live| live.actor.get_id() != actor);
        self.shrink_when_sparse();
    }
}

/// Counters for metrics and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryStats {
    pub live: usize,
    pub spawned: u64,
    pub restarts: u64,
}

/// Cloneable handle used by the HTTP layer.
#[derive(Clone)]
pub struct InstanceRegistry {
    context: Arc<InstanceContext>,
}

impl InstanceRegistry {
    /// A registry without a supervisor yet; see [`InstanceSupervisor::start`].
    pub fn new(
        store: Arc<dyn Store>,
        engine: Engine,
        min_cycle_interval: Duration,
        idle_timeout: Duration,
        max_live_instances: usize,
    ) -> Self {
        InstanceRegistry {
            context: Arc::new(InstanceContext {
                store,
                engine,
                min_cycle_interval: min_cycle_interval.as_micros() as Micros,
                idle_timeout,
                max_live_instances,
                live: DashMap::new(),
                supervisor: OnceLock::new(),
                spawned: AtomicU64::new(0),
                restarts: AtomicU64::new(0),
                shutting_down: AtomicBool::new(false),
                events: Arc::default(),
            }),
        }
    }

    pub(super) fn context(&self) -> &Arc<InstanceContext> {
        &self.context
    }

    /// The fan-out of committed changes (event streams).
    pub fn events(&self) -> &Arc<InstanceEvents> {
        &self.context.events
    }

    /// The engine every actor steps with.
    pub fn engine(&self) -> &Engine {
        &self.context.engine
    }

    /// Current counters.
    pub fn stats(&self) -> RegistryStats {
        RegistryStats {
            live: self.context.live.len(),
            spawned: self.context.spawned.load(Ordering::Relaxed),
            restarts: self.context.restarts.load(Ordering::Relaxed),
        }
    }

    /// Sends a request to the instance's actor and awaits its reply.
    ///
    /// `message` builds the request around a reply port, once. When the
    /// actor stopped (passivated) between lookup and send, the mailbox
    /// hands the message back and it goes, unchanged, to a fresh actor
    /// spawned from the store: nothing of the request is copied for a
    /// retry that rarely happens. A reply lost after the message was
    /// accepted means the actor failed on it: that request gets
    /// `ActorFailed`, nothing is retried.
    pub async fn call<T, F>(&self, id: &str, message: F) -> Result<T, InstanceError>
    where
        T: Send + 'static,
        F: FnOnce(RpcReplyPort<Result<T, InstanceError>>) -> InstanceMessage,
    {
        let (reply, answer) = ractor::concurrency::oneshot();
        let mut message = message(reply.into());
        for _ in 0..MAX_ATTEMPTS {
            let actor = self.actor_for(id).await?;
            match actor.send_message(message) {
                Ok(()) => return answer.await.unwrap_or(Err(InstanceError::ActorFailed)),
                Err(MessagingErr::SendErr(returned)) => {
                    self.context.forget(id, actor.get_id());
                    message = returned;
                }
                Err(MessagingErr::ChannelClosed | MessagingErr::InvalidActorType) => {
                    return Err(InstanceError::ActorFailed)
                }
            }
        }
        Err(InstanceError::ActorFailed)
    }

    /// The caller's view of an instance (`NotFound` for another account's).
    pub async fn view(
        &self,
        id: &str,
        account_id: &str,
    ) -> Result<super::InstanceView, InstanceError> {
        self.call(id, |reply| InstanceMessage::Get {
            account_id: account_id.to_string(),
            reply,
        })
        .await
    }

    /// Test hook: sends a message without waiting (e.g. fault injection).
    pub fn cast(&self, id: &str, message: InstanceMessage) -> bool {
        self.context
            .live
            .get(id)
            .is_some_and(|live| live.actor.cast(message).is_ok())
    }

    /// The live actor of `id`, spawned from the store if needed.
    async fn actor_for(&self, id: &str) -> Result<ActorRef<InstanceMessage>, InstanceError> {
        if self.context.shutting_down.load(Ordering::Relaxed) {
            return Err(InstanceError::ShuttingDown);
        }
        if let Some(live) = self.context.live.get(id) {
            live.last_used
                .store(now_micros() / 1_000_000, Ordering::Relaxed);
            return Ok(live.actor.clone());
        }
        let record = self
            .context
            .store
            .load_instance(id)
            .await?
            .ok_or_else(|| InstanceError::NotFound(id.to_string()))?;
        let model = InstanceModel::from_record(record)?;
        let supervisor = self
            .context
            .supervisor
            .get()
            .ok_or(InstanceError::ShuttingDown)?;
        let handler = InstanceActor {
            context: self.context.clone(),
        };
        let (actor, _) = Actor::spawn_linked(None, handler, model, supervisor.get_cell())
            .await
            .map_err(|e| {
                tracing::error!(instance = %id, error = %e, "instance actor failed to start");
                InstanceError::ActorFailed
            })?;
        let chosen = match self.context.live.entry(id.to_string()) {
            Entry::Occupied(existing) => {
                actor.stop(None);
                existing.get().actor.clone()
            }
            Entry::Vacant(slot) => {
                slot.insert(LiveInstance {
                    actor: actor.clone(),
                    last_used: AtomicI64::new(now_micros() / 1_000_000),
                });
                self.context.spawned.fetch_add(1, Ordering::Relaxed);
                actor
            }
        };
        if self.context.live.len() > self.context.max_live_instances {
            let _ = supervisor.cast(SupervisorMessage::EvictOverflow);
        }
        Ok(chosen)
    }

    /// Stops every instance actor after its queued requests; new requests
    /// are refused with `ShuttingDown`.
    pub async fn shutdown(&self) {
        self.context.shutting_down.store(true, Ordering::Relaxed);
        let actors: Vec<_> = self.context.live.iter().map(|e| e.actor.clone()).collect();
        for actor in &actors {
            let _ = actor.drain_and_wait(Some(Duration::from_secs(5))).await;
        }
        self.context.live.clear();
        if let Some(supervisor) = self.context.supervisor.get() {
            supervisor.stop(None);
        }
    }
}

//! The instance supervisor: linked parent of every instance actor.
//!
//! An instance actor that panics is dropped from the registry; the next
//! request for that instance spawns a fresh actor from the persisted state
//! (its last committed version), so only the failing request is lost. The
//! supervisor also bounds the number of live actors by passivating the
//! least recently used ones.

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::instance::InstanceMessage;
use super::registry::{InstanceContext, InstanceRegistry};

/// Messages of the supervisor.
pub enum SupervisorMessage {
    /// More actors are live than `max_live_instances`: passivate the oldest.
    EvictOverflow,
}

/// The supervisor's behaviour (its state is the shared context).
pub struct InstanceSupervisor;

impl InstanceSupervisor {
    /// Spawns the supervisor and attaches it to the registry.
    pub async fn start(
        registry: &InstanceRegistry,
    ) -> Result<ActorRef<SupervisorMessage>, ractor::SpawnErr> {
        let (supervisor, _) =
            Actor::spawn(None, InstanceSupervisor, registry.context().clone()).await?;
        let _ = registry.context().supervisor.set(supervisor.clone());
        Ok(supervisor)
    }
}

impl Actor for InstanceSupervisor {
    type Msg = SupervisorMessage;
    type State = Arc<InstanceContext>;
    type Arguments = Arc<InstanceContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        context: Arc<InstanceContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(context)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        context: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMessage::EvictOverflow => {
                let max = context.max_live_instances;
                let live = context.live.len();
                if live <= max {
                    return Ok(());
                }
                // Evict a tenth more than needed so eviction is amortised.
                let excess = live - max + max / 10;
                let mut by_age: Vec<(i64, String)> = context
                    .live
                    .iter()
                    .map(|e| (e.last_used.load(Ordering::Relaxed), e.key().clone()))
                    .collect();
                by_age.sort_unstable();
                for (_, id) in by_age.into_iter().take(excess) {
                    if let Some(live) = context.live.get(&id) {
                        let _ = live.actor.cast(InstanceMessage::Passivate);
                    }
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        context: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let SupervisionEvent::ActorFailed(cell, error) = event {
            tracing::error!(actor = %cell.get_id(), %error, "instance actor failed; it restarts from persisted state on the next request");
            context.forget_actor(cell.get_id());
            context.restarts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

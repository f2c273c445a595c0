//! The instance actor: the single owner of one instance's engine state on
//! this node.
//!
//! Because only this actor mutates the instance here, its requests are
//! strictly ordered without locks: of two simultaneous untimed observations
//! exactly one passes the throttle. It replies only after the store has
//! committed, so every 2xx the server sends is durable.
//!
//! When several nodes share the store (PostgreSQL), the actor is a cache
//! and the database is the judge: every write is conditional on the version
//! the actor read; a lost race reloads the stored state and, without
//! `If-Match`, plans the change again on it (at most [`MAX_REPLANS`] times,
//! then 409). Reads and `If-Match` checks first compare the stored version
//! (one cheap probe), so they see writes made on other nodes.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::Instant;

use crate::engine::{Profile, MODE_COUNT};
use crate::store::{Micros, StoreError};
use crate::time::now_micros;

use super::idempotency::{Fingerprint, Idempotency, LastTimedRequest};
use super::instance_events::{point_of, InstanceChange};
use super::instance_model::{
    InstanceMeta, InstanceModel, PlannedChange, ResetMode, StepView, TimedObservation,
};
use super::limiter::Reservation;
use super::registry::InstanceContext;
use super::InstanceError;

/// How often a change without `If-Match` is planned again after another
/// node committed first, before the request is answered `409 conflict`.
pub const MAX_REPLANS: usize = 3;

/// Reply type of every instance request.
pub type Reply<T> = RpcReplyPort<Result<T, InstanceError>>;

/// A read-only view of an instance at one version.
#[derive(Debug, Clone)]
pub struct InstanceView {
    pub meta: InstanceMeta,
    pub profile: Arc<Profile>,
    pub state: crate::engine::EngineState,
}

/// The result of processing observations.
#[derive(Debug, Clone)]
pub struct ProcessOutcome {
    pub meta: InstanceMeta,
    pub profile: Arc<Profile>,
    /// Every cycle's view when intermediate results were asked for, else the last.
    pub steps: Vec<StepView>,
}

/// The answer to a `Process` message. Shared: the actor keeps the result of
/// its last timed request to answer a retry of it (see
/// [`super::idempotency`]) without copying it.
#[derive(Debug, Clone)]
pub struct ProcessReply {
    pub outcome: Arc<ProcessOutcome>,
    /// A retry of the last committed timed request, answered with its
    /// recorded result: nothing changed, nothing is billed.
    pub replayed: bool,
}

/// Messages an instance actor handles. Every request names the account
/// making it: another account's request is answered as if the instance did
/// not exist.
pub enum InstanceMessage {
    Get {
        account_id: String,
        reply: Reply<InstanceView>,
    },
    Update {
        account_id: String,
        if_match: Option<i64>,
        name: Option<String>,
        description: Option<String>,
        idempotency: Option<Idempotency<InstanceView>>,
        reply: Reply<InstanceView>,
    },
    Delete {
        account_id: String,
        if_match: Option<i64>,
        idempotency: Option<Idempotency<()>>,
        reply: Reply<()>,
    },
    /// Observations to apply. The monthly cycles they need travel with
    /// them: the actor keeps the reservation if the change commits and
    /// gives it back otherwise, whatever became of the HTTP request.
    Process {
        account_id: String,
        if_match: Option<i64>,
        observations: Vec<TimedObservation>,
        keep_intermediate: bool,
        reservation: Reservation,
        idempotency: Option<Idempotency<ProcessOutcome>>,
        reply: Reply<ProcessReply>,
    },
    Reset {
        account_id: String,
        if_match: Option<i64>,
        mode: ResetMode,
        idempotency: Option<Idempotency<InstanceView>>,
        reply: Reply<InstanceView>,
    },
    ApplyTestProfile {
        account_id: String,
        modes: [f64; MODE_COUNT],
        reply: Reply<InstanceView>,
    },
    /// Timer tick: stop if nothing happened for `idle_timeout`.
    CheckIdle,
    /// Stop now (the supervisor evicts to bound the number of live actors).
    Passivate,
    /// Test-only fault injection: panics inside the handler (after the
    /// ownership check, so it cannot be aimed at another tenant).
    #[cfg(any(test, feature = "fault-injection"))]
    Crash {
        account_id: String,
        reply: Reply<()>,
    },
}

/// The actor's behaviour; its state is [`InstanceActorState`].
pub struct InstanceActor {
    pub context: Arc<InstanceContext>,
}

/// Owned state: the model, or `None` once the instance was deleted.
pub struct InstanceActorState {
    id: String,
    model: Option<InstanceModel>,
    last_activity: Instant,
    /// Recognises an unkeyed retry of the last timed request.
    last_timed: Option<LastTimedRequest>,
}

impl InstanceActor {
    /// The model, if it exists for this account.
    fn owned<'a>(
        state: &'a InstanceActorState,
        account_id: &str,
        id: &str,
    ) -> Result<&'a InstanceModel, InstanceError> {
        match &state.model {
            Some(model) if model.account_id == account_id => Ok(model),
            _ => Err(InstanceError::NotFound(id.to_string())),
        }
    }

    /// Commits a planned change and adopts it; the model is untouched on failure.
    async fn commit(
        &self,
        state: &mut InstanceActorState,
        change: PlannedChange,
    ) -> Result<(), InstanceError> {
        match self.context.store.write_instance(change.write).await {
            Ok(()) => {
                state.model = Some(change.model);
                Ok(())
            }
            Err(StoreError::Conflict) => {
                metrics::counter!("identity_os_instance_reloads_total", "reason" => "conflict")
                    .increment(1);
                let _ = self.reload(state).await;
                let current = state.model.as_ref().map_or(0, |m| m.meta.version);
                Err(InstanceError::VersionMismatch { current })
            }
            Err(StoreError::NotFound) => {
                state.model = None;
                Err(InstanceError::NotFound(self.context_id(state)))
            }
            Err(e) => {
                // A write whose connection broke may have committed: read
                // back what the database holds rather than trust the model.
                let _ = self.reload(state).await;
                Err(e.into())
            }
        }
    }

    /// Tells the instance's event-stream subscribers about a committed change.
    fn publish(&self, id: &str, change: InstanceChange) {
        self.context.events.publish(id, change);
    }

    fn publish_updated(&self, id: &str, result: &Result<InstanceView, InstanceError>) {
        if let Ok(view) = result {
            self.publish(
                id,
                InstanceChange::Updated {
                    version: view.meta.version,
                    timestamp: view.meta.updated_at,
                },
            );
        }
    }

    fn context_id(&self, state: &InstanceActorState) -> String {
        state.id.clone()
    }

    /// Re-reads the stored state after another writer won a race or a
    /// write failed. The answer of the last timed request is forgotten:
    /// another writer may have moved on since.
    async fn reload(&self, state: &mut InstanceActorState) -> Result<(), InstanceError> {
        let id = state.id.clone();
        state.last_timed = None;
        match self.context.store.load_instance(&id).await {
            Ok(Some(record)) => {
                if let Ok(model) = InstanceModel::from_record(record) {
                    state.model = Some(model);
                }
                Ok(())
            }
            Ok(None) => {
                state.model = None;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(instance = %id, error = %e, "reloading the instance failed");
                Err(e.into())
            }
        }
    }

    /// With a store that other nodes write to, compares the stored version
    /// with the model's (one cheap read) and reloads when another node
    /// changed or deleted the instance. A no-op on a store of this node's own.
    async fn refresh(&self, state: &mut InstanceActorState) -> Result<(), InstanceError> {
        if !self.context.store.is_shared() {
            return Ok(());
        }
        let stored = self.context.store.instance_version(&state.id).await?;
        if stored != state.model.as_ref().map(|m| m.meta.version) {
            metrics::counter!("identity_os_instance_reloads_total", "reason" => "stale")
                .increment(1);
            self.reload(state).await?;
        }
        Ok(())
    }

    /// `If-Match` against the model, and, if that fails on a shared store,
    /// against the stored version (this node's model may be the stale one).
    async fn check_version(
        &self,
        state: &mut InstanceActorState,
        account_id: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), InstanceError> {
        let checked = Self::owned(state, account_id, id)?.check_version(if_match);
        if checked.is_ok() || !self.context.store.is_shared() {
            return checked;
        }
        self.refresh(state).await?;
        Self::owned(state, account_id, id)?.check_version(if_match)
    }

    /// Whether a change that lost the race for its version may be planned
    /// again on the reloaded state: only without `If-Match` (the client
    /// named a version, which is now gone), a bounded number of times.
    fn may_replan(&self, if_match: Option<i64>, attempts: &mut usize) -> bool {
        *attempts += 1;
        let again = if_match.is_none() && *attempts <= MAX_REPLANS;
        if again {
            metrics::counter!("identity_os_instance_replans_total").increment(1);
        }
        again
    }

    async fn change<F>(
        &self,
        state: &mut InstanceActorState,
        id: &str,
        account_id: &str,
        if_match: Option<i64>,
        idempotency: Option<Idempotency<InstanceView>>,
        plan: F,
    ) -> Result<InstanceView, InstanceError>
    where
        F: Fn(&InstanceModel, Micros) -> Result<PlannedChange, InstanceError>,
    {
        self.check_version(state, account_id, id, if_match).await?;
        let mut attempts = 0;
        loop {
            let model = Self::owned(state, account_id, id)?;
            let now = now_micros();
            let mut change = plan(model, now)?;
            let view = change.model.view();
            if let Some(idempotency) = &idempotency {
                change.write.idempotency = Some(idempotency.record(&view, now));
            }
            match self.commit(state, change).await {
                Err(InstanceError::VersionMismatch { .. })
                    if self.may_replan(if_match, &mut attempts) => {}
                committed => return committed.map(|()| view),
            }
        }
    }

    /// Leaves the registry and stops after the queued messages are handled.
    fn passivate(&self, myself: &ActorRef<InstanceMessage>, state: &InstanceActorState) {
        self.context.forget(&state.id, myself.get_id());
        if myself.drain().is_err() {
            myself.stop(None);
        }
    }
}

impl Actor for InstanceActor {
    type Msg = InstanceMessage;
    type State = InstanceActorState;
    type Arguments = InstanceModel;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        model: InstanceModel,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_after(self.context.idle_timeout, || InstanceMessage::CheckIdle);
        Ok(InstanceActorState {
            id: model.meta.id.clone(),
            model: Some(model),
            last_activity: Instant::now(),
            last_timed: None,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let id = self.context_id(state);
        if !matches!(message, InstanceMessage::CheckIdle) {
            state.last_activity = Instant::now();
        }
        match message {
            InstanceMessage::Get { account_id, reply } => {
                let result = match self.refresh(state).await {
                    Ok(()) => Self::owned(state, &account_id, &id).map(InstanceModel::view),
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            InstanceMessage::Update {
                account_id,
                if_match,
                name,
                description,
                idempotency,
                reply,
            } => {
                let result = self
                    .change(
                        state,
                        &id,
                        &account_id,
                        if_match,
                        idempotency,
                        |model, now| model.plan_update(name.clone(), description.clone(), now),
                    )
                    .await;
                self.publish_updated(&id, &result);
                let _ = reply.send(result);
            }
            InstanceMessage::Reset {
                account_id,
                if_match,
                mode,
                idempotency,
                reply,
            } => {
                let result = self
                    .change(
                        state,
                        &id,
                        &account_id,
                        if_match,
                        idempotency,
                        |model, now| model.plan_reset(mode, now),
                    )
                    .await;
                if let Ok(view) = &result {
                    self.publish(
                        &id,
                        InstanceChange::Reset {
                            version: view.meta.version,
                            mode,
                            cycle_count: view.state.cycle(),
                            timestamp: view.meta.updated_at,
                            point: point_of(&view.state, None),
                        },
                    );
                }
                let _ = reply.send(result);
            }
            InstanceMessage::ApplyTestProfile {
                account_id,
                modes,
                reply,
            } => {
                let result = self
                    .change(state, &id, &account_id, None, None, |model, now| {
                        model.plan_test_profile(modes, now)
                    })
                    .await;
                self.publish_updated(&id, &result);
                let _ = reply.send(result);
            }
            InstanceMessage::Process {
                account_id,
                if_match,
                observations,
                keep_intermediate,
                reservation,
                idempotency,
                reply,
            } => {
                let request = ProcessRequest {
                    account_id: &account_id,
                    if_match,
                    observations: &observations,
                    keep_intermediate,
                    idempotency,
                };
                let result = self.process(state, &id, request).await;
                if result.as_ref().is_ok_and(|answer| !answer.replayed) {
                    reservation.commit();
                }
                let _ = reply.send(result);
            }
            InstanceMessage::Delete {
                account_id,
                if_match,
                idempotency,
                reply,
            } => {
                let result = self
                    .delete(state, &id, &account_id, if_match, idempotency)
                    .await;
                let _ = reply.send(result);
            }
            InstanceMessage::CheckIdle => {
                let idle = state.last_activity.elapsed();
                if idle >= self.context.idle_timeout {
                    self.passivate(&myself, state);
                } else {
                    myself.send_after(self.context.idle_timeout - idle, || {
                        InstanceMessage::CheckIdle
                    });
                }
            }
            InstanceMessage::Passivate => self.passivate(&myself, state),
            #[cfg(any(test, feature = "fault-injection"))]
            InstanceMessage::Crash { account_id, reply } => {
                if let Err(e) = Self::owned(state, &account_id, &id) {
                    let _ = reply.send(Err(e));
                } else {
                    panic!("fault injection: instance actor {id} crashed on purpose");
                }
            }
        }
        Ok(())
    }
}

/// A `Process` message's request, as the actor reads it.
struct ProcessRequest<'a> {
    account_id: &'a str,
    if_match: Option<i64>,
    observations: &'a [TimedObservation],
    keep_intermediate: bool,
    idempotency: Option<Idempotency<ProcessOutcome>>,
}

impl InstanceActor {
    async fn process(
        &self,
        state: &mut InstanceActorState,
        id: &str,
        request: ProcessRequest<'_>,
    ) -> Result<ProcessReply, InstanceError> {
        Self::owned(state, request.account_id, id)?;
        let fingerprint = Fingerprint::of(request.observations, request.keep_intermediate);
        if let (Some(fingerprint), Some(last)) = (fingerprint, &state.last_timed) {
            if last.fingerprint == fingerprint {
                return Ok(ProcessReply {
                    outcome: last.outcome.clone(),
                    replayed: true,
                });
            }
        }
        self.check_version(state, request.account_id, id, request.if_match)
            .await?;
        let mut attempts = 0;
        let (outcome, last) = loop {
            let model = Self::owned(state, request.account_id, id)?;
            let now = now_micros();
            let (mut change, steps) = model.plan_process(
                &self.context.engine,
                request.observations,
                now,
                self.context.min_cycle_interval,
                request.keep_intermediate,
            )?;
            let outcome = Arc::new(ProcessOutcome {
                meta: change.model.meta.clone(),
                profile: change.model.profile.clone(),
                steps,
            });
            if let Some(idempotency) = &request.idempotency {
                change.write.idempotency = Some(idempotency.record(&outcome, now));
            }
            let last = change.write.observations.last().and_then(|o| {
                o.point.map(|point| InstanceChange::Observation {
                    version: outcome.meta.version,
                    cycle_number: o.cycle_number,
                    observations: request.observations.len() as u64,
                    timestamp: o.timestamp,
                    point,
                })
            });
            match self.commit(state, change).await {
                Ok(()) => break (outcome, last),
                Err(InstanceError::VersionMismatch { .. })
                    if self.may_replan(request.if_match, &mut attempts) => {}
                Err(e) => return Err(e),
            }
        };
        if let Some(change) = last {
            self.publish(id, change);
        }
        metrics::counter!("identity_os_engine_cycles_total")
            .increment(request.observations.len() as u64);
        state.last_timed = fingerprint.map(|fingerprint| LastTimedRequest {
            fingerprint,
            outcome: outcome.clone(),
        });
        Ok(ProcessReply {
            outcome,
            replayed: false,
        })
    }

    async fn delete(
        &self,
        state: &mut InstanceActorState,
        id: &str,
        account_id: &str,
        if_match: Option<i64>,
        idempotency: Option<Idempotency<()>>,
    ) -> Result<(), InstanceError> {
        // The delete itself is unconditional: compare with the stored
        // version first, so a stale model cannot pass or fail `If-Match`.
        self.refresh(state).await?;
        Self::owned(state, account_id, id)?.check_version(if_match)?;
        let record = idempotency.map(|i| i.record(&(), now_micros()));
        match self
            .context
            .store
            .delete_instance(id, record.as_ref())
            .await
        {
            Ok(()) | Err(StoreError::NotFound) => {
                // Stay registered as a tombstone until idle, so a request that
                // read the row just before the delete cannot resurrect it.
                state.model = None;
                state.last_timed = None;
                self.publish(
                    id,
                    InstanceChange::Deleted {
                        timestamp: now_micros(),
                    },
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

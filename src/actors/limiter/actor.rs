//! The limiter actor: owns loading and pruning of limiter state.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::Duration;

use super::{Ledger, LimiterError, LimiterHandle, LimiterShared};
use crate::time::{month_of, now_micros};

/// How often idle budgets and past months' ledgers are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// A budget unused this long is fully restored and can be rebuilt on demand.
const BUDGET_IDLE_SECS: i64 = 600;

/// Messages of the limiter actor.
pub enum LimiterMessage {
    /// Loads the ledger of (account, month) from the store, once.
    LoadLedger {
        key: (String, String),
        reply: RpcReplyPort<Result<Arc<Ledger>, LimiterError>>,
    },
    /// Drops idle budgets and ledgers of past months.
    Prune,
}

/// The actor's behaviour; its state is the shared limiter state.
pub struct LimiterActor;

impl LimiterActor {
    /// Spawns the actor and attaches it to the handle.
    pub async fn start(
        handle: &LimiterHandle,
    ) -> Result<ActorRef<LimiterMessage>, ractor::SpawnErr> {
        let (actor, _) = Actor::spawn(None, LimiterActor, handle.shared().clone()).await?;
        let _ = handle.shared().actor.set(actor.clone());
        Ok(actor)
    }
}

impl Actor for LimiterActor {
    type Msg = LimiterMessage;
    type State = Arc<LimiterShared>;
    type Arguments = Arc<LimiterShared>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        shared: Arc<LimiterShared>,
    ) -> Result<Self::State, ActorProcessingErr> {
        myself.send_interval(PRUNE_EVERY, || LimiterMessage::Prune);
        Ok(shared)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        shared: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            LimiterMessage::LoadLedger { key, reply } => {
                let existing = shared.ledgers.get(&key).map(|l| l.clone());
                let result = match existing {
                    Some(ledger) => Ok(ledger),
                    None => match shared.store.usage(&key.0, &key.1).await {
                        Ok(used) => {
                            let ledger = Arc::new(Ledger::new(used));
                            shared.ledgers.insert(key, ledger.clone());
                            Ok(ledger)
                        }
                        Err(e) => Err(LimiterError::from(e)),
                    },
                };
                let _ = reply.send(result);
            }
            LimiterMessage::Prune => {
                let now = now_micros();
                let month = month_of(now);
                shared.ledgers.retain(|(_, m), _| *m == month);
                let cutoff = now / 1_000_000 - BUDGET_IDLE_SECS;
                shared
                    .budgets
                    .retain(|_, budget| !budget.idle_since(cutoff));
            }
        }
        Ok(())
    }
}

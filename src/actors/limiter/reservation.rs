//! Cycles held for an observation request until it commits or fails.

use std::sync::{Arc, Mutex};

use super::redis::RedisLimiter;
use super::{Ledger, MonthlyStatus};

/// Where the cycles are held.
enum Hold {
    /// On this node's ledger.
    Local(Arc<Ledger>),
    /// On the shared Redis counter of (account, month).
    Redis(Box<RedisHold>),
}

struct RedisHold {
    redis: RedisLimiter,
    account_id: String,
    month: String,
}

/// Cycles reserved on the monthly quota. Dropping it without
/// [`Reservation::commit`] gives the cycles back.
pub struct Reservation {
    hold: Option<Hold>,
    cycles: u64,
    /// The account's monthly figures with these cycles counted.
    status: MonthlyStatus,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("cycles", &self.cycles)
            .field("status", &self.status)
            .finish()
    }
}

impl Reservation {
    /// Cycles held on a node-local ledger.
    pub(crate) fn local(ledger: Arc<Ledger>, cycles: u64, status: MonthlyStatus) -> Self {
        Reservation {
            hold: Some(Hold::Local(ledger)),
            cycles,
            status,
        }
    }

    /// Cycles held on the shared Redis counter.
    pub(crate) fn redis(
        redis: RedisLimiter,
        account_id: &str,
        month: &str,
        cycles: u64,
        status: MonthlyStatus,
    ) -> Self {
        Reservation {
            hold: Some(Hold::Redis(Box::new(RedisHold {
                redis,
                account_id: account_id.to_string(),
                month: month.to_string(),
            }))),
            cycles,
            status,
        }
    }

    /// The cycles held.
    pub fn cycles(&self) -> u64 {
        self.cycles
    }

    /// The monthly figures once these cycles are spent.
    pub fn status(&self) -> MonthlyStatus {
        self.status
    }

    /// The cycles were committed with the observations: keep them.
    pub fn commit(mut self) {
        self.hold = None;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let cycles = self.cycles;
        match self.hold.take() {
            None => {}
            Some(Hold::Local(ledger)) => ledger.release(cycles),
            Some(Hold::Redis(hold)) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    let RedisHold {
                        redis,
                        account_id,
                        month,
                    } = *hold;
                    if let Err(e) = redis.release(&account_id, &month, cycles).await {
                        tracing::warn!(error = %e, cycles, "reserved cycles not given back to redis");
                    }
                });
            }
        }
    }
}

/// Cycles the limiter reserved together with the request's rate charge
/// (one Redis round trip for both), left in the request's extensions for
/// the handler. A handler that does not take them lets them go with the
/// request, which gives them back.
#[derive(Clone, Default)]
pub struct PreReserved(Arc<Mutex<Option<Reservation>>>);

impl PreReserved {
    pub(crate) fn new(reservation: Option<Reservation>) -> Self {
        PreReserved(Arc::new(Mutex::new(reservation)))
    }

    /// The reservation, if it holds exactly `cycles`.
    pub fn take(&self, cycles: u64) -> Option<Reservation> {
        let mut slot = self.0.lock().ok()?;
        if slot.as_ref().is_some_and(|r| r.cycles == cycles) {
            slot.take()
        } else {
            None
        }
    }
}

//! Cycles held for an observation request until it commits or fails.

use std::sync::Arc;

use super::redis::RedisLimiter;
use super::Ledger;

/// Where the cycles are held.
#[derive(Clone)]
enum Hold {
    /// On this node's ledger.
    Local(Arc<Ledger>),
    /// On the shared Redis counter of (account, month).
    Redis {
        redis: RedisLimiter,
        account_id: String,
        month: String,
    },
}

/// Cycles reserved on the monthly quota. Dropping it without
/// [`Reservation::commit`] gives the cycles back.
pub struct Reservation {
    hold: Option<Hold>,
    cycles: u64,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("cycles", &self.cycles)
            .finish()
    }
}

impl Reservation {
    /// Cycles held on a node-local ledger.
    pub(crate) fn local(ledger: Arc<Ledger>, cycles: u64) -> Self {
        Reservation {
            hold: Some(Hold::Local(ledger)),
            cycles,
        }
    }

    /// Cycles held on the shared Redis counter.
    pub(crate) fn redis(redis: RedisLimiter, account_id: &str, month: &str, cycles: u64) -> Self {
        Reservation {
            hold: Some(Hold::Redis {
                redis,
                account_id: account_id.to_string(),
                month: month.to_string(),
            }),
            cycles,
        }
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
            Some(Hold::Redis {
                redis,
                account_id,
                month,
            }) => {
                let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                    return;
                };
                runtime.spawn(async move {
                    if let Err(e) = redis.release(&account_id, &month, cycles).await {
                        tracing::warn!(error = %e, cycles, "reserved cycles not given back to redis");
                    }
                });
            }
        }
    }
}

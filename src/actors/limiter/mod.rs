//! Limits: per-minute request budgets (GCRA via governor), monthly cycle
//! quotas, and the tier table they come from.
//!
//! The [`LimiterActor`] owns lifecycle: it loads each account's monthly
//! ledger from the store exactly once and prunes idle state. Request
//! handlers use a cloneable [`LimiterHandle`] that charges budgets and
//! reserves cycles lock-free, so the hot path never queues behind one
//! mailbox (a per-request actor round trip would serialise every request
//! of the server).

mod actor;
mod backend;
mod budget;
mod ledger;
pub mod redis;
mod reservation;

pub use actor::{LimiterActor, LimiterMessage};
pub use backend::{Charge, RateBackend};
pub use budget::{AccountBudget, RateDecision};
pub use ledger::Ledger;
pub use reservation::{PreReserved, Reservation};

use dashmap::DashMap;
use ractor::rpc::CallResult;
use ractor::ActorRef;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::config::TierConfig;
use crate::store::{Account, Store, StoreError};
use crate::time::{month_of, now_micros};

/// Why the limiter refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum LimiterError {
    /// The monthly cycle quota cannot cover the request.
    #[error("monthly quota of {limit} cycles exhausted for the {tier} tier ({remaining} left, {requested} requested)")]
    QuotaExceeded {
        tier: String,
        limit: u64,
        remaining: u64,
        requested: u64,
    },
    /// The usage ledger could not be loaded.
    #[error("usage accounting is unavailable; retry shortly")]
    Store(#[from] StoreError),
    /// The limiter actor is not running (or did not answer).
    #[error("usage accounting is unavailable: the limiter is not running")]
    NotRunning,
    /// The shared limiter backend failed (fail-closed mode).
    #[error("rate limiter backend unavailable; retry in a few seconds")]
    Unavailable(#[from] redis::RedisLimiterError),
}

/// The monthly figures of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthlyStatus {
    /// Cycles per month; `None` = no limit.
    pub limit: Option<u64>,
    pub used: u64,
}

impl MonthlyStatus {
    /// Cycles left (`None` = no limit).
    pub fn remaining(&self) -> Option<u64> {
        self.limit.map(|l| l.saturating_sub(self.used))
    }
}

/// State shared by the handle and the actor (opaque outside the limiter).
pub struct LimiterShared {
    pub(crate) tiers: BTreeMap<String, TierConfig>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) budgets: DashMap<String, Arc<AccountBudget>>,
    pub(crate) ledgers: DashMap<(String, String), Arc<Ledger>>,
    pub(crate) actor: OnceLock<ActorRef<LimiterMessage>>,
    pub(crate) backend: RateBackend,
}

/// Cloneable hot-path handle.
#[derive(Clone)]
pub struct LimiterHandle {
    shared: Arc<LimiterShared>,
}

pub(crate) fn no_limit(value: u64) -> Option<u64> {
    (value > 0).then_some(value)
}

impl LimiterHandle {
    /// A handle over the tier table; [`LimiterActor::start`] attaches the actor.
    pub fn new(
        tiers: BTreeMap<String, TierConfig>,
        store: Arc<dyn Store>,
        backend: RateBackend,
    ) -> Self {
        LimiterHandle {
            shared: Arc::new(LimiterShared {
                tiers,
                store,
                budgets: DashMap::new(),
                ledgers: DashMap::new(),
                actor: OnceLock::new(),
                backend,
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Arc<LimiterShared> {
        &self.shared
    }

    /// The limits of a tier; an unknown tier name gets the free tier's.
    pub fn tier(&self, name: &str) -> TierConfig {
        self.shared
            .tiers
            .get(name)
            .or_else(|| self.shared.tiers.get("free"))
            .cloned()
            .unwrap_or_default()
    }

    /// Charges one request to the account's per-minute budget. A tier
    /// change shows up here as a different `account.tier` and rebuilds the
    /// budget, so it applies from the next request on.
    pub(crate) fn charge_local(&self, account: &Account) -> RateDecision {
        // Clone out of the map before a possible insert: holding a read
        // guard across an insert on the same shard would deadlock.
        let current = self.shared.budgets.get(&account.id).map(|b| b.clone());
        let budget = match current {
            Some(budget) if budget.tier == account.tier => budget,
            _ => {
                let budget = Arc::new(AccountBudget::new(
                    &account.tier,
                    self.tier(&account.tier).rate_per_minute,
                ));
                self.shared
                    .budgets
                    .insert(account.id.clone(), budget.clone());
                budget
            }
        };
        budget.charge()
    }

    /// The ledger of the account for the current month, loaded once.
    async fn ledger(&self, account_id: &str) -> Result<Arc<Ledger>, LimiterError> {
        let key = (account_id.to_string(), month_of(now_micros()));
        if let Some(ledger) = self.shared.ledgers.get(&key) {
            return Ok(ledger.clone());
        }
        let actor = self.shared.actor.get().ok_or(LimiterError::NotRunning)?;
        match actor
            .call(
                |reply| LimiterMessage::LoadLedger {
                    key: key.clone(),
                    reply,
                },
                None,
            )
            .await
        {
            Ok(CallResult::Success(result)) => result,
            _ => Err(LimiterError::NotRunning),
        }
    }

    /// Cycles used this month and the tier's quota on this node's ledger.
    pub(crate) async fn monthly_local(
        &self,
        account: &Account,
    ) -> Result<MonthlyStatus, LimiterError> {
        let ledger = self.ledger(&account.id).await?;
        Ok(MonthlyStatus {
            limit: no_limit(self.tier(&account.tier).monthly_cycles),
            used: ledger.used(),
        })
    }

    /// Reserves `cycles` on this node's ledger.
    pub(crate) async fn reserve_local(
        &self,
        account: &Account,
        cycles: u64,
    ) -> Result<Reservation, LimiterError> {
        let ledger = self.ledger(&account.id).await?;
        let limit = no_limit(self.tier(&account.tier).monthly_cycles);
        ledger
            .reserve(cycles, limit)
            .map_err(|remaining| quota_exceeded(account, limit.unwrap_or(0), remaining, cycles))
    }
}

/// The refusal of a batch that does not fit the monthly quota.
pub(crate) fn quota_exceeded(
    account: &Account,
    limit: u64,
    remaining: u64,
    requested: u64,
) -> LimiterError {
    metrics::counter!("identity_os_limiter_rejections_total", "reason" => "quota_exceeded")
        .increment(1);
    LimiterError::QuotaExceeded {
        tier: account.tier.clone(),
        limit,
        remaining,
        requested,
    }
}

//! Where budgets and quotas live: this node (`Local`) or Redis, shared by
//! every node. The handle's public calls pick the backend; in fail-open
//! mode a failing Redis falls back to the node-local state and marks the
//! answer degraded.

use std::time::Duration;

use super::redis::{ChargeArgs, ChargeOutcome, RedisLimiter, RedisLimiterError};
use super::Reservation;
use super::{no_limit, quota_exceeded, LimiterError, LimiterHandle, MonthlyStatus, RateDecision};
use crate::config::{FailMode, LimiterBackend, LimiterConfig};
use crate::store::Account;
use crate::time::{month_of, now_micros};

/// The limiter backend chosen by `limiter.backend`.
#[derive(Clone)]
pub enum RateBackend {
    /// Governor budgets and ledgers in this process.
    Local,
    /// One GCRA budget and one month counter per account in Redis.
    Redis {
        redis: RedisLimiter,
        /// Serve with the local state while Redis fails (else 503).
        fail_open: bool,
    },
}

impl RateBackend {
    /// The backend of `config`.
    pub fn from_config(config: &LimiterConfig) -> Result<Self, RedisLimiterError> {
        Ok(match config.backend {
            LimiterBackend::Memory => RateBackend::Local,
            LimiterBackend::Redis => RateBackend::Redis {
                redis: RedisLimiter::new(&config.redis_url)?,
                fail_open: config.fail_mode == FailMode::Open,
            },
        })
    }
}

/// What the backend answers for one request.
#[derive(Debug)]
pub struct Charge {
    pub rate: RateDecision,
    /// The monthly figures before this request's cycles, when known.
    pub monthly: Option<MonthlyStatus>,
    /// Served by node-local state because Redis failed (fail-open).
    pub degraded: bool,
    /// The cycles asked for with the charge, when the rate allowed the
    /// request and they fit the quota.
    pub reservation: Option<Reservation>,
}

/// The tier's rate as governor's GCRA parameters (T, tau) in ns.
fn gcra_nanos(rate_per_minute: u64) -> (u32, u64, u64) {
    let limit = u32::try_from(rate_per_minute).unwrap_or(u32::MAX);
    if limit == 0 {
        return (0, 0, 0);
    }
    let t = (60_000_000_000u64 / u64::from(limit)).max(1);
    (limit, t, t * u64::from(limit - 1))
}

impl LimiterHandle {
    /// `limiter.backend` in readiness terms: `memory`, `redis`, or
    /// `redis-unreachable` when Redis does not answer a PING now.
    pub async fn backend_state(&self) -> &'static str {
        match &self.shared.backend {
            RateBackend::Local => "memory",
            RateBackend::Redis { redis, .. } if redis.ping().await => "redis",
            RateBackend::Redis { .. } => "redis-unreachable",
        }
    }

    /// Whether requests are refused while Redis is down (fail-closed).
    pub fn refuses_when_down(&self) -> bool {
        matches!(
            &self.shared.backend,
            RateBackend::Redis {
                fail_open: false,
                ..
            }
        )
    }

    /// Runs the script, seeding a missing month counter from the store.
    async fn script(
        &self,
        redis: &RedisLimiter,
        account: &Account,
        month: &str,
        mut args: ChargeArgs,
    ) -> Result<ChargeOutcome, LimiterError> {
        let outcome = redis.charge(&account.id, month, args).await?;
        if outcome != ChargeOutcome::NeedsSeed {
            return Ok(outcome);
        }
        args.seed = Some(self.shared.store.usage(&account.id, month).await?);
        Ok(redis.charge(&account.id, month, args).await?)
    }

    /// Charges one request to the account's per-minute budget, reads its
    /// monthly figures and, if the request is allowed, reserves `cycles`
    /// (0 = none): one Redis round trip for all three with the redis
    /// backend. A tier change applies from the next request on.
    pub async fn charge(&self, account: &Account, cycles: u64) -> Result<Charge, LimiterError> {
        let charge = match &self.shared.backend {
            RateBackend::Local => self.charge_here(account, cycles, false).await,
            RateBackend::Redis { redis, fail_open } => {
                match self.charge_shared(redis, account, cycles).await {
                    Ok(charge) => charge,
                    Err(LimiterError::Unavailable(_)) if *fail_open => {
                        self.charge_here(account, cycles, true).await
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        if charge.rate.retry_after_secs.is_some() {
            metrics::counter!("identity_os_limiter_rejections_total", "reason" => "rate_limited")
                .increment(1);
        }
        if charge.degraded {
            metrics::counter!("identity_os_limiter_degraded_responses_total").increment(1);
        }
        Ok(charge)
    }

    async fn charge_shared(
        &self,
        redis: &RedisLimiter,
        account: &Account,
        cycles: u64,
    ) -> Result<Charge, LimiterError> {
        let tier = self.tier(&account.tier);
        let (limit, t_nanos, tau_nanos) = gcra_nanos(tier.rate_per_minute);
        let month = month_of(now_micros());
        let args = ChargeArgs {
            t_nanos,
            tau_nanos,
            cycles,
            monthly_limit: tier.monthly_cycles,
            ..ChargeArgs::default()
        };
        let (now, used, outcome, reserved) = match self.script(redis, account, &month, args).await?
        {
            ChargeOutcome::RateLimited {
                wait_nanos,
                now_micros,
                used,
            } => (
                now_micros,
                used,
                Err(Duration::from_nanos(wait_nanos)),
                false,
            ),
            ChargeOutcome::Charged {
                remaining,
                now_micros,
                used,
                reserved,
            } => (now_micros, used, Ok(remaining), reserved),
            ChargeOutcome::NeedsSeed => return Err(LimiterError::NotRunning),
        };
        let monthly_limit = no_limit(tier.monthly_cycles);
        let now_secs = now / 1_000_000;
        let reservation = reserved.then(|| {
            let status = MonthlyStatus {
                limit: monthly_limit,
                used,
            };
            Reservation::redis(redis.clone(), &account.id, &month, cycles, status)
        });
        Ok(Charge {
            rate: if limit == 0 {
                RateDecision::unlimited(now_secs)
            } else {
                RateDecision::of_gcra(limit, now_secs, outcome)
            },
            monthly: Some(MonthlyStatus {
                limit: monthly_limit,
                used: if reserved { used - cycles } else { used },
            }),
            degraded: false,
            reservation,
        })
    }

    async fn charge_here(&self, account: &Account, cycles: u64, degraded: bool) -> Charge {
        let rate = self.charge_local(account);
        // One ledger lookup for the figures and the reservation.
        let Ok(ledger) = self.ledger(&account.id).await else {
            return Charge {
                rate,
                monthly: None,
                degraded,
                reservation: None,
            };
        };
        let limit = no_limit(self.tier(&account.tier).monthly_cycles);
        let monthly = Some(MonthlyStatus {
            limit,
            used: ledger.used(),
        });
        let reservation = if cycles > 0 && rate.retry_after_secs.is_none() {
            ledger.reserve(cycles, limit).ok()
        } else {
            None
        };
        Charge {
            rate,
            monthly,
            degraded,
            reservation,
        }
    }

    /// Cycles used this month and the tier's quota.
    pub async fn monthly(&self, account: &Account) -> Result<MonthlyStatus, LimiterError> {
        let RateBackend::Redis { redis, fail_open } = &self.shared.backend else {
            return self.monthly_local(account).await;
        };
        let month = month_of(now_micros());
        match self
            .script(redis, account, &month, ChargeArgs::default())
            .await
        {
            Ok(ChargeOutcome::Charged { used, .. } | ChargeOutcome::RateLimited { used, .. }) => {
                Ok(MonthlyStatus {
                    limit: no_limit(self.tier(&account.tier).monthly_cycles),
                    used,
                })
            }
            Ok(ChargeOutcome::NeedsSeed) => Err(LimiterError::NotRunning),
            Err(LimiterError::Unavailable(_)) if *fail_open => self.monthly_local(account).await,
            Err(e) => Err(e),
        }
    }

    /// Reserves `cycles` of the monthly quota before observations are
    /// applied; the whole request is refused if they do not all fit.
    pub async fn reserve_cycles(
        &self,
        account: &Account,
        cycles: u64,
    ) -> Result<Reservation, LimiterError> {
        let RateBackend::Redis { redis, fail_open } = &self.shared.backend else {
            return self.reserve_local(account, cycles).await;
        };
        if cycles == 0 {
            return self.reserve_local(account, cycles).await;
        }
        let month = month_of(now_micros());
        let monthly_limit = self.tier(&account.tier).monthly_cycles;
        let args = ChargeArgs {
            cycles,
            monthly_limit,
            ..ChargeArgs::default()
        };
        match self.script(redis, account, &month, args).await {
            Ok(ChargeOutcome::Charged {
                reserved: true,
                used,
                ..
            }) => {
                let status = MonthlyStatus {
                    limit: no_limit(monthly_limit),
                    used,
                };
                Ok(Reservation::redis(
                    redis.clone(),
                    &account.id,
                    &month,
                    cycles,
                    status,
                ))
            }
            Ok(ChargeOutcome::Charged { used, .. } | ChargeOutcome::RateLimited { used, .. }) => {
                Err(quota_exceeded(
                    account,
                    monthly_limit,
                    monthly_limit.saturating_sub(used),
                    cycles,
                ))
            }
            Ok(ChargeOutcome::NeedsSeed) => Err(LimiterError::NotRunning),
            Err(LimiterError::Unavailable(_)) if *fail_open => {
                self.reserve_local(account, cycles).await
            }
            Err(e) => Err(e),
        }
    }
}

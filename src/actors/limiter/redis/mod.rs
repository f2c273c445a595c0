//! The Redis limiter backend: one per-minute budget and one monthly
//! counter per account shared by every node, both charged by one Lua
//! script (charge.lua) in one round trip, with Redis's clock.
//!
//! Keys carry the account id as a hash tag (`{acct}`), so an account's
//! budget and counters live on one Redis Cluster slot and the script may
//! touch them together.

mod breaker;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

use breaker::Breaker;

/// Connect and response timeouts: a slow Redis must not hold requests.
const TIMEOUT: Duration = Duration::from_millis(300);
/// A month counter outlives its month by a few days, then goes.
const COUNTER_TTL_SECS: u64 = 40 * 86_400;

static CHARGE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("charge.lua")));
static RELEASE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("release.lua")));

/// Why a Redis call failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisLimiterError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis is unreachable (retrying shortly)")]
    CircuitOpen,
}

/// What one script call asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct ChargeArgs {
    /// Replenish interval in ns; 0 = no rate limit (do not charge).
    pub t_nanos: u64,
    /// Burst tolerance in ns: `t * (burst - 1)`.
    pub tau_nanos: u64,
    /// Cycles to reserve; 0 = only read the counter.
    pub cycles: u64,
    /// Monthly limit; 0 = none.
    pub monthly_limit: u64,
    /// The stored usage, when the counter needs seeding.
    pub seed: Option<u64>,
    /// Unix microseconds to use instead of Redis's clock (tests).
    pub now_micros: Option<i64>,
}

/// What the script answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// The month counter is missing: call again with `seed`.
    NeedsSeed,
    /// The rate budget is spent; wait this long.
    RateLimited {
        wait_nanos: u64,
        now_micros: i64,
        used: u64,
    },
    /// Charged. `reserved` is false when the cycles did not fit.
    Charged {
        remaining: u32,
        now_micros: i64,
        used: u64,
        reserved: bool,
    },
}

/// Client of the shared limiter state.
#[derive(Clone)]
pub struct RedisLimiter {
    client: redis::Client,
    connection: Arc<OnceCell<ConnectionManager>>,
    breaker: Arc<Breaker>,
}

/// The key of an account's budget.
pub fn budget_key(account_id: &str) -> String {
    format!("idos:{{{account_id}}}:rate")
}

/// The key of an account's cycle counter for a month (`YYYY-MM`).
pub fn counter_key(account_id: &str, month: &str) -> String {
    format!("idos:{{{account_id}}}:cycles:{month}")
}

impl RedisLimiter {
    /// A client of `url` (`redis://` or `rediss://`); connects on first use,
    /// so the server starts while Redis is down.
    pub fn new(url: &str) -> Result<Self, RedisLimiterError> {
        Ok(RedisLimiter {
            client: redis::Client::open(url)?,
            connection: Arc::new(OnceCell::new()),
            breaker: Arc::new(Breaker::default()),
        })
    }

    /// Whether Redis answers a PING now (readiness), through the breaker:
    /// the probe that notices Redis is back when no request comes (a load
    /// balancer stops sending requests to a node that is not ready).
    pub async fn ping(&self) -> bool {
        if !self.breaker.allows() {
            return false;
        }
        let answer = match self.connection().await {
            Ok(mut connection) => redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
                .map_err(RedisLimiterError::from),
            Err(e) => Err(e),
        };
        match answer {
            Ok(_) => {
                self.breaker.succeeded();
                true
            }
            Err(e) => {
                metrics::counter!("identity_os_limiter_backend_errors_total").increment(1);
                self.breaker.failed(&e);
                false
            }
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisLimiterError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1)
            .set_max_delay(200);
        let manager = self
            .connection
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), config))
            .await?;
        Ok(manager.clone())
    }

    /// Runs `call` unless the breaker is open, recording the outcome.
    async fn guarded<T, F>(&self, call: F) -> Result<T, RedisLimiterError>
    where
        F: AsyncFnOnce(ConnectionManager) -> Result<T, redis::RedisError>,
    {
        if !self.breaker.allows() {
            return Err(RedisLimiterError::CircuitOpen);
        }
        let started = Instant::now();
        let result = match self.connection().await {
            Ok(connection) => call(connection).await.map_err(RedisLimiterError::from),
            Err(e) => Err(e),
        };
        metrics::histogram!("identity_os_limiter_script_seconds")
            .record(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => self.breaker.succeeded(),
            Err(e) => {
                metrics::counter!("identity_os_limiter_backend_errors_total").increment(1);
                self.breaker.failed(e);
            }
        }
        result
    }

    /// Charges the budget and/or reserves cycles of `account_id` in `month`.
    pub async fn charge(
        &self,
        account_id: &str,
        month: &str,
        args: ChargeArgs,
    ) -> Result<ChargeOutcome, RedisLimiterError> {
        let reply: Vec<i64> = self
            .guarded(async |mut connection| {
                CHARGE
                    .key(budget_key(account_id))
                    .key(counter_key(account_id, month))
                    .arg(args.t_nanos)
                    .arg(args.tau_nanos)
                    .arg(args.cycles)
                    .arg(args.monthly_limit)
                    .arg(
                        args.seed
                            .map_or(-1, |s| i64::try_from(s).unwrap_or(i64::MAX)),
                    )
                    .arg(COUNTER_TTL_SECS)
                    .arg(args.now_micros.map(|n| n.to_string()).unwrap_or_default())
                    .invoke_async(&mut connection)
                    .await
            })
            .await?;
        let field = |i: usize| reply.get(i).copied().unwrap_or(0);
        let used = u64::try_from(field(4)).unwrap_or(0);
        Ok(match field(0) {
            -1 => ChargeOutcome::NeedsSeed,
            0 => ChargeOutcome::RateLimited {
                wait_nanos: u64::try_from(field(2)).unwrap_or(0),
                now_micros: field(3),
                used,
            },
            _ => ChargeOutcome::Charged {
                remaining: u32::try_from(field(1)).unwrap_or(u32::MAX),
                now_micros: field(3),
                used,
                reserved: field(5) == 1,
            },
        })
    }

    /// Gives back `cycles` reserved in `month`.
    pub async fn release(
        &self,
        account_id: &str,
        month: &str,
        cycles: u64,
    ) -> Result<(), RedisLimiterError> {
        self.guarded(async |mut connection| {
            RELEASE
                .key(counter_key(account_id, month))
                .arg(cycles)
                .invoke_async::<i64>(&mut connection)
                .await
        })
        .await
        .map(|_| ())
    }
}

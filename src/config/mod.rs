//! Server configuration: built-in defaults < config file < environment < CLI.
//!
//! The key names are part of the contract (docs/operations.md "Configuration"): users
//! and tests write such files. Layering is done by figment; this module only
//! says which environment variable feeds which key and what a valid value is.

use crate::engine::EngineParams;
use crate::store::{Backend, Durability};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The config file read when no `--config` is given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "config/default.toml";

/// Invalid configuration; the message names the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Load(#[from] Box<figment::Error>),
    #[error("invalid configuration: `{key}`: {problem}")]
    Invalid { key: String, problem: String },
    #[error("config file {0} does not exist")]
    MissingFile(PathBuf),
}

pub(crate) fn invalid(key: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        problem: problem.into(),
    }
}

/// The whole effective configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub engine: EngineConfig,
    pub actors: ActorsConfig,
    pub limiter: LimiterConfig,
    pub tiers: BTreeMap<String, TierConfig>,
    pub auth: AuthConfig,
    pub billing: BillingConfig,
    pub docs: DocsConfig,
    pub log: LogConfig,
}

/// `[server]`: the listening socket and request limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub bind: String,
    /// This node's name in logs, `/version` and `/metrics`; empty = the
    /// host name and process id (see [`ServerConfig::node_id`]).
    pub node_id: String,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// Open connections beyond this are closed at once.
    pub max_connections: usize,
    /// A request head must arrive within this (slowloris protection).
    pub header_read_timeout_secs: u64,
    /// A request must be answered within this, or it gets a 503.
    pub request_timeout_secs: u64,
    /// A response the client does not take within this long of the
    /// socket's send buffer filling up closes its connection
    /// (src/http/listener.rs, `WriteTimeout`).
    pub write_timeout_secs: u64,
    /// Open connections from one client IP beyond this are closed at once;
    /// 0 means no per-address limit (behind a reverse proxy every client
    /// has the proxy's address).
    pub max_connections_per_ip: usize,
    /// A history or drift page stops before the item that would take its
    /// items past this many bytes of JSON (always at least one item).
    pub max_page_bytes: usize,
    /// Threads of the async runtime; 0 means one per CPU core. On a small
    /// machine shared with other busy processes (a load generator, the
    /// database) fewer threads can mean fewer context switches.
    pub worker_threads: usize,
    /// Origins whose scripts may call the API (CORS); empty = same origin
    /// only; `"*"` = any origin (no credentials are involved: the API key
    /// travels in `Authorization`).
    pub cors_allowed_origins: Vec<String>,
    /// Open `/events` streams one account may have at once; 0 = no limit.
    pub max_event_streams_per_account: usize,
    /// Seconds between heartbeat comments on an idle event stream.
    pub event_heartbeat_secs: u64,
}

impl ServerConfig {
    /// The runtime's worker thread count, or `None` for tokio's default
    /// (one per core, or `TOKIO_WORKER_THREADS`).
    pub fn worker_threads(&self) -> Option<usize> {
        (self.worker_threads > 0).then_some(self.worker_threads)
    }
}

/// `[storage]`: which database and how durable a commit is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub backend: Backend,
    pub sqlite_path: PathBuf,
    pub durability: Durability,
    pub database_url: String,
    /// PostgreSQL: connections in the pool.
    pub pool_size: usize,
    /// PostgreSQL: connecting, or waiting for a pooled connection, takes at
    /// most this long before a request is answered 503.
    pub connect_timeout_secs: f64,
}

/// `[engine]`: the observation throttle plus every docs/engine.md parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    pub min_cycle_interval_secs: f64,
    #[serde(flatten)]
    pub params: EngineParams,
}

/// `[actors]`: lifetime and number of live instance actors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActorsConfig {
    pub idle_timeout_secs: u64,
    pub max_live_instances: usize,
}

/// Where rate-limit budgets live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterBackend {
    Memory,
    Redis,
}

/// What to do when the limiter backend is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    Closed,
    Open,
}

/// `[limiter]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimiterConfig {
    pub backend: LimiterBackend,
    pub redis_url: String,
    pub fail_mode: FailMode,
}

/// `[tiers.NAME]`: one plan's limits; 0 means no limit.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierConfig {
    pub rate_per_minute: u64,
    pub monthly_cycles: u64,
    pub max_instances: u64,
    pub price_cents: u64,
}

/// `[auth]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Dev mode: every request acts as a local unlimited account.
    pub disabled: bool,
    /// Enables `/v1/admin/*` when non-empty.
    pub admin_token: String,
    /// Allows dev mode on a non-loopback address.
    pub allow_disabled_on_public_bind: bool,
}

/// `[billing]`: Stripe settings (secrets usually come from the environment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BillingConfig {
    pub stripe_api_base: String,
    pub success_url: String,
    pub cancel_url: String,
    pub stripe_secret_key: String,
    pub stripe_webhook_secret: String,
    pub stripe_price_indie: String,
    pub stripe_price_pro: String,
}

/// `[docs]`: the interactive API page.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocsConfig {
    pub enabled: bool,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8000".into(),
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            max_connections: 10_000,
            header_read_timeout_secs: 10,
            request_timeout_secs: 30,
            write_timeout_secs: 30,
            node_id: String::new(),
            max_connections_per_ip: 256,
            max_page_bytes: 4 * 1024 * 1024,
            worker_threads: 0,
            cors_allowed_origins: Vec::new(),
            max_event_streams_per_account: 16,
            event_heartbeat_secs: 15,
        }
    }
}

impl ServerConfig {
    /// The configured node id, or `<host name>-<process id>`: unique per
    /// running process of a cluster, readable in a log.
    pub fn node_id(&self) -> String {
        if !self.node_id.is_empty() {
            return self.node_id.clone();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "node".to_string());
        format!("{host}-{}", std::process::id())
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            backend: Backend::Sqlite,
            sqlite_path: PathBuf::from("data/identity-os.db"),
            durability: Durability::Full,
            database_url: String::new(),
            pool_size: 16,
            connect_timeout_secs: 5.0,
        }
    }
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            min_cycle_interval_secs: 1.0,
            params: EngineParams::default(),
        }
    }
}

impl Default for ActorsConfig {
    fn default() -> Self {
        ActorsConfig {
            idle_timeout_secs: 300,
            max_live_instances: 100_000,
        }
    }
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            backend: LimiterBackend::Memory,
            redis_url: String::new(),
            fail_mode: FailMode::Closed,
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            stripe_api_base: "https://api.stripe.com".into(),
            success_url: "http://localhost:8000/billing/success".into(),
            cancel_url: "http://localhost:8000/billing/cancel".into(),
            stripe_secret_key: String::new(),
            stripe_webhook_secret: String::new(),
            stripe_price_indie: String::new(),
            stripe_price_pro: String::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Pretty,
        }
    }
}

/// The built-in tier table (docs/operations.md "Accounts, keys, tiers").
pub fn default_tiers() -> BTreeMap<String, TierConfig> {
    let tier = |rate_per_minute, monthly_cycles, max_instances, price_cents| TierConfig {
        rate_per_minute,
        monthly_cycles,
        max_instances,
        price_cents,
    };
    BTreeMap::from([
        ("free".to_string(), tier(10, 10_000, 3, 0)),
        ("indie".to_string(), tier(60, 100_000, 50, 2900)),
        ("pro".to_string(), tier(300, 500_000, 0, 9900)),
        ("unlimited".to_string(), tier(0, 0, 0, 0)),
    ])
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
            engine: EngineConfig::default(),
            actors: ActorsConfig::default(),
            limiter: LimiterConfig::default(),
            tiers: default_tiers(),
            auth: AuthConfig::default(),
            billing: BillingConfig::default(),
            docs: DocsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

mod load;
mod render;

pub use load::CliOverrides;

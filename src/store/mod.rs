//! Durable persistence behind one trait.
//!
//! The store keeps the engine state as the bytes the actor layer encoded
//! (src/actors/state_codec.rs), so it never decodes a state; the columns it
//! does read (modes, stress and drift levels) are typed with the engine's
//! enums. Every write is one atomic transaction; a returned `Ok` means committed
//! (with the configured durability), which is what lets the HTTP layer answer
//! 2xx only for acknowledged writes.

mod billing_rules;
#[cfg(test)]
mod contract_tests;
mod fail_stop;
mod key_cache;
pub use key_cache::KeyUses;
mod page_budget;
mod postgres;
mod sqlite;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::{DriftLevel, Mode, StressLevel};

pub use fail_stop::FailStop;
pub use postgres::PostgresStore;
#[cfg(feature = "fault-injection")]
pub use sqlite::fail_next_wal_fsync;
pub use sqlite::{SqliteStore, StoreStats};

/// Unix time in microseconds (UTC). The store's only time unit.
pub type Micros = i64;

/// Which storage engine to use (`[storage] backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite file on disk (the default).
    Sqlite,
    /// Nothing survives a restart: for tests and quick experiments.
    Memory,
    /// PostgreSQL, for scale-out (`supabase` is an alias).
    #[serde(alias = "supabase")]
    Postgres,
}

/// How hard a commit is pushed to disk before it is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// An acknowledged write survives power loss. SQLite: WAL +
    /// `synchronous=FULL`; PostgreSQL: `synchronous_commit = on`.
    Full,
    /// SQLite: WAL + `synchronous=NORMAL`, survives a crash of the server
    /// process, not power loss. PostgreSQL: `synchronous_commit = off`, a
    /// crash of the database server may lose the last moments of
    /// acknowledged writes (never half of one).
    Normal,
}

/// What the store needs to open (a slice of the server configuration).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub backend: Backend,
    pub sqlite_path: PathBuf,
    pub durability: Durability,
    pub database_url: String,
    /// PostgreSQL: connections in the pool.
    pub pool_size: usize,
    /// PostgreSQL: how long connecting (or waiting for a pooled
    /// connection) may take before a request is answered 503.
    pub connect_timeout: std::time::Duration,
}

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row a write expected is not there (e.g. deleted meanwhile).
    #[error("not found")]
    NotFound,
    /// Optimistic-lock failure: the stored version is not the expected one.
    #[error("a concurrent change won; re-read and retry")]
    Conflict,
    /// Another request recorded a response under the same `Idempotency-Key`
    /// first; this change was rolled back.
    #[error("a concurrent request with the same Idempotency-Key was committed first; retry to get its response")]
    IdempotencyKeyUsed,
    /// Creating the row would exceed the account's instance limit.
    #[error("instance limit of {limit} reached for this account's tier")]
    LimitReached { limit: u64 },
    /// The configured backend cannot be used.
    #[error("unsupported storage configuration: {0}")]
    Unsupported(String),
    /// The store has shut down.
    #[error("the server is shutting down")]
    Closed,
    /// The store failed (see [`FailStop`]) and refuses every write.
    #[error("storage failed ({0}); the server is restarting, retry shortly")]
    FailStopped(String),
    /// SQLite reported an error.
    #[error("database error")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error, or the connection to it failed.
    #[error("database error")]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be reached right now (connect failed or timed
    /// out, no pooled connection free in time); transient.
    #[error("the database is unavailable ({0}); retry shortly")]
    Unavailable(String),
    /// A file or thread operation of the store failed.
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// A stored value could not be encoded or decoded.
    #[error("{what}")]
    Codec {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// A schema migration failed (the database is left at the version before).
    #[error("migration to schema version {version} failed")]
    Migration {
        version: i64,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A failure without an underlying error (a write job panicked, a store
    /// thread is gone).
    #[error("{0}")]
    Failed(String),
    /// The failure of a whole commit group, shared by each of its writes.
    #[error(transparent)]
    Shared(Arc<StoreError>),
}

impl StoreError {
    /// An I/O failure of `what`.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            what: what.into(),
            source,
        }
    }
}

/// Result alias for store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A customer of the server: owns keys, instances and a usage ledger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub tier: String,
    pub created_at: Micros,
}

/// An API key as stored: never the key itself, only its SHA-256 digest
/// (kept by the store) and a display prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: String,
    pub account_id: String,
    pub prefix: String,
    pub created_at: Micros,
    pub revoked_at: Option<Micros>,
    /// When it last authenticated a request, as last written: uses are
    /// noted in memory ([`Store::note_key_use`]) and written at most once a
    /// minute ([`Store::flush_key_uses`]), so it may be up to that far
    /// behind. `None` if never used (or not since schema 7).
    pub last_used_at: Option<Micros>,
}

/// An API key and the account it belongs to: what authenticating a request
/// looks up. Shared, so the key cache hands it out on every request
/// without copying its seven strings.
#[derive(Debug, PartialEq)]
pub struct KeyOwner {
    pub key: ApiKeyRecord,
    pub account: Arc<Account>,
}

/// Figures of an instance's engine state kept as columns, so listings do
/// not need to decode the state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSummary {
    pub cycle_count: u64,
    pub energy_level: f64,
    pub stress_level: StressLevel,
    pub stability_index: f64,
}

/// One instance row: metadata plus the engine state, encoded by the actor
/// layer (the store keeps those bytes as they are).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub description: String,
    pub created_at: Micros,
    pub updated_at: Micros,
    /// Increases on every change (ETag / If-Match).
    pub version: i64,
    /// Engine state, including its profile.
    pub state: Vec<u8>,
    /// The state `reset {"mode":"initial"}` restores.
    pub initial_state: Vec<u8>,
    /// Effective time of the last observation, for the throttle.
    pub last_observation_at: Option<Micros>,
    pub summary: InstanceSummary,
}

/// One processed observation (the history; an audit log).
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationRow {
    pub cycle_number: u64,
    pub mode_target: Mode,
    pub signal_strength: f64,
    pub confidence: f64,
    pub context_json: String,
    pub timestamp: Micros,
    /// The state the cycle produced, stored with it for the trajectory.
    /// Written with every observation; `None` when read for the history
    /// (which does not show it) and for rows of databases before schema 6.
    pub point: Option<CyclePoint>,
}

/// The figures of the state one cycle produced: a point of the
/// trajectory (`GET /v1/instances/{id}/trajectory`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CyclePoint {
    pub energy_level: f64,
    pub stress_level: StressLevel,
    pub stability_index: f64,
    pub mode_strengths: [f64; crate::engine::MODE_COUNT],
    pub dominant_mode: Option<Mode>,
    /// The cycle's drift reading; `None` during the drift warm-up.
    pub drift: Option<CycleDrift>,
}

/// A cycle's drift reading, as the trajectory shows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CycleDrift {
    pub level: DriftLevel,
    pub magnitude: f64,
    pub rolled_back: bool,
}

/// One point of an instance's trajectory: a cycle and the state it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct TrajectoryRow {
    pub cycle_number: u64,
    pub timestamp: Micros,
    pub point: CyclePoint,
}

/// One recorded drift event.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftRow {
    pub cycle_number: u64,
    pub level: DriftLevel,
    pub magnitude: f64,
    pub affected_modes: Vec<Mode>,
    pub rolled_back: bool,
    pub timestamp: Micros,
}

/// What kind of non-observation change an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceEventKind {
    /// `POST /v1/instances/{id}/reset`.
    Reset,
    /// A personality test's profile became the instance's state.
    PersonalityTest,
}

impl InstanceEventKind {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            InstanceEventKind::Reset => "reset",
            InstanceEventKind::PersonalityTest => "personality_test",
        }
    }
}

/// A non-observation event in an instance's audit log (reset, test applied).
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceEvent {
    pub kind: InstanceEventKind,
    pub detail_json: String,
    pub timestamp: Micros,
}

/// Cycles to add to an account's monthly ledger in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageIncrement {
    pub account_id: String,
    /// Calendar month in UTC, `YYYY-MM`.
    pub month: String,
    pub cycles: u64,
}

/// A response recorded under an `Idempotency-Key`, in the transaction of the
/// change it answers: a repeat of the request gets it back instead of a
/// second change.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    pub account_id: String,
    pub key: String,
    /// SHA-256 of the method, path, query and body of the request.
    pub request_hash: [u8; 32],
    pub status: u16,
    /// The headers to replay (`ETag`, `X-Processed-Count`); the body is JSON.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub created_at: Micros,
}

/// Everything one change of an instance writes, atomically: the new row
/// (only if the stored version is still `expected_version`), appended
/// history, drift and audit rows, and the usage increment.
#[derive(Debug, Clone)]
pub struct InstanceWrite {
    pub instance: InstanceRecord,
    pub expected_version: i64,
    /// Whether `instance.initial_state` changed; when it did not, the
    /// store leaves the stored copy alone and ignores the field (the actor
    /// does not even encode it), since observations never change it.
    pub initial_changed: bool,
    /// Whether the name or description changed; when they did not, the
    /// store does not touch them, which spares the name index on every
    /// observation.
    pub meta_changed: bool,
    pub observations: Vec<ObservationRow>,
    pub drift_events: Vec<DriftRow>,
    pub events: Vec<InstanceEvent>,
    pub usage: Option<UsageIncrement>,
    /// The response to record under the request's `Idempotency-Key`.
    pub idempotency: Option<IdempotencyRecord>,
}

/// Sort key of instance listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceSort {
    CreatedAt,
    Name,
}

/// Sort direction of instance listings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// One page of rows plus the total count without paging.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
}

/// An account's link to Stripe. Exists once billing
/// touched the account: a customer was created for it or a webhook event
/// named it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingInfo {
    pub account_id: String,
    pub stripe_customer_id: Option<String>,
    pub stripe_subscription_id: Option<String>,
    /// Stripe's subscription status as last reported (`active`,
    /// `trialing`, `past_due`, `canceled`, ...).
    pub subscription_status: Option<String>,
    pub updated_at: Micros,
}

/// What one verified Stripe webhook event does to its account. `None`
/// fields leave the stored value as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BillingChange {
    /// The event's Stripe customer: remembered for the account, and the
    /// last resort to find the account.
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub subscription_status: Option<String>,
    /// The tier the account moves to; `None` keeps its tier.
    pub tier: Option<String>,
    /// True when the event may move the account onto `subscription_id`
    /// (a completed checkout, an active subscription). Otherwise a change
    /// about a subscription other than the account's current one (e.g. the
    /// old plan cancelled after an upgrade) is recorded but not applied.
    pub switches_subscription: bool,
    /// The event's `created` (unix seconds). Stripe does not deliver events
    /// in order: an unverified change from an event older than the newest
    /// one already applied to the account is recorded but changes nothing.
    pub event_created: i64,
    /// True when the change is the subscription as fetched from Stripe
    /// while the event was handled, not the event's payload: it is current
    /// whatever the event's `created` (which has a resolution of one
    /// second), and only such a change, showing the subscription
    /// `active`/`trialing`, may bring a cancelled subscription back.
    pub verified: bool,
}

/// What [`Store::apply_billing_event`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillingEventOutcome {
    /// The change was applied to this account.
    Applied { account_id: String },
    /// The event id was processed before: nothing changed.
    Replayed,
    /// Recorded, not applied: the account already reflects a newer event,
    /// the event is about a subscription the account has moved away from,
    /// or about a subscription recorded as ended (`canceled`,
    /// `incomplete_expired`) that Stripe does not show live again.
    Stale { account_id: String },
    /// Recorded, not applied: no account matches the event.
    NoAccount,
}

/// The persistence operations the server needs. Implemented by SQLite (file
/// or in-memory) and PostgreSQL.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Accounts.
    async fn create_account(&self, account: &Account) -> StoreResult<()>;
    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>>;
    async fn list_accounts(&self) -> StoreResult<Vec<Account>>;
    async fn count_accounts(&self) -> StoreResult<u64>;
    /// Sets the tier; `NotFound` if there is no such account.
    async fn set_account_tier(&self, id: &str, tier: &str) -> StoreResult<()>;
    /// On a database without accounts: creates `account` with its first
    /// key, atomically, and returns true. With accounts present (another
    /// node or an earlier start got there first) changes nothing and
    /// returns false.
    async fn create_first_account(
        &self,
        account: &Account,
        key: &ApiKeyRecord,
        digest: &[u8; 32],
    ) -> StoreResult<bool>;

    /// API keys, looked up by the SHA-256 digest of the key.
    async fn create_api_key(&self, key: &ApiKeyRecord, digest: &[u8; 32]) -> StoreResult<()>;
    /// The key with this digest and its account, revoked keys included.
    async fn find_api_key(&self, digest: &[u8; 32]) -> StoreResult<Option<Arc<KeyOwner>>>;
    async fn list_api_keys(&self, account_id: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Marks the key revoked; `NotFound` if there is no such key.
    async fn revoke_api_key(&self, key_id: &str, at: Micros) -> StoreResult<()>;
    /// Revokes the account's active key `key_id` unless it is the account's
    /// last active one, as one decision even when several nodes revoke at
    /// once; `false` when refused (the last active key, or not an active
    /// key of the account).
    async fn revoke_api_key_unless_last(
        &self,
        account_id: &str,
        key_id: &str,
        at: Micros,
    ) -> StoreResult<bool>;
    /// The backend's in-memory notes of key uses.
    fn key_uses(&self) -> &KeyUses;
    /// Writes `uses` as the keys' `last_used_at`, never moving one back (so
    /// nodes sharing a database may write in any order); returns how many
    /// keys changed. Not a lookup change: no key cache is cleared.
    async fn record_key_uses(&self, uses: Arc<[(String, Micros)]>) -> StoreResult<usize>;
    /// Notes, in memory only, that the key authenticated a request at
    /// `at`: cheap enough for every request.
    fn note_key_use(&self, key_id: &str, at: Micros) {
        self.key_uses().note(key_id, at);
    }
    /// Writes the uses noted since the last flush ([`Store::record_key_uses`]);
    /// on an error they stay noted for the next flush. The server calls it
    /// once a minute, and [`Store::close`] once more.
    async fn flush_key_uses(&self) -> StoreResult<usize> {
        let uses: Arc<[(String, Micros)]> = self.key_uses().take().into();
        if uses.is_empty() {
            return Ok(0);
        }
        let written = self.record_key_uses(uses.clone()).await;
        if written.is_err() {
            self.key_uses().restore(uses.to_vec());
        }
        written
    }

    /// Inserts an instance; `LimitReached` if the account already has
    /// `max_instances` (checked in the same transaction).
    async fn create_instance(
        &self,
        record: &InstanceRecord,
        max_instances: Option<u64>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()>;
    async fn load_instance(&self, id: &str) -> StoreResult<Option<InstanceRecord>>;
    /// The id of the account owning the instance, without reading its state.
    async fn instance_owner(&self, id: &str) -> StoreResult<Option<String>>;
    /// The stored version of the instance (`None` once it is deleted): the
    /// cheap probe that tells an actor whether another node changed it.
    async fn instance_version(&self, id: &str) -> StoreResult<Option<i64>> {
        Ok(self.load_instance(id).await?.map(|record| record.version))
    }
    /// Whether other server nodes may write to this store at the same time
    /// (then every in-process cache of it is only a cache: see
    /// docs/architecture.md "Several nodes").
    fn is_shared(&self) -> bool {
        false
    }
    async fn list_instances(
        &self,
        account_id: &str,
        sort: InstanceSort,
        order: SortOrder,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<InstanceRecord>>;
    async fn count_instances(&self, account_id: &str) -> StoreResult<u64>;
    /// Applies one change atomically; `Conflict` if the stored version is
    /// not `expected_version`, `NotFound` if the instance is gone.
    async fn write_instance(&self, write: InstanceWrite) -> StoreResult<()>;
    /// Removes the instance with its history, drift and audit rows.
    async fn delete_instance(
        &self,
        id: &str,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()>;

    /// The response recorded under the account's `key`, if any.
    async fn find_idempotency(
        &self,
        account_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;
    /// Forgets the responses recorded before `before`; returns how many.
    async fn expire_idempotency(&self, before: Micros) -> StoreResult<u64>;
    /// Observations, newest first.
    async fn history(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<ObservationRow>> {
        self.history_bounded(instance_id, limit, offset, usize::MAX)
            .await
    }
    /// Observations, newest first: at most `limit`, and the page stops
    /// before the item that would take its items' estimated JSON size past
    /// `max_bytes` (the first item is always included). `total` counts
    /// them all, so the caller sees the page ended early.
    async fn history_bounded(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<ObservationRow>>;
    /// The trajectory: the state each cycle produced, newest first (the
    /// observations written with a [`CyclePoint`]; older rows are left out,
    /// so `total` counts only those with one).
    /// A backend without it answers `Unsupported`.
    async fn trajectory(
        &self,
        _instance_id: &str,
        _limit: u64,
        _offset: u64,
    ) -> StoreResult<Page<TrajectoryRow>> {
        Err(StoreError::Unsupported(
            "this storage backend does not keep trajectories".into(),
        ))
    }
    /// Drift events, newest first, optionally only one level.
    async fn drift_events(
        &self,
        instance_id: &str,
        level: Option<DriftLevel>,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<DriftRow>> {
        self.drift_events_bounded(instance_id, level, limit, offset, usize::MAX)
            .await
    }
    /// [`Store::drift_events`] bounded in bytes as
    /// [`Store::history_bounded`] is.
    async fn drift_events_bounded(
        &self,
        instance_id: &str,
        level: Option<DriftLevel>,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<DriftRow>>;

    /// Cycles used by the account in the month (`YYYY-MM`).
    async fn usage(&self, account_id: &str, month: &str) -> StoreResult<u64>;

    /// Billing (Stripe): the account's link, if billing ever touched it.
    async fn billing_info(&self, account_id: &str) -> StoreResult<Option<BillingInfo>>;
    /// Every account's billing link (for admin listings).
    async fn list_billing_info(&self) -> StoreResult<Vec<BillingInfo>>;
    /// Remembers `customer_id` as the account's Stripe customer unless it
    /// already has one; returns the customer id now remembered. `NotFound`
    /// if there is no such account.
    async fn link_stripe_customer(
        &self,
        account_id: &str,
        customer_id: &str,
    ) -> StoreResult<String>;
    /// The account whose remembered Stripe customer is `customer_id`.
    async fn find_account_by_stripe_customer(
        &self,
        customer_id: &str,
    ) -> StoreResult<Option<Account>>;
    /// Records a webhook event id and applies its change in ONE
    /// transaction, so an event is applied at most once. The account is
    /// `account_id` if that account exists, else the one remembered for
    /// `change.customer_id`.
    async fn apply_billing_event(
        &self,
        event_id: &str,
        event_type: &str,
        account_id: Option<&str>,
        change: &BillingChange,
    ) -> StoreResult<BillingEventOutcome>;

    /// Cheap round trip proving the database answers (for `/ready`).
    async fn ping(&self) -> StoreResult<()>;
    /// The store's fail-stop latch: tripped, every write is refused and the
    /// server stops.
    fn fail_stop(&self) -> &FailStop;
    /// Online backup into a new file while the server keeps running.
    async fn backup(&self, destination: &Path) -> StoreResult<()>;
    /// Finishes pending writes and stops the store's threads.
    async fn close(&self) -> StoreResult<()>;
}

/// Opens the configured backend (for PostgreSQL: connects and migrates).
pub async fn open(config: &StoreConfig) -> StoreResult<Arc<dyn Store>> {
    match config.backend {
        Backend::Sqlite => Ok(Arc::new(SqliteStore::open_file(
            &config.sqlite_path,
            config.durability,
        )?)),
        Backend::Memory => Ok(Arc::new(SqliteStore::open_memory()?)),
        Backend::Postgres => Ok(Arc::new(PostgresStore::open(config).await?)),
    }
}

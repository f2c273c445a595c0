//! The PostgreSQL store: a pool of connections (tokio-postgres through
//! deadpool, prepared statements cached per connection), versioned
//! migrations under an advisory lock, and group commit of observations
//! ([`group`]).
//!
//! The guarantees are the SQLite store's: a returned `Ok` means committed
//! (with `synchronous_commit` from the durability); every change of one
//! instance (state, history, drift, usage, idempotency record) is one
//! transaction; every state write is conditional on the version it read;
//! the instance limit is checked and the row inserted under a lock of the
//! account row. Several server nodes may share one database.
//!
//! A database that cannot be reached is answered `Unavailable` (503)
//! within `storage.connect_timeout_secs`, and the pool reconnects by itself
//! once it is back. The fail-stop latch is never tripped here: PostgreSQL
//! owns durability, and a failed commit is its definite answer.

mod accounts;
mod billing;
mod columns;
mod connect;
mod group;
mod instances;
mod listen;
mod rows;
mod schema;

use async_trait::async_trait;
use deadpool_postgres::{Pool, PoolError};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use super::key_cache::{KeyCache, KeyUses};
use super::{
    Account, ApiKeyRecord, BillingChange, BillingEventOutcome, BillingInfo, DriftRow, FailStop,
    IdempotencyRecord, InstanceRecord, InstanceSort, InstanceWrite, KeyOwner, Micros,
    ObservationRow, Page, SortOrder, Store, StoreConfig, StoreError, StoreResult, TrajectoryRow,
};
use crate::engine::DriftLevel;
use crate::logging::ErrorChain;
use connect::{ConnectTarget, PoolSettings};
use group::GroupWriter;

/// PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    pool: Pool,
    /// `host:port/dbname`, for messages.
    target: String,
    writer: Mutex<Option<GroupWriter>>,
    writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    keys: Arc<KeyCache>,
    uses: KeyUses,
    /// Clears `keys` when another node changes a key lookup (listen.rs).
    listener: tokio::task::JoinHandle<()>,
    fail_stop: FailStop,
}

/// A pool failure as a store error: the database is unreachable or busy.
pub(crate) fn unavailable(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => StoreError::Unavailable(ErrorChain(&e).to_string()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl PostgresStore {
    /// Connects, applies pending migrations and starts the group writer.
    /// Errors name the server (`host:port/db`) and the reason, never the
    /// password.
    pub async fn open(config: &StoreConfig) -> StoreResult<Self> {
        let target = ConnectTarget::parse(&config.database_url)?;
        let described = target.describe();
        let settings = PoolSettings {
            size: config.pool_size.max(GROUP_CONNECTIONS + 2),
            connect_timeout: config.connect_timeout,
            durability: config.durability,
        };
        let pool = connect::pool(&target, &settings)?;
        let mut client = pool.get().await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {described}: {}",
                ErrorChain(&unavailable(e))
            ))
        })?;
        let applied = schema::migrate(&mut client).await.map_err(|e| match e {
            StoreError::Postgres(e) => StoreError::Unavailable(format!(
                "cannot migrate PostgreSQL at {described}: {}",
                ErrorChain(&e)
            )),
            other => other,
        })?;
        drop(client);
        tracing::info!(database = %described, migrations_applied = applied,
            pool_size = settings.size, "postgres store opened");
        let (writer, task) = GroupWriter::start(pool.clone());
        let keys = Arc::new(KeyCache::default());
        let listener = listen::spawn(target, settings.connect_timeout, keys.clone());
        Ok(PostgresStore {
            pool,
            target: described,
            writer: Mutex::new(Some(writer)),
            writer_task: Mutex::new(Some(task)),
            keys,
            uses: KeyUses::default(),
            listener,
            fail_stop: FailStop::default(),
        })
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(unavailable)
    }

    /// A write's connection: refused once closed or fail-stopped.
    async fn write_client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.fail_stop.check()?;
        if self.pool.is_closed() {
            return Err(StoreError::Closed);
        }
        self.client().await
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Connections the group writer may hold at once.
const GROUP_CONNECTIONS: usize = group::GROUPS_IN_FLIGHT;

#[async_trait]
impl Store for PostgresStore {
    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        accounts::insert_account(&self.write_client().await?, account).await
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        accounts::get_account(&self.client().await?, id).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        accounts::list_accounts(&self.client().await?).await
    }

    async fn count_accounts(&self) -> StoreResult<u64> {
        accounts::count_accounts(&self.client().await?).await
    }

    async fn set_account_tier(&self, id: &str, tier: &str) -> StoreResult<()> {
        let mut client = self.write_client().await?;
        let tx = client.transaction().await?;
        let result = accounts::set_account_tier(&tx, id, tier).await;
        if result.is_ok() {
            listen::commit_notified(tx).await?;
        }
        self.keys.clear();
        result
    }

    async fn create_first_account(
        &self,
        account: &Account,
        key: &ApiKeyRecord,
        digest: &[u8; 32],
    ) -> StoreResult<bool> {
        let mut client = self.write_client().await?;
        accounts::create_first_account(&mut client, account, key, digest).await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord, digest: &[u8; 32]) -> StoreResult<()> {
        accounts::insert_api_key(&self.write_client().await?, key, digest).await
    }

    async fn find_api_key(&self, digest: &[u8; 32]) -> StoreResult<Option<Arc<KeyOwner>>> {
        if let Some(found) = self.keys.get(digest) {
            return Ok(Some(found));
        }
        let generation = self.keys.generation();
        let found = accounts::find_api_key(&self.client().await?, digest)
            .await?
            .map(Arc::new);
        if let Some(found) = &found {
            self.keys.insert(*digest, Arc::clone(found), generation);
        }
        Ok(found)
    }

    async fn list_api_keys(&self, account_id: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        accounts::list_api_keys(&self.client().await?, account_id).await
    }

    async fn revoke_api_key(&self, key_id: &str, at: Micros) -> StoreResult<()> {
        let mut client = self.write_client().await?;
        let tx = client.transaction().await?;
        let result = accounts::revoke_api_key(&tx, key_id, at).await;
        if result.is_ok() {
            listen::commit_notified(tx).await?;
        }
        self.keys.clear();
        result
    }

    async fn revoke_api_key_unless_last(
        &self,
        account_id: &str,
        key_id: &str,
        at: Micros,
    ) -> StoreResult<bool> {
        let mut client = self.write_client().await?;
        let tx = client.transaction().await?;
        let revoked = accounts::revoke_api_key_unless_last(&tx, account_id, key_id, at).await?;
        if revoked {
            listen::commit_notified(tx).await?;
        }
        self.keys.clear();
        Ok(revoked)
    }

    fn key_uses(&self) -> &KeyUses {
        &self.uses
    }

    async fn record_key_uses(&self, uses: Arc<[(String, Micros)]>) -> StoreResult<usize> {
        accounts::record_key_uses(&self.write_client().await?, &uses).await
    }

    async fn create_instance(
        &self,
        record: &InstanceRecord,
        max_instances: Option<u64>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()> {
        let mut client = self.write_client().await?;
        instances::insert_instance(&mut client, record, max_instances, idempotency).await
    }

    async fn load_instance(&self, id: &str) -> StoreResult<Option<InstanceRecord>> {
        instances::load_instance(&self.client().await?, id).await
    }

    async fn instance_owner(&self, id: &str) -> StoreResult<Option<String>> {
        instances::instance_owner(&self.client().await?, id).await
    }

    async fn instance_version(&self, id: &str) -> StoreResult<Option<i64>> {
        instances::instance_version(&self.client().await?, id).await
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn list_instances(
        &self,
        account_id: &str,
        sort: InstanceSort,
        order: SortOrder,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<InstanceRecord>> {
        let client = self.client().await?;
        instances::list_instances(&client, account_id, sort, order, limit, offset).await
    }

    async fn count_instances(&self, account_id: &str) -> StoreResult<u64> {
        instances::count_instances(&self.client().await?, account_id).await
    }

    async fn write_instance(&self, write: InstanceWrite) -> StoreResult<()> {
        self.fail_stop.check()?;
        if !group::fits_group(&write) {
            let mut client = self.write_client().await?;
            return instances::write_instance(&mut client, &write).await;
        }
        let writer = {
            let guard = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
            match guard.as_ref() {
                Some(writer) => writer.clone(),
                None => return Err(StoreError::Closed),
            }
        };
        writer.write(write).await
    }

    async fn delete_instance(
        &self,
        id: &str,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()> {
        let mut client = self.write_client().await?;
        instances::delete_instance(&mut client, id, idempotency).await
    }

    async fn find_idempotency(
        &self,
        account_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        rows::find_idempotency(&self.client().await?, account_id, key).await
    }

    async fn expire_idempotency(&self, before: Micros) -> StoreResult<u64> {
        rows::expire_idempotency(&self.write_client().await?, before).await
    }

    async fn history_bounded(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<ObservationRow>> {
        let client = self.client().await?;
        rows::history(&client, instance_id, limit, offset, max_bytes).await
    }

    async fn trajectory(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<TrajectoryRow>> {
        rows::trajectory(&self.client().await?, instance_id, limit, offset).await
    }

    async fn drift_events_bounded(
        &self,
        instance_id: &str,
        level: Option<DriftLevel>,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<DriftRow>> {
        let client = self.client().await?;
        rows::drift_events(&client, instance_id, level, limit, offset, max_bytes).await
    }

    async fn usage(&self, account_id: &str, month: &str) -> StoreResult<u64> {
        rows::usage(&self.client().await?, account_id, month).await
    }

    async fn billing_info(&self, account_id: &str) -> StoreResult<Option<BillingInfo>> {
        billing::billing_info(&self.client().await?, account_id).await
    }

    async fn list_billing_info(&self) -> StoreResult<Vec<BillingInfo>> {
        billing::list_billing_info(&self.client().await?).await
    }

    async fn link_stripe_customer(
        &self,
        account_id: &str,
        customer_id: &str,
    ) -> StoreResult<String> {
        let now = crate::time::now_micros();
        billing::link_customer(&self.write_client().await?, account_id, customer_id, now).await
    }

    async fn find_account_by_stripe_customer(
        &self,
        customer_id: &str,
    ) -> StoreResult<Option<Account>> {
        billing::find_account_by_customer(&self.client().await?, customer_id).await
    }

    async fn apply_billing_event(
        &self,
        event_id: &str,
        event_type: &str,
        account_id: Option<&str>,
        change: &BillingChange,
    ) -> StoreResult<BillingEventOutcome> {
        let now = crate::time::now_micros();
        let mut client = self.write_client().await?;
        let tx = client.transaction().await?;
        let outcome =
            billing::apply_event(&tx, event_id, event_type, account_id, change, now).await?;
        listen::commit_notified(tx).await?;
        self.keys.clear();
        Ok(outcome)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.fail_stop.check()?;
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    fn fail_stop(&self) -> &FailStop {
        &self.fail_stop
    }

    async fn backup(&self, _destination: &Path) -> StoreResult<()> {
        Err(StoreError::Unsupported(format!(
            "`identity-os backup` copies SQLite files; back up PostgreSQL ({}) with \
             pg_dump (e.g. `pg_dump --format=custom --file=identity-os.dump \"$IDENTITY_OS_DATABASE_URL\"`) \
             or your provider's snapshots",
            self.target
        )))
    }

    /// Commits every write queued so far, then closes the pool. Later
    /// operations fail with `Closed`; closing again is a no-op.
    async fn close(&self) -> StoreResult<()> {
        if let Err(e) = self.flush_key_uses().await {
            tracing::warn!(error = %ErrorChain(&e), "cannot record when API keys were last used");
        }
        self.listener.abort();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(writer);
        let task = self
            .writer_task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            let _ = task.await;
            tracing::info!("postgres store closed");
        }
        self.pool.close();
        Ok(())
    }
}

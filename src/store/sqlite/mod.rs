//! The SQLite store: one writer thread with group commit, a small pool of
//! read-only connections, versioned migrations.
//!
//! Every async method packages its SQL as a job, hands it to a store thread
//! over a channel and awaits a oneshot reply, so the tokio runtime never
//! blocks on SQLite. The in-memory backend has a single connection (separate
//! connections to `:memory:` do not share data), so its reads and backups
//! run on the writer thread, between committed groups.

mod accounts;
mod backup;
mod billing;
mod checkpointer;
mod columns;
pub(crate) mod cycle_point;
mod drift;
mod group;
mod history;
mod idempotency;
mod instances;

mod readers;
mod schema;
mod syncer;
mod writer;

#[cfg(test)]
mod tests;

use super::{
    Account, ApiKeyRecord, BillingChange, BillingEventOutcome, BillingInfo, DriftRow, Durability,
    FailStop, IdempotencyRecord, InstanceRecord, InstanceSort, InstanceWrite, KeyOwner, Micros,
    ObservationRow, Page, SortOrder, Store, StoreError, StoreResult, TrajectoryRow,
};
use crate::engine::DriftLevel;
use crate::logging::ErrorChain;
use async_trait::async_trait;
use crossbeam_channel::Sender;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use writer::{ConnFn, Counters, Msg};

/// A point-in-time copy of the writer's counters, for metrics.
///
/// `writes / commits` is the average group size; `commit_micros / commits`
/// the average time a group spends in its transaction (its WAL fsync, with
/// durability `full`, happens afterwards on the syncer thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Group transactions committed.
    pub commits: u64,
    /// WAL fsyncs made before answering (durability `full`); one covers
    /// every group committed while the previous one ran, so at most
    /// `commits`.
    pub wal_syncs: u64,
    /// Write jobs handled, successful or not.
    pub writes: u64,
    /// Write jobs answered with an error (their own or the group's).
    pub failed_writes: u64,
    /// COMMITs that failed (every job of such a group got the error).
    pub commit_failures: u64,
    /// The largest group seen so far.
    pub largest_group: u64,
    /// Total time spent running and committing groups, in microseconds.
    pub commit_micros: u64,
}

/// The senders that reach the store's threads; `None` once closed.
struct Channels {
    writer: Sender<Msg>,
    /// The read pool; `None` for the in-memory backend (reads go to the
    /// writer thread).
    readers: Option<Sender<ConnFn>>,
}

/// SQLite implementation of [`Store`], file-backed or in-memory.
pub struct SqliteStore {
    channels: RwLock<Option<Channels>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    counters: Arc<Counters>,
    keys: crate::store::key_cache::KeyCache,
    uses: crate::store::key_cache::KeyUses,
    fail_stop: Arc<FailStop>,
}

impl SqliteStore {
    /// Opens (creating it and its parent directories on first start) the
    /// database file in WAL mode, runs pending migrations and starts the
    /// writer thread and the read pool.
    ///
    /// With durability `full` the writer's own connection commits without
    /// an fsync and a second thread syncs the WAL before any answer goes
    /// out (see [`syncer`]); the checkpointer keeps `synchronous = FULL`.
    pub fn open_file(path: impl AsRef<Path>, durability: Durability) -> StoreResult<Self> {
        let path = path.as_ref();
        let mut conn = schema::open_writer_file(path, Durability::Normal)?;
        let applied = schema::migrate(&mut conn)?;
        tracing::info!(path = %path.display(), migrations_applied = applied, "sqlite store opened");
        let readers = (0..readers::pool_size())
            .map(|_| schema::open_reader_file(path))
            .collect::<StoreResult<Vec<_>>>()?;
        let checkpointer = schema::open_writer_file(path, durability)?;
        let wal_sync = match durability {
            Durability::Full => Some(path),
            Durability::Normal => None,
        };
        Self::start(conn, Some(readers), Some(checkpointer), wal_sync)
    }

    /// Opens a private in-memory database: nothing survives the store.
    pub fn open_memory() -> StoreResult<Self> {
        let mut conn = schema::open_memory()?;
        schema::migrate(&mut conn)?;
        Self::start(conn, None, None, None)
    }

    /// Starts the threads; `wal_sync` names the database whose WAL the
    /// syncer thread fsyncs before answers go out (durability `full`).
    fn start(
        writer_conn: Connection,
        readers: Option<Vec<Connection>>,
        checkpointer_conn: Option<Connection>,
        wal_sync: Option<&Path>,
    ) -> StoreResult<Self> {
        let counters = Arc::new(Counters::default());
        let fail_stop = Arc::new(FailStop::default());
        let mut threads = Vec::new();
        let syncer = match wal_sync {
            Some(database) => {
                let (syncer, handle) = syncer::spawn(
                    database,
                    Arc::clone(&counters.wal_syncs),
                    Arc::clone(&fail_stop),
                )?;
                threads.push(handle);
                Some(syncer)
            }
            None => None,
        };
        let nudge = match checkpointer_conn {
            Some(conn) => {
                let (nudge, handle) = checkpointer::spawn(conn, Arc::clone(&fail_stop))?;
                threads.push(handle);
                Some(nudge)
            }
            None => None,
        };
        let (wtx, wrx) = crossbeam_channel::unbounded();
        threads.push(writer::spawn(
            writer_conn,
            wrx,
            Arc::clone(&counters),
            nudge,
            syncer,
            Arc::clone(&fail_stop),
        )?);
        let readers = match readers {
            Some(conns) => {
                let (rtx, rrx) = crossbeam_channel::unbounded();
                threads.extend(readers::spawn(conns, rrx)?);
                Some(rtx)
            }
            None => None,
        };
        Ok(Self {
            channels: RwLock::new(Some(Channels {
                writer: wtx,
                readers,
            })),
            threads: Mutex::new(threads),
            counters,
            keys: crate::store::key_cache::KeyCache::default(),
            uses: crate::store::key_cache::KeyUses::default(),
            fail_stop,
        })
    }

    /// Backs up the database file at `source` into `destination` without a
    /// running store (e.g. from a CLI while the server uses the file): the
    /// source is opened read-only, so the server keeps writing meanwhile.
    pub fn backup_file(source: impl AsRef<Path>, destination: impl AsRef<Path>) -> StoreResult<()> {
        let source = source.as_ref();
        if !source.exists() {
            return Err(StoreError::NotFound);
        }
        let conn = schema::open_reader_file(source)?;
        backup::backup_to(&conn, destination.as_ref())
    }

    /// The writer's counters (group sizes, commits, failures) right now.
    pub fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            commits: c.commits.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            failed_writes: c.failed_writes.load(Ordering::Relaxed),
            commit_failures: c.commit_failures.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            commit_micros: c.commit_micros.load(Ordering::Relaxed),
            wal_syncs: c.wal_syncs.load(Ordering::Relaxed),
        }
    }

    /// Number of group transactions committed so far.
    pub fn commit_count(&self) -> u64 {
        self.counters.commits.load(Ordering::Relaxed)
    }

    /// Queues a write job and waits until its group is committed.
    async fn write<F>(&self, work: F) -> StoreResult<()>
    where
        F: FnOnce(&Connection) -> StoreResult<()> + Send + 'static,
    {
        self.submit(|reply| Msg::Write {
            work: Box::new(work),
            reply,
        })
        .await
    }

    /// Queues the write `message` builds around its reply port and waits
    /// until its group is committed.
    async fn submit(&self, message: impl FnOnce(writer::Reply) -> Msg) -> StoreResult<()> {
        self.fail_stop.check()?;
        let (reply, rx) = oneshot::channel();
        {
            let guard = self.channels.read().unwrap_or_else(PoisonError::into_inner);
            let channels = guard.as_ref().ok_or(StoreError::Closed)?;
            channels
                .writer
                .send(message(reply))
                .map_err(|_| StoreError::Closed)?;
        }
        rx.await.map_err(|_| lost_reply())?
    }

    /// Like [`Self::write`], returning what the job computed (only once
    /// its group is committed).
    async fn write_returning<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let slot = Arc::new(Mutex::new(None));
        let out = Arc::clone(&slot);
        self.write(move |c| {
            let value = work(c)?;
            *out.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
            Ok(())
        })
        .await?;
        let value = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        value.ok_or_else(lost_reply)
    }

    /// Runs `f` on a read connection (the writer's, for the in-memory
    /// backend) and returns its result.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: ConnFn = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        {
            let guard = self.channels.read().unwrap_or_else(PoisonError::into_inner);
            let channels = guard.as_ref().ok_or(StoreError::Closed)?;
            let sent = match &channels.readers {
                Some(pool) => pool.send(job).is_ok(),
                None => channels.writer.send(Msg::Run(job)).is_ok(),
            };
            if !sent {
                return Err(StoreError::Closed);
            }
        }
        rx.await.map_err(|_| lost_reply())?
    }
}

/// Test-only (feature `fault-injection`): the next WAL fsync of any file
/// store in this process fails with `EIO`.
#[cfg(feature = "fault-injection")]
pub fn fail_next_wal_fsync() {
    syncer::FAIL_NEXT_FSYNC.store(true, Ordering::Release);
}

/// The job was accepted but its thread dropped the reply: it panicked (and
/// was logged) or the thread died.
fn lost_reply() -> StoreError {
    StoreError::Failed("the store thread dropped the request".into())
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(&self, account: &Account) -> StoreResult<()> {
        let account = account.clone();
        self.write(move |c| accounts::insert_account(c, &account))
            .await
    }

    async fn get_account(&self, id: &str) -> StoreResult<Option<Account>> {
        let id = id.to_owned();
        self.read(move |c| accounts::get_account(c, &id)).await
    }

    async fn list_accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(accounts::list_accounts).await
    }

    async fn count_accounts(&self) -> StoreResult<u64> {
        self.read(accounts::count_accounts).await
    }

    async fn set_account_tier(&self, id: &str, tier: &str) -> StoreResult<()> {
        let (id, tier) = (id.to_owned(), tier.to_owned());
        let result = self
            .write(move |c| accounts::set_account_tier(c, &id, &tier))
            .await;
        self.keys.clear();
        result
    }

    async fn create_first_account(
        &self,
        account: &Account,
        key: &ApiKeyRecord,
        digest: &[u8; 32],
    ) -> StoreResult<bool> {
        let (account, key, digest) = (account.clone(), key.clone(), *digest);
        // The writer thread runs one job at a time: the count and the
        // inserts are one step.
        self.write_returning(move |c| {
            if accounts::count_accounts(c)? > 0 {
                return Ok(false);
            }
            accounts::insert_account(c, &account)?;
            accounts::insert_api_key(c, &key, &digest)?;
            Ok(true)
        })
        .await
    }

    async fn create_api_key(&self, key: &ApiKeyRecord, digest: &[u8; 32]) -> StoreResult<()> {
        let (key, digest) = (key.clone(), *digest);
        self.write(move |c| accounts::insert_api_key(c, &key, &digest))
            .await
    }

    async fn find_api_key(&self, digest: &[u8; 32]) -> StoreResult<Option<Arc<KeyOwner>>> {
        if let Some(found) = self.keys.get(digest) {
            return Ok(Some(found));
        }
        let generation = self.keys.generation();
        let digest = *digest;
        let found = self
            .read(move |c| accounts::find_api_key(c, &digest))
            .await?
            .map(Arc::new);
        if let Some(found) = &found {
            self.keys.insert(digest, Arc::clone(found), generation);
        }
        Ok(found)
    }

    async fn list_api_keys(&self, account_id: Option<&str>) -> StoreResult<Vec<ApiKeyRecord>> {
        let account_id = account_id.map(str::to_owned);
        self.read(move |c| accounts::list_api_keys(c, account_id.as_deref()))
            .await
    }

    async fn revoke_api_key(&self, key_id: &str, at: Micros) -> StoreResult<()> {
        let key_id = key_id.to_owned();
        let result = self
            .write(move |c| accounts::revoke_api_key(c, &key_id, at))
            .await;
        self.keys.clear();
        result
    }

    async fn revoke_api_key_unless_last(
        &self,
        account_id: &str,
        key_id: &str,
        at: Micros,
    ) -> StoreResult<bool> {
        let (account_id, key_id) = (account_id.to_owned(), key_id.to_owned());
        let result = self
            .write_returning(move |c| {
                accounts::revoke_api_key_unless_last(c, &account_id, &key_id, at)
            })
            .await;
        self.keys.clear();
        result
    }

    fn key_uses(&self) -> &crate::store::KeyUses {
        &self.uses
    }

    async fn record_key_uses(&self, uses: Arc<[(String, Micros)]>) -> StoreResult<usize> {
        self.write_returning(move |c| accounts::record_key_uses(c, &uses))
            .await
    }

    async fn create_instance(
        &self,
        record: &InstanceRecord,
        max_instances: Option<u64>,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()> {
        let record = record.clone();
        let idempotency = idempotency.cloned();
        self.write(move |c| {
            instances::insert_instance(c, &record, max_instances)?;
            idempotency
                .as_ref()
                .map_or(Ok(()), |r| idempotency::insert(c, r))
        })
        .await
    }

    async fn load_instance(&self, id: &str) -> StoreResult<Option<InstanceRecord>> {
        let id = id.to_owned();
        self.read(move |c| instances::load_instance(c, &id)).await
    }

    async fn instance_owner(&self, id: &str) -> StoreResult<Option<String>> {
        let id = id.to_owned();
        self.read(move |c| instances::instance_owner(c, &id)).await
    }

    async fn list_instances(
        &self,
        account_id: &str,
        sort: InstanceSort,
        order: SortOrder,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<InstanceRecord>> {
        let account_id = account_id.to_owned();
        self.read(move |c| instances::list_instances(c, &account_id, sort, order, limit, offset))
            .await
    }

    async fn count_instances(&self, account_id: &str) -> StoreResult<u64> {
        let account_id = account_id.to_owned();
        self.read(move |c| instances::count_instances(c, &account_id))
            .await
    }

    async fn write_instance(&self, write: InstanceWrite) -> StoreResult<()> {
        self.submit(|reply| Msg::WriteInstance {
            write: Box::new(write),
            reply,
        })
        .await
    }

    async fn delete_instance(
        &self,
        id: &str,
        idempotency: Option<&IdempotencyRecord>,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        let idempotency = idempotency.cloned();
        self.write(move |c| {
            instances::delete_instance(c, &id)?;
            idempotency
                .as_ref()
                .map_or(Ok(()), |r| idempotency::insert(c, r))
        })
        .await
    }

    async fn find_idempotency(
        &self,
        account_id: &str,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let (account_id, key) = (account_id.to_owned(), key.to_owned());
        self.read(move |c| idempotency::find(c, &account_id, &key))
            .await
    }

    async fn expire_idempotency(&self, before: Micros) -> StoreResult<u64> {
        let removed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = removed.clone();
        self.write(move |c| {
            counted.store(idempotency::expire(c, before)?, Ordering::Relaxed);
            Ok(())
        })
        .await?;
        Ok(removed.load(Ordering::Relaxed))
    }

    async fn history_bounded(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<ObservationRow>> {
        let instance_id = instance_id.to_owned();
        self.read(move |c| history::history(c, &instance_id, limit, offset, max_bytes))
            .await
    }

    async fn trajectory(
        &self,
        instance_id: &str,
        limit: u64,
        offset: u64,
    ) -> StoreResult<Page<TrajectoryRow>> {
        let instance_id = instance_id.to_owned();
        self.read(move |c| history::trajectory(c, &instance_id, limit, offset))
            .await
    }

    async fn drift_events_bounded(
        &self,
        instance_id: &str,
        level: Option<DriftLevel>,
        limit: u64,
        offset: u64,
        max_bytes: usize,
    ) -> StoreResult<Page<DriftRow>> {
        let instance_id = instance_id.to_owned();
        self.read(move |c| drift::list(c, &instance_id, level, limit, offset, max_bytes))
            .await
    }

    async fn usage(&self, account_id: &str, month: &str) -> StoreResult<u64> {
        let (account_id, month) = (account_id.to_owned(), month.to_owned());
        self.read(move |c| history::usage(c, &account_id, &month))
            .await
    }

    async fn billing_info(&self, account_id: &str) -> StoreResult<Option<BillingInfo>> {
        let account_id = account_id.to_owned();
        self.read(move |c| billing::billing_info(c, &account_id))
            .await
    }

    async fn list_billing_info(&self) -> StoreResult<Vec<BillingInfo>> {
        self.read(billing::list_billing_info).await
    }

    async fn link_stripe_customer(
        &self,
        account_id: &str,
        customer_id: &str,
    ) -> StoreResult<String> {
        let (account_id, customer_id) = (account_id.to_owned(), customer_id.to_owned());
        let now = crate::time::now_micros();
        self.write_returning(move |c| billing::link_customer(c, &account_id, &customer_id, now))
            .await
    }

    async fn find_account_by_stripe_customer(
        &self,
        customer_id: &str,
    ) -> StoreResult<Option<Account>> {
        let customer_id = customer_id.to_owned();
        self.read(move |c| billing::find_account_by_customer(c, &customer_id))
            .await
    }

    async fn apply_billing_event(
        &self,
        event_id: &str,
        event_type: &str,
        account_id: Option<&str>,
        change: &BillingChange,
    ) -> StoreResult<BillingEventOutcome> {
        let (event_id, event_type) = (event_id.to_owned(), event_type.to_owned());
        let (account_id, change) = (account_id.map(str::to_owned), change.clone());
        let now = crate::time::now_micros();
        let outcome = self
            .write_returning(move |c| {
                billing::apply_event(
                    c,
                    &event_id,
                    &event_type,
                    account_id.as_deref(),
                    &change,
                    now,
                )
            })
            .await;
        self.keys.clear();
        outcome
    }

    async fn ping(&self) -> StoreResult<()> {
        self.fail_stop.check()?;
        self.read(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    fn fail_stop(&self) -> &FailStop {
        &self.fail_stop
    }

    async fn backup(&self, destination: &Path) -> StoreResult<()> {
        let dest: PathBuf = destination.to_owned();
        self.read(move |c| backup::backup_to(c, &dest)).await
    }

    /// Finishes every write queued so far, then stops the threads. Later
    /// operations fail with `Closed`; closing again is a no-op.
    async fn close(&self) -> StoreResult<()> {
        if let Err(e) = self.flush_key_uses().await {
            tracing::warn!(error = %ErrorChain(&e), "cannot record when API keys were last used");
        }
        let channels = self
            .channels
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(channels) = channels else {
            return Ok(());
        };
        let (done, stopped) = oneshot::channel();
        let _ = channels.writer.send(Msg::Shutdown(done));
        drop(channels);
        // An error here means the writer thread is already gone.
        let _ = stopped.await;
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        tokio::task::spawn_blocking(move || {
            for t in threads {
                if t.join().is_err() {
                    tracing::error!("a store thread ended with a panic");
                }
            }
        })
        .await
        .map_err(|e| StoreError::Failed(format!("cannot join the store threads: {e}")))?;
        tracing::info!("sqlite store closed");
        Ok(())
    }
}

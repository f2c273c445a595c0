//! Connection setup and versioned schema migrations.
//!
//! The schema version lives in SQLite's `PRAGMA user_version`; the scripts in
//! [`MIGRATIONS`] are applied in order, all pending ones in one transaction,
//! so a crash during an upgrade leaves the previous version intact.

use super::super::{Durability, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for a lock before reporting `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Capacity of each connection's prepared-statement cache (every statement
/// the store uses fits, so `prepare_cached` never re-prepares).
const STATEMENT_CACHE: usize = 64;

/// Page size of a new database file (SQLite's default is 4096). Every
/// observation dirties two pages that are rarely shared with another write
/// of the same group (its instance row, ≈ 700 bytes since the binary state,
/// and a leaf of the history index), and the WAL holds whole pages: halving
/// the page nearly halves the bytes written, checksummed and checkpointed
/// per observation. 1024 makes the trees deeper and was measured slower
/// (docs/benchmarks-history.md). Existing files keep the size they were
/// created with: a WAL database cannot change it in place.
pub(crate) const PAGE_SIZE: u32 = 2048;

/// The schema, one script per version, oldest first. Never edit a published
/// script: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the initial schema.
    r#"
    CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL,
        tier        TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    );

    CREATE TABLE api_keys (
        id          TEXT PRIMARY KEY,
        account_id  TEXT NOT NULL REFERENCES accounts(id),
        digest      BLOB NOT NULL UNIQUE,
        prefix      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        revoked_at  INTEGER
    );
    CREATE INDEX api_keys_account ON api_keys(account_id, created_at);

    CREATE TABLE instances (
        id                   TEXT PRIMARY KEY,
        account_id           TEXT NOT NULL REFERENCES accounts(id),
        name                 TEXT NOT NULL,
        description          TEXT NOT NULL,
        created_at           INTEGER NOT NULL,
        updated_at           INTEGER NOT NULL,
        version              INTEGER NOT NULL,
        state_json           TEXT NOT NULL,
        initial_state_json   TEXT NOT NULL,
        last_observation_at  INTEGER,
        cycle_count          INTEGER NOT NULL,
        energy_level         REAL NOT NULL,
        stress_level         TEXT NOT NULL,
        stability_index      REAL NOT NULL
    );
    CREATE INDEX instances_account_created ON instances(account_id, created_at);
    CREATE INDEX instances_account_name ON instances(account_id, name);

    CREATE TABLE observations (
        id              INTEGER PRIMARY KEY,
        instance_id     TEXT NOT NULL REFERENCES instances(id),
        cycle_number    INTEGER NOT NULL,
        mode_target     TEXT NOT NULL,
        signal_strength REAL NOT NULL,
        confidence      REAL NOT NULL,
        context_json    TEXT NOT NULL,
        timestamp       INTEGER NOT NULL
    );
    CREATE INDEX observations_instance ON observations(instance_id, id);

    CREATE TABLE drift_events (
        id              INTEGER PRIMARY KEY,
        instance_id     TEXT NOT NULL REFERENCES instances(id),
        cycle_number    INTEGER NOT NULL,
        level           TEXT NOT NULL,
        magnitude       REAL NOT NULL,
        affected_modes  TEXT NOT NULL,
        rolled_back     INTEGER NOT NULL,
        timestamp       INTEGER NOT NULL
    );
    CREATE INDEX drift_events_instance ON drift_events(instance_id, id);
    CREATE INDEX drift_events_instance_level ON drift_events(instance_id, level);

    CREATE TABLE instance_events (
        id           INTEGER PRIMARY KEY,
        instance_id  TEXT NOT NULL REFERENCES instances(id),
        kind         TEXT NOT NULL,
        detail_json  TEXT NOT NULL,
        timestamp    INTEGER NOT NULL
    );
    CREATE INDEX instance_events_instance ON instance_events(instance_id, id);

    CREATE TABLE usage (
        account_id  TEXT NOT NULL REFERENCES accounts(id),
        month       TEXT NOT NULL,
        cycles      INTEGER NOT NULL,
        PRIMARY KEY (account_id, month)
    ) WITHOUT ROWID;
    "#,
    // Version 2: billing (Stripe). One link row per account that ever
    // touched Stripe, and the ids of processed webhook events (idempotency).
    r#"
    CREATE TABLE billing_links (
        account_id              TEXT PRIMARY KEY REFERENCES accounts(id),
        stripe_customer_id      TEXT UNIQUE,
        stripe_subscription_id  TEXT,
        subscription_status     TEXT,
        last_event_created      INTEGER,
        updated_at              INTEGER NOT NULL
    );

    CREATE TABLE stripe_events (
        id           TEXT PRIMARY KEY,
        type         TEXT NOT NULL,
        account_id   TEXT,
        outcome      TEXT NOT NULL,
        received_at  INTEGER NOT NULL
    ) WITHOUT ROWID;
    "#,
    // Version 3: the engine state is stored in a compact binary form
    // (actors/state_codec.rs) instead of JSON text, so the columns lose
    // their `_json` suffix. Their declared type stays TEXT (SQLite cannot
    // change it in place); a BLOB keeps its bytes under TEXT affinity. Rows
    // written before keep their JSON until the instance's next write, and
    // the decoder reads both.
    r#"
    ALTER TABLE instances RENAME COLUMN state_json TO state;
    ALTER TABLE instances RENAME COLUMN initial_state_json TO initial_state;
    "#,
    // Version 4: drift events are clustered by instance and level, with the
    // id of the observation that caused each as the last key column, so
    // recording an event writes one b-tree instead of a table and two
    // indexes (by id and by level): in mixed workloads most cycles record
    // one, and those indexes were about a third of the WAL frames of an
    // observation (docs/benchmarks-history.md). Listing all levels
    // merges the per-level ranges in id order (drift.rs). Existing rows
    // keep their ids, which are never above their observation's id, so
    // newer events still sort after them.
    r#"
    CREATE TABLE drift_events_by_level (
        instance_id     TEXT NOT NULL REFERENCES instances(id),
        level           TEXT NOT NULL,
        id              INTEGER NOT NULL,
        cycle_number    INTEGER NOT NULL,
        magnitude       REAL NOT NULL,
        affected_modes  TEXT NOT NULL,
        rolled_back     INTEGER NOT NULL,
        timestamp       INTEGER NOT NULL,
        PRIMARY KEY (instance_id, level, id)
    ) WITHOUT ROWID;
    INSERT INTO drift_events_by_level (instance_id, level, id, cycle_number, magnitude,
                                       affected_modes, rolled_back, timestamp)
        SELECT instance_id, level, id, cycle_number, magnitude, affected_modes, rolled_back,
               timestamp
        FROM drift_events;
    DROP TABLE drift_events;
    ALTER TABLE drift_events_by_level RENAME TO drift_events;
    "#,
    // Version 5: responses recorded under an `Idempotency-Key`, written in
    // the transaction of the change they answer, replayed for a repeat of
    // the request; removed once older than a day (the index by age).
    r#"
    CREATE TABLE idempotency_keys (
        account_id      TEXT NOT NULL,
        key             TEXT NOT NULL,
        request_hash    BLOB NOT NULL,
        status          INTEGER NOT NULL,
        headers         TEXT NOT NULL,
        body            BLOB NOT NULL,
        created_at      INTEGER NOT NULL,
        PRIMARY KEY (account_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_keys_age ON idempotency_keys(created_at);
    "#,
    // Version 6: each observation keeps the state its cycle produced
    // (cycle_point.rs), the points of the trajectory; rows written before
    // have none (NULL) and are not part of it.
    r#"
    ALTER TABLE observations ADD COLUMN point BLOB;
    "#,
    // Version 7: when each key last authenticated a request, written from
    // memory at most once a minute per key (key_cache.rs `KeyUses`); NULL
    // until first used.
    r#"
    ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
    "#,
];

/// Opens (creating if needed) the read-write connection of a database file
/// and applies the durability settings.
pub(crate) fn open_writer_file(path: &Path, durability: Durability) -> StoreResult<Connection> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::io(format!("cannot create {}", parent.display()), e))?;
        }
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // Takes effect only while the file is still empty (a new database).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Failed(format!(
            "could not enable WAL mode (journal_mode is {mode})"
        )));
    }
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    // Most checkpointing happens on the checkpointer's connection; this is
    // the backstop (see checkpointer.rs).
    conn.pragma_update(
        None,
        "wal_autocheckpoint",
        super::checkpointer::WRITER_AUTOCHECKPOINT_PAGES,
    )?;
    // Savepoint journals stay in memory instead of spilling to temp files.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    configure_common(&conn)?;
    Ok(conn)
}

/// Opens a read-only connection to a database file the writer already set up.
pub(crate) fn open_reader_file(path: &Path) -> StoreResult<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure_common(&conn)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Opens the single connection of the in-memory backend.
pub(crate) fn open_memory() -> StoreResult<Connection> {
    let conn = Connection::open_in_memory()?;
    configure_common(&conn)?;
    Ok(conn)
}

/// Settings every connection gets.
fn configure_common(conn: &Connection) -> StoreResult<()> {
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(())
}

/// The schema version a database is at (0 for a fresh file).
pub(crate) fn schema_version(conn: &Connection) -> StoreResult<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the schema up to date; returns how many migrations were applied.
/// A database written by a newer build (higher version) is refused rather
/// than touched.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let current = schema_version(&tx)?;
    let target = MIGRATIONS.len() as i64;
    if current < 0 || current > target {
        return Err(StoreError::Unsupported(format!(
            "database schema version {current} is not one this build supports (0..={target})"
        )));
    }
    let pending = &MIGRATIONS[current as usize..];
    for (i, script) in pending.iter().enumerate() {
        tx.execute_batch(script)
            .map_err(|source| StoreError::Migration {
                version: current + i as i64 + 1,
                source: Box::new(source),
            })?;
    }
    if !pending.is_empty() {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(pending.len())
}

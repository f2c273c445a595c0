//! The PostgreSQL schema and its versioned migrations.
//!
//! Migrations run at start in one transaction under an advisory lock, so
//! nodes starting together on one database migrate it once: the others
//! wait for the lock, then find nothing pending. `schema_migrations`
//! records each applied version.
//!
//! Designed for the workload:
//! - `instances` is updated on every observation. None of the columns an
//!   observation changes is indexed and the table leaves room in each page
//!   (`fillfactor`), so those updates are HOT: no index entry is written.
//! - The instance row keeps `history_count` and `drift_count`, and the
//!   account row `instance_count`: page totals are read, never counted.
//! - History and drift rows are keyed by instance and a per-instance
//!   sequence number (`seq`, the observation's place in the history), so a
//!   page at any offset is one index range: `seq <= total - offset`.
//! - History rows reference no foreign key (a lookup per inserted row);
//!   deleting an instance deletes its rows in the same transaction.

use deadpool_postgres::Client;

use super::super::{StoreError, StoreResult};

/// Key of the advisory lock held while migrating (any constant, the same
/// on every node).
const MIGRATION_LOCK: i64 = 0x1D05_0001;

/// The schema, one script per version, oldest first. Never edit a published
/// script: append a new one.
pub(crate) const MIGRATIONS: &[&str] = &[
    // Version 1: the initial schema.
    r#"
    CREATE TABLE accounts (
        id              text PRIMARY KEY,
        name            text NOT NULL,
        tier            text NOT NULL,
        created_at      bigint NOT NULL,
        instance_count  bigint NOT NULL DEFAULT 0
    );

    CREATE TABLE api_keys (
        id          text PRIMARY KEY,
        account_id  text NOT NULL REFERENCES accounts(id),
        digest      bytea NOT NULL UNIQUE,
        prefix      text NOT NULL,
        created_at  bigint NOT NULL,
        revoked_at  bigint
    );
    CREATE INDEX api_keys_account ON api_keys (account_id, created_at);

    CREATE TABLE instances (
        id                   text PRIMARY KEY,
        account_id           text NOT NULL REFERENCES accounts(id),
        name                 text NOT NULL,
        description          text NOT NULL,
        created_at           bigint NOT NULL,
        updated_at           bigint NOT NULL,
        version              bigint NOT NULL,
        state                bytea NOT NULL,
        initial_state        bytea NOT NULL,
        last_observation_at  bigint,
        cycle_count          bigint NOT NULL,
        energy_level         double precision NOT NULL,
        stress_level         text NOT NULL,
        stability_index      double precision NOT NULL,
        history_count        bigint NOT NULL DEFAULT 0,
        drift_count          bigint NOT NULL DEFAULT 0
    ) WITH (fillfactor = 70);
    CREATE INDEX instances_account_created ON instances (account_id, created_at, id);
    CREATE INDEX instances_account_name ON instances (account_id, name, id);

    CREATE TABLE observations (
        instance_id      text NOT NULL,
        seq              bigint NOT NULL,
        cycle_number     bigint NOT NULL,
        mode_target      text NOT NULL,
        signal_strength  double precision NOT NULL,
        confidence       double precision NOT NULL,
        context_json     text NOT NULL,
        timestamp        bigint NOT NULL,
        point            bytea,
        PRIMARY KEY (instance_id, seq)
    );

    CREATE TABLE drift_events (
        instance_id     text NOT NULL,
        seq             bigint NOT NULL,
        level           text NOT NULL,
        cycle_number    bigint NOT NULL,
        magnitude       double precision NOT NULL,
        affected_modes  text NOT NULL,
        rolled_back     boolean NOT NULL,
        timestamp       bigint NOT NULL,
        PRIMARY KEY (instance_id, seq, level)
    );
    CREATE INDEX drift_events_level ON drift_events (instance_id, level, seq);

    CREATE TABLE instance_events (
        id           bigserial PRIMARY KEY,
        instance_id  text NOT NULL,
        kind         text NOT NULL,
        detail_json  text NOT NULL,
        timestamp    bigint NOT NULL
    );
    CREATE INDEX instance_events_instance ON instance_events (instance_id, id);

    CREATE TABLE usage (
        account_id  text NOT NULL REFERENCES accounts(id),
        month       text NOT NULL,
        cycles      bigint NOT NULL,
        PRIMARY KEY (account_id, month)
    );

    CREATE TABLE billing_links (
        account_id              text PRIMARY KEY REFERENCES accounts(id),
        stripe_customer_id      text UNIQUE,
        stripe_subscription_id  text,
        subscription_status     text,
        last_event_created      bigint,
        updated_at              bigint NOT NULL
    );

    CREATE TABLE stripe_events (
        id           text PRIMARY KEY,
        type         text NOT NULL,
        account_id   text,
        outcome      text NOT NULL,
        received_at  bigint NOT NULL
    );

    CREATE TABLE idempotency_keys (
        account_id    text NOT NULL,
        key           text NOT NULL,
        request_hash  bytea NOT NULL,
        status        integer NOT NULL,
        headers       text NOT NULL,
        body          bytea NOT NULL,
        created_at    bigint NOT NULL,
        PRIMARY KEY (account_id, key)
    );
    CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
    "#,
    // Version 2: when each key last authenticated a request, written from
    // memory at most once a minute per key by each node (key_cache.rs
    // `KeyUses`), never moved back; NULL until first used.
    r#"
    ALTER TABLE api_keys ADD COLUMN last_used_at bigint;
    "#,
];

/// Applies the pending migrations; returns how many were applied.
pub(crate) async fn migrate(client: &mut Client) -> StoreResult<usize> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version     integer PRIMARY KEY,
             applied_at  timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let current: i32 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let current = usize::try_from(current).unwrap_or(0);
    if current > MIGRATIONS.len() {
        return Err(StoreError::Unsupported(format!(
            "the database is at schema version {current}, newer than this build knows ({}); \
             run a newer identity-os",
            MIGRATIONS.len()
        )));
    }
    for (index, script) in MIGRATIONS.iter().enumerate().skip(current) {
        let version = index + 1;
        tx.batch_execute(script)
            .await
            .map_err(|source| StoreError::Migration {
                version: version as i64,
                source: Box::new(source),
            })?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&(version as i32)],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(MIGRATIONS.len() - current)
}

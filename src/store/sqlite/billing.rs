//! SQL for billing (Stripe): per-account billing links and the ledger of
//! processed webhook events. Plain functions over a connection; the writes
//! run on the writer thread inside its group transaction.

use super::super::billing_rules::is_stale;
use super::super::{
    Account, BillingChange, BillingEventOutcome, BillingInfo, Micros, StoreError, StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

const LINK_COLUMNS: &str =
    "account_id, stripe_customer_id, stripe_subscription_id, subscription_status, updated_at";

fn info_from_row(row: &Row<'_>) -> rusqlite::Result<BillingInfo> {
    Ok(BillingInfo {
        account_id: row.get("account_id")?,
        stripe_customer_id: row.get("stripe_customer_id")?,
        stripe_subscription_id: row.get("stripe_subscription_id")?,
        subscription_status: row.get("subscription_status")?,
        updated_at: row.get("updated_at")?,
    })
}

pub(crate) fn billing_info(
    conn: &Connection,
    account_id: &str,
) -> StoreResult<Option<BillingInfo>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE account_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(params![account_id], info_from_row)
        .optional()?)
}

pub(crate) fn list_billing_info(conn: &Connection) -> StoreResult<Vec<BillingInfo>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links ORDER BY account_id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], info_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn account_exists(conn: &Connection, account_id: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
        .query_row(params![account_id], |_| Ok(()))
        .optional()?
        .is_some())
}

fn account_id_by_customer(conn: &Connection, customer_id: &str) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT account_id FROM billing_links WHERE stripe_customer_id = ?1")?
        .query_row(params![customer_id], |r| r.get(0))
        .optional()?)
}

/// Keeps an already remembered customer; returns the one remembered now.
pub(crate) fn link_customer(
    conn: &Connection,
    account_id: &str,
    customer_id: &str,
    now: Micros,
) -> StoreResult<String> {
    if !account_exists(conn, account_id)? {
        return Err(StoreError::NotFound);
    }
    conn.prepare_cached(
        "INSERT INTO billing_links (account_id, stripe_customer_id, updated_at) \
         VALUES (?1, ?2, ?3) \
         ON CONFLICT(account_id) DO UPDATE SET \
           stripe_customer_id = COALESCE(stripe_customer_id, excluded.stripe_customer_id), \
           updated_at = excluded.updated_at",
    )?
    .execute(params![account_id, customer_id, now])?;
    Ok(conn
        .prepare_cached("SELECT stripe_customer_id FROM billing_links WHERE account_id = ?1")?
        .query_row(params![account_id], |r| r.get(0))?)
}

pub(crate) fn find_account_by_customer(
    conn: &Connection,
    customer_id: &str,
) -> StoreResult<Option<Account>> {
    Ok(conn
        .prepare_cached(
            "SELECT a.id, a.name, a.tier, a.created_at FROM billing_links b \
             JOIN accounts a ON a.id = b.account_id WHERE b.stripe_customer_id = ?1",
        )?
        .query_row(params![customer_id], |row| {
            Ok(Account {
                id: row.get("id")?,
                name: row.get("name")?,
                tier: row.get("tier")?,
                created_at: row.get("created_at")?,
            })
        })
        .optional()?)
}

/// The account an event is about: the named one if it exists, else the
/// owner of the event's customer.
fn resolve_account(
    conn: &Connection,
    account_id: Option<&str>,
    customer_id: Option<&str>,
) -> StoreResult<Option<String>> {
    if let Some(id) = account_id {
        if account_exists(conn, id)? {
            return Ok(Some(id.to_owned()));
        }
    }
    match customer_id {
        Some(customer) => account_id_by_customer(conn, customer),
        None => Ok(None),
    }
}

/// Records the event id (refusing a replay) and applies the change, in the
/// caller's transaction.
pub(crate) fn apply_event(
    conn: &Connection,
    event_id: &str,
    event_type: &str,
    account_id: Option<&str>,
    change: &BillingChange,
    now: Micros,
) -> StoreResult<BillingEventOutcome> {
    let recorded = conn
        .prepare_cached(
            "INSERT INTO stripe_events (id, type, account_id, outcome, received_at) \
             VALUES (?1, ?2, NULL, 'pending', ?3) ON CONFLICT(id) DO NOTHING",
        )?
        .execute(params![event_id, event_type, now])?;
    if recorded == 0 {
        return Ok(BillingEventOutcome::Replayed);
    }
    let customer = change.customer_id.as_deref();
    let outcome = match resolve_account(conn, account_id, customer)? {
        None => BillingEventOutcome::NoAccount,
        Some(account) => apply_to_account(conn, &account, change, now)?,
    };
    let (account, label) = match &outcome {
        BillingEventOutcome::Applied { account_id } => (Some(account_id.as_str()), "applied"),
        BillingEventOutcome::Stale { account_id } => (Some(account_id.as_str()), "stale"),
        BillingEventOutcome::NoAccount => (None, "no_account"),
        BillingEventOutcome::Replayed => (None, "replayed"),
    };
    conn.prepare_cached("UPDATE stripe_events SET account_id = ?2, outcome = ?3 WHERE id = ?1")?
        .execute(params![event_id, account, label])?;
    Ok(outcome)
}

fn apply_to_account(
    conn: &Connection,
    account_id: &str,
    change: &BillingChange,
    now: Micros,
) -> StoreResult<BillingEventOutcome> {
    type Link = (Option<i64>, Option<String>, Option<String>);
    let current: Option<Link> = conn
        .prepare_cached(
            "SELECT last_event_created, stripe_subscription_id, subscription_status \
             FROM billing_links WHERE account_id = ?1",
        )?
        .query_row(params![account_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .optional()?;
    let (newest, subscription, status) = current.unwrap_or((None, None, None));
    if is_stale(newest, subscription.as_deref(), status.as_deref(), change) {
        return Ok(BillingEventOutcome::Stale {
            account_id: account_id.to_owned(),
        });
    }
    // A customer already remembered for another account stays with it.
    let customer = match change.customer_id.as_deref() {
        Some(c) => match account_id_by_customer(conn, c)? {
            Some(owner) if owner != account_id => {
                tracing::warn!(
                    customer = c,
                    owner,
                    account_id,
                    "stripe customer belongs to another account; not relinked"
                );
                None
            }
            _ => Some(c),
        },
        None => None,
    };
    conn.prepare_cached(
        "INSERT INTO billing_links (account_id, stripe_customer_id, stripe_subscription_id, \
           subscription_status, last_event_created, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT(account_id) DO UPDATE SET \
           stripe_customer_id = COALESCE(excluded.stripe_customer_id, stripe_customer_id), \
           stripe_subscription_id = COALESCE(excluded.stripe_subscription_id, stripe_subscription_id), \
           subscription_status = COALESCE(excluded.subscription_status, subscription_status), \
           last_event_created = MAX(COALESCE(last_event_created, excluded.last_event_created), \
             excluded.last_event_created), \
           updated_at = excluded.updated_at",
    )?
    .execute(params![
        account_id,
        customer,
        change.subscription_id,
        change.subscription_status,
        change.event_created,
        now
    ])?;
    if let Some(tier) = &change.tier {
        conn.prepare_cached("UPDATE accounts SET tier = ?2 WHERE id = ?1")?
            .execute(params![account_id, tier])?;
    }
    Ok(BillingEventOutcome::Applied {
        account_id: account_id.to_owned(),
    })
}

//! SQL for billing (Stripe): per-account billing links and the ledger of
//! processed webhook events. The rules of what an event may change are the
//! backends' shared [`is_stale`].

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::super::billing_rules::is_stale;
use super::super::{
    Account, BillingChange, BillingEventOutcome, BillingInfo, Micros, StoreError, StoreResult,
};

const LINK_COLUMNS: &str =
    "account_id, stripe_customer_id, stripe_subscription_id, subscription_status, updated_at";

fn info_from(row: &Row) -> BillingInfo {
    BillingInfo {
        account_id: row.get(0),
        stripe_customer_id: row.get(1),
        stripe_subscription_id: row.get(2),
        subscription_status: row.get(3),
        updated_at: row.get(4),
    }
}

pub(crate) async fn billing_info(
    c: &impl GenericClient,
    account_id: &str,
) -> StoreResult<Option<BillingInfo>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links WHERE account_id = $1");
    let stmt = c.prepare_cached(&sql).await?;
    Ok(c.query_opt(&stmt, &[&account_id])
        .await?
        .map(|r| info_from(&r)))
}

pub(crate) async fn list_billing_info(c: &impl GenericClient) -> StoreResult<Vec<BillingInfo>> {
    let sql = format!("SELECT {LINK_COLUMNS} FROM billing_links ORDER BY account_id");
    let stmt = c.prepare_cached(&sql).await?;
    Ok(c.query(&stmt, &[]).await?.iter().map(info_from).collect())
}

async fn account_exists(c: &impl GenericClient, account_id: &str) -> StoreResult<bool> {
    let stmt = c
        .prepare_cached("SELECT 1 FROM accounts WHERE id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&account_id]).await?.is_some())
}

async fn account_id_by_customer(
    c: &impl GenericClient,
    customer_id: &str,
) -> StoreResult<Option<String>> {
    let stmt = c
        .prepare_cached("SELECT account_id FROM billing_links WHERE stripe_customer_id = $1")
        .await?;
    Ok(c.query_opt(&stmt, &[&customer_id]).await?.map(|r| r.get(0)))
}

/// Keeps an already remembered customer; returns the one remembered now.
pub(crate) async fn link_customer(
    c: &impl GenericClient,
    account_id: &str,
    customer_id: &str,
    now: Micros,
) -> StoreResult<String> {
    if !account_exists(c, account_id).await? {
        return Err(StoreError::NotFound);
    }
    let stmt = c
        .prepare_cached(
            "INSERT INTO billing_links (account_id, stripe_customer_id, updated_at) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (account_id) DO UPDATE SET \
               stripe_customer_id = COALESCE(billing_links.stripe_customer_id, \
                                             excluded.stripe_customer_id), \
               updated_at = excluded.updated_at \
             RETURNING stripe_customer_id",
        )
        .await?;
    Ok(c.query_one(&stmt, &[&account_id, &customer_id, &now])
        .await?
        .get(0))
}

pub(crate) async fn find_account_by_customer(
    c: &impl GenericClient,
    customer_id: &str,
) -> StoreResult<Option<Account>> {
    let stmt = c
        .prepare_cached(
            "SELECT a.id, a.name, a.tier, a.created_at FROM billing_links b \
             JOIN accounts a ON a.id = b.account_id WHERE b.stripe_customer_id = $1",
        )
        .await?;
    Ok(c.query_opt(&stmt, &[&customer_id])
        .await?
        .map(|row| Account {
            id: row.get(0),
            name: row.get(1),
            tier: row.get(2),
            created_at: row.get(3),
        }))
}

/// Records the event id (refusing a replay) and applies the change, in the
/// caller's transaction.
pub(crate) async fn apply_event(
    c: &impl GenericClient,
    event_id: &str,
    event_type: &str,
    account_id: Option<&str>,
    change: &BillingChange,
    now: Micros,
) -> StoreResult<BillingEventOutcome> {
    let stmt = c
        .prepare_cached(
            "INSERT INTO stripe_events (id, type, account_id, outcome, received_at) \
             VALUES ($1, $2, NULL, 'pending', $3) ON CONFLICT (id) DO NOTHING",
        )
        .await?;
    if c.execute(&stmt, &[&event_id, &event_type, &now]).await? == 0 {
        return Ok(BillingEventOutcome::Replayed);
    }
    let account = match account_id {
        Some(id) if account_exists(c, id).await? => Some(id.to_owned()),
        _ => match change.customer_id.as_deref() {
            Some(customer) => account_id_by_customer(c, customer).await?,
            None => None,
        },
    };
    let outcome = match account {
        None => BillingEventOutcome::NoAccount,
        Some(account) => apply_to_account(c, &account, change, now).await?,
    };
    let (account, label) = match &outcome {
        BillingEventOutcome::Applied { account_id } => (Some(account_id.as_str()), "applied"),
        BillingEventOutcome::Stale { account_id } => (Some(account_id.as_str()), "stale"),
        BillingEventOutcome::NoAccount => (None, "no_account"),
        BillingEventOutcome::Replayed => (None, "replayed"),
    };
    let stmt = c
        .prepare_cached("UPDATE stripe_events SET account_id = $2, outcome = $3 WHERE id = $1")
        .await?;
    c.execute(&stmt, &[&event_id, &account, &label]).await?;
    Ok(outcome)
}

async fn apply_to_account(
    c: &impl GenericClient,
    account_id: &str,
    change: &BillingChange,
    now: Micros,
) -> StoreResult<BillingEventOutcome> {
    // The link row is locked: concurrent events of one account apply in turn.
    let stmt = c
        .prepare_cached(
            "SELECT last_event_created, stripe_subscription_id, subscription_status \
             FROM billing_links WHERE account_id = $1 FOR UPDATE",
        )
        .await?;
    let current = c.query_opt(&stmt, &[&account_id]).await?;
    let (newest, subscription, status): (Option<i64>, Option<String>, Option<String>) =
        match &current {
            Some(row) => (row.get(0), row.get(1), row.get(2)),
            None => (None, None, None),
        };
    if is_stale(newest, subscription.as_deref(), status.as_deref(), change) {
        return Ok(BillingEventOutcome::Stale {
            account_id: account_id.to_owned(),
        });
    }
    // A customer already remembered for another account stays with it.
    let customer = match change.customer_id.as_deref() {
        Some(customer) => match account_id_by_customer(c, customer).await? {
            Some(owner) if owner != account_id => {
                tracing::warn!(
                    customer,
                    owner,
                    account_id,
                    "stripe customer belongs to another account; not relinked"
                );
                None
            }
            _ => Some(customer),
        },
        None => None,
    };
    let stmt = c
        .prepare_cached(
            "INSERT INTO billing_links (account_id, stripe_customer_id, stripe_subscription_id, \
               subscription_status, last_event_created, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (account_id) DO UPDATE SET \
               stripe_customer_id = COALESCE(excluded.stripe_customer_id, \
                                             billing_links.stripe_customer_id), \
               stripe_subscription_id = COALESCE(excluded.stripe_subscription_id, \
                                                 billing_links.stripe_subscription_id), \
               subscription_status = COALESCE(excluded.subscription_status, \
                                              billing_links.subscription_status), \
               last_event_created = GREATEST(billing_links.last_event_created, \
                                             excluded.last_event_created), \
               updated_at = excluded.updated_at",
        )
        .await?;
    c.execute(
        &stmt,
        &[
            &account_id,
            &customer,
            &change.subscription_id,
            &change.subscription_status,
            &change.event_created,
            &now,
        ],
    )
    .await?;
    if let Some(tier) = &change.tier {
        let stmt = c
            .prepare_cached("UPDATE accounts SET tier = $2 WHERE id = $1")
            .await?;
        c.execute(&stmt, &[&account_id, tier]).await?;
    }
    Ok(BillingEventOutcome::Applied {
        account_id: account_id.to_owned(),
    })
}

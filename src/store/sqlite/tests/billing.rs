//! Billing links and the idempotent webhook-event ledger.

use super::{account, file_store};
use crate::store::{BillingChange, BillingEventOutcome, Store, StoreError};

fn change(customer: &str, subscription: &str, tier: Option<&str>, created: i64) -> BillingChange {
    BillingChange {
        customer_id: Some(customer.to_string()),
        subscription_id: Some(subscription.to_string()),
        subscription_status: Some("active".to_string()),
        tier: tier.map(str::to_string),
        switches_subscription: tier.is_some_and(|t| t != "free"),
        event_created: created,
        verified: false,
    }
}

/// A change as fetched from Stripe: `status` decides the tier.
fn fetched(subscription: &str, status: &str, tier: &str, created: i64) -> BillingChange {
    let live = matches!(status, "active" | "trialing");
    BillingChange {
        customer_id: Some("cus_1".to_string()),
        subscription_id: Some(subscription.to_string()),
        subscription_status: Some(status.to_string()),
        tier: Some(tier.to_string()),
        switches_subscription: live,
        event_created: created,
        verified: true,
    }
}

fn stale(id: &str) -> BillingEventOutcome {
    BillingEventOutcome::Stale {
        account_id: id.to_string(),
    }
}

async fn tier_and_status(store: &dyn Store, id: &str) -> (String, Option<String>) {
    let tier = store.get_account(id).await.unwrap().unwrap().tier;
    let status = store
        .billing_info(id)
        .await
        .unwrap()
        .unwrap()
        .subscription_status;
    (tier, status)
}

fn applied(id: &str) -> BillingEventOutcome {
    BillingEventOutcome::Applied {
        account_id: id.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn customer_links_are_kept_and_found() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    assert_eq!(store.billing_info("a").await.unwrap(), None);
    assert_eq!(
        store.link_stripe_customer("a", "cus_1").await.unwrap(),
        "cus_1"
    );
    // A second link keeps the first customer.
    assert_eq!(
        store.link_stripe_customer("a", "cus_2").await.unwrap(),
        "cus_1"
    );
    let found = store
        .find_account_by_stripe_customer("cus_1")
        .await
        .unwrap();
    assert_eq!(found.map(|a| a.id), Some("a".to_string()));
    assert_eq!(
        store
            .find_account_by_stripe_customer("cus_2")
            .await
            .unwrap(),
        None
    );
    assert!(matches!(
        store.link_stripe_customer("nobody", "cus_3").await,
        Err(StoreError::NotFound)
    ));
    let all = store.list_billing_info().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].stripe_customer_id.as_deref(), Some("cus_1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_apply_once_in_order_and_to_the_current_subscription() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let up = change("cus_1", "sub_1", Some("pro"), 100);
    let outcome = store
        .apply_billing_event("evt_1", "checkout.session.completed", Some("a"), &up)
        .await
        .unwrap();
    assert_eq!(outcome, applied("a"));
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "pro");

    // The same id again: nothing happens, even with another change.
    let down = change("cus_1", "sub_1", Some("free"), 200);
    let replay = store
        .apply_billing_event("evt_1", "checkout.session.completed", Some("a"), &down)
        .await
        .unwrap();
    assert_eq!(replay, BillingEventOutcome::Replayed);
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "pro");

    // Older than what was applied: recorded, not applied.
    let old = change("cus_1", "sub_1", Some("free"), 50);
    let stale = store
        .apply_billing_event("evt_old", "customer.subscription.deleted", None, &old)
        .await
        .unwrap();
    assert_eq!(
        stale,
        BillingEventOutcome::Stale {
            account_id: "a".into()
        }
    );

    // Cancelling a subscription the account moved away from changes nothing.
    let other = change("cus_1", "sub_old", Some("free"), 300);
    let outcome = store
        .apply_billing_event("evt_other", "customer.subscription.deleted", None, &other)
        .await
        .unwrap();
    assert_eq!(
        outcome,
        BillingEventOutcome::Stale {
            account_id: "a".into()
        }
    );
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "pro");

    // The current one, found through the customer: back to free.
    let outcome = store
        .apply_billing_event("evt_2", "customer.subscription.deleted", None, &down)
        .await
        .unwrap();
    assert_eq!(outcome, applied("a"));
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "free");
    let info = store.billing_info("a").await.unwrap().unwrap();
    assert_eq!(info.stripe_subscription_id.as_deref(), Some("sub_1"));

    // Unknown account and customer: recorded as such, once.
    let lost = change("cus_x", "sub_x", Some("pro"), 400);
    for expected in [
        BillingEventOutcome::NoAccount,
        BillingEventOutcome::Replayed,
    ] {
        let outcome = store
            .apply_billing_event("evt_lost", "checkout.session.completed", Some("zz"), &lost)
            .await
            .unwrap();
        assert_eq!(outcome, expected);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_customer_stays_with_its_account() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    store.create_account(&account("b")).await.unwrap();
    store.link_stripe_customer("a", "cus_a").await.unwrap();
    // An event naming account b with a's customer upgrades b, but does not
    // steal the customer.
    let outcome = store
        .apply_billing_event(
            "evt_1",
            "checkout.session.completed",
            Some("b"),
            &change("cus_a", "sub_b", Some("indie"), 1),
        )
        .await
        .unwrap();
    assert_eq!(outcome, applied("b"));
    let b = store.billing_info("b").await.unwrap().unwrap();
    assert_eq!(b.stripe_customer_id, None);
    let owner = store
        .find_account_by_stripe_customer("cus_a")
        .await
        .unwrap();
    assert_eq!(owner.map(|a| a.id), Some("a".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ended_subscription_comes_back_only_if_stripe_shows_it_live() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let apply = |id: &'static str, change: BillingChange| {
        let store = &store;
        async move {
            store
                .apply_billing_event(id, "customer.subscription.updated", Some("a"), &change)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        apply("e1", fetched("sub_1", "active", "pro", 100)).await,
        applied("a")
    );
    assert_eq!(
        apply("e2", fetched("sub_1", "canceled", "free", 100)).await,
        applied("a")
    );
    // Same second, unverified, claiming it is active: stale.
    let mut late = change("cus_1", "sub_1", Some("pro"), 100);
    late.subscription_status = Some("active".into());
    assert_eq!(apply("e3", late).await, stale("a"));
    // A later unverified past_due (a failed invoice) does not reopen it either.
    let mut failed = change("cus_1", "sub_1", None, 200);
    failed.subscription_status = Some("past_due".into());
    assert_eq!(apply("e4", failed).await, stale("a"));
    // Fetched and still canceled: nothing left to change.
    assert_eq!(
        apply("e5", fetched("sub_1", "canceled", "free", 100)).await,
        stale("a")
    );
    // Verified but not live (past_due) cannot reopen it.
    assert_eq!(
        apply("e6", fetched("sub_1", "past_due", "pro", 300)).await,
        stale("a")
    );
    assert_eq!(
        tier_and_status(&store, "a").await,
        ("free".to_string(), Some("canceled".to_string()))
    );
    // Only Stripe showing it active again does.
    assert_eq!(
        apply("e7", fetched("sub_1", "active", "indie", 50)).await,
        applied("a")
    );
    assert_eq!(
        tier_and_status(&store, "a").await,
        ("indie".to_string(), Some("active".to_string()))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn fetched_changes_apply_whatever_the_events_created() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let apply = |id: &'static str, change: BillingChange| {
        let store = &store;
        async move {
            store
                .apply_billing_event(id, "customer.subscription.updated", Some("a"), &change)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        apply("e1", fetched("sub_1", "active", "pro", 200)).await,
        applied("a")
    );
    // An older event, but the subscription as fetched now: applied.
    assert_eq!(
        apply("e2", fetched("sub_1", "active", "indie", 100)).await,
        applied("a")
    );
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "indie");
    // The newest applied time did not go back: an unverified change older
    // than 200 is still stale.
    let mut failed = change("cus_1", "sub_1", None, 150);
    failed.subscription_status = Some("past_due".into());
    assert_eq!(apply("e3", failed).await, stale("a"));
    // Ordering still guards moves onto another subscription.
    assert_eq!(
        apply("e4", fetched("sub_2", "active", "pro", 150)).await,
        stale("a")
    );
    assert_eq!(
        store
            .billing_info("a")
            .await
            .unwrap()
            .unwrap()
            .stripe_subscription_id
            .as_deref(),
        Some("sub_1")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ended_subscription_does_not_hold_the_account() {
    let (store, _path, _dir) = file_store();
    store.create_account(&account("a")).await.unwrap();
    let apply = |id: &'static str, change: BillingChange| {
        let store = &store;
        async move {
            store
                .apply_billing_event(id, "checkout.session.completed", Some("a"), &change)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        apply("e1", fetched("sub_1", "active", "pro", 100)).await,
        applied("a")
    );
    // A new subscription that may not switch (an unpaid checkout) is not
    // recorded while the current one is live...
    let mut unpaid = fetched("sub_2", "incomplete", "free", 110);
    unpaid.tier = None;
    assert_eq!(apply("e2", unpaid.clone()).await, stale("a"));
    // ...but is once the current one has ended.
    assert_eq!(
        apply("e3", fetched("sub_1", "canceled", "free", 120)).await,
        applied("a")
    );
    unpaid.event_created = 130;
    assert_eq!(apply("e4", unpaid).await, applied("a"));
    let info = store.billing_info("a").await.unwrap().unwrap();
    assert_eq!(info.stripe_subscription_id.as_deref(), Some("sub_2"));
    assert_eq!(info.subscription_status.as_deref(), Some("incomplete"));
    assert_eq!(store.get_account("a").await.unwrap().unwrap().tier, "free");
}

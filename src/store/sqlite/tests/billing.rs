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
    }
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

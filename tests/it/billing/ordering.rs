//! Stale and out-of-order webhooks: the tier follows the subscription as
//! Stripe has it (fetched from the fake Stripe), its status and current
//! price, never the event's payload or `metadata.plan`.

use super::{
    admin_account, billing_server, completed_checkout, deliver, event, now, post_webhook, sign,
    subscription, SECRET_KEY, WEBHOOK_SECRET,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The subscription object of `account`, as checkout creates it (metadata
/// `account_id` and the plan bought), at `price`.
fn bought(account: &str, status: &str, plan: &str, price: &str) -> Value {
    subscription(
        "sub_1",
        "cus_1",
        status,
        json!({"account_id": account, "plan": plan}),
        price,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_switch_from_pro_to_indie_gives_indie() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t = now();
    let pro = bought(&account, "active", "pro", "price_pro_test");
    fake.put_subscription(&pro);
    let checkout = event(
        "evt_checkout",
        "checkout.session.completed",
        t,
        completed_checkout(&account, "pro", "cus_1", "sub_1"),
    );
    assert_eq!(deliver(&server, &checkout).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "pro");

    // The portal swaps the item's price; metadata.plan still says pro, and
    // the event has the same `created` second as the checkout.
    let indie = bought(&account, "active", "pro", "price_indie_test");
    fake.put_subscription(&indie);
    let switched = event("evt_switch", "customer.subscription.updated", t, indie);
    assert_eq!(deliver(&server, &switched).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "indie");
    assert_eq!(listed["subscription_status"], "active");
    // Both events were checked against Stripe, with the secret key.
    let fetches = fake.requests_to("/v1/subscriptions/sub_1");
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    for fetch in fetches {
        assert_eq!(
            fetch.authorization.as_deref(),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_arriving_after_the_deletion_in_the_same_second_stays_free() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t = now();
    fake.put_subscription(&bought(&account, "active", "pro", "price_pro_test"));
    let checkout = event(
        "evt_checkout",
        "checkout.session.completed",
        t - 60,
        completed_checkout(&account, "pro", "cus_1", "sub_1"),
    );
    assert_eq!(deliver(&server, &checkout).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "pro");

    // Cancelled: Stripe sends `updated` (still active, e.g. a change just
    // before) and `deleted` within one second; `deleted` arrives first.
    let canceled = bought(&account, "canceled", "pro", "price_pro_test");
    fake.put_subscription(&canceled);
    let deleted = event("evt_deleted", "customer.subscription.deleted", t, canceled);
    assert_eq!(deliver(&server, &deleted).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "free");
    let updated = event(
        "evt_updated",
        "customer.subscription.updated",
        t,
        bought(&account, "active", "pro", "price_pro_test"),
    );
    assert_eq!(deliver(&server, &updated).await, "stale");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    assert_eq!(listed["subscription_status"], "canceled");
    assert_eq!(fake.fetches_of("sub_1"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_grants_the_tier_only_once_paid() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t = now();
    // A delayed payment method: the session completes unpaid.
    fake.put_subscription(&bought(&account, "incomplete", "pro", "price_pro_test"));
    let mut session = completed_checkout(&account, "pro", "cus_1", "sub_1");
    session["payment_status"] = json!("unpaid");
    let unpaid = event(
        "evt_unpaid",
        "checkout.session.completed",
        t,
        session.clone(),
    );
    assert_eq!(deliver(&server, &unpaid).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    // The link is recorded: the customer, and the subscription's status.
    assert_eq!(listed["stripe_customer_id"], "cus_1");
    assert_eq!(listed["subscription_status"], "incomplete");

    // The payment goes through.
    fake.put_subscription(&bought(&account, "active", "pro", "price_pro_test"));
    session["payment_status"] = json!("paid");
    let succeeded = event(
        "evt_async_paid",
        "checkout.session.async_payment_succeeded",
        t + 1,
        session,
    );
    assert_eq!(deliver(&server, &succeeded).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "pro");
    assert_eq!(listed["subscription_status"], "active");

    // A checkout paid at once grants the tier at once.
    let (other, _) = server.account("free").await;
    fake.put_subscription(&subscription(
        "sub_2",
        "cus_2",
        "active",
        json!({"account_id": other, "plan": "indie"}),
        "price_indie_test",
    ));
    let paid = event(
        "evt_paid",
        "checkout.session.completed",
        t,
        completed_checkout(&other, "indie", "cus_2", "sub_2"),
    );
    assert_eq!(deliver(&server, &paid).await, "applied");
    let listed = admin_account(&server, &other).await;
    assert_eq!(listed["tier"], "indie");
    assert_eq!(listed["stripe_customer_id"], "cus_2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_subscription_events_converge_to_the_fetched_subscription() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t0 = now() - 100;
    // Stripe's history of sub_1: created indie (t0), upgraded to pro
    // (t0 + 10), a renewal failing (t0 + 20), paid on retry (t0 + 30).
    let history = [
        (
            "evt_created",
            "customer.subscription.created",
            0,
            "active",
            "price_indie_test",
        ),
        (
            "evt_upgraded",
            "customer.subscription.updated",
            10,
            "active",
            "price_pro_test",
        ),
        (
            "evt_past_due",
            "customer.subscription.updated",
            20,
            "past_due",
            "price_pro_test",
        ),
        (
            "evt_recovered",
            "customer.subscription.updated",
            30,
            "active",
            "price_pro_test",
        ),
    ]
    .map(|(id, kind, at, status, price)| {
        event(id, kind, t0 + at, bought(&account, status, "indie", price))
    });
    // Stripe has it active at the pro price now.
    fake.put_subscription(&bought(&account, "active", "indie", "price_pro_test"));

    // Delivered in a scrambled order, whatever their `created`, each event
    // applies what Stripe says now: the account is pro and active after
    // every one of them.
    for n in [3, 0, 2, 1] {
        assert_eq!(deliver(&server, &history[n]).await, "applied", "event {n}");
        let listed = admin_account(&server, &account).await;
        assert_eq!(listed["tier"], "pro", "after event {n}");
        assert_eq!(listed["subscription_status"], "active", "after event {n}");
    }
    assert_eq!(fake.fetches_of("sub_1"), 4);
    // A replay changes nothing.
    assert_eq!(deliver(&server, &history[1]).await, "replayed");

    // The next renewal fails: past_due keeps the tier.
    fake.put_subscription(&bought(&account, "past_due", "indie", "price_pro_test"));
    let failing = event(
        "evt_past_due_2",
        "customer.subscription.updated",
        t0 + 40,
        bought(&account, "past_due", "indie", "price_pro_test"),
    );
    assert_eq!(deliver(&server, &failing).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "pro");
    assert_eq!(listed["subscription_status"], "past_due");
    // Stripe gives up and marks it unpaid; a late copy of an old `active`
    // event then converges to that as well: free.
    fake.put_subscription(&bought(&account, "unpaid", "indie", "price_pro_test"));
    let late = event(
        "evt_late_active",
        "customer.subscription.updated",
        t0 + 30,
        bought(&account, "active", "indie", "price_pro_test"),
    );
    assert_eq!(deliver(&server, &late).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    assert_eq!(listed["subscription_status"], "unpaid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_answers_5xx_and_the_retry_is_applied() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let body = event(
        "evt_retry",
        "customer.subscription.created",
        now(),
        bought(&account, "active", "pro", "price_pro_test"),
    );
    let signed = |body: &[u8]| {
        let t = now();
        format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, body))
    };
    // Stripe fails: 5xx, nothing recorded, the tier untouched.
    fake.fail(true);
    let answer = post_webhook(&server, &body, Some(&signed(&body))).await;
    assert!(answer.status.is_server_error(), "{}", answer.text);
    assert_eq!(admin_account(&server, &account).await["tier"], "free");
    // An unknown subscription (404 from Stripe) is a failure too.
    fake.fail(false);
    let answer = post_webhook(&server, &body, Some(&signed(&body))).await;
    assert!(answer.status.is_server_error(), "{}", answer.text);
    // Stripe's retry, once Stripe answers: applied, not `replayed`.
    fake.put_subscription(&bought(&account, "active", "pro", "price_pro_test"));
    assert_eq!(deliver(&server, &body).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "pro");
    assert_eq!(fake.fetches_of("sub_1"), 3);

    // An event no account matches is recorded without asking Stripe.
    let nobody = event(
        "evt_nobody",
        "customer.subscription.updated",
        now(),
        subscription(
            "sub_other",
            "cus_other",
            "active",
            json!({}),
            "price_pro_test",
        ),
    );
    assert_eq!(deliver(&server, &nobody).await, "no_account");
    assert_eq!(fake.fetches_of("sub_other"), 0);
    let answer = post_webhook(&server, &nobody, Some(&signed(&nobody))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["outcome"], "replayed");
}

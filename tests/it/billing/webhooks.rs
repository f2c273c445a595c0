//! Webhooks: signature verification, tier changes, idempotency, ordering.

use super::{
    admin_account, billing_server, completed_checkout, deliver, event, now, post_webhook, sign,
    subscription, WEBHOOK_SECRET,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_signatures_are_verified_on_the_raw_body() {
    let (server, _fake) = billing_server().await;
    let body = event(
        "evt_sig_1",
        "charge.succeeded",
        now(),
        json!({"id": "ch_1"}),
    );
    let t = now();
    let good = sign(WEBHOOK_SECRET, t, &body);

    // Accepted: one v1, and a matching v1 after a non-matching one (no bearer key sent).
    let answer = post_webhook(&server, &body, Some(&format!("t={t},v1={good}"))).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["outcome"], "ignored");
    let other = sign("whsec_rolled_old", t, &body);
    let two = format!("t={t},v1={other},v1={good}");
    let answer = post_webhook(&server, &body, Some(&two)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);

    // Refused, each with the JSON error shape.
    let old = t - 3600;
    let mut changed = body.clone();
    let last = changed.len() - 2;
    changed[last] ^= 0x01;
    let refusals: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing header", body.clone(), None),
        ("garbage header", body.clone(), Some("garbage".into())),
        ("empty header", body.clone(), Some(String::new())),
        (
            "wrong secret",
            body.clone(),
            Some(format!("t={t},v1={}", sign("whsec_wrong", t, &body))),
        ),
        (
            "1 hour old",
            body.clone(),
            Some(format!("t={old},v1={}", sign(WEBHOOK_SECRET, old, &body))),
        ),
        (
            "10 minutes ahead",
            body.clone(),
            Some(format!(
                "t={},v1={}",
                t + 600,
                sign(WEBHOOK_SECRET, t + 600, &body)
            )),
        ),
        (
            "body changed by one byte",
            changed,
            Some(format!("t={t},v1={good}")),
        ),
        ("only v0", body.clone(), Some(format!("t={t},v0={good}"))),
    ];
    for (case, payload, signature) in refusals {
        let answer = post_webhook(&server, &payload, signature.as_deref()).await;
        assert_eq!(answer.status.as_u16(), 400, "{case}: {}", answer.text);
        answer.assert_error(400, "webhook_verification_failed");
    }

    // Signed but not an event envelope.
    let not_event = br#"{"hello":"world"}"#;
    let answer = post_webhook(
        &server,
        not_event,
        Some(&format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, not_event))),
    )
    .await;
    answer.assert_error(422, "invalid_request");
    // The webhook is POST-only.
    let get = server
        .send(Method::GET, "/v1/billing/webhook", None, None, &[])
        .await;
    get.assert_error(405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_checkout_upgrades_deletion_downgrades_and_replays_change_nothing() {
    let (server, fake) = billing_server().await;
    let (account, key) = server.account("free").await;
    let before = server.get("/v1/instances", &key).await;
    assert_eq!(before.header("x-ratelimit-limit").as_deref(), Some("10"));

    let t0 = now() - 10;
    // What Stripe answers when billing fetches the subscription.
    let metadata = json!({"account_id": account, "plan": "pro"});
    fake.put_subscription(&subscription(
        "sub_hook_1",
        "cus_hook_1",
        "active",
        metadata.clone(),
        "price_pro_test",
    ));
    let completed = event(
        "evt_completed_1",
        "checkout.session.completed",
        t0,
        completed_checkout(&account, "pro", "cus_hook_1", "sub_hook_1"),
    );
    assert_eq!(deliver(&server, &completed).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "pro");
    assert_eq!(listed["stripe_customer_id"], "cus_hook_1");
    assert_eq!(listed["subscription_status"], "active");
    // The next request runs with the pro limits.
    let after = server.get("/v1/instances", &key).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
    assert_eq!(after.header("x-ratelimit-limit").as_deref(), Some("300"));

    // Deleted subscription, found by the remembered customer only.
    fake.put_subscription(&subscription(
        "sub_hook_1",
        "cus_hook_1",
        "canceled",
        metadata,
        "price_pro_test",
    ));
    let deleted = event(
        "evt_deleted_1",
        "customer.subscription.deleted",
        t0 + 5,
        subscription(
            "sub_hook_1",
            "cus_hook_1",
            "canceled",
            json!({}),
            "price_pro_test",
        ),
    );
    assert_eq!(deliver(&server, &deleted).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    assert_eq!(listed["subscription_status"], "canceled");
    let after = server.get("/v1/instances", &key).await;
    assert_eq!(after.header("x-ratelimit-limit").as_deref(), Some("10"));

    // Replaying the completed checkout changes nothing.
    assert_eq!(deliver(&server, &completed).await, "replayed");
    assert_eq!(deliver(&server, &deleted).await, "replayed");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    assert_eq!(listed["subscription_status"], "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscription_updates_failed_payments_and_out_of_order_events() {
    let (server, fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t0 = now() - 100;

    // Active subscription, plan from the price (metadata names only the account).
    let stripe_has = |status: &str, price: &str| {
        fake.put_subscription(&subscription(
            "sub_a",
            "cus_a",
            status,
            json!({"account_id": account}),
            price,
        ))
    };
    stripe_has("active", "price_indie_test");
    let created = event(
        "evt_sub_created",
        "customer.subscription.created",
        t0,
        subscription(
            "sub_a",
            "cus_a",
            "active",
            json!({"account_id": account}),
            "price_indie_test",
        ),
    );
    assert_eq!(deliver(&server, &created).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "indie");

    // A failed payment marks it past_due, tier unchanged (found by customer).
    stripe_has("past_due", "price_indie_test");
    let failed = event(
        "evt_invoice_failed",
        "invoice.payment_failed",
        t0 + 10,
        json!({"id": "in_1", "object": "invoice", "customer": "cus_a", "subscription": "sub_a"}),
    );
    assert_eq!(deliver(&server, &failed).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "indie");
    assert_eq!(listed["subscription_status"], "past_due");

    // An older event arriving late does not undo newer state: it applies
    // the subscription as Stripe has it now.
    let stale = event(
        "evt_sub_stale",
        "customer.subscription.updated",
        t0 + 5,
        subscription(
            "sub_a",
            "cus_a",
            "active",
            json!({"plan": "pro"}),
            "price_pro_test",
        ),
    );
    assert_eq!(deliver(&server, &stale).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "indie");
    assert_eq!(listed["subscription_status"], "past_due");

    // Upgrade to pro, then the status goes unpaid: back to free.
    stripe_has("active", "price_pro_test");
    let upgraded = event(
        "evt_sub_pro",
        "customer.subscription.updated",
        t0 + 20,
        subscription(
            "sub_a",
            "cus_a",
            "active",
            json!({"account_id": account, "plan": "pro"}),
            "price_pro_test",
        ),
    );
    assert_eq!(deliver(&server, &upgraded).await, "applied");
    assert_eq!(admin_account(&server, &account).await["tier"], "pro");
    stripe_has("unpaid", "price_pro_test");
    let unpaid = event(
        "evt_sub_unpaid",
        "customer.subscription.updated",
        t0 + 30,
        subscription("sub_a", "cus_a", "unpaid", json!({}), "price_pro_test"),
    );
    assert_eq!(deliver(&server, &unpaid).await, "applied");
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["tier"], "free");
    assert_eq!(listed["subscription_status"], "unpaid");

    // Events for nobody are acknowledged (Stripe must not retry them).
    let nobody = event(
        "evt_nobody",
        "customer.subscription.deleted",
        t0,
        subscription(
            "sub_x",
            "cus_unknown",
            "canceled",
            json!({}),
            "price_pro_test",
        ),
    );
    assert_eq!(deliver(&server, &nobody).await, "no_account");
}

//! Billing (Stripe) over real HTTP: the real server binary, a local fake
//! Stripe, and webhook payloads signed for real with HMAC-SHA256.

#[path = "../common/mod.rs"]
mod common;
mod fake_stripe;

use common::{Answer, Options, TestServer, ADMIN_TOKEN};
use fake_stripe::FakeStripe;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

const SECRET_KEY: &str = "sk_test_identity_os";
const WEBHOOK_SECRET: &str = "whsec_test_identity_os";

/// A server with billing configured against a fresh fake Stripe.
async fn billing_server() -> (TestServer, FakeStripe) {
    let fake = FakeStripe::start().await;
    let mut options = Options::admin("");
    options.env = [
        ("STRIPE_SECRET_KEY", SECRET_KEY),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_PRICE_INDIE", "price_indie_test"),
        ("STRIPE_PRICE_PRO", "price_pro_test"),
        ("STRIPE_API_BASE", fake.base_url.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (TestServer::start(options), fake)
}

/// Stripe's scheme: hex HMAC-SHA256 of `"{t}.{body}"`, keyed with the
/// whole endpoint secret.
fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "api_version": "2025-01-27", "livemode": false, "data": {"object": object},
    }))
    .expect("json")
}

/// POSTs a webhook body with this `Stripe-Signature` (none if `None`).
async fn post_webhook(server: &TestServer, body: &[u8], signature: Option<&str>) -> Answer {
    let mut request = server
        .client
        .post(server.url("/v1/billing/webhook"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.expect("webhook sent");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
        text,
    }
}

/// Delivers a correctly signed event and expects 200; returns the outcome.
async fn deliver(server: &TestServer, body: &[u8]) -> String {
    let t = now();
    let answer = post_webhook(
        server,
        body,
        Some(&format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, body))),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["received"], true);
    answer.body["outcome"]
        .as_str()
        .expect("outcome")
        .to_string()
}

/// The account as the admin API lists it.
async fn admin_account(server: &TestServer, id: &str) -> Value {
    let list = server.get("/v1/admin/accounts", ADMIN_TOKEN).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["id"] == id)
        .cloned()
        .expect("account listed")
}

fn completed_checkout(account: &str, plan: &str, customer: &str, subscription: &str) -> Value {
    json!({
        "id": "cs_test_done", "object": "checkout.session", "mode": "subscription",
        "client_reference_id": account, "customer": customer, "subscription": subscription,
        "metadata": {"account_id": account, "plan": plan}, "payment_status": "paid",
    })
}

fn subscription(id: &str, customer: &str, status: &str, metadata: Value, price: &str) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": customer, "status": status,
        "metadata": metadata, "items": {"object": "list", "data": [
            {"id": "si_1", "object": "subscription_item", "price": {"id": price, "object": "price"}}
        ]},
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_sends_price_customer_and_metadata_with_the_secret_key() {
    let (server, fake) = billing_server().await;
    let (account, key) = server.account("free").await;

    let answer = server
        .post("/v1/billing/checkout", &key, json!({"plan": "pro"}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let session_id = answer.body["session_id"].as_str().expect("session_id");
    assert!(session_id.starts_with("cs_test_"), "{}", answer.text);
    assert_eq!(
        answer.body["checkout_url"],
        format!("https://checkout.stripe.test/{session_id}")
    );

    // First a customer linked to the account, then the session.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let customer = &requests[0];
    assert_eq!(customer.path, "/v1/customers");
    assert_eq!(
        customer.field("metadata[account_id]"),
        Some(account.as_str())
    );
    assert!(customer.idempotency_key.is_some());
    let session = &requests[1];
    assert_eq!(session.path, "/v1/checkout/sessions");
    for r in &requests {
        assert_eq!(
            r.authorization.as_deref(),
            Some(format!("Bearer {SECRET_KEY}").as_str())
        );
    }
    let expect = [
        ("mode", "subscription"),
        ("line_items[0][price]", "price_pro_test"),
        ("line_items[0][quantity]", "1"),
        ("customer", "cus_test_1"),
        ("client_reference_id", account.as_str()),
        ("metadata[account_id]", account.as_str()),
        ("metadata[plan]", "pro"),
        ("subscription_data[metadata][account_id]", account.as_str()),
        ("subscription_data[metadata][plan]", "pro"),
        ("success_url", "http://localhost:8000/billing/success"),
        ("cancel_url", "http://localhost:8000/billing/cancel"),
    ];
    for (field, value) in expect {
        assert_eq!(session.field(field), Some(value), "{field} in {session:?}");
    }

    // A second checkout reuses the remembered customer and passes the URLs.
    let answer = server
        .post(
            "/v1/billing/checkout",
            &key,
            json!({"plan": "indie", "success_url": "https://app.test/ok?s={CHECKOUT_SESSION_ID}",
                   "cancel_url": "https://app.test/no"}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(fake.requests_to("/v1/customers").len(), 1);
    let sessions = fake.requests_to("/v1/checkout/sessions");
    let second = sessions.last().expect("second session");
    assert_eq!(second.field("customer"), Some("cus_test_1"));
    assert_eq!(
        second.field("line_items[0][price]"),
        Some("price_indie_test")
    );
    assert_eq!(
        second.field("success_url"),
        Some("https://app.test/ok?s={CHECKOUT_SESSION_ID}")
    );
    assert_eq!(second.field("cancel_url"), Some("https://app.test/no"));

    // The customer shows in the admin API and the CLI.
    let listed = admin_account(&server, &account).await;
    assert_eq!(listed["stripe_customer_id"], "cus_test_1");
    let cli = server.cli(&["accounts", "list"]);
    let line = cli
        .lines()
        .find(|l| l.starts_with(&account))
        .expect("cli line");
    assert!(line.contains("\tcus_test_1\t"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_refuses_unknown_plans_and_bad_bodies_without_calling_stripe() {
    let (server, fake) = billing_server().await;
    let (_, key) = server.account("free").await;
    for plan in ["enterprise", "free", "unlimited", "PRO", ""] {
        let answer = server
            .post("/v1/billing/checkout", &key, json!({"plan": plan}))
            .await;
        answer.assert_error(422, "invalid_plan");
    }
    let unknown_field = server
        .post(
            "/v1/billing/checkout",
            &key,
            json!({"plan": "pro", "coupon": "x"}),
        )
        .await;
    unknown_field.assert_error(422, "invalid_request");
    let bad_url = server
        .post(
            "/v1/billing/checkout",
            &key,
            json!({"plan": "pro", "success_url": "javascript:alert(1)"}),
        )
        .await;
    bad_url.assert_error(422, "invalid_request");
    let no_key = server
        .send(
            Method::POST,
            "/v1/billing/checkout",
            None,
            Some(json!({"plan": "pro"})),
            &[],
        )
        .await;
    no_key.assert_error(401, "unauthorized");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_returns_a_url_for_the_accounts_customer() {
    let (server, fake) = billing_server().await;
    let (_, key) = server.account("free").await;
    // No customer yet: one is created first.
    let answer = server.post("/v1/billing/portal", &key, json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let url = answer.body["portal_url"].as_str().expect("portal_url");
    assert!(url.starts_with("https://billing.stripe.test/p/"), "{url}");
    let portal = fake.requests_to("/v1/billing_portal/sessions");
    assert_eq!(portal.len(), 1);
    assert_eq!(portal[0].field("customer"), Some("cus_test_1"));
    assert_eq!(
        portal[0].field("return_url"),
        Some("http://localhost:8000/billing/success")
    );
    // A bare POST works too, and reuses the customer.
    let bare = server
        .send(Method::POST, "/v1/billing/portal", Some(&key), None, &[])
        .await;
    assert_eq!(bare.status, StatusCode::OK, "{}", bare.text);
    assert_eq!(fake.requests_to("/v1/customers").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_errors_answer_a_generic_internal_error() {
    let (server, fake) = billing_server().await;
    let (_, key) = server.account("free").await;
    fake.fail(true);
    let answer = server
        .post("/v1/billing/checkout", &key, json!({"plan": "pro"}))
        .await;
    answer.assert_error(500, "internal");
    assert!(!answer.text.contains("price_pro"), "{}", answer.text);
    let portal = server.post("/v1/billing/portal", &key, json!({})).await;
    portal.assert_error(500, "internal");
    // Nothing was remembered from the failed attempt; a later one works.
    fake.fail(false);
    let answer = server
        .post("/v1/billing/checkout", &key, json!({"plan": "pro"}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
}

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
    let (server, _fake) = billing_server().await;
    let (account, key) = server.account("free").await;
    let before = server.get("/v1/instances", &key).await;
    assert_eq!(before.header("x-ratelimit-limit").as_deref(), Some("10"));

    let t0 = now() - 10;
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
    let (server, _fake) = billing_server().await;
    let (account, _) = server.account("free").await;
    let t0 = now() - 100;

    // Active subscription, plan from the price (metadata names only the account).
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

    // An older event arriving late does not undo newer state.
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
    assert_eq!(deliver(&server, &stale).await, "stale");
    assert_eq!(admin_account(&server, &account).await["tier"], "indie");

    // Upgrade to pro, then the status goes unpaid: back to free.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_server_answers_stripe_not_configured_and_keeps_working() {
    let server = TestServer::start(Options::admin(""));
    let (_, key) = server.account("free").await;
    let checkout = server
        .post("/v1/billing/checkout", &key, json!({"plan": "pro"}))
        .await;
    checkout.assert_error(500, "stripe_not_configured");
    let portal = server.post("/v1/billing/portal", &key, json!({})).await;
    portal.assert_error(500, "stripe_not_configured");
    let body = event("evt_1", "checkout.session.completed", now(), json!({}));
    let t = now();
    let webhook = post_webhook(
        &server,
        &body,
        Some(&format!("t={t},v1={}", sign(WEBHOOK_SECRET, t, &body))),
    )
    .await;
    webhook.assert_error(500, "stripe_not_configured");
    // Everything else works.
    let instances = server.get("/v1/instances", &key).await;
    assert_eq!(instances.status, StatusCode::OK, "{}", instances.text);
    let listed = server.get("/v1/admin/accounts", ADMIN_TOKEN).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert!(listed.body["items"][0]["stripe_customer_id"].is_null());
}

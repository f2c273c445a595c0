//! Billing (Stripe) over real HTTP: the server (in-process, and once as
//! the real binary configured from the environment), a local fake Stripe,
//! and webhook payloads signed for real with HMAC-SHA256.

mod checkout;
mod fake_stripe;
mod webhooks;

use crate::common::{Answer, Options, ProcessServer, TestServer, ADMIN_TOKEN};
use fake_stripe::FakeStripe;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

pub(crate) const SECRET_KEY: &str = "sk_test_identity_os";
pub(crate) const WEBHOOK_SECRET: &str = "whsec_test_identity_os";

/// The Stripe settings of [`billing_server`]: names of the environment
/// variables operators set, the `[billing]` keys they map to, and values.
fn stripe_settings(fake: &FakeStripe) -> [(&'static str, &'static str, String); 5] {
    [
        ("STRIPE_SECRET_KEY", "stripe_secret_key", SECRET_KEY.into()),
        (
            "STRIPE_WEBHOOK_SECRET",
            "stripe_webhook_secret",
            WEBHOOK_SECRET.into(),
        ),
        (
            "STRIPE_PRICE_INDIE",
            "stripe_price_indie",
            "price_indie_test".into(),
        ),
        (
            "STRIPE_PRICE_PRO",
            "stripe_price_pro",
            "price_pro_test".into(),
        ),
        ("STRIPE_API_BASE", "stripe_api_base", fake.base_url.clone()),
    ]
}

/// A server (in-process) with billing configured, through the `[billing]`
/// keys, against a fresh fake Stripe.
pub(crate) async fn billing_server() -> (TestServer, FakeStripe) {
    let fake = FakeStripe::start().await;
    let mut billing = String::from("[billing]\n");
    for (_, key, value) in stripe_settings(&fake) {
        billing.push_str(&format!("{key} = \"{value}\"\n"));
    }
    (TestServer::start(Options::admin(&billing)), fake)
}

/// A server process with billing configured the way operators do it: the
/// `STRIPE_*` environment variables, against a fresh fake Stripe.
pub(crate) async fn billing_server_from_env() -> (ProcessServer, FakeStripe) {
    let fake = FakeStripe::start().await;
    let mut options = Options::admin("");
    options.env = stripe_settings(&fake)
        .into_iter()
        .map(|(var, _, value)| (var.to_string(), value))
        .collect();
    (TestServer::start_process(options), fake)
}

/// Stripe's scheme: hex HMAC-SHA256 of `"{t}.{body}"`, keyed with the
/// whole endpoint secret.
pub(crate) fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn event(id: &str, kind: &str, created: i64, object: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "object": "event", "type": kind, "created": created,
        "api_version": "2025-01-27", "livemode": false, "data": {"object": object},
    }))
    .expect("json")
}

/// POSTs a webhook body with this `Stripe-Signature` (none if `None`).
pub(crate) async fn post_webhook(
    server: &TestServer,
    body: &[u8],
    signature: Option<&str>,
) -> Answer {
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
pub(crate) async fn deliver(server: &TestServer, body: &[u8]) -> String {
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
pub(crate) async fn admin_account(server: &TestServer, id: &str) -> Value {
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

pub(crate) fn completed_checkout(
    account: &str,
    plan: &str,
    customer: &str,
    subscription: &str,
) -> Value {
    json!({
        "id": "cs_test_done", "object": "checkout.session", "mode": "subscription",
        "client_reference_id": account, "customer": customer, "subscription": subscription,
        "metadata": {"account_id": account, "plan": plan}, "payment_status": "paid",
    })
}

pub(crate) fn subscription(
    id: &str,
    customer: &str,
    status: &str,
    metadata: Value,
    price: &str,
) -> Value {
    json!({
        "id": id, "object": "subscription", "customer": customer, "status": status,
        "metadata": metadata, "items": {"object": "list", "data": [
            {"id": "si_1", "object": "subscription_item", "price": {"id": price, "object": "price"}}
        ]},
    })
}
mod ordering;

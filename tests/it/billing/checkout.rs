//! Checkout, portal, Stripe failures and an unconfigured server.

use super::{
    admin_account, billing_server, billing_server_from_env, event, now, post_webhook, sign,
    SECRET_KEY, WEBHOOK_SECRET,
};
use crate::common::{Options, TestServer, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_sends_price_customer_and_metadata_with_the_secret_key() {
    // A process configured by the STRIPE_* environment variables: the one
    // test of those names (the other billing tests use `[billing]` keys).
    let (server, fake) = billing_server_from_env().await;
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

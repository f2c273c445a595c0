//! A local fake of the Stripe endpoints billing uses. It records every
//! request (path, headers, decoded form) and answers with objects shaped
//! like Stripe's, so the real client (async-stripe) parses them.
//! Subscriptions (`GET /v1/subscriptions/{id}`) are served from what a test
//! put there with [`FakeStripe::put_subscription`].

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Recorded {
    /// The value of a form field (`line_items[0][price]`, ...).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Recorded>>,
    counter: AtomicUsize,
    failing: AtomicBool,
    /// Full Stripe subscription objects by id.
    subscriptions: Mutex<HashMap<String, Value>>,
}

/// A running fake Stripe.
#[derive(Clone)]
pub struct FakeStripe {
    shared: Arc<Shared>,
    pub base_url: String,
}

impl FakeStripe {
    /// Starts the fake on 127.0.0.1 (random port) in the test's runtime.
    pub async fn start() -> FakeStripe {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/customers", post(handle))
            .route("/v1/checkout/sessions", post(handle))
            .route("/v1/billing_portal/sessions", post(handle))
            .route("/v1/subscriptions/{id}", get(retrieve_subscription))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake stripe");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeStripe {
            shared,
            base_url: format!("http://{addr}"),
        }
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Requests to one path.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Sets what `GET /v1/subscriptions/{id}` answers from now on: the
    /// subscription `object` (as [`super::subscription`] builds it: id,
    /// customer, status, metadata, item prices) completed into the full
    /// object Stripe returns.
    pub fn put_subscription(&self, object: &Value) {
        let id = object["id"].as_str().expect("subscription id").to_string();
        let full = full_subscription(object);
        self.shared
            .subscriptions
            .lock()
            .expect("lock")
            .insert(id, full);
    }

    /// How many times the subscription was fetched.
    pub fn fetches_of(&self, subscription_id: &str) -> usize {
        self.requests_to(&format!("/v1/subscriptions/{subscription_id}"))
            .len()
    }

    /// Makes every later request fail the way Stripe reports a bad request.
    pub fn fail(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).expect("stripe requests are form-encoded");
    let recorded = Recorded {
        path: uri.path().to_string(),
        authorization: text("authorization"),
        idempotency_key: text("idempotency-key"),
        form,
    };
    shared.requests.lock().expect("lock").push(recorded.clone());
    if shared.failing.load(Ordering::SeqCst) {
        let error = json!({"error": {"type": "invalid_request_error",
            "message": "No such price: 'price_pro'", "param": "line_items[0][price]"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    let n = shared.counter.fetch_add(1, Ordering::SeqCst) + 1;
    let body = match recorded.path.as_str() {
        "/v1/customers" => json!({
            "id": format!("cus_test_{n}"), "object": "customer", "created": 1_800_000_000,
            "livemode": false, "metadata": {}, "email": null,
        }),
        "/v1/checkout/sessions" => json!({
            "id": format!("cs_test_{n}"), "object": "checkout.session",
            "url": format!("https://checkout.stripe.test/cs_test_{n}"),
            "automatic_tax": {"enabled": false, "liability": null, "status": null},
            "created": 1_800_000_000, "expires_at": 1_800_086_400, "livemode": false,
            "custom_fields": [], "custom_text": {"after_submit": null, "shipping_address": null,
                "submit": null, "terms_of_service_acceptance": null},
            "mode": "subscription", "payment_method_types": ["card"],
            "payment_status": "unpaid", "shipping_options": [], "status": "open",
            "customer": recorded.field("customer"),
            "client_reference_id": recorded.field("client_reference_id"),
        }),
        _ => json!({
            "id": format!("bps_test_{n}"), "object": "billing_portal.session",
            "configuration": "bpc_test", "created": 1_800_000_000,
            "customer": recorded.field("customer"), "livemode": false,
            "return_url": recorded.field("return_url"),
            "url": format!("https://billing.stripe.test/p/session_{n}"),
        }),
    };
    Json(body).into_response()
}

/// A subscription as Stripe returns it (every field async-stripe requires),
/// from the few fields a test sets.
fn full_subscription(object: &Value) -> Value {
    let id = object["id"].as_str().expect("subscription id");
    let customer = match &object["customer"] {
        Value::Object(c) => c["id"].clone(),
        other => other.clone(),
    };
    let created = 1_800_000_000;
    let items: Vec<Value> = object["items"]["data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let price = item["price"]["id"].as_str().expect("item price id");
            json!({
                "id": format!("si_{id}_{n}"), "object": "subscription_item",
                "created": created, "current_period_start": created,
                "current_period_end": created + 2_592_000, "discounts": [], "metadata": {},
                "quantity": 1, "subscription": id, "tax_rates": [],
                "plan": {"id": price, "object": "plan", "active": true,
                    "billing_scheme": "per_unit", "created": created, "currency": "usd",
                    "interval": "month", "interval_count": 1, "livemode": false,
                    "usage_type": "licensed", "amount": 900, "metadata": {}, "product": "prod_test"},
                "price": {"id": price, "object": "price", "active": true,
                    "billing_scheme": "per_unit", "created": created, "currency": "usd",
                    "livemode": false, "metadata": {}, "product": "prod_test",
                    "type": "recurring", "unit_amount": 900,
                    "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed",
                        "meter": null, "trial_period_days": null}},
            })
        })
        .collect();
    let status = object["status"].as_str().expect("subscription status");
    let ended = matches!(status, "canceled" | "incomplete_expired");
    json!({
        "id": id, "object": "subscription", "customer": customer, "status": status,
        "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        "items": {"object": "list", "data": items, "has_more": false,
            "url": format!("/v1/subscription_items?subscription={id}")},
        "automatic_tax": {"enabled": false, "liability": null, "disabled_reason": null},
        "billing_cycle_anchor": created, "billing_mode": {"type": "classic"},
        "billing_schedules": [], "cancel_at_period_end": false,
        "canceled_at": if ended { json!(created) } else { Value::Null },
        "ended_at": if ended { json!(created) } else { Value::Null },
        "collection_method": "charge_automatically", "created": created, "currency": "usd",
        "discounts": [], "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "livemode": false, "start_date": created, "latest_invoice": null,
    })
}

async fn retrieve_subscription(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let recorded = Recorded {
        path: uri.path().to_string(),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        idempotency_key: None,
        form: Vec::new(),
    };
    shared.requests.lock().expect("lock").push(recorded);
    if shared.failing.load(Ordering::SeqCst) {
        let error = json!({"error": {"type": "api_error",
            "message": "An unknown error occurred"}});
        return (StatusCode::BAD_REQUEST, Json(error)).into_response();
    }
    match shared.subscriptions.lock().expect("lock").get(&id) {
        Some(subscription) => Json(subscription.clone()).into_response(),
        None => {
            let error = json!({"error": {"type": "invalid_request_error",
                "code": "resource_missing", "param": "id",
                "message": format!("No such subscription: '{id}'")}});
            (StatusCode::NOT_FOUND, Json(error)).into_response()
        }
    }
}

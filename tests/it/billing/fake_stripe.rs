//! A local fake of the three Stripe endpoints billing uses. It records every
//! request (path, headers, decoded form) and answers with objects shaped
//! like Stripe's, so the real client (async-stripe) parses them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::json;
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

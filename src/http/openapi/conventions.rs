//! What operations of one kind share, applied to the generated document
//! once instead of being repeated on every handler:
//!
//! - bearer security: API keys on `/v1/…`, the admin token on
//!   `/v1/admin/…`, none on the operational routes and the Stripe webhook;
//! - the answers the middleware and extractors can give on any such route:
//!   401 (auth), 429 `rate_limited` and 503 (limiter), 413/422 (JSON body,
//!   query, `If-Match`), 404 (admin API disabled), 500 (anything unexpected);
//! - the `Error` body on every 4xx/5xx answer;
//! - the headers: `X-Request-Id` everywhere, the `X-RateLimit-*` /
//!   `X-Monthly-*` family on authenticated answers, `Retry-After` on 429/503.
//!
//! It works on the JSON form because some of it (a header's `required`)
//! has no counterpart in utoipa's model.

use serde_json::{json, Map, Value};

/// Security scheme of API keys.
pub const API_KEY_SCHEME: &str = "api_key";
/// Security scheme of the admin token.
pub const ADMIN_SCHEME: &str = "admin_token";

/// How a route authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No credentials.
    Public,
    /// `Authorization: Bearer idos_sk_…`, with rate limiting.
    ApiKey,
    /// `Authorization: Bearer <admin token>`.
    Admin,
}

/// The authentication the router puts in front of `path`.
pub fn auth_of(path: &str) -> Auth {
    if path.starts_with("/v1/admin/") {
        Auth::Admin
    } else if path.starts_with("/v1/") && path != "/v1/billing/webhook" {
        Auth::ApiKey
    } else {
        Auth::Public
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Applies every convention to `document` (an OpenAPI 3.1 JSON object).
pub fn apply(document: &mut Value) {
    add_security_schemes(document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let auth = auth_of(path);
        for method in METHODS {
            if let Some(operation) = item.get_mut(method).and_then(Value::as_object_mut) {
                decorate(operation, auth);
            }
        }
    }
}

fn add_security_schemes(document: &mut Value) {
    let Some(root) = document.as_object_mut() else {
        return;
    };
    let components = root.entry("components").or_insert_with(|| json!({}));
    components["securitySchemes"] = json!({
        API_KEY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "idos_sk_ + 32 base62 characters",
            "description": "An API key: `Authorization: Bearer idos_sk_…`. The scheme word must be exactly `Bearer`."
        },
        ADMIN_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "description": "The server's admin token (`IDENTITY_OS_ADMIN_TOKEN`). Without one configured the admin API answers 404."
        }
    });
}

fn decorate(operation: &mut Map<String, Value>, auth: Auth) {
    let has_body = operation.contains_key("requestBody");
    let has_checked_params = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|params| params.iter().any(|p| p["in"] != "path"));
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else {
        return;
    };
    if has_body {
        ensure(
            responses,
            "413",
            "The body is over the configured limit (`payload_too_large`)",
        );
    }
    if has_body || has_checked_params {
        ensure(
            responses,
            "422",
            "Malformed JSON, unknown or missing fields, wrong types, out-of-range values or bad parameters (`invalid_request`)",
        );
    }
    match auth {
        Auth::Public => {}
        Auth::ApiKey => {
            ensure(
                responses,
                "401",
                "Missing, malformed, unknown or revoked API key (`unauthorized`)",
            );
            ensure(
                responses,
                "429",
                "The tier's per-minute request limit is spent (`rate_limited`)",
            );
            ensure(
                responses,
                "503",
                "Usage accounting unavailable in fail-closed mode, or the server is shutting down (`service_unavailable`)",
            );
        }
        Auth::Admin => {
            ensure(
                responses,
                "401",
                "Missing or wrong admin token (`unauthorized`)",
            );
            prepend_description(
                responses,
                "404",
                "The admin API is disabled (no admin token configured)",
            );
            ensure(
                responses,
                "503",
                "The server is shutting down (`service_unavailable`)",
            );
        }
    }
    ensure(
        responses,
        "500",
        "Unexpected failure; details are in the server log (`internal`)",
    );
    for (status, response) in responses.iter_mut() {
        decorate_response(status, response, auth);
    }
    let scheme = match auth {
        Auth::Public => None,
        Auth::ApiKey => Some(API_KEY_SCHEME),
        Auth::Admin => Some(ADMIN_SCHEME),
    };
    if let Some(scheme) = scheme {
        operation.insert("security".into(), json!([{ scheme: [] }]));
    }
}

/// Adds a response for `status` unless the handler declared one.
fn ensure(responses: &mut Map<String, Value>, status: &str, description: &str) {
    responses
        .entry(status)
        .or_insert_with(|| json!({ "description": description }));
}

/// Adds `status`, or extends the handler's description of it.
fn prepend_description(responses: &mut Map<String, Value>, status: &str, description: &str) {
    match responses.get_mut(status) {
        Some(response) => {
            let own = response["description"].as_str().unwrap_or("").to_string();
            response["description"] = json!(format!("{own}; or: {description}"));
        }
        None => ensure(responses, status, description),
    }
}

fn header(description: &str, schema: Value, required: bool) -> Value {
    json!({ "description": description, "required": required, "schema": schema })
}

fn count() -> Value {
    json!({ "type": "integer", "minimum": 0 })
}

fn decorate_response(status: &str, response: &mut Value, auth: Auth) {
    let code: u16 = status.parse().unwrap_or(0);
    if code >= 400 && response.get("content").is_none() {
        response["content"] = json!({
            "application/json": { "schema": { "$ref": "#/components/schemas/Error" } }
        });
    }
    let Some(object) = response.as_object_mut() else {
        return;
    };
    let headers = object.entry("headers").or_insert_with(|| json!({}));
    let Some(headers) = headers.as_object_mut() else {
        return;
    };
    // Declared headers that the server always sends are required.
    for (name, value) in headers.iter_mut() {
        let always = matches!(name.as_str(), "ETag" | "X-Processed-Count");
        if always && value.is_object() {
            value["required"] = json!(true);
        }
    }
    headers.insert(
        "X-Request-Id".into(),
        header(
            "The request's id: the caller's `X-Request-Id` if sent, otherwise a generated UUID",
            json!({ "type": "string" }),
            true,
        ),
    );
    if auth == Auth::ApiKey && code != 401 {
        let limits = [
            (
                "X-RateLimit-Limit",
                "Requests per minute for the tier (2147483647 when unlimited)",
                true,
            ),
            (
                "X-RateLimit-Remaining",
                "Requests left before `rate_limited`",
                true,
            ),
            (
                "X-RateLimit-Reset",
                "Unix seconds when the per-minute budget is fully restored",
                true,
            ),
            (
                "X-Monthly-Limit",
                "Cycles per calendar month, UTC (2147483647 when unlimited)",
                false,
            ),
            ("X-Monthly-Remaining", "Cycles left this month", false),
        ];
        for (name, description, required) in limits {
            headers.insert(name.into(), header(description, count(), required));
        }
        headers.insert(
            "X-RateLimit-Degraded".into(),
            header(
                "`true` when the limiter runs in fail-open degraded mode",
                json!({ "type": "string", "enum": ["true"] }),
                false,
            ),
        );
    }
    if code == 429 || code == 503 {
        headers.insert(
            "Retry-After".into(),
            header(
                "Whole seconds to wait; sent with `throttled`, `rate_limited` and `service_unavailable`, never with `quota_exceeded`",
                json!({ "type": "integer", "minimum": 1 }),
                code == 503,
            ),
        );
    }
}

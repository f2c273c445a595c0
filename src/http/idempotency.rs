//! `Idempotency-Key` (docs/api.md "Idempotency"): a repeat of a keyed
//! request gets the original answer and changes nothing.
//!
//! [`run`] is called by the API routes' middleware once authentication and
//! the rate limit passed (a replay is a request); it costs a header lookup
//! on requests without a key. On the routes that change an instance, for a
//! keyed request it
//! - refuses a key that is not 1–255 visible ASCII characters (`422`);
//! - answers `409 conflict` while a request with the same key is in flight
//!   on this node;
//! - replays the recorded response (`Idempotent-Replayed: true`) when the
//!   key was used for the same method, path, query and body, and answers
//!   `422` when it was used for another request;
//! - otherwise hands the key and the request's hash to the handler
//!   ([`KeyedRequest`]), whose change records its response in its own
//!   transaction ([`crate::actors::idempotency`]). Only changes are
//!   recorded: a refused request changed nothing, so its repeat runs again.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::{ApiError, ApiResult};
use super::extract::read_body;
use super::state::{AppState, Caller};
use crate::actors::idempotency::{Idempotency, Render, RenderedResponse};

/// The request header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Marks a replayed response.
pub static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// How long a recorded response is kept (at least; removed by the hourly
/// sweep of [`crate::server`] once older).
pub const RETENTION_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The routes (and methods) whose requests may carry a key.
fn is_keyed_route(method: &Method, route: &str) -> bool {
    matches!(
        (method, route),
        (&Method::POST, "/v1/instances")
            | (&Method::POST, "/v1/instances/{id}/process")
            | (&Method::POST, "/v1/instances/{id}/process/batch")
            | (&Method::POST, "/v1/instances/{id}/reset")
            | (&Method::PATCH, "/v1/instances/{id}")
            | (&Method::DELETE, "/v1/instances/{id}")
    )
}

/// A keyed request the handler is to record the response of.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    key: String,
    request_hash: [u8; 32],
}

impl KeyedRequest {
    /// What the change carries to record `render`'s response under the key.
    pub fn attach<T>(self, caller: &Caller, render: Render<T>) -> Idempotency<T> {
        Idempotency {
            account_id: caller.account.id.clone(),
            key: self.key,
            request_hash: self.request_hash,
            render,
        }
    }
}

/// The key of a request, checked.
fn key_of(request: &Request) -> ApiResult<Option<String>> {
    let Some(value) = request.headers().get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_KEY_LEN || !bytes.iter().all(u8::is_ascii_graphic) {
        return Err(ApiError::invalid_field(
            "Idempotency-Key",
            format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
        ));
    }
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// SHA-256 over the method, the path with its query, and the body.
fn request_hash(method: &Method, uri: &axum::http::Uri, body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(method.as_str().as_bytes());
    hasher.update([0]);
    hasher.update(
        uri.path_and_query()
            .map_or(uri.path(), |p| p.as_str())
            .as_bytes(),
    );
    hasher.update([0]);
    hasher.update(body);
    hasher.finalize().into()
}

/// Removes the in-flight mark of a key when its request ends, however it ends.
struct InFlight<'a> {
    state: &'a AppState,
    slot: (String, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.state.idempotency_in_flight.remove(&self.slot);
    }
}

/// Runs `request` for `caller`, replaying or refusing it first if it is
/// keyed (see the module docs).
pub async fn run(state: &AppState, caller: &Caller, request: Request, next: Next) -> Response {
    if !request.headers().contains_key(&IDEMPOTENCY_KEY) {
        return next.run(request).await;
    }
    match keyed(state, caller, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn keyed(
    state: &AppState,
    caller: &Caller,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let keyed_route = route
        .as_ref()
        .is_some_and(|r| is_keyed_route(request.method(), r.as_str()));
    if !keyed_route {
        return Ok(next.run(request).await);
    }
    let Some(key) = key_of(&request).map_err(IntoResponse::into_response)? else {
        return Ok(next.run(request).await);
    };
    let (parts, body) = request.into_parts();
    let limit = state.config.server.body_limit_bytes;
    let bytes = read_body(Request::from_parts(parts.clone(), body), limit)
        .await
        .map_err(IntoResponse::into_response)?;
    let hash = request_hash(&parts.method, &parts.uri, &bytes);

    let slot = (caller.account.id.to_string(), key.clone());
    if state
        .idempotency_in_flight
        .insert(slot.clone(), ())
        .is_some()
    {
        return Err(ApiError::conflict(
            "a request with this Idempotency-Key is still in progress; retry once it has finished",
        )
        .into_response());
    }
    let _in_flight = InFlight { state, slot };

    match state.store.find_idempotency(&caller.account.id, &key).await {
        Ok(Some(recorded)) if recorded.request_hash == hash => {
            let response = RenderedResponse {
                status: recorded.status,
                headers: recorded.headers,
                body: recorded.body,
            };
            return Ok(replayed(response.into_response()));
        }
        Ok(Some(_)) => {
            return Err(ApiError::invalid_field(
                "Idempotency-Key",
                "this Idempotency-Key was already used for another request (a different method, path or body); use a new key for a new request",
            )
            .into_response())
        }
        Ok(None) => {}
        Err(e) => return Err(ApiError::from(e).into_response()),
    }
    let mut request = Request::from_parts(parts, Body::from(bytes));
    request.extensions_mut().insert(KeyedRequest {
        key,
        request_hash: hash,
    });
    Ok(next.run(request).await)
}

/// Marks `response` as the replay of an earlier one.
pub fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(&IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// Room for a ProcessResult (≈ 2.3 KB) from the start.
const JSON_BODY_CAPACITY: usize = 4096;

/// A JSON response with `ETag: "<version>"` (when given) and `extra` headers.
pub fn render_json<T: serde::Serialize>(
    status: StatusCode,
    version: Option<i64>,
    body: &T,
    extra: &[(&str, String)],
) -> RenderedResponse {
    let mut bytes = Vec::with_capacity(JSON_BODY_CAPACITY);
    if let Err(e) = sonic_rs::to_writer(&mut bytes, body) {
        tracing::error!(error = %e, "cannot serialise a response");
        let error = ApiError::internal();
        return RenderedResponse {
            status: error.status().as_u16(),
            headers: Vec::new(),
            body: format!(
                r#"{{"error":"internal","message":"{}","code":"internal"}}"#,
                error.message()
            )
            .into_bytes(),
        };
    }
    let mut headers = Vec::with_capacity(1 + extra.len());
    if let Some(version) = version {
        headers.push(("etag".to_owned(), format!("\"{version}\"")));
    }
    headers.extend(extra.iter().map(|(n, v)| ((*n).to_owned(), v.clone())));
    RenderedResponse {
        status: status.as_u16(),
        headers,
        body: bytes,
    }
}

impl IntoResponse for RenderedResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(&value),
            ) {
                headers.insert(name, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_method_path_query_and_body() {
        let uri: axum::http::Uri = "/v1/instances/i/process/batch?include_intermediate=true"
            .parse()
            .unwrap();
        let other: axum::http::Uri = "/v1/instances/i/process/batch".parse().unwrap();
        let base = request_hash(&Method::POST, &uri, b"{}");
        assert_eq!(base, request_hash(&Method::POST, &uri, b"{}"));
        assert_ne!(base, request_hash(&Method::PATCH, &uri, b"{}"));
        assert_ne!(base, request_hash(&Method::POST, &other, b"{}"));
        assert_ne!(base, request_hash(&Method::POST, &uri, b"{ }"));
    }

    #[test]
    fn rendered_responses_carry_their_headers() {
        let rendered = render_json(
            StatusCode::CREATED,
            Some(3),
            &serde_json::json!({"a": 1}),
            &[("x-processed-count", "2".to_owned())],
        );
        let response = rendered.clone().into_response();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["etag"], "\"3\"");
        assert_eq!(response.headers()["x-processed-count"], "2");
        assert_eq!(rendered.body, br#"{"a":1}"#);
    }
}

//! What every response gets, in one middleware: its request id (honoured or
//! generated, echoed back), the request deadline, panic containment, the
//! security headers, the Python-SDK connection fix, the request metrics and
//! the one access-log line.
//!
//! Why one middleware and not a stack of tower layers: each layer boxes the
//! rest of the stack, clones it and boxes its future again on every
//! request, and an access log from a per-request `tracing` span costs as
//! much again; measured, that was about a third of the server's own
//! instructions per observation (docs/benchmarks-history.md). One
//! `from_fn` does the same work once.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CACHE_CONTROL, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};
use tracing::Instrument;

use super::error::ApiError;
use super::handlers::system;
use super::state::AppState;
use super::{deadline, metrics, sdk_compat};

/// The request id header (`X-Request-Id`).
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest caller-chosen request id that is honoured; longer ones (and
/// ones with anything but visible ASCII) are replaced, so a client cannot
/// flood or garble the log through this header.
const MAX_REQUEST_ID_LEN: usize = 128;

/// The caller's `X-Request-Id` if it is usable, else a new UUID.
fn request_id(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(&REQUEST_ID)
        .filter(|v| {
            let bytes = v.as_bytes();
            !bytes.is_empty()
                && bytes.len() <= MAX_REQUEST_ID_LEN
                && bytes.iter().all(|b| b.is_ascii_graphic())
        })
        .cloned()
        .unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4();
            let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
            HeaderValue::from_str(id.hyphenated().encode_lower(&mut text))
                .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        })
}

/// Headers every response carries (SECURITY.md).
fn add_security_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
}

/// Runs the rest of the stack for one request and finishes its response.
pub async fn handle(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    request.headers_mut().insert(&REQUEST_ID, id.clone());
    // An `Arc<str>` clone: the route outlives the request it came with.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = request.method().clone();
    let close_connection = sdk_compat::wants_connection_close(request.headers());
    let limit = Duration::from_secs(state.config.server.request_timeout_secs);
    // Only built when `debug` is enabled: then every event inside the
    // handler names the request it belongs to.
    let span = tracing::debug_span!("request", %method, route = route.as_ref().map_or("unmatched", MatchedPath::as_str), request_id = ?id);
    let inner = AssertUnwindSafe(next.run(request)).catch_unwind();
    let mut response = match deadline::run(limit, inner).instrument(span).await {
        Some(Ok(response)) => response,
        Some(Err(panic)) => system::panic_response(panic),
        None => ApiError::service_unavailable(
            format!("the request took longer than {} s", limit.as_secs()),
            1,
        )
        .into_response(),
    };
    add_security_headers(&mut response);
    if close_connection {
        sdk_compat::close_connection(&mut response);
    }
    response.headers_mut().insert(&REQUEST_ID, id.clone());
    let latency = started.elapsed();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    metrics::record_request(route, &method, response.status(), latency);
    log_request(
        &state.config.server.node_id,
        &method,
        route,
        response.status(),
        latency,
        &id,
    );
    response
}

/// The access log: one line per request, at `warn` for server errors.
/// Never the URI (it can hold instance ids) nor a header but the request id.
fn log_request(
    node: &str,
    method: &Method,
    route: &str,
    status: StatusCode,
    latency: Duration,
    id: &HeaderValue,
) {
    let latency_us = latency.as_micros() as u64;
    let status = status.as_u16();
    let request_id = id.to_str().unwrap_or("");
    if status >= 500 {
        tracing::warn!(node, %method, route, status, latency_us, request_id, "request");
    } else {
        tracing::info!(node, %method, route, status, latency_us, request_id, "request");
    }
}

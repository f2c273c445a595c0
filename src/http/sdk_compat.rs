//! Compatibility with the official Python SDK's synchronous client.
//!
//! `identity_os_sdk.IdentityOS` (0.9.0) runs every call through a new
//! `asyncio.run()` loop but keeps one `httpx.AsyncClient`, so a kept-alive
//! connection from a previous call belongs to a closed event loop and the
//! second call fails with "Event loop is closed". Closing the connection
//! after each response to that client makes every call open a fresh one,
//! which is what the SDK implicitly assumes. Other clients keep keep-alive.

use axum::extract::Request;
use axum::http::header::{CONNECTION, USER_AGENT};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// User-Agent prefix the Python SDK sends.
const PYTHON_SDK_AGENT: &str = "identity-os-python-sdk/";

/// Adds `Connection: close` to responses for the Python SDK.
pub async fn close_python_sdk_connections(request: Request, next: Next) -> Response {
    let is_python_sdk = request
        .headers()
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with(PYTHON_SDK_AGENT));
    let mut response = next.run(request).await;
    if is_python_sdk {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

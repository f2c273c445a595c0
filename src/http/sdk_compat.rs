//! Compatibility with the official Python SDK's synchronous client.
//!
//! `identity_os_sdk.IdentityOS` (0.9.0) runs every call through a new
//! `asyncio.run()` loop but keeps one `httpx.AsyncClient`, so a kept-alive
//! connection from a previous call belongs to a closed event loop and the
//! second call fails with "Event loop is closed". Closing the connection
//! after each response to that client makes every call open a fresh one,
//! which is what the SDK implicitly assumes. Other clients keep keep-alive.

use axum::http::header::{CONNECTION, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

/// User-Agent prefix the Python SDK sends.
const PYTHON_SDK_AGENT: &str = "identity-os-python-sdk/";

/// Whether the request comes from the Python SDK, whose connections are
/// closed after each response.
pub fn wants_connection_close(request_headers: &HeaderMap) -> bool {
    request_headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|agent| agent.starts_with(PYTHON_SDK_AGENT))
}

/// Adds `Connection: close`: hyper then closes the connection once this
/// response is written.
pub fn close_connection(response: &mut Response) {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
}

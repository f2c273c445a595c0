//! A deadline for every request: a handler that takes longer than
//! `server.request_timeout_secs` (for example a client trickling its body)
//! is answered with a JSON `503 service_unavailable` instead of holding the
//! connection forever.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

use super::error::ApiError;
use super::state::AppState;

/// Runs the rest of the stack under the configured deadline.
pub async fn request_deadline(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = Duration::from_secs(state.config.server.request_timeout_secs);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::ServiceUnavailable {
            message: format!("the request took longer than {} s", limit.as_secs()),
            retry_after_secs: 1,
        }
        .into_response(),
    }
}

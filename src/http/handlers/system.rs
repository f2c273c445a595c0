//! Unauthenticated operational routes: health, readiness, version, and the
//! JSON answers for unknown routes and wrong methods.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// `GET /health`: the process is alive.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: the store answers.
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::ServiceUnavailable {
                message: "storage is not reachable".into(),
                retry_after_secs: 1,
            }
            .into_response()
        }
    }
}

/// `GET /version`.
pub async fn version(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "name": "identity-os",
        "version": env!("CARGO_PKG_VERSION"),
        "api_version": "v1",
        "schema_version": crate::http::wire::SCHEMA_VERSION,
        "storage": state.config.storage.backend,
    }))
}

/// Any unknown route.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

/// A known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The JSON 500 for a panic that escaped a handler.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    let mut response = ApiError::Internal.into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

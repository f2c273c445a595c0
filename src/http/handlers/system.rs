//! Unauthenticated operational routes: health, readiness, version, and the
//! JSON answers for unknown routes and wrong methods.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// The body of `/health` and `/ready`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Status)]
pub struct StatusBody {
    /// `ok` (health) or `ready` (readiness).
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// Readiness only: the limiter backend (`memory`, `redis`, or
    /// `redis-unreachable` while fail-open mode serves with node-local limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "memory")]
    limiter: Option<&'static str>,
}

/// `GET /version` body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Version)]
pub struct VersionBody {
    /// Always `identity-os`.
    #[schema(value_type = String)]
    name: &'static str,
    /// The server's version.
    #[schema(value_type = String)]
    version: &'static str,
    /// Always `v1`.
    #[schema(value_type = String)]
    api_version: &'static str,
    /// Snapshot and contract schema version.
    #[schema(value_type = String)]
    schema_version: &'static str,
    /// The storage backend in use (`sqlite`, `memory` or `postgres`).
    #[schema(value_type = String, example = "sqlite")]
    storage: crate::store::Backend,
    /// This node (`server.node_id`; by default host name and process id).
    #[schema(example = "web-1-4242")]
    node_id: String,
}

/// `GET /health`: the process is alive.
#[utoipa::path(
    get, path = "/health", tag = "operations", operation_id = "health",
    responses((status = 200, description = "The process is alive", body = StatusBody)),
)]
pub async fn health() -> Json<StatusBody> {
    Json(StatusBody {
        status: "ok",
        limiter: None,
    })
}

/// `GET /ready`: the store answers, and so does Redis in fail-closed mode.
#[utoipa::path(
    get, path = "/ready", tag = "operations", operation_id = "ready",
    responses(
        (status = 200, description = "Storage is reachable", body = StatusBody),
        (status = 503, description = "Storage (or, fail-closed, the Redis limiter) is not reachable (`service_unavailable`)",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
    ),
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let limiter = state.limiter.backend_state().await;
    if limiter == "redis-unreachable" && state.limiter.refuses_when_down() {
        return ApiError::service_unavailable("the redis limiter backend is not reachable", 1)
            .into_response();
    }
    match state.store.ping().await {
        Ok(()) => Json(StatusBody {
            status: "ready",
            limiter: Some(limiter),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            ApiError::service_unavailable("storage is not reachable", 1).into_response()
        }
    }
}

/// `GET /version`.
#[utoipa::path(
    get, path = "/version", tag = "operations", operation_id = "version",
    responses((status = 200, description = "Server and API versions", body = VersionBody)),
)]
pub async fn version(State(state): State<AppState>) -> Json<VersionBody> {
    Json(VersionBody {
        name: "identity-os",
        version: env!("CARGO_PKG_VERSION"),
        api_version: "v1",
        schema_version: crate::http::wire::SCHEMA_VERSION,
        storage: state.config.storage.backend,
        node_id: state.config.server.node_id.clone(),
    })
}

/// Any unknown route. A path that starts `/v1/v1/` comes from a client
/// whose base URL already ends in `/v1` (the hosted docs' examples do
/// that): say so instead of a bare "no such route".
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    if uri.path().starts_with("/v1/v1/") {
        return ApiError::not_found(
            "no such route: the path starts with /v1/v1/; the base URL should be the server's address without /v1 (e.g. http://localhost:8000)",
        );
    }
    ApiError::no_such_route()
}

/// A known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// The JSON 500 for a panic that escaped a handler.
pub fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    let mut response = ApiError::internal().into_response();
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

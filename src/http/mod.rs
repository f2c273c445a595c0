//! The HTTP front end: routing, authentication, errors, one handler module
//! per resource. Knows the wire contract (API.md); delegates everything
//! else to the actors and the store.

pub mod auth;
pub mod docs;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod object_only;
pub mod openapi;
pub mod sdk_compat;
pub mod state;
pub mod timeout;
pub mod wire;

use axum::extract::MatchedPath;
use axum::http::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, patch, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use handlers::{
    admin, billing, engine, history, instances, personality_test, personas, system, usage,
};
pub use state::{AppInner, AppState, Caller};

/// Test-only routes (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
fn fault_routes() -> Router<AppState> {
    Router::new().route(
        "/v1/instances/{id}/_fault/panic",
        post(handlers::fault::panic_actor),
    )
}

/// Without the feature there are none.
#[cfg(not(feature = "fault-injection"))]
fn fault_routes() -> Router<AppState> {
    Router::new()
}

/// The complete router of the server.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/v1/instances",
            post(instances::create).get(instances::list),
        )
        .route(
            "/v1/instances/{id}",
            get(instances::get)
                .patch(instances::update)
                .delete(instances::delete),
        )
        .route("/v1/instances/{id}/process", post(engine::process))
        .route(
            "/v1/instances/{id}/process/batch",
            post(engine::process_batch),
        )
        .route("/v1/instances/{id}/snapshot", get(engine::snapshot))
        .route("/v1/instances/{id}/contract", get(engine::contract))
        .route("/v1/instances/{id}/reset", post(engine::reset))
        .route("/v1/instances/{id}/history", get(history::history))
        .route("/v1/instances/{id}/drift", get(history::drift))
        .route("/v1/personas", get(personas::list))
        .route("/v1/personas/{id}", get(personas::get))
        .route("/v1/test/questions", get(personality_test::questions))
        .route("/v1/test/submit", post(personality_test::submit))
        .route("/v1/usage", get(usage::usage))
        .route("/v1/billing/plans", get(usage::plans))
        .route("/v1/billing/checkout", post(billing::checkout))
        .route("/v1/billing/portal", post(billing::portal))
        .merge(fault_routes())
        .route_layer(from_fn_with_state(
            state.clone(),
            limits::enforce_rate_limit,
        ))
        .route_layer(from_fn_with_state(state.clone(), auth::require_api_key));

    let admin = Router::new()
        .route(
            "/v1/admin/accounts",
            post(admin::create_account).get(admin::list_accounts),
        )
        .route("/v1/admin/accounts/{id}", patch(admin::update_account))
        .route("/v1/admin/accounts/{id}/keys", post(admin::create_key))
        .route(
            "/v1/admin/keys/{key_id}",
            axum::routing::delete(admin::revoke_key),
        )
        .route_layer(from_fn_with_state(state.clone(), auth::require_admin_token));

    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<_>| {
            let route = request
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", |p| p.as_str())
                .to_string();
            let request_id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            tracing::info_span!("request", method = %request.method(), route, request_id)
        })
        .on_request(())
        .on_response(DefaultOnResponse::new().level(Level::INFO));

    Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/version", get(system::version))
        .route("/metrics", get(metrics::render))
        // Public: Stripe authenticates with the Stripe-Signature header.
        .route("/v1/billing/webhook", post(billing::webhook))
        .route("/openapi.json", get(openapi::serve))
        .route("/docs", get(docs::page))
        .merge(api)
        .merge(admin)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(CatchPanicLayer::custom(system::panic_response))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(from_fn_with_state(state.clone(), timeout::request_deadline))
        .layer(from_fn(metrics::record_request))
        .layer(from_fn(sdk_compat::close_python_sdk_connections))
        .layer(trace)
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

//! The HTTP front end: routing, authentication, errors, one handler module
//! per resource. Knows the wire contract (docs/api.md); delegates everything
//! else to the actors and the store.

pub mod auth;
pub mod cors;
pub mod deadline;
pub mod docs;
pub mod edge;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod idempotency;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod object_only;
pub mod openapi;
pub mod sdk_compat;
pub mod state;
pub mod wire;

use axum::middleware::from_fn_with_state;
use axum::routing::{get, patch, post};
use axum::Router;

use handlers::{
    admin, billing, dashboard, engine, events, history, instances, keys, personality_test,
    personas, system, trajectory, usage,
};
pub use state::{AppInner, AppState, Caller};

/// Test-only routes (feature `fault-injection`).
#[cfg(feature = "fault-injection")]
fn fault_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/instances/{id}/_fault/panic",
            post(handlers::fault::panic_actor),
        )
        .route(
            "/v1/_fault/handler_panic",
            post(handlers::fault::panic_handler),
        )
        .route("/v1/_fault/fsync", post(handlers::fault::fail_next_fsync))
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
        .route("/v1/instances/{id}/trajectory", get(trajectory::trajectory))
        .route("/v1/instances/{id}/events", get(events::events))
        .route("/v1/keys", get(keys::list).post(keys::create))
        .route("/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/v1/personas", get(personas::list))
        .route("/v1/personas/{id}", get(personas::get))
        .route("/v1/test/questions", get(personality_test::questions))
        .route("/v1/test/submit", post(personality_test::submit))
        .route("/v1/usage", get(usage::usage))
        .route("/v1/billing/plans", get(usage::plans))
        .route("/v1/billing/checkout", post(billing::checkout))
        .route("/v1/billing/portal", post(billing::portal))
        .merge(fault_routes())
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

    Router::new()
        .route("/health", get(system::health))
        .route("/ready", get(system::ready))
        .route("/version", get(system::version))
        .route("/metrics", get(metrics::render))
        // Public: Stripe authenticates with the Stripe-Signature header.
        .route("/v1/billing/webhook", post(billing::webhook))
        .route("/openapi.json", get(openapi::serve))
        .route("/docs", get(docs::page))
        .route("/", get(dashboard::root))
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/app.js", get(dashboard::script))
        .route("/dashboard/app.css", get(dashboard::style))
        .route("/dashboard/icon.svg", get(dashboard::icon))
        .merge(api)
        .merge(admin)
        .fallback(system::not_found)
        .method_not_allowed_fallback(system::method_not_allowed)
        .layer(from_fn_with_state(state.clone(), cors::handle))
        // Outermost: every response, the fallbacks' included, passes it.
        .layer(from_fn_with_state(state.clone(), edge::handle))
        .with_state(state)
}

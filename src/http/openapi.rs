//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole API,
//! generated from the handlers' `#[utoipa::path]` annotations and the
//! request/response types' `ToSchema` derives.
//!
//! What every operation of a kind shares (bearer security, 401/429/503
//! answers, rate-limit and request-id headers, the `Error` body) is added
//! once by [`conventions`] rather than repeated on each handler.
//!
//! Adding a route to the document is one line: its handler's path in the
//! `paths(...)` list of [`ApiDoc`] (the handler carries its own
//! `#[utoipa::path]`).

pub mod configured;
pub mod conventions;
pub mod params;

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use utoipa::OpenApi;

use super::error::ErrorBody;
use super::handlers::{
    admin, billing, dashboard, engine, events, history, instances, keys, personality_test,
    personas, system, trajectory, usage,
};
use super::state::AppState;
use crate::config::Config;

/// The document's root: info, every operation, the schemas no operation
/// names directly, and the tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Identity OS",
        description = "Self-hosted Identity OS: a deterministic behavioural engine behind an HTTP API. \
            Every `/v1` route except the Stripe webhook needs `Authorization: Bearer idos_sk_…`; \
            `/v1/admin` routes need the admin token instead. Errors are always \
            `{\"error\", \"message\", \"code\", \"details\"?}`."
    ),
    paths(
        system::health,
        system::ready,
        system::version,
        super::metrics::render,
        serve,
        super::docs::page,
        instances::create,
        instances::list,
        instances::get,
        instances::update,
        instances::delete,
        engine::process,
        engine::process_batch,
        engine::snapshot,
        engine::contract,
        engine::reset,
        history::history,
        history::drift,
        trajectory::trajectory,
        events::events,
        keys::list,
        keys::create,
        keys::revoke,
        dashboard::page,
        personas::list,
        personas::get,
        personality_test::questions,
        personality_test::submit,
        usage::usage,
        usage::plans,
        billing::checkout,
        billing::portal,
        billing::webhook,
        admin::create_account,
        admin::list_accounts,
        admin::update_account,
        admin::create_key,
        admin::revoke_key,
    ),
    components(schemas(
        ErrorBody,
        events::StreamEvent,
        events::ReadyEvent,
        events::ObservationEvent,
        events::ResetEvent,
        events::NoticeEvent,
    )),
    tags(
        (name = "instances", description = "Create, list, read, rename and delete agent instances"),
        (name = "engine", description = "Feed observations and read state and contracts"),
        (name = "history", description = "The audit logs: observations and drift events"),
        (name = "personas", description = "The twelve reference personas"),
        (name = "personality test", description = "Give an instance its initial profile"),
        (name = "billing", description = "Plans and usage"),
        (name = "keys", description = "The caller's own API keys"),
        (name = "admin", description = "Accounts and keys (self-hosting; needs the admin token)"),
        (name = "operations", description = "Health, readiness, version, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// The generated document with the conventions applied, built once per
/// process (it depends only on the code).
fn generated() -> &'static Value {
    static GENERATED: OnceLock<Value> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let mut document = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
        conventions::apply(&mut document);
        document
    })
}

/// The finished document for a server with this configuration.
pub fn document(config: &Config) -> Value {
    let mut document = generated().clone();
    configured::apply(&mut document, config);
    document
}

/// `GET /openapi.json`.
#[utoipa::path(
    get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)),
)]
pub async fn serve(State(state): State<AppState>) -> Response {
    let text = document(&state.config).to_string();
    ([(CONTENT_TYPE, "application/json")], text).into_response()
}

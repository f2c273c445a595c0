//! `/v1/instances/{id}/history` and `/drift`: the audit logs.
//!
//! A page holds at most `limit` items, and stops early before the item
//! that would take its items past `server.max_page_bytes` of JSON (the
//! first item is always served). `limit` in the body stays the one asked
//! for, `has_more` says more items follow, and the next page is at
//! `offset + items.len()`: a reply's size is bounded whatever `limit` a
//! client asks for, and so is the memory a slow reader can hold.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::actors::InstanceError;
use crate::engine::DriftLevel;
use crate::store::Page;

use super::page_bounds;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::QueryParams;
use crate::http::openapi::params::InstanceId;
use crate::http::state::{AppState, Caller};
use crate::http::wire::{DriftBody, ObservationBody, PageBody};

/// Confirms the instance exists and belongs to the caller (404 otherwise,
/// exactly as for a missing instance): one indexed lookup, without waking
/// the instance's actor. The audit rows are committed with the change
/// that made them, so a page read after this check is never ahead of it.
pub(crate) async fn check_owner(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    match state.store.instance_owner(id).await? {
        Some(owner) if owner == caller.account.id => Ok(()),
        _ => Err(InstanceError::NotFound(id.to_owned()).into()),
    }
}

/// One page of an instance's log as the wire shows it.
pub(crate) fn instance_page<R, T: Serialize + From<R>>(
    id: String,
    page: Page<R>,
    limit: u64,
    offset: u64,
) -> Json<PageBody<T>> {
    let items = page.items.into_iter().map(T::from).collect();
    Json(PageBody::new(Some(id), items, page.total, limit, offset))
}

/// Query of the history route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Largest page, 1–1000 (default 50); a page of large contexts can
    /// stop earlier (the server's byte bound): `has_more` tells, and the
    /// next page is at `offset` + the number of items received.
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<u64>,
    /// Items to skip (default 0).
    #[param(nullable = false)]
    offset: Option<u64>,
}

/// `GET /v1/instances/{id}/history`: observations, newest first.
#[utoipa::path(
    get, path = "/v1/instances/{id}/history", tag = "history", operation_id = "get_history",
    params(InstanceId, HistoryQuery),
    responses(
        (status = 200, description = "A page of observations, newest first", body = PageBody<ObservationBody>),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> ApiResult<Json<PageBody<ObservationBody>>> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 50, 1000)?;
    check_owner(&state, &caller, &id).await?;
    let max_bytes = state.config.server.max_page_bytes;
    let page = state
        .store
        .history_bounded(&id, limit, offset, max_bytes)
        .await?;
    Ok(instance_page(id, page, limit, offset))
}

/// Query of the drift route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DriftQuery {
    /// Only events of this level; `D0`–`D3` are accepted for the long
    /// names, case-insensitively.
    #[serde(rename = "type")]
    #[param(schema_with = drift_filter_schema)]
    level: Option<String>,
    /// Largest page, 1–1000 (default 20); like history pages, a page can
    /// stop earlier at the server's byte bound (`has_more` tells).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<u64>,
    /// Items to skip (default 0).
    #[param(nullable = false)]
    offset: Option<u64>,
}

/// The drift filter: the long or the short name of a level (or empty for
/// no filter).
fn drift_filter_schema() -> utoipa::openapi::schema::Object {
    let names = DriftLevel::ALL
        .iter()
        .flat_map(|l| [l.as_str(), l.short()])
        .chain([""]);
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .build()
}

/// `GET /v1/instances/{id}/drift`: drift events, newest first.
#[utoipa::path(
    get, path = "/v1/instances/{id}/drift", tag = "history", operation_id = "get_drift",
    params(InstanceId, DriftQuery),
    responses(
        (status = 200, description = "A page of drift events, newest first", body = PageBody<DriftBody>),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn drift(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DriftQuery>,
) -> ApiResult<Json<PageBody<DriftBody>>> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 20, 1000)?;
    let level = match query.level.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(DriftLevel::parse_filter(text).ok_or_else(|| {
            ApiError::invalid_field(
                "type",
                format!("type must be D0_noise, D1_context, D2_adaptive or D3_corrupt (or D0–D3), not {text:?}"),
            )
        })?),
    };
    check_owner(&state, &caller, &id).await?;
    let max_bytes = state.config.server.max_page_bytes;
    let page = state
        .store
        .drift_events_bounded(&id, level, limit, offset, max_bytes)
        .await?;
    Ok(instance_page(id, page, limit, offset))
}

//! `/v1/instances/{id}/history` and `/drift`: the audit logs.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;

use crate::engine::DriftLevel;

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::QueryParams;
use crate::http::state::{AppState, Caller};
use crate::http::wire::{DriftEventBody, ObservationBody, PageBody};

/// Confirms the instance exists and belongs to the caller (404 otherwise,
/// exactly as for a missing instance).
async fn check_owner(state: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let account_id = caller.account.id.clone();
    state.registry.view(id, &account_id).await?;
    Ok(())
}

fn page_bounds(
    limit: Option<u64>,
    offset: Option<u64>,
    default: u64,
    max: u64,
) -> ApiResult<(u64, u64)> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be between 1 and {max}"),
        ));
    }
    Ok((limit, offset.unwrap_or(0)))
}

/// Query of the history route.
#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    limit: Option<u64>,
    offset: Option<u64>,
}

/// `GET /v1/instances/{id}/history`: observations, newest first.
pub async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> ApiResult<Json<PageBody<ObservationBody>>> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 50, 1000)?;
    check_owner(&state, &caller, &id).await?;
    let page = state.store.history(&id, limit, offset).await?;
    let items = page.items.into_iter().map(ObservationBody::from).collect();
    Ok(Json(PageBody::new(
        Some(id),
        items,
        page.total,
        limit,
        offset,
    )))
}

/// Query of the drift route.
#[derive(Debug, Deserialize)]
pub struct DriftQuery {
    #[serde(rename = "type")]
    level: Option<String>,
    limit: Option<u64>,
    offset: Option<u64>,
}

/// `GET /v1/instances/{id}/drift`: drift events, newest first.
pub async fn drift(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<DriftQuery>,
) -> ApiResult<Json<PageBody<DriftEventBody>>> {
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
    let page = state
        .store
        .drift_events(&id, level.map(|l| l.as_str()), limit, offset)
        .await?;
    let items = page.items.into_iter().map(DriftEventBody::from).collect();
    Ok(Json(PageBody::new(
        Some(id),
        items,
        page.total,
        limit,
        offset,
    )))
}

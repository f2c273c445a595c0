//! One module per resource of docs/api.md.

pub mod admin;
pub mod billing;
pub mod dashboard;
pub mod engine;
pub mod events;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod history;
pub mod instance_input;
pub mod instances;
pub mod keys;
pub mod observation_input;
pub mod personality_test;
pub mod personas;
pub mod system;
pub mod trajectory;
pub mod usage;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::http::error::{ApiError, ApiResult};

/// The largest offset a listing accepts (the store counts in `i64`).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// Checks a listing's `limit` (1..=`max`, default `default`) and `offset`
/// (0..=[`MAX_OFFSET`], default 0).
pub fn page_bounds(
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
    let offset = offset.unwrap_or(0);
    if offset > MAX_OFFSET {
        return Err(ApiError::invalid_field(
            "offset",
            format!("offset must be between 0 and {MAX_OFFSET}"),
        ));
    }
    Ok((limit, offset))
}

/// A JSON response with `ETag: "<version>"`.
pub fn with_etag<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    crate::http::idempotency::render_json(status, Some(version), body, &[]).into_response()
}

//! One module per resource of API.md.

pub mod admin;
pub mod engine;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod history;
pub mod instance_input;
pub mod instances;
pub mod personality_test;
pub mod personas;
pub mod system;
pub mod usage;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A JSON response with `ETag: "<version>"`.
pub fn with_etag<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

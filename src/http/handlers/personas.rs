//! `/v1/personas`: the twelve reference personas.

use axum::extract::Path;
use axum::Json;
use serde_json::{json, Value};

use crate::catalog;
use crate::http::error::{ApiError, ApiResult};

/// `GET /v1/personas`.
pub async fn list() -> Json<Value> {
    let personas = catalog::personas::all();
    Json(json!({ "personas": personas, "total": personas.len() }))
}

/// `GET /v1/personas/{id}`.
pub async fn get(Path(id): Path<String>) -> ApiResult<Json<&'static catalog::personas::Persona>> {
    catalog::personas::get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("persona {id} not found")))
}

//! `/v1/personas`: the twelve reference personas.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::catalog::{self, Persona};
use crate::http::error::{ApiError, ApiResult};

/// `GET /v1/personas` body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PersonaList)]
pub struct PersonaListBody {
    /// All twelve personas.
    #[schema(value_type = Vec<Persona>)]
    personas: &'static [Persona],
    /// How many (12).
    total: usize,
}

/// `GET /v1/personas`.
#[utoipa::path(
    get, path = "/v1/personas", tag = "personas", operation_id = "list_personas",
    responses((status = 200, description = "The twelve reference personas", body = PersonaListBody)),
)]
pub async fn list() -> Json<PersonaListBody> {
    let personas = catalog::personas::all();
    Json(PersonaListBody {
        personas,
        total: personas.len(),
    })
}

/// `GET /v1/personas/{id}`.
#[utoipa::path(
    get, path = "/v1/personas/{id}", tag = "personas", operation_id = "get_persona",
    params(("id" = String, Path, description = "Persona id, e.g. `persona_analytical`")),
    responses(
        (status = 200, description = "The persona", body = Persona),
        (status = 404, description = "No such persona (`not_found`)"),
    ),
)]
pub async fn get(Path(id): Path<String>) -> ApiResult<Json<&'static catalog::personas::Persona>> {
    catalog::personas::get(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("persona {id} not found")))
}

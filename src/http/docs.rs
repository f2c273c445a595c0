//! `GET /docs`: an interactive page for the OpenAPI document, served only
//! when `[docs] enabled = true` (`IDENTITY_OS_DOCS_ENABLED=true`).
//!
//! The page is a few lines of HTML; the viewer (Redoc) is loaded by the
//! reader's browser from a CDN, so nothing is downloaded at build time.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

/// The page: Redoc pointed at `/openapi.json`.
const PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Identity OS API</title>
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<noscript>This page needs JavaScript; the raw document is at <a href="/openapi.json">/openapi.json</a>.</noscript>
<script src="https://cdn.jsdelivr.net/npm/redoc@2.1.5/bundles/redoc.standalone.js"></script>
</body>
</html>
"#;

/// `GET /docs`.
#[utoipa::path(
    get, path = "/docs", tag = "operations", operation_id = "docs",
    responses(
        (status = 200, description = "The interactive documentation page", body = String,
            content_type = "text/html"),
        (status = 404, description = "Docs are disabled (`[docs] enabled = false`, the default)"),
    ),
)]
pub async fn page(State(state): State<AppState>) -> Response {
    if !state.config.docs.enabled {
        return ApiError::not_found("no such route (interactive docs are disabled)")
            .into_response();
    }
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response()
}

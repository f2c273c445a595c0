//! `GET /dashboard`: the browser dashboard and playground, embedded in the
//! binary (assets/dashboard/: one HTML page, one script, one stylesheet;
//! no library, no CDN, nothing fetched at run time). `GET /` redirects to
//! it. The page talks to the API with the key the user enters, which it
//! keeps in `sessionStorage` only.

use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("../../../assets/dashboard/index.html");
const SCRIPT: &str = include_str!("../../../assets/dashboard/app.js");
const STYLE: &str = include_str!("../../../assets/dashboard/app.css");
const ICON: &str = include_str!("../../../assets/dashboard/icon.svg");

/// Only this server's own files and API; no inline script or style, no
/// frames, no forms posted elsewhere.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    response
}

/// `GET /dashboard`.
#[utoipa::path(
    get, path = "/dashboard", tag = "operations", operation_id = "dashboard",
    responses((status = 200, description = "The dashboard (HTML)", content_type = "text/html", body = String)),
)]
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// `GET /dashboard/app.js`.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /dashboard/app.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /dashboard/icon.svg`.
pub async fn icon() -> Response {
    asset("image/svg+xml", ICON)
}

/// `GET /`: to the dashboard.
pub async fn root() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, HeaderValue::from_static("/dashboard"))],
    )
        .into_response()
}

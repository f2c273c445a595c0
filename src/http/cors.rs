//! CORS (`server.cors_allowed_origins`): which other origins' scripts may
//! call the API. Empty = same origin only (no CORS headers at all); `"*"`
//! = any origin. The API key travels in `Authorization`, never in a
//! cookie, so credentials are never allowed and `"*"` is safe to send.
//! A preflight from an allowed origin is answered here (204); from another
//! origin it is refused (`403 forbidden`), and a simple request from one
//! gets no CORS headers, so the browser withholds the answer.

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN,
    VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::state::AppState;

const ALLOW_METHODS: &str = "GET, POST, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str =
    "authorization, content-type, if-match, idempotency-key, last-event-id, x-request-id";
const EXPOSE_HEADERS: &str = "etag, retry-after, x-request-id, idempotent-replayed, \
     x-processed-count, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, \
     x-monthly-limit, x-monthly-remaining";
/// Seconds a browser may cache a preflight answer.
const MAX_AGE_SECS: &str = "600";

/// Checks the configured origins: `"*"` alone, or `scheme://host[:port]`
/// values without a path.
pub fn validate_origins(origins: &[String]) -> Result<(), String> {
    if origins.iter().any(|o| o == "*") {
        return if origins.len() == 1 {
            Ok(())
        } else {
            Err("\"*\" allows every origin and must be the only entry".into())
        };
    }
    for origin in origins {
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        let valid = rest.is_some_and(|host| {
            !host.is_empty() && !host.contains('/') && host.chars().all(|c| c.is_ascii_graphic())
        });
        if !valid {
            return Err(format!(
                "{origin:?} is not an origin (scheme://host[:port], no path), nor \"*\""
            ));
        }
    }
    Ok(())
}

/// The `Access-Control-Allow-Origin` value for this request's origin, if
/// it is allowed.
fn allowed_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let allowed = &state.config.server.cors_allowed_origins;
    if allowed.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let text = origin.to_str().ok()?;
    allowed
        .iter()
        .any(|o| o.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// The CORS middleware (inside the edge, so answers keep request ids and
/// security headers).
pub async fn handle(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.config.server.cors_allowed_origins.is_empty() {
        return next.run(request).await;
    }
    let origin = allowed_origin(&state, request.headers());
    let preflight = request.method() == Method::OPTIONS
        && request.headers().contains_key(ORIGIN)
        && request
            .headers()
            .contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        match &origin {
            Some(_) => {
                let mut ok = StatusCode::NO_CONTENT.into_response();
                let headers = ok.headers_mut();
                headers.insert(
                    ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static(ALLOW_METHODS),
                );
                headers.insert(
                    ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static(ALLOW_HEADERS),
                );
                headers.insert(
                    ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static(MAX_AGE_SECS),
                );
                ok
            }
            None => {
                return ApiError::forbidden("this origin may not call the API (CORS)")
                    .into_response()
            }
        }
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = origin {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSE_HEADERS),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::validate_origins;

    #[test]
    fn origins_are_checked() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(validate_origins(&[]).is_ok());
        assert!(validate_origins(&list(&["*"])).is_ok());
        assert!(validate_origins(&list(&["https://a.example", "http://127.0.0.1:3000"])).is_ok());
        assert!(validate_origins(&list(&["*", "https://a.example"])).is_err());
        assert!(validate_origins(&list(&["a.example"])).is_err());
        assert!(validate_origins(&list(&["https://a.example/path"])).is_err());
    }
}

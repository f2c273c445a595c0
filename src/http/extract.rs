//! Request extractors that fail with [`ApiError`], never with a plain-text
//! rejection: JSON bodies (size-limited, unknown fields rejected), query
//! strings, and `If-Match`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;

/// A JSON body parsed into `T`. An empty body is read as `{}`, so routes
/// whose fields are all optional accept a bare POST.
pub struct JsonBody<T>(pub T);

/// Reads the whole body, refusing more than the configured limit.
pub async fn read_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::payload_too_large(limit));
    }
    axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
                || e.to_string().contains("length limit");
            if too_large {
                ApiError::payload_too_large(limit)
            } else {
                ApiError::invalid(format!("could not read the request body: {e}"))
            }
        })
}

/// Parses a JSON object with a message that says what and where. Every
/// request body is an object: serde's derive would also read a struct from
/// an array of its fields in order, which no client means. No body, or a
/// JSON `null`, reads as `{}`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes: &[u8] = if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
        b"{}"
    } else {
        bytes
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::invalid("the request body must be a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                format!("malformed JSON body: {e}")
            }
            _ => format!("invalid request body: {e}"),
        };
        ApiError::invalid(message)
            .with_details(serde_json::json!({ "line": e.line(), "column": e.column() }))
    })
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = read_body(request, state.config.server.body_limit_bytes).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Query parameters parsed into `T` (unknown parameters are ignored, as
/// HTTP clients commonly add their own).
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(QueryParams)
            .map_err(|e| ApiError::invalid(format!("invalid query parameters: {e}")))
    }
}

/// The version named by `If-Match` (`"3"`, `3` or `W/"3"`); `*` or no
/// header means "any version".
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(axum::http::header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value
            .to_str()
            .map_err(|_| ApiError::invalid_field("If-Match", "If-Match must be ASCII"))?
            .trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        let bare = text.trim_start_matches("W/").trim_matches('"');
        bare.parse::<i64>().map(|v| IfMatch(Some(v))).map_err(|_| {
            ApiError::invalid_field(
                "If-Match",
                format!("If-Match must be a version ETag such as \"3\", not {text}"),
            )
        })
    }
}

//! The one error type of the HTTP layer, and its wire shape.
//!
//! Every failure of every route ends here and leaves as
//! `{"error": code, "message": ..., "code": code, "details"?: {...}}` with
//! the status API.md assigns to that code. Lower layers' errors are
//! converted once, in the `From` impls below.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::actors::InstanceError;
use crate::store::StoreError;

/// An API error: a stable code, a human message, optional details.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    InvalidRequest {
        message: String,
        details: Option<Value>,
    },
    #[error("the personality test is incomplete: {} question(s) unanswered", missing_questions.len())]
    IncompleteTest { missing_questions: Vec<u32> },
    #[error("{0}")]
    Conflict(String),
    #[error("observation throttled: instances accept one observation per MIN_CYCLE_INTERVAL; retry in {retry_after_secs} s or send caller timestamps")]
    Throttled { retry_after_secs: u64 },
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    QuotaExceeded(String),
    #[error("{message}")]
    ServiceUnavailable {
        message: String,
        retry_after_secs: u64,
    },
    #[error("request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("billing is not configured on this server (STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET unset)")]
    StripeNotConfigured,
    #[error("{0}")]
    WebhookVerificationFailed(String),
    #[error("{0}")]
    InvalidPlan(String),
    #[error("internal server error")]
    Internal,
}

impl ApiError {
    /// A 422 with a message only.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            details: None,
        }
    }

    /// A 422 naming the offending field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        ApiError::InvalidRequest {
            message: message.into(),
            details: Some(json!({ "field": field })),
        }
    }

    /// The stable machine code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::IncompleteTest { .. } => "incomplete_test",
            ApiError::Conflict(_) => "conflict",
            ApiError::Throttled { .. } => "throttled",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::QuotaExceeded(_) => "quota_exceeded",
            ApiError::ServiceUnavailable { .. } => "service_unavailable",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::StripeNotConfigured => "stripe_not_configured",
            ApiError::WebhookVerificationFailed(_) => "webhook_verification_failed",
            ApiError::InvalidPlan(_) => "invalid_plan",
            ApiError::Internal => "internal",
        }
    }

    /// The HTTP status of the code (API.md "Errors").
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::InvalidRequest { .. }
            | ApiError::IncompleteTest { .. }
            | ApiError::InvalidPlan(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Throttled { .. }
            | ApiError::RateLimited { .. }
            | ApiError::QuotaExceeded(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::StripeNotConfigured | ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::WebhookVerificationFailed(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ApiError::InvalidRequest { details, .. } => details.clone(),
            ApiError::IncompleteTest { missing_questions } => {
                Some(json!({ "missing_questions": missing_questions }))
            }
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Throttled { retry_after_secs }
            | ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::ServiceUnavailable {
                retry_after_secs, ..
            } => Some((*retry_after_secs).max(1)),
            _ => None,
        }
    }
}

/// The JSON body of every error response (the OpenAPI `Error` schema).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// The stable machine code, e.g. `not_found`.
    #[schema(value_type = String, pattern = "^[a-z_]+$", example = "not_found")]
    pub error: &'static str,
    /// A message for humans; never echoes credentials.
    pub message: String,
    /// The same code again (the Python SDK reads this one).
    #[schema(value_type = String, pattern = "^[a-z_]+$", example = "not_found")]
    pub code: &'static str,
    /// Structured extras, e.g. `{"field": "signal_strength"}` or
    /// `{"missing_questions": [3, 4]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub details: Option<Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let body = ErrorBody {
            error: code,
            message: self.to_string(),
            code,
            details: self.details(),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<InstanceError> for ApiError {
    fn from(error: InstanceError) -> Self {
        match error {
            InstanceError::NotFound(id) => ApiError::NotFound(format!("instance {id} not found")),
            InstanceError::VersionMismatch { current } => ApiError::Conflict(format!(
                "version conflict: the instance is at version {current}; re-read it and retry"
            )),
            InstanceError::Throttled { retry_after_secs } => {
                ApiError::Throttled { retry_after_secs }
            }
            e @ InstanceError::NoStablePoint => ApiError::Conflict(e.to_string()),
            InstanceError::ShuttingDown => ApiError::ServiceUnavailable {
                message: "the server is shutting down".into(),
                retry_after_secs: 1,
            },
            InstanceError::Store(e) => e.into(),
            e @ (InstanceError::Corrupt(_) | InstanceError::ActorFailed) => {
                tracing::error!(error = %e, "instance request failed");
                ApiError::Internal
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict => {
                ApiError::Conflict("a concurrent change won; re-read and retry".into())
            }
            StoreError::LimitReached { limit } => ApiError::Forbidden(format!(
                "instance limit of {limit} reached for this account's tier"
            )),
            StoreError::Closed => ApiError::ServiceUnavailable {
                message: "the server is shutting down".into(),
                retry_after_secs: 1,
            },
            e @ (StoreError::Unsupported(_) | StoreError::Database(_)) => {
                tracing::error!(error = %e, "store failure");
                ApiError::Internal
            }
        }
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

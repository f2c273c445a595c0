//! The one place where errors meet the wire.
//!
//! Every failure of every route leaves as
//! `{"error": code, "message": ..., "code": code, "details"?: {...}}` with
//! the status docs/api.md assigns to that code. The lower layers know
//! nothing of HTTP: each of their error types says here which [`Code`] it
//! is ([`ErrorCode`]), its `Display` is the message, and one generic
//! conversion turns any of them into an [`ApiError`]. Handlers build the
//! errors only they can see (validation, authentication) with the
//! constructors of [`ApiError`].

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::accounts::KeyRejection;
use crate::actors::limiter::LimiterError;
use crate::actors::InstanceError;
use crate::actors::{BillingError, WebhookError};
use crate::catalog::TestError;
use crate::logging::ErrorChain;
use crate::store::StoreError;

/// The stable machine codes of the API (docs/api.md "Errors").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthorized,
    Forbidden,
    NotFound,
    InvalidRequest,
    IncompleteTest,
    Conflict,
    Throttled,
    RateLimited,
    QuotaExceeded,
    ServiceUnavailable,
    PayloadTooLarge,
    MethodNotAllowed,
    StripeNotConfigured,
    WebhookVerificationFailed,
    InvalidPlan,
    Internal,
}

impl Code {
    /// The code as it appears in `error` and `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::InvalidRequest => "invalid_request",
            Code::IncompleteTest => "incomplete_test",
            Code::Conflict => "conflict",
            Code::Throttled => "throttled",
            Code::RateLimited => "rate_limited",
            Code::QuotaExceeded => "quota_exceeded",
            Code::ServiceUnavailable => "service_unavailable",
            Code::PayloadTooLarge => "payload_too_large",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::StripeNotConfigured => "stripe_not_configured",
            Code::WebhookVerificationFailed => "webhook_verification_failed",
            Code::InvalidPlan => "invalid_plan",
            Code::Internal => "internal",
        }
    }

    /// The HTTP status of the code.
    pub fn status(self) -> StatusCode {
        match self {
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::InvalidRequest | Code::IncompleteTest | Code::InvalidPlan => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Code::Conflict => StatusCode::CONFLICT,
            Code::Throttled | Code::RateLimited | Code::QuotaExceeded => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Code::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::StripeNotConfigured | Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::WebhookVerificationFailed => StatusCode::BAD_REQUEST,
        }
    }
}

/// What an error of a lower layer is on the wire. Its `Display` is the
/// message (except for [`Code::Internal`], whose message is generic and
/// whose error, with its sources, goes to the log).
pub trait ErrorCode: std::error::Error {
    fn error_code(&self) -> Code;
    /// Seconds for `Retry-After` (sent with throttled, rate_limited and
    /// service_unavailable only).
    fn retry_after_secs(&self) -> Option<u64> {
        None
    }
    /// Structured extras for `details`.
    fn details(&self) -> Option<Value> {
        None
    }
}

/// An API error: a stable code, a human message, optional details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    code: Code,
    message: String,
    details: Option<Value>,
    retry_after_secs: Option<u64>,
}

/// The message of every `internal` error: details go to the log only.
const INTERNAL_MESSAGE: &str = "internal server error";

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
        }
    }

    /// Adds structured extras.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds `Retry-After` (at least 1 s).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    /// A 422 with a message only.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidRequest, message)
    }

    /// A 422 naming the offending field.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::invalid(message).with_details(json!({ "field": field }))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    /// The answer to a path no route matches.
    pub fn no_such_route() -> Self {
        Self::not_found("no such route")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(Code::Conflict, message)
    }

    /// A 503 the client should retry after `retry_after_secs`.
    pub fn service_unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(Code::ServiceUnavailable, message).with_retry_after(retry_after_secs)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            Code::PayloadTooLarge,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(Code::MethodNotAllowed, "method not allowed on this route")
    }

    pub fn stripe_not_configured() -> Self {
        Self::new(
            Code::StripeNotConfigured,
            "billing is not configured on this server (STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET unset)",
        )
    }

    pub fn invalid_plan(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidPlan, message)
    }

    /// The generic 500; log what happened before returning it.
    pub fn internal() -> Self {
        Self::new(Code::Internal, INTERNAL_MESSAGE)
    }

    /// The stable machine code.
    pub fn code(&self) -> Code {
        self.code
    }

    /// The message for humans.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The structured extras, if any.
    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }

    /// The HTTP status of the code.
    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl<E: ErrorCode> From<E> for ApiError {
    fn from(error: E) -> Self {
        let code = error.error_code();
        if code == Code::Internal {
            tracing::error!(error = %ErrorChain(&error), "request failed");
            return ApiError::internal();
        }
        if error.source().is_some() {
            tracing::warn!(error = %ErrorChain(&error), code = code.as_str(), "request refused");
        }
        ApiError {
            code,
            message: error.to_string(),
            details: error.details(),
            retry_after_secs: error.retry_after_secs().map(|s| s.max(1)),
        }
    }
}

/// The JSON body of every error response (the OpenAPI `Error` schema).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// The stable machine code, e.g. `not_found`.
    #[schema(value_type = String, pattern = "^[a-z_]+$", example = "not_found")]
    pub error: &'static str,
    /// A message for humans; never echoes credentials.
    #[schema(value_type = String)]
    pub message: &'a str,
    /// The same code again (the Python SDK reads this one).
    #[schema(value_type = String, pattern = "^[a-z_]+$", example = "not_found")]
    pub code: &'static str,
    /// Structured extras, e.g. `{"field": "signal_strength"}` or
    /// `{"missing_questions": [3, 4]}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub details: Option<&'a Value>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code.as_str();
        let body = ErrorBody {
            error: code,
            message: &self.message,
            code,
            details: self.details.as_ref(),
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// How long a client should wait when the server is shutting down or a
/// dependency is briefly unavailable.
const BRIEF_RETRY_SECS: u64 = 1;

impl ErrorCode for InstanceError {
    fn error_code(&self) -> Code {
        match self {
            InstanceError::NotFound(_) => Code::NotFound,
            InstanceError::VersionMismatch { .. } | InstanceError::NoStablePoint => Code::Conflict,
            InstanceError::Throttled { .. } => Code::Throttled,
            InstanceError::ShuttingDown => Code::ServiceUnavailable,
            InstanceError::Store(e) => e.error_code(),
            InstanceError::Corrupt(_) | InstanceError::ActorFailed => Code::Internal,
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            InstanceError::Throttled { retry_after_secs } => Some(*retry_after_secs),
            InstanceError::ShuttingDown => Some(BRIEF_RETRY_SECS),
            InstanceError::Store(e) => e.retry_after_secs(),
            _ => None,
        }
    }
}

impl ErrorCode for StoreError {
    fn error_code(&self) -> Code {
        match self {
            StoreError::NotFound => Code::NotFound,
            StoreError::Conflict | StoreError::IdempotencyKeyUsed => Code::Conflict,
            StoreError::LimitReached { .. } => Code::Forbidden,
            StoreError::Closed | StoreError::FailStopped(_) | StoreError::Unavailable(_) => {
                Code::ServiceUnavailable
            }
            StoreError::Postgres(e) if postgres_transient(e) => Code::ServiceUnavailable,
            StoreError::Shared(e) => e.error_code(),
            StoreError::Unsupported(_)
            | StoreError::Sqlite(_)
            | StoreError::Postgres(_)
            | StoreError::Io { .. }
            | StoreError::Codec { .. }
            | StoreError::Migration { .. }
            | StoreError::Failed(_) => Code::Internal,
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            StoreError::Closed | StoreError::FailStopped(_) | StoreError::Unavailable(_) => {
                Some(BRIEF_RETRY_SECS)
            }
            StoreError::Postgres(e) if postgres_transient(e) => Some(BRIEF_RETRY_SECS),
            StoreError::Shared(e) => e.retry_after_secs(),
            _ => None,
        }
    }
}

/// A PostgreSQL failure that a retry may not meet: the connection broke,
/// the server is shutting down or starting, out of connections, or the
/// transaction lost a serialisation or deadlock race.
fn postgres_transient(e: &tokio_postgres::Error) -> bool {
    let Some(db) = e.as_db_error() else {
        return true;
    };
    let code = db.code().code();
    code.starts_with("08") || code.starts_with("57P") || matches!(code, "53300" | "40001" | "40P01")
}

impl ErrorCode for LimiterError {
    fn error_code(&self) -> Code {
        match self {
            LimiterError::QuotaExceeded { .. } => Code::QuotaExceeded,
            LimiterError::Store(_) | LimiterError::NotRunning | LimiterError::Unavailable(_) => {
                Code::ServiceUnavailable
            }
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            LimiterError::QuotaExceeded { .. } => None,
            LimiterError::Store(_) | LimiterError::NotRunning | LimiterError::Unavailable(_) => {
                Some(BRIEF_RETRY_SECS)
            }
        }
    }
}

impl ErrorCode for BillingError {
    fn error_code(&self) -> Code {
        match self {
            BillingError::InvalidPlan(_) => Code::InvalidPlan,
            BillingError::Store(e) => e.error_code(),
            BillingError::Stripe(_) | BillingError::Unavailable => Code::Internal,
        }
    }

    fn retry_after_secs(&self) -> Option<u64> {
        match self {
            BillingError::Store(e) => e.retry_after_secs(),
            _ => None,
        }
    }
}

impl ErrorCode for WebhookError {
    fn error_code(&self) -> Code {
        match self {
            WebhookError::Signature(_) => Code::WebhookVerificationFailed,
            WebhookError::NotAnEvent => Code::InvalidRequest,
        }
    }
}

impl ErrorCode for KeyRejection {
    fn error_code(&self) -> Code {
        Code::Unauthorized
    }
}

impl ErrorCode for TestError {
    fn error_code(&self) -> Code {
        match self {
            TestError::Incomplete { .. } => Code::IncompleteTest,
            _ => Code::InvalidRequest,
        }
    }

    fn details(&self) -> Option<Value> {
        Some(match self {
            TestError::Incomplete { missing_questions } => {
                json!({ "missing_questions": missing_questions })
            }
            TestError::UnknownQuestions(ids) | TestError::DuplicateQuestions(ids) => {
                json!({ "field": "responses", "question_ids": ids })
            }
            TestError::ScoreOutOfRange { question_id, .. } => {
                json!({ "field": "responses", "question_ids": [question_id] })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_message_out_of_the_response() {
        let error = ApiError::from(StoreError::Failed("disk on fire".into()));
        assert_eq!(error.code(), Code::Internal);
        assert_eq!(error.message(), INTERNAL_MESSAGE);
    }

    #[test]
    fn layer_errors_carry_their_display_as_message() {
        let error = ApiError::from(InstanceError::VersionMismatch { current: 7 });
        assert_eq!(error.code(), Code::Conflict);
        assert!(error.message().contains("version 7"), "{}", error.message());
        let error = ApiError::from(InstanceError::Store(StoreError::Closed));
        assert_eq!(error.code(), Code::ServiceUnavailable);
        assert_eq!(error.retry_after_secs, Some(1));
    }

    #[test]
    fn personality_test_errors_map_to_their_codes() {
        let incomplete = ApiError::from(TestError::Incomplete {
            missing_questions: vec![3, 17],
        });
        assert_eq!(incomplete.code(), Code::IncompleteTest);
        assert_eq!(
            incomplete.details(),
            Some(&json!({ "missing_questions": [3, 17] }))
        );
        let unknown = ApiError::from(TestError::UnknownQuestions(vec![15, 99]));
        assert_eq!(unknown.code(), Code::InvalidRequest);
        let range = ApiError::from(TestError::ScoreOutOfRange {
            question_id: 4,
            score: 6,
        });
        assert_eq!(range.code(), Code::InvalidRequest);
        assert_eq!(
            range.details(),
            Some(&json!({ "field": "responses", "question_ids": [4] }))
        );
    }

    #[test]
    fn the_chain_lists_every_source() {
        let io = std::io::Error::other("disk gone");
        let error = StoreError::Io {
            what: "fsync of the WAL failed".into(),
            source: io,
        };
        assert_eq!(
            ErrorChain(&error).to_string(),
            "fsync of the WAL failed: disk gone"
        );
    }
}

//! The per-minute rate limit and the limit headers on every authenticated
//! response (docs/api.md "Rate-limit headers").
//!
//! Unlimited dimensions are reported as 2147483647 (`i32::MAX`): clients
//! parse every header as an integer and never see "0 left" for a budget
//! that cannot run out.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::actors::limiter::{MonthlyStatus, RateDecision};

use super::error::{ApiError, Code};
use super::state::{AppState, Caller};

/// What an unlimited dimension is reported as.
pub const UNLIMITED: u64 = i32::MAX as u64;

fn set(headers: &mut HeaderMap, name: &'static str, value: u64) {
    headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
}

fn add_rate_headers(headers: &mut HeaderMap, rate: &RateDecision) {
    set(
        headers,
        "x-ratelimit-limit",
        rate.limit.map_or(UNLIMITED, u64::from),
    );
    let remaining = if rate.limit.is_some() {
        u64::from(rate.remaining)
    } else {
        UNLIMITED
    };
    set(headers, "x-ratelimit-remaining", remaining);
    set(headers, "x-ratelimit-reset", rate.reset_at.max(0) as u64);
}

fn add_monthly_headers(headers: &mut HeaderMap, monthly: &MonthlyStatus) {
    set(
        headers,
        "x-monthly-limit",
        monthly.limit.unwrap_or(UNLIMITED),
    );
    set(
        headers,
        "x-monthly-remaining",
        monthly.remaining().unwrap_or(UNLIMITED),
    );
}

/// Charges the request to the caller's per-minute budget, refuses it with
/// `rate_limited` when the budget is spent, and adds the limit headers to
/// whatever the handler answers. Called by [`super::auth::require_api_key`]
/// once it knows the caller.
pub async fn enforce_rate_limit(
    state: &AppState,
    caller: &Caller,
    request: Request,
    next: Next,
) -> Response {
    let charge = match state.limiter.charge(&caller.account).await {
        Ok(charge) => charge,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let rate = charge.rate;
    let mut response = match rate.retry_after_secs {
        Some(retry_after_secs) => ApiError::new(
            Code::RateLimited,
            format!(
                "rate limit of {} requests per minute exceeded for the {} tier",
                rate.limit.unwrap_or(0),
                caller.account.tier
            ),
        )
        .with_retry_after(retry_after_secs)
        .into_response(),
        None => super::idempotency::run(state, caller, request, next).await,
    };
    let headers = response.headers_mut();
    add_rate_headers(headers, &rate);
    if let Some(monthly) = &charge.monthly {
        add_monthly_headers(headers, monthly);
    }
    if charge.degraded {
        headers.insert(
            HeaderName::from_static("x-ratelimit-degraded"),
            HeaderValue::from_static("true"),
        );
    }
    response
}

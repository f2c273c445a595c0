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

use axum::extract::MatchedPath;
use axum::http::Method;

use crate::actors::limiter::{MonthlyStatus, PreReserved, RateDecision};

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
    mut request: Request,
    next: Next,
) -> Response {
    let cycles = planned_cycles(&request);
    let mut charge = match state.limiter.charge(&caller.account, cycles).await {
        Ok(charge) => charge,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if cycles > 0 {
        request
            .extensions_mut()
            .insert(PreReserved::new(charge.reservation.take()));
    }
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
    add_rate_headers(response.headers_mut(), &rate);
    // The handler's reservation, when it committed cycles, knows the
    // figures after them; otherwise nothing was spent by this request.
    let spent = response.extensions_mut().remove::<MonthlyStatus>();
    let headers = response.headers_mut();
    if let Some(monthly) = spent.as_ref().or(charge.monthly.as_ref()) {
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

/// Cycles a request will spend if it succeeds, known before its body is
/// read: one for a single observation. A batch's count is in its body, so
/// its handler reserves for itself.
fn planned_cycles(request: &Request) -> u64 {
    let single = request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| path.as_str() == "/v1/instances/{id}/process");
    u64::from(single)
}

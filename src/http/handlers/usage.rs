//! `GET /v1/usage` and `GET /v1/billing/plans`: what the caller may do and
//! has done. Unlimited figures are `null` in these bodies.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{Datelike, TimeZone, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::error::ApiResult;
use crate::http::state::{AppState, Caller};
use crate::time::format_timestamp;

/// A configured limit; 0 means unlimited and is reported as `null`.
fn limit(value: u64) -> Option<u64> {
    (value != 0).then_some(value)
}

/// `GET /v1/usage` body; `null` limits are unlimited.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Usage)]
pub struct UsageBody {
    /// The account's tier.
    tier: String,
    /// Requests per minute.
    #[schema(required = true)]
    rate_limit_per_minute: Option<u64>,
    /// Cycles per calendar month (UTC).
    #[schema(required = true)]
    monthly_quota: Option<u64>,
    /// Cycles used this month.
    monthly_used: u64,
    /// Cycles left this month.
    #[schema(required = true)]
    monthly_remaining: Option<u64>,
    /// Instances the account has.
    instances_used: u64,
    /// Instances the tier allows.
    #[schema(required = true)]
    instances_limit: Option<u64>,
    /// Start of the quota period (RFC 3339 UTC).
    #[schema(format = DateTime)]
    period_start: String,
    /// End of the quota period (exclusive).
    #[schema(format = DateTime)]
    period_end: String,
}

/// One tier of `GET /v1/billing/plans`; `null` limits are unlimited.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Plan)]
pub struct PlanBody {
    /// Tier name, e.g. `indie`.
    id: String,
    /// Monthly price in cents.
    price_cents: u64,
    /// Always `usd`.
    currency: &'static str,
    /// Always `month`.
    interval: &'static str,
    /// Requests per minute.
    #[schema(required = true)]
    rate_limit_per_minute: Option<u64>,
    /// Cycles per month.
    #[schema(required = true)]
    monthly_quota: Option<u64>,
    /// Instances allowed.
    #[schema(required = true)]
    instances_limit: Option<u64>,
}

/// `GET /v1/billing/plans` body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Plans)]
pub struct PlansBody {
    /// The tiers that are sold.
    plans: Vec<PlanBody>,
    /// How many.
    total: usize,
}

/// The current quota period: this calendar month in UTC.
fn period() -> (String, String) {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (year, month) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (
        format_timestamp(start.timestamp_micros()),
        format_timestamp(end.timestamp_micros()),
    )
}

/// `GET /v1/usage`.
#[utoipa::path(
    get, path = "/v1/usage", tag = "billing", operation_id = "get_usage",
    responses((status = 200, description = "The caller's limits and this month's usage", body = UsageBody)),
)]
pub async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<UsageBody>> {
    let tier = state.limiter.tier(&caller.account.tier);
    let monthly = state.limiter.monthly(&caller.account).await?;
    let instances = state.store.count_instances(&caller.account.id).await?;
    let (period_start, period_end) = period();
    Ok(Json(UsageBody {
        tier: caller.account.tier.clone(),
        rate_limit_per_minute: limit(tier.rate_per_minute),
        monthly_quota: limit(tier.monthly_cycles),
        monthly_used: monthly.used,
        monthly_remaining: monthly.remaining(),
        instances_used: instances,
        instances_limit: limit(tier.max_instances),
        period_start,
        period_end,
    }))
}

/// `GET /v1/billing/plans`: the tiers that are sold (all but `unlimited`).
#[utoipa::path(
    get, path = "/v1/billing/plans", tag = "billing", operation_id = "list_plans",
    responses((status = 200, description = "The tiers with price and limits", body = PlansBody)),
)]
pub async fn plans(State(state): State<AppState>) -> Json<PlansBody> {
    let plans: Vec<PlanBody> = state
        .config
        .tiers
        .iter()
        .filter(|(name, _)| name.as_str() != "unlimited")
        .map(|(name, tier)| PlanBody {
            id: name.clone(),
            price_cents: tier.price_cents,
            currency: "usd",
            interval: "month",
            rate_limit_per_minute: limit(tier.rate_per_minute),
            monthly_quota: limit(tier.monthly_cycles),
            instances_limit: limit(tier.max_instances),
        })
        .collect();
    let total = plans.len();
    Json(PlansBody { plans, total })
}

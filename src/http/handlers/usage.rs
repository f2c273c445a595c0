//! `GET /v1/usage` and `GET /v1/billing/plans`: what the caller may do and
//! has done. Unlimited figures are `null` in these bodies.

use axum::extract::State;
use axum::{Extension, Json};
use chrono::{Datelike, TimeZone, Utc};
use serde_json::{json, Value};

use crate::http::error::ApiResult;
use crate::http::state::{AppState, Caller};
use crate::time::format_timestamp;

fn limit(value: u64) -> Value {
    if value == 0 {
        Value::Null
    } else {
        json!(value)
    }
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
pub async fn usage(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    let tier = state.limiter.tier(&caller.account.tier);
    let monthly = state.limiter.monthly(&caller.account).await?;
    let instances = state.store.count_instances(&caller.account.id).await?;
    let (period_start, period_end) = period();
    Ok(Json(json!({
        "tier": caller.account.tier,
        "rate_limit_per_minute": limit(tier.rate_per_minute),
        "monthly_quota": limit(tier.monthly_cycles),
        "monthly_used": monthly.used,
        "monthly_remaining": monthly.remaining(),
        "instances_used": instances,
        "instances_limit": limit(tier.max_instances),
        "period_start": period_start,
        "period_end": period_end,
    })))
}

/// `GET /v1/billing/plans`: the tiers that are sold (all but `unlimited`).
pub async fn plans(State(state): State<AppState>) -> Json<Value> {
    let plans: Vec<Value> = state
        .config
        .tiers
        .iter()
        .filter(|(name, _)| name.as_str() != "unlimited")
        .map(|(name, tier)| {
            json!({
                "id": name,
                "price_cents": tier.price_cents,
                "currency": "usd",
                "interval": "month",
                "rate_limit_per_minute": limit(tier.rate_per_minute),
                "monthly_quota": limit(tier.monthly_cycles),
                "instances_limit": limit(tier.max_instances),
            })
        })
        .collect();
    let total = plans.len();
    Json(json!({ "plans": plans, "total": total }))
}

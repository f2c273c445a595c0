//! `/v1/admin/*`: account and key management for self-hosters, behind the
//! admin token. The CLI offers the same operations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::accounts;
use crate::store::{BillingInfo, StoreError};

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::state::AppState;

/// `POST /v1/admin/accounts` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    name: String,
    #[serde(default)]
    tier: Option<String>,
}

fn check_tier(state: &AppState, tier: &str) -> ApiResult<()> {
    if state.config.tiers.contains_key(tier) {
        Ok(())
    } else {
        let known: Vec<&str> = state.config.tiers.keys().map(String::as_str).collect();
        Err(ApiError::invalid_field(
            "tier",
            format!("unknown tier {tier:?}; configured: {}", known.join(", ")),
        ))
    }
}

/// An account as the admin API shows it, with its Stripe link (billing;
/// `null` when billing never touched the account).
fn account_json(account: &crate::store::Account, billing: Option<&BillingInfo>) -> Value {
    json!({
        "id": account.id,
        "name": account.name,
        "tier": account.tier,
        "created_at": crate::time::format_timestamp(account.created_at),
        "stripe_customer_id": billing.and_then(|b| b.stripe_customer_id.as_deref()),
        "subscription_status": billing.and_then(|b| b.subscription_status.as_deref()),
    })
}

/// Creates an account.
pub async fn create_account(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tier = body.tier.unwrap_or_else(|| "free".into());
    check_tier(&state, &tier)?;
    let name = crate::http::handlers::instances::validate_name(&body.name)?;
    let account = accounts::create_account(state.store.as_ref(), &name, &tier).await?;
    Ok((StatusCode::CREATED, Json(account_json(&account, None))))
}

/// Lists accounts.
pub async fn list_accounts(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let accounts = state.store.list_accounts().await?;
    let billing = state.store.list_billing_info().await?;
    let billing_of = |id: &str| billing.iter().find(|b| b.account_id == id);
    let items: Vec<Value> = accounts
        .iter()
        .map(|a| account_json(a, billing_of(&a.id)))
        .collect();
    Ok(Json(json!({ "items": items, "total": items.len() })))
}

/// `PATCH /v1/admin/accounts/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    tier: String,
}

/// Changes an account's tier (effective on its next request).
pub async fn update_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAccountRequest>,
) -> ApiResult<Json<Value>> {
    check_tier(&state, &body.tier)?;
    match state.store.set_account_tier(&id, &body.tier).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::NotFound(format!("account {id} not found")))
        }
        other => other?,
    }
    let account = state
        .store
        .get_account(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("account {id} not found")))?;
    let billing = state.store.billing_info(&id).await?;
    Ok(Json(account_json(&account, billing.as_ref())))
}

/// Creates a key; the only time the key is shown.
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    match accounts::create_key(state.store.as_ref(), &id).await {
        Ok(created) => Ok((
            StatusCode::CREATED,
            Json(
                json!({ "key": created.key, "key_id": created.record.id, "prefix": created.record.prefix }),
            ),
        )),
        Err(StoreError::NotFound) => Err(ApiError::NotFound(format!("account {id} not found"))),
        Err(e) => Err(e.into()),
    }
}

/// Revokes a key (effective on the next request).
pub async fn revoke_key(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> ApiResult<Json<Value>> {
    match state
        .store
        .revoke_api_key(&key_id, crate::time::now_micros())
        .await
    {
        Ok(()) => Ok(Json(json!({ "key_id": key_id, "revoked": true }))),
        Err(StoreError::NotFound) => Err(ApiError::NotFound(format!("key {key_id} not found"))),
        Err(e) => Err(e.into()),
    }
}

//! `/v1/admin/*`: account and key management for self-hosters, behind the
//! admin token. The CLI offers the same operations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts;
use crate::store::{BillingInfo, StoreError};

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::JsonBody;
use crate::http::openapi::configured::TierName;
use crate::http::state::AppState;

/// `POST /v1/admin/accounts` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountRequest {
    /// Account name, 1–100 characters after trimming.
    #[schema(pattern = r"^\s*\S([\s\S]{0,98}\S)?\s*$")]
    name: String,
    /// A configured tier (default `free`).
    #[serde(default)]
    #[schema(value_type = Option<TierName>)]
    tier: Option<String>,
}

/// An account as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Account)]
pub struct AccountBody {
    /// Account id.
    id: String,
    /// Account name.
    name: String,
    /// Its tier.
    tier: String,
    /// RFC 3339 UTC.
    #[schema(format = DateTime)]
    created_at: String,
    /// The account's Stripe customer (`null` until billing touches it).
    stripe_customer_id: Option<String>,
    /// Stripe subscription status (`active`, `past_due`, `canceled`…), if any.
    subscription_status: Option<String>,
}

/// `GET /v1/admin/accounts` body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AccountList)]
pub struct AccountListBody {
    /// Every account.
    items: Vec<AccountBody>,
    /// How many.
    total: usize,
}

/// A new API key: the only time the key itself is shown.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedKey)]
pub struct CreatedKeyBody {
    /// The key (`idos_sk_` + 32 base62 characters).
    #[schema(pattern = "^idos_sk_[0-9A-Za-z]{32}$")]
    key: String,
    /// Its id, for revocation.
    key_id: String,
    /// The displayable prefix.
    prefix: String,
}

/// The answer to a revocation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RevokedKey)]
pub struct RevokedKeyBody {
    /// The revoked key's id.
    key_id: String,
    /// Always `true`.
    revoked: bool,
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
fn account_json(account: &crate::store::Account, billing: Option<&BillingInfo>) -> AccountBody {
    AccountBody {
        id: account.id.clone(),
        name: account.name.clone(),
        tier: account.tier.clone(),
        created_at: crate::time::format_timestamp(account.created_at),
        stripe_customer_id: billing.and_then(|b| b.stripe_customer_id.clone()),
        subscription_status: billing.and_then(|b| b.subscription_status.clone()),
    }
}

/// Creates an account.
#[utoipa::path(
    post, path = "/v1/admin/accounts", tag = "admin", operation_id = "admin_create_account",
    request_body = CreateAccountRequest,
    responses(
        (status = 201, description = "The new account", body = AccountBody),
        (status = 422, description = "Unknown tier or bad name (`invalid_request`)"),
    ),
)]
pub async fn create_account(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateAccountRequest>,
) -> ApiResult<(StatusCode, Json<AccountBody>)> {
    let tier = body.tier.unwrap_or_else(|| "free".into());
    check_tier(&state, &tier)?;
    let name = crate::http::handlers::instances::validate_name(&body.name)?;
    let account = accounts::create_account(state.store.as_ref(), &name, &tier).await?;
    Ok((StatusCode::CREATED, Json(account_json(&account, None))))
}

/// Lists accounts.
#[utoipa::path(
    get, path = "/v1/admin/accounts", tag = "admin", operation_id = "admin_list_accounts",
    responses((status = 200, description = "Every account", body = AccountListBody)),
)]
pub async fn list_accounts(State(state): State<AppState>) -> ApiResult<Json<AccountListBody>> {
    let accounts = state.store.list_accounts().await?;
    let billing = state.store.list_billing_info().await?;
    let billing_of = |id: &str| billing.iter().find(|b| b.account_id == id);
    let items: Vec<AccountBody> = accounts
        .iter()
        .map(|a| account_json(a, billing_of(&a.id)))
        .collect();
    let total = items.len();
    Ok(Json(AccountListBody { items, total }))
}

/// `PATCH /v1/admin/accounts/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccountRequest {
    /// A configured tier.
    #[schema(value_type = TierName)]
    tier: String,
}

/// Changes an account's tier (effective on its next request).
#[utoipa::path(
    patch, path = "/v1/admin/accounts/{id}", tag = "admin", operation_id = "admin_update_account",
    params(("id" = String, Path, description = "Account id")),
    request_body = UpdateAccountRequest,
    responses(
        (status = 200, description = "The account with its new tier", body = AccountBody),
        (status = 404, description = "No such account (`not_found`)"),
        (status = 422, description = "Unknown tier (`invalid_request`)"),
    ),
)]
pub async fn update_account(
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateAccountRequest>,
) -> ApiResult<Json<AccountBody>> {
    check_tier(&state, &body.tier)?;
    match state.store.set_account_tier(&id, &body.tier).await {
        Err(StoreError::NotFound) => {
            return Err(ApiError::not_found(format!("account {id} not found")))
        }
        other => other?,
    }
    let account = state
        .store
        .get_account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    let billing = state.store.billing_info(&id).await?;
    Ok(Json(account_json(&account, billing.as_ref())))
}

/// Creates a key; the only time the key is shown.
#[utoipa::path(
    post, path = "/v1/admin/accounts/{id}/keys", tag = "admin", operation_id = "admin_create_key",
    params(("id" = String, Path, description = "Account id")),
    responses(
        (status = 201, description = "The new key (shown only this once)", body = CreatedKeyBody),
        (status = 404, description = "No such account (`not_found`)"),
    ),
)]
pub async fn create_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<CreatedKeyBody>)> {
    match accounts::create_key(state.store.as_ref(), &id).await {
        Ok(created) => Ok((
            StatusCode::CREATED,
            Json(CreatedKeyBody {
                key: created.key,
                key_id: created.record.id,
                prefix: created.record.prefix,
            }),
        )),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("account {id} not found"))),
        Err(e) => Err(e.into()),
    }
}

/// Revokes a key (effective on the next request).
#[utoipa::path(
    delete, path = "/v1/admin/keys/{key_id}", tag = "admin", operation_id = "admin_revoke_key",
    params(("key_id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "The key no longer authenticates", body = RevokedKeyBody),
        (status = 404, description = "No such key (`not_found`)"),
    ),
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Path(key_id): Path<String>,
) -> ApiResult<Json<RevokedKeyBody>> {
    match state
        .store
        .revoke_api_key(&key_id, crate::time::now_micros())
        .await
    {
        Ok(()) => Ok(Json(RevokedKeyBody {
            key_id,
            revoked: true,
        })),
        Err(StoreError::NotFound) => Err(ApiError::not_found(format!("key {key_id} not found"))),
        Err(e) => Err(e.into()),
    }
}

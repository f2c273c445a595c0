//! `/v1/keys`: an account manages its own API keys ("Settings → API
//! Keys"). The secret is shown once, by the create answer; listings show
//! the display prefix only. A revocation applies from the next request (the
//! store clears its key cache), and an account keeps at least one active
//! key, so it cannot lock itself out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::accounts;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::{AppState, Caller};
use crate::store::ApiKeyRecord;
use crate::time::{format_timestamp, now_micros};

/// One key of the caller's account, never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyBody {
    #[schema(pattern = "^key_[0-9a-f]{16}$")]
    pub id: String,
    /// The key's first 12 characters (`idos_sk_` + 4), for recognising it.
    pub prefix: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the key last authenticated a request, to the minute (uses are
    /// written at most once a minute, so it may be up to a minute behind);
    /// `null` if it never has.
    #[schema(format = DateTime)]
    pub last_used_at: Option<String>,
    /// When it was revoked; `null` while it authenticates.
    #[schema(format = DateTime)]
    pub revoked_at: Option<String>,
}

impl From<&ApiKeyRecord> for KeyBody {
    fn from(record: &ApiKeyRecord) -> Self {
        KeyBody {
            id: record.id.clone(),
            prefix: record.prefix.clone(),
            created_at: format_timestamp(record.created_at),
            last_used_at: record.last_used_at.map(format_timestamp),
            revoked_at: record.revoked_at.map(format_timestamp),
        }
    }
}

/// `GET /v1/keys` answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyList)]
pub struct KeyListBody {
    /// Oldest first.
    pub items: Vec<KeyBody>,
}

/// A created key: the only answer that holds its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NewApiKey)]
pub struct NewKeyBody {
    #[schema(pattern = "^key_[0-9a-f]{16}$")]
    pub id: String,
    /// The key (`idos_sk_` + 32 base62 characters), shown only this once.
    #[schema(pattern = "^idos_sk_[0-9A-Za-z]{32}$")]
    pub key: String,
    pub prefix: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

/// `GET /v1/keys`: the caller's account's keys.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys", operation_id = "list_keys",
    responses((status = 200, description = "The account's keys, oldest first", body = KeyListBody)),
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<KeyListBody>> {
    let keys = state.store.list_api_keys(Some(&caller.account.id)).await?;
    Ok(Json(KeyListBody {
        items: keys.iter().map(KeyBody::from).collect(),
    }))
}

/// `POST /v1/keys`: a new key for the caller's account.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", operation_id = "create_key",
    responses((status = 201, description = "The new key, its secret shown only this once", body = NewKeyBody)),
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<(StatusCode, Json<NewKeyBody>)> {
    let created = accounts::create_key(state.store.as_ref(), &caller.account.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewKeyBody {
            id: created.record.id,
            key: created.key,
            prefix: created.record.prefix,
            created_at: format_timestamp(created.record.created_at),
        }),
    ))
}

/// `DELETE /v1/keys/{id}`: revokes one of the caller's keys.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys", operation_id = "revoke_key",
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked (also if it already was); it no longer authenticates", body = KeyBody),
        (status = 404, description = "No such key for this account (`not_found`)"),
        (status = 409, description = "It is the account's last active key (`conflict`)"),
    ),
)]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<KeyBody>> {
    let keys = state.store.list_api_keys(Some(&caller.account.id)).await?;
    let key = keys
        .iter()
        .find(|k| k.id == id)
        .ok_or_else(|| ApiError::not_found(format!("key {id} not found")))?;
    if key.revoked_at.is_some() {
        return Ok(Json(KeyBody::from(key)));
    }
    // One decision in the store: two revocations at once (on any nodes)
    // cannot both pass the last-active-key check.
    let at = now_micros();
    if !state
        .store
        .revoke_api_key_unless_last(&caller.account.id, &id, at)
        .await?
    {
        return Err(ApiError::conflict(
            "this is the account's last active key; create another key before revoking it",
        ));
    }
    let mut body = KeyBody::from(key);
    body.revoked_at = Some(format_timestamp(at));
    Ok(Json(body))
}

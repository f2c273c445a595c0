//! `/v1/instances`: create, list, get, patch, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::random_id;
use crate::actors::idempotency::RenderedResponse;
use crate::actors::{InstanceMessage, InstanceMeta, InstanceModel, InstanceView};
use crate::engine::{EngineState, Profile};
use crate::store::{InstanceSort, SortOrder};
use crate::time::now_micros;

pub use super::instance_input::{
    build_initial, validate_description, validate_name, CreateInstanceRequest, InitialConfigInput,
    ProfileInput,
};
use super::with_etag;
use crate::http::deadline;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{IfMatch, JsonBody, QueryParams};
use crate::http::idempotency::{render_json, KeyedRequest};
use crate::http::openapi::params::{IfMatchHeader, InstanceId};
use crate::http::state::{AppState, Caller};
use crate::http::wire::{InstanceBody, PageBody};

/// Creates and stores a new instance for the caller (also used by the
/// personality test). Enforces the tier's instance limit atomically.
pub async fn create_for(
    state: &AppState,
    caller: &Caller,
    name: String,
    description: String,
    profile: Profile,
    initial: EngineState,
    keyed: Option<KeyedRequest>,
) -> ApiResult<InstanceModel> {
    let now = now_micros();
    let meta = InstanceMeta {
        id: random_id("inst_"),
        name,
        description,
        created_at: now,
        updated_at: now,
        version: 1,
    };
    let model = InstanceModel::new(meta, caller.account.id.clone(), profile, initial);
    let record = model.to_record()?;
    let recorded = keyed.map(|keyed| {
        keyed
            .attach::<InstanceView>(caller, Box::new(created_response))
            .record(&model.view(), now)
    });
    let tier_name = caller.account.tier.clone();
    let max = state.tier(&tier_name).max_instances;
    deadline::disarm();
    match state
        .store
        .create_instance(&record, (max > 0).then_some(max), recorded.as_ref())
        .await
    {
        Ok(()) => Ok(model),
        Err(crate::store::StoreError::LimitReached { limit }) => Err(ApiError::forbidden(format!(
            "the {tier_name} tier allows at most {limit} instances; delete one or upgrade"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/instances` → 201.
#[utoipa::path(
    post, path = "/v1/instances", tag = "instances", operation_id = "create_instance",
    request_body = CreateInstanceRequest,
    responses(
        (status = 201, description = "The new instance", body = InstanceBody,
            headers(("ETag" = String, description = "The instance version, quoted")),
            links(
                ("GetInstance" = (operation_id = "get_instance", parameters(("id" = "$response.body#/id")))),
                ("UpdateInstance" = (operation_id = "update_instance", parameters(("id" = "$response.body#/id")))),
                ("ProcessObservation" = (operation_id = "process_observation", parameters(("id" = "$response.body#/id")))),
                ("ProcessBatch" = (operation_id = "process_batch", parameters(("id" = "$response.body#/id")))),
                ("GetSnapshot" = (operation_id = "get_snapshot", parameters(("id" = "$response.body#/id")))),
                ("GetContract" = (operation_id = "get_contract", parameters(("id" = "$response.body#/id")))),
                ("ResetInstance" = (operation_id = "reset_instance", parameters(("id" = "$response.body#/id")))),
                ("GetHistory" = (operation_id = "get_history", parameters(("id" = "$response.body#/id")))),
                ("GetDrift" = (operation_id = "get_drift", parameters(("id" = "$response.body#/id")))),
                ("DeleteInstance" = (operation_id = "delete_instance", parameters(("id" = "$response.body#/id")))),
            )),
        (status = 403, description = "The tier's instance limit is reached (`forbidden`)"),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
    JsonBody(body): JsonBody<CreateInstanceRequest>,
) -> ApiResult<Response> {
    let name = validate_name(
        body.name
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("name", "name is required"))?,
    )?;
    let description = validate_description(body.description.unwrap_or_default())?;
    let (profile, initial) = build_initial(body.initial_config.unwrap_or_default())?;
    let keyed = keyed.map(|Extension(k)| k);
    let model = create_for(&state, &caller, name, description, profile, initial, keyed).await?;
    Ok(created_response(&model.view()).into_response())
}

/// The `201` of a create.
fn created_response(view: &InstanceView) -> RenderedResponse {
    render_json(
        StatusCode::CREATED,
        Some(view.meta.version),
        &InstanceBody::from_view(view),
        &[],
    )
}

/// The `200` of a change: the instance.
fn instance_response(view: &InstanceView) -> RenderedResponse {
    render_json(
        StatusCode::OK,
        Some(view.meta.version),
        &InstanceBody::from_view(view),
        &[],
    )
}

/// Sort key of the instance listing.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    /// Creation time.
    CreatedAt,
    /// Name.
    Name,
}

/// Sort direction of the instance listing.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// Query of `GET /v1/instances`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100, nullable = false)]
    limit: Option<u64>,
    /// Items to skip (default 0).
    #[param(nullable = false)]
    offset: Option<u64>,
    /// Sort key (default `created_at`).
    #[param(inline, nullable = false)]
    sort: Option<SortKey>,
    /// Sort direction (default `desc`).
    #[param(inline, nullable = false)]
    order: Option<Direction>,
}

/// `GET /v1/instances`.
#[utoipa::path(
    get, path = "/v1/instances", tag = "instances", operation_id = "list_instances",
    params(ListQuery),
    responses((status = 200, description = "A page of the caller's instances", body = PageBody<InstanceBody>)),
)]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageBody<InstanceBody>>> {
    let (limit, offset) = super::page_bounds(query.limit, query.offset, 20, 100)?;
    let sort = match query.sort.unwrap_or(SortKey::CreatedAt) {
        SortKey::CreatedAt => InstanceSort::CreatedAt,
        SortKey::Name => InstanceSort::Name,
    };
    let order = match query.order.unwrap_or(Direction::Desc) {
        Direction::Asc => SortOrder::Asc,
        Direction::Desc => SortOrder::Desc,
    };
    let page = state
        .store
        .list_instances(&caller.account.id, sort, order, limit, offset)
        .await?;
    let items = page.items.iter().map(InstanceBody::from_record).collect();
    Ok(Json(PageBody::new(None, items, page.total, limit, offset)))
}

/// `GET /v1/instances/{id}`.
#[utoipa::path(
    get, path = "/v1/instances/{id}", tag = "instances", operation_id = "get_instance",
    params(InstanceId),
    responses(
        (status = 200, description = "The instance", body = InstanceBody,
            headers(("ETag" = String, description = "The instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = &caller.account.id;
    let view = state.registry.view(&id, account_id).await?;
    Ok(with_etag(
        StatusCode::OK,
        view.meta.version,
        &InstanceBody::from_view(&view),
    ))
}

/// `PATCH /v1/instances/{id}` body: metadata only.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    /// New name, 1–100 characters after trimming.
    #[serde(default)]
    #[schema(pattern = r"^\s*\S([\s\S]{0,98}\S)?\s*$")]
    name: Option<String>,
    /// New description, at most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    description: Option<String>,
}

/// `PATCH /v1/instances/{id}`.
#[utoipa::path(
    patch, path = "/v1/instances/{id}", tag = "instances", operation_id = "update_instance",
    params(InstanceId, IfMatchHeader),
    request_body(content = Option<UpdateInstanceRequest>, description = "Optional: an empty body changes nothing"),
    responses(
        (status = 200, description = "The updated instance", body = InstanceBody,
            headers(("ETag" = String, description = "The instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 409, description = "`If-Match` names another version (`conflict`)"),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<UpdateInstanceRequest>,
) -> ApiResult<Response> {
    let name = body.name.as_deref().map(validate_name).transpose()?;
    let description = body.description.map(validate_description).transpose()?;
    let account_id = &caller.account.id;
    let view = if name.is_none() && description.is_none() {
        state.registry.view(&id, account_id).await?
    } else {
        let idempotency = keyed
            .map(|Extension(k)| k.attach::<InstanceView>(&caller, Box::new(instance_response)));
        deadline::disarm();
        state
            .registry
            .call(&id, |reply| InstanceMessage::Update {
                account_id: account_id.clone(),
                if_match,
                name: name.clone(),
                description: description.clone(),
                idempotency,
                reply,
            })
            .await?
    };
    if let Some(expected) = if_match {
        if expected != view.meta.version && name.is_none() && description.is_none() {
            return Err(ApiError::conflict(format!(
                "version conflict: the instance is at version {}",
                view.meta.version
            )));
        }
    }
    Ok(instance_response(&view).into_response())
}

/// `DELETE /v1/instances/{id}` response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Deleted)]
pub struct DeletedBody {
    /// The deleted instance.
    id: String,
    /// Always `true`.
    deleted: bool,
}

/// `DELETE /v1/instances/{id}`.
#[utoipa::path(
    delete, path = "/v1/instances/{id}", tag = "instances", operation_id = "delete_instance",
    params(InstanceId, IfMatchHeader),
    responses(
        (status = 200, description = "The instance, its state, history and drift log are gone", body = DeletedBody),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 409, description = "`If-Match` names another version (`conflict`)"),
        (status = 422, description = "Malformed `If-Match` (`invalid_request`)"),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let account_id = &caller.account.id;
    let deleted = DeletedBody {
        id: id.clone(),
        deleted: true,
    };
    let rendered = render_json(StatusCode::OK, None, &deleted, &[]);
    let idempotency = keyed.map(|Extension(k)| {
        let recorded = rendered.clone();
        k.attach::<()>(&caller, Box::new(move |()| recorded.clone()))
    });
    deadline::disarm();
    state
        .registry
        .call(&id, |reply| InstanceMessage::Delete {
            account_id: account_id.clone(),
            if_match,
            idempotency,
            reply,
        })
        .await?;
    Ok(rendered.into_response())
}

//! `/v1/instances`: create, list, get, patch, delete.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use serde::Deserialize;
use std::collections::BTreeMap;

use crate::accounts::random_id;
use crate::actors::{InstanceMessage, InstanceMeta, InstanceModel};
use crate::engine::personas::persona_profile;
use crate::engine::{
    DriftTolerance, EnergyPolicy, EngineState, Mode, Profile, RiskPosture, StressTolerance,
    MODE_COUNT,
};
use crate::store::{InstanceSort, SortOrder};
use crate::time::now_micros;

use super::with_etag;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{IfMatch, JsonBody, QueryParams};
use crate::http::state::{AppState, Caller};
use crate::http::wire::{InstanceBody, PageBody};

/// `POST /v1/instances` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    initial_config: Option<InitialConfigInput>,
}

/// `initial_config` of a new instance.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitialConfigInput {
    #[serde(default)]
    mode_strengths: Option<BTreeMap<String, f64>>,
    #[serde(default)]
    energy_level: Option<f64>,
    #[serde(default)]
    persona_id: Option<String>,
    #[serde(default)]
    profile: Option<ProfileInput>,
}

/// `initial_config.profile`: strings are parsed case-insensitively.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    #[serde(default)]
    core_modes: Option<Vec<String>>,
    #[serde(default)]
    suppressed_modes: Option<Vec<String>>,
    #[serde(default)]
    risk_posture: Option<String>,
    #[serde(default)]
    energy_policy: Option<String>,
    #[serde(default)]
    stress_tolerance: Option<String>,
    #[serde(default)]
    drift_tolerance: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Trims and checks a name: 1–100 characters.
pub fn validate_name(name: &str) -> ApiResult<String> {
    let trimmed = name.trim();
    match trimmed.chars().count() {
        0 => Err(ApiError::invalid_field("name", "name must not be empty")),
        1..=100 => Ok(trimmed.to_string()),
        n => Err(ApiError::invalid_field(
            "name",
            format!("name is {n} characters; at most 100 are allowed"),
        )),
    }
}

/// Checks a description: at most 1000 characters.
pub fn validate_description(description: String) -> ApiResult<String> {
    let n = description.chars().count();
    if n > 1000 {
        return Err(ApiError::invalid_field(
            "description",
            format!("description is {n} characters; at most 1000 are allowed"),
        ));
    }
    Ok(description)
}

fn parse_mode(field: &str, text: &str) -> ApiResult<Mode> {
    text.parse::<Mode>()
        .map_err(|e| ApiError::invalid_field(field, format!("{field}: {e}")))
}

fn parse_choice<T: std::str::FromStr>(field: &str, text: &str, allowed: &str) -> ApiResult<T> {
    text.parse::<T>().map_err(|_| {
        ApiError::invalid_field(
            field,
            format!("{field} must be one of {allowed}, not {text:?}"),
        )
    })
}

fn parse_modes(field: &str, list: Option<Vec<String>>) -> ApiResult<Vec<Mode>> {
    let mut modes = Vec::new();
    for text in list.unwrap_or_default() {
        let mode = parse_mode(field, &text)?;
        if !modes.contains(&mode) {
            modes.push(mode);
        }
    }
    Ok(modes)
}

fn build_profile(input: ProfileInput) -> ApiResult<Profile> {
    let mut profile = Profile {
        core_modes: parse_modes("profile.core_modes", input.core_modes)?,
        suppressed_modes: parse_modes("profile.suppressed_modes", input.suppressed_modes)?,
        ..Profile::default()
    };
    if let Some(text) = input.risk_posture {
        profile.risk_posture = Some(parse_choice::<RiskPosture>(
            "profile.risk_posture",
            &text,
            "seeking, moderate, averse, bounded",
        )?);
    }
    if let Some(text) = input.energy_policy {
        profile.energy_policy = parse_choice::<EnergyPolicy>(
            "profile.energy_policy",
            &text,
            "conservative, balanced, aggressive",
        )?;
    }
    if let Some(text) = input.stress_tolerance {
        profile.stress_tolerance = parse_choice::<StressTolerance>(
            "profile.stress_tolerance",
            &text,
            "fragile, normal, resilient",
        )?;
    }
    if let Some(text) = input.drift_tolerance {
        profile.drift_tolerance = parse_choice::<DriftTolerance>(
            "profile.drift_tolerance",
            &text,
            "strict, normal, permissive",
        )?;
    }
    if let Some(description) = input.description {
        let n = description.chars().count();
        if n > 500 {
            return Err(ApiError::invalid_field(
                "profile.description",
                format!("profile.description is {n} characters; at most 500 are allowed"),
            ));
        }
        profile.description = Some(description);
    }
    Ok(profile)
}

/// Turns `initial_config` into the profile and the initial engine state.
pub fn build_initial(config: InitialConfigInput) -> ApiResult<(Profile, EngineState)> {
    let mut modes = [0.0; MODE_COUNT];
    if let Some(persona) = &config.persona_id {
        modes = persona_profile(persona).ok_or_else(|| {
            ApiError::invalid_field(
                "initial_config.persona_id",
                format!("unknown persona {persona:?}"),
            )
        })?;
    }
    for (name, value) in config.mode_strengths.unwrap_or_default() {
        let mode = parse_mode("initial_config.mode_strengths", &name)?;
        if !value.is_finite() || !(-1.0..=1.0).contains(&value) {
            return Err(ApiError::invalid_field(
                "initial_config.mode_strengths",
                format!("mode_strengths.{name} must be a number in [-1, 1], got {value}"),
            ));
        }
        modes[mode.index()] = value;
    }
    let energy = config.energy_level.unwrap_or(0.8);
    if !energy.is_finite() || !(0.0..=1.0).contains(&energy) {
        return Err(ApiError::invalid_field(
            "initial_config.energy_level",
            format!("energy_level must be a number in [0, 1], got {energy}"),
        ));
    }
    let profile = build_profile(config.profile.unwrap_or_default())?;
    Ok((profile, EngineState::new(modes, energy)))
}

/// Creates and stores a new instance for the caller (also used by the
/// personality test). Enforces the tier's instance limit atomically.
pub async fn create_for(
    state: &AppState,
    caller: &Caller,
    name: String,
    description: String,
    profile: Profile,
    initial: EngineState,
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
    let tier_name = caller.account.tier.clone();
    let max = state.tier(&tier_name).max_instances;
    match state
        .store
        .create_instance(&record, (max > 0).then_some(max))
        .await
    {
        Ok(()) => Ok(model),
        Err(crate::store::StoreError::LimitReached { limit }) => Err(ApiError::Forbidden(format!(
            "the {tier_name} tier allows at most {limit} instances; delete one or upgrade"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /v1/instances` → 201.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CreateInstanceRequest>,
) -> ApiResult<Response> {
    let name = validate_name(
        body.name
            .as_deref()
            .ok_or_else(|| ApiError::invalid_field("name", "name is required"))?,
    )?;
    let description = validate_description(body.description.unwrap_or_default())?;
    let (profile, initial) = build_initial(body.initial_config.unwrap_or_default())?;
    let model = create_for(&state, &caller, name, description, profile, initial).await?;
    let view = crate::actors::InstanceView {
        meta: model.meta.clone(),
        profile: model.profile.clone(),
        state: model.state.clone(),
    };
    Ok(with_etag(
        StatusCode::CREATED,
        model.meta.version,
        &InstanceBody::from_view(&view),
    ))
}

/// Query of `GET /v1/instances`.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<u64>,
    offset: Option<u64>,
    sort: Option<String>,
    order: Option<String>,
}

/// `GET /v1/instances`.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    QueryParams(query): QueryParams<ListQuery>,
) -> ApiResult<Json<PageBody<InstanceBody>>> {
    let limit = query.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            "limit must be between 1 and 100",
        ));
    }
    let offset = query.offset.unwrap_or(0);
    let sort = match query.sort.as_deref().unwrap_or("created_at") {
        "created_at" => InstanceSort::CreatedAt,
        "name" => InstanceSort::Name,
        other => {
            return Err(ApiError::invalid_field(
                "sort",
                format!("sort must be created_at or name, not {other:?}"),
            ))
        }
    };
    let order = match query.order.as_deref().unwrap_or("desc") {
        "asc" => SortOrder::Asc,
        "desc" => SortOrder::Desc,
        other => {
            return Err(ApiError::invalid_field(
                "order",
                format!("order must be asc or desc, not {other:?}"),
            ))
        }
    };
    let page = state
        .store
        .list_instances(&caller.account.id, sort, order, limit, offset)
        .await?;
    let items = page.items.iter().map(InstanceBody::from_record).collect();
    Ok(Json(PageBody::new(None, items, page.total, limit, offset)))
}

/// `GET /v1/instances/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = caller.account.id;
    let view = state.registry.view(&id, &account_id).await?;
    Ok(with_etag(
        StatusCode::OK,
        view.meta.version,
        &InstanceBody::from_view(&view),
    ))
}

/// `PATCH /v1/instances/{id}` body: metadata only.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceRequest {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// `PATCH /v1/instances/{id}`.
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<UpdateInstanceRequest>,
) -> ApiResult<Response> {
    let name = body.name.as_deref().map(validate_name).transpose()?;
    let description = body.description.map(validate_description).transpose()?;
    let account_id = caller.account.id;
    let view = if name.is_none() && description.is_none() {
        state.registry.view(&id, &account_id).await?
    } else {
        state
            .registry
            .call(&id, |reply| InstanceMessage::Update {
                account_id: account_id.clone(),
                if_match,
                name: name.clone(),
                description: description.clone(),
                reply,
            })
            .await?
    };
    if let Some(expected) = if_match {
        if expected != view.meta.version && name.is_none() && description.is_none() {
            return Err(ApiError::Conflict(format!(
                "version conflict: the instance is at version {}",
                view.meta.version
            )));
        }
    }
    Ok(with_etag(
        StatusCode::OK,
        view.meta.version,
        &InstanceBody::from_view(&view),
    ))
}

/// `DELETE /v1/instances/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Json<serde_json::Value>> {
    let account_id = caller.account.id;
    state
        .registry
        .call(&id, |reply| InstanceMessage::Delete {
            account_id: account_id.clone(),
            if_match,
            reply,
        })
        .await?;
    Ok(Json(serde_json::json!({ "id": id, "deleted": true })))
}

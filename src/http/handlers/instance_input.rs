//! The body of `POST /v1/instances` and its validation: names,
//! descriptions, `initial_config` (mode strengths, energy, persona, profile).

use serde::Deserialize;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{AdditionalProperties, Object, ObjectBuilder, SchemaType, Type};
use utoipa::ToSchema;

use crate::engine::personas::persona_profile;
use crate::engine::{
    DriftTolerance, EnergyPolicy, EngineState, Mode, Profile, RiskPosture, StressTolerance,
    MODE_COUNT,
};
use crate::http::error::{ApiError, ApiResult};
use crate::http::object_only;

/// `POST /v1/instances` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceRequest {
    /// 1–100 characters after trimming.
    #[schema(value_type = String, required = true, pattern = r"^\s*\S([\s\S]{0,98}\S)?\s*$")]
    pub(super) name: Option<String>,
    /// At most 1000 characters; default `""`.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub(super) description: Option<String>,
    /// The starting state and profile; defaults everywhere when absent.
    #[serde(default, deserialize_with = "object_only::option")]
    pub(super) initial_config: Option<InitialConfigInput>,
}

/// `initial_config` of a new instance.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialConfigInput {
    /// Any subset of the seven modes, each in [-1, 1]; missing modes are 0.
    /// Explicit entries override the persona's.
    #[serde(default)]
    #[schema(schema_with = mode_strengths_input_schema)]
    mode_strengths: Option<BTreeMap<String, f64>>,
    /// Energy in [0, 1]; default 0.8.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    energy_level: Option<f64>,
    /// Seeds `mode_strengths` from this persona's profile.
    #[serde(default)]
    #[schema(schema_with = persona_id_schema)]
    persona_id: Option<String>,
    /// The behavioural profile (docs/engine.md); all fields optional.
    #[serde(default, deserialize_with = "object_only::option")]
    profile: Option<ProfileInput>,
}

/// `mode_strengths` input: an object with the seven mode names as optional
/// keys (nothing else), each a number in [-1, 1], or `null`.
fn mode_strengths_input_schema() -> Object {
    let mut builder = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for mode in Mode::ALL {
        builder = builder.property(
            mode.as_str(),
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(-1.0))
                .maximum(Some(1.0)),
        );
    }
    builder.build()
}

/// `persona_id` input: one of the catalogue's ids, or `null`.
fn persona_id_schema() -> Object {
    let mut ids: Vec<serde_json::Value> = crate::catalog::all()
        .iter()
        .map(|p| serde_json::Value::from(p.id.clone()))
        .collect();
    ids.push(serde_json::Value::Null);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(ids))
        .build()
}

/// `initial_config.profile`: strings are parsed case-insensitively.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileInput {
    /// Modes the agent identifies with.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Mode>>)]
    core_modes: Option<Vec<String>>,
    /// Modes held down.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Mode>>)]
    suppressed_modes: Option<Vec<String>>,
    /// Risk appetite.
    #[serde(default)]
    #[schema(value_type = Option<RiskPosture>)]
    risk_posture: Option<String>,
    /// How energy is spent.
    #[serde(default)]
    #[schema(value_type = Option<EnergyPolicy>)]
    energy_policy: Option<String>,
    /// How much stress the agent takes.
    #[serde(default)]
    #[schema(value_type = Option<StressTolerance>)]
    stress_tolerance: Option<String>,
    /// How much drift is tolerated.
    #[serde(default)]
    #[schema(value_type = Option<DriftTolerance>)]
    drift_tolerance: Option<String>,
    /// Opens the contract's narrative prompt; at most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
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

//! `/v1/test/*`: the personality test that gives an agent its initial profile.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::actors::InstanceMessage;
use crate::catalog::questions::{questions as questions_of, Question, TestVersion};
use crate::catalog::test_scoring::{
    infer_version, matched_personas, score, PersonaMatch, TestResponse,
};
use crate::catalog::ModeProfile;
use crate::engine::{EngineState, Profile};
use crate::time::now_micros;

use super::instances::{create_for, validate_name};
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{JsonBody, QueryParams};
use crate::http::object_only;
use crate::http::state::{AppState, Caller};
use crate::http::wire::{ContractBody, SnapshotBody};

/// Query of `GET /v1/test/questions`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuestionsQuery {
    /// Test version (default `v1`; case-insensitive).
    #[param(value_type = TestVersion, required = false, inline)]
    version: Option<String>,
}

/// `GET /v1/test/questions` body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Questions)]
pub struct QuestionsBody {
    /// The version asked for.
    #[schema(value_type = TestVersion)]
    version: &'static str,
    /// Its statements, in id order.
    #[schema(value_type = Vec<Question>)]
    questions: &'static [Question],
    /// How many (14, 28 or 42).
    total: usize,
}

fn parse_version(text: &str) -> ApiResult<TestVersion> {
    text.parse::<TestVersion>()
        .map_err(|e| ApiError::invalid_field("version", e.to_string()))
}

/// `GET /v1/test/questions?version=v1`.
#[utoipa::path(
    get, path = "/v1/test/questions", tag = "personality test", operation_id = "get_test_questions",
    params(QuestionsQuery),
    responses(
        (status = 200, description = "The statements of that version", body = QuestionsBody),
        (status = 422, description = "Unknown version (`invalid_request`)"),
    ),
)]
pub async fn questions(
    QueryParams(query): QueryParams<QuestionsQuery>,
) -> ApiResult<Json<QuestionsBody>> {
    let version = parse_version(query.version.as_deref().unwrap_or("v1"))?;
    let questions = questions_of(version);
    Ok(Json(QuestionsBody {
        version: version.as_str(),
        questions,
        total: questions.len(),
    }))
}

/// `POST /v1/test/submit` body: give exactly one of `instance_id` and
/// `create_instance: true`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TestSubmission)]
pub struct SubmitRequest {
    /// Test version; inferred from the question ids when absent.
    #[serde(default)]
    #[schema(value_type = Option<TestVersion>)]
    version: Option<String>,
    /// One answer per question of the version.
    #[serde(default, deserialize_with = "object_only::option_vec")]
    #[schema(value_type = Vec<TestResponse>, required = true)]
    responses: Option<Vec<TestResponse>>,
    /// Apply the profile to this existing instance.
    #[serde(default)]
    instance_id: Option<String>,
    /// Create a new instance with the profile.
    #[serde(default)]
    create_instance: Option<bool>,
    /// Name of the new instance (default `TestAgent`), 1–100 characters.
    #[serde(default)]
    #[schema(pattern = r"^\s*\S([\s\S]{0,98}\S)?\s*$")]
    instance_name: Option<String>,
}

/// `POST /v1/test/submit` response.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TestResult)]
pub struct SubmitBody {
    /// The instance that received the profile.
    instance_id: String,
    /// Always `true`.
    test_completed: bool,
    /// Per mode, the mean of `(score - 1) / 4` over its questions.
    #[schema(value_type = crate::engine::ModeStrengths)]
    mode_profile: ModeProfile,
    /// The three best-matching personas, best first.
    #[schema(max_items = 3)]
    matched_personas: Vec<PersonaMatch>,
    /// The instance's state now.
    snapshot: SnapshotBody,
    /// Its contract now.
    contract: ContractBody,
}

/// `POST /v1/test/submit`: scores the answers and applies the profile to an
/// existing instance or a new one.
#[utoipa::path(
    post, path = "/v1/test/submit", tag = "personality test", operation_id = "submit_test",
    request_body = SubmitRequest,
    responses(
        (status = 200, description = "The profile is the instance's new state and `initial` reset point", body = SubmitBody),
        (status = 403, description = "Creating the instance would exceed the tier's instance limit (`forbidden`)"),
        (status = 404, description = "`instance_id` names no instance of this account (`not_found`)"),
        (status = 422, description = "`incomplete_test` (`details.missing_questions`) or `invalid_request`"),
    ),
)]
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<SubmitRequest>,
) -> ApiResult<Json<SubmitBody>> {
    let create = body.create_instance.unwrap_or(false);
    if create == body.instance_id.is_some() {
        return Err(ApiError::invalid(
            "give exactly one of instance_id or create_instance: true",
        ));
    }
    let responses = body
        .responses
        .ok_or_else(|| ApiError::invalid_field("responses", "responses is required"))?;
    let version = match body.version.as_deref() {
        Some(text) => parse_version(text)?,
        None => infer_version(&responses),
    };
    let profile = score(version, &responses)?;
    let engine = state.registry.engine();
    let (meta, state_now, instance_profile) = match body.instance_id {
        Some(id) => {
            let account_id = caller.account.id.clone();
            crate::http::deadline::disarm();
            let view = state
                .registry
                .call(&id, |reply| InstanceMessage::ApplyTestProfile {
                    account_id: account_id.clone(),
                    modes: profile.modes,
                    reply,
                })
                .await?;
            (view.meta, view.state, view.profile)
        }
        None => {
            let name = validate_name(body.instance_name.as_deref().unwrap_or("TestAgent"))?;
            let initial = EngineState::new(profile.modes, 0.8);
            let model = create_for(
                &state,
                &caller,
                name,
                String::new(),
                Profile::default(),
                initial,
                None,
            )
            .await?;
            (model.meta, model.state, model.profile)
        }
    };
    Ok(Json(SubmitBody {
        instance_id: meta.id.clone(),
        test_completed: true,
        mode_profile: profile.mode_profile(),
        matched_personas: matched_personas(&profile.modes, 3),
        snapshot: SnapshotBody::new(engine, &meta, &state_now, now_micros()),
        contract: ContractBody::new(engine, &meta.id, &state_now, &instance_profile),
    }))
}

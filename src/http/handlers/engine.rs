//! `/v1/instances/{id}/…`: process, batch, snapshot, contract, reset.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use crate::actors::{InstanceMessage, ResetMode, TimedObservation};
use crate::engine::{Mode, Observation};
use crate::time::{now_micros, parse_timestamp};

use super::with_etag;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{IfMatch, JsonBody, QueryParams};
use crate::http::state::{AppState, Caller};
use crate::http::wire::{ContractBody, ProcessResultBody, SnapshotBody};

/// Largest accepted `context`, serialised.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;
/// Largest accepted batch.
const MAX_BATCH: usize = 100;

/// One observation as sent by clients.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationInput {
    mode_target: Option<String>,
    signal_strength: Option<f64>,
    #[serde(default)]
    confidence: Option<f64>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    context: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ObservationInput {
    /// Validates everything the engine and the throttle need.
    fn validate(self) -> ApiResult<TimedObservation> {
        let mode_text = self
            .mode_target
            .ok_or_else(|| ApiError::invalid_field("mode_target", "mode_target is required"))?;
        let mode: Mode = mode_text
            .parse()
            .map_err(|e| ApiError::invalid_field("mode_target", format!("mode_target: {e}")))?;
        let strength = self.signal_strength.ok_or_else(|| {
            ApiError::invalid_field("signal_strength", "signal_strength is required")
        })?;
        let observation = Observation::new(mode, strength, self.confidence.unwrap_or(1.0))
            .map_err(|e| ApiError::invalid_field(e.field(), e.to_string()))?;
        let timestamp = match self.timestamp {
            None => None,
            Some(text) => Some(parse_timestamp(&text).ok_or_else(|| {
                ApiError::invalid_field(
                    "timestamp",
                    format!("timestamp {text:?} is not an RFC 3339 / ISO 8601 date-time"),
                )
            })?),
        };
        let context_json = serde_json::Value::Object(self.context.unwrap_or_default()).to_string();
        if context_json.len() > MAX_CONTEXT_BYTES {
            return Err(ApiError::invalid_field(
                "context",
                format!(
                    "context is {} bytes serialised; at most {MAX_CONTEXT_BYTES} are allowed",
                    context_json.len()
                ),
            ));
        }
        Ok(TimedObservation {
            observation,
            timestamp,
            context_json,
        })
    }
}

async fn run(
    state: &AppState,
    caller: Caller,
    id: &str,
    if_match: Option<i64>,
    observations: Vec<TimedObservation>,
    keep_intermediate: bool,
) -> ApiResult<(i64, Vec<ProcessResultBody>)> {
    let reservation = state
        .limiter
        .reserve_cycles(&caller.account, observations.len() as u64)
        .await?;
    let account_id = caller.account.id;
    let outcome = state
        .registry
        .call(id, |reply| InstanceMessage::Process {
            account_id: account_id.clone(),
            if_match,
            observations: observations.clone(),
            keep_intermediate,
            reply,
        })
        .await?;
    reservation.commit();
    Ok((
        outcome.meta.version,
        ProcessResultBody::all(state.registry.engine(), &outcome),
    ))
}

/// `POST /v1/instances/{id}/process`.
pub async fn process(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<ObservationInput>,
) -> ApiResult<Response> {
    let observation = body.validate()?;
    let (version, mut results) =
        run(&state, caller, &id, if_match, vec![observation], false).await?;
    let result = results.pop().ok_or(ApiError::Internal)?;
    Ok(with_etag(StatusCode::OK, version, &result))
}

/// `POST /v1/instances/{id}/process/batch` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    observations: Option<Vec<ObservationInput>>,
    #[serde(default)]
    include_intermediate: Option<bool>,
}

/// Query of the batch route.
#[derive(Debug, Deserialize)]
pub struct BatchQuery {
    include_intermediate: Option<String>,
}

fn parse_flag(text: &str) -> ApiResult<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::invalid_field(
            "include_intermediate",
            format!("include_intermediate must be true or false, not {text:?}"),
        )),
    }
}

/// Validates every observation before any is applied; `details.index` names
/// the first bad one. Explicit timestamps must not go backwards.
fn validate_batch(inputs: Vec<ObservationInput>) -> ApiResult<Vec<TimedObservation>> {
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        return Err(ApiError::invalid_field(
            "observations",
            format!(
                "a batch holds 1 to {MAX_BATCH} observations, got {}",
                inputs.len()
            ),
        ));
    }
    let mut validated = Vec::with_capacity(inputs.len());
    let mut last_timestamp = None;
    for (index, input) in inputs.into_iter().enumerate() {
        let observation = input.validate().map_err(|e| match e {
            ApiError::InvalidRequest { message, details } => ApiError::InvalidRequest {
                message: format!("observations[{index}]: {message}"),
                details: Some(serde_json::json!({
                    "index": index,
                    "field": details.as_ref().and_then(|d| d.get("field")).cloned(),
                })),
            },
            other => other,
        })?;
        if let Some(t) = observation.timestamp {
            if last_timestamp.is_some_and(|last| t < last) {
                return Err(ApiError::InvalidRequest {
                    message: format!(
                        "observations[{index}]: timestamps within a batch must not decrease"
                    ),
                    details: Some(serde_json::json!({ "index": index, "field": "timestamp" })),
                });
            }
            last_timestamp = Some(t);
        }
        validated.push(observation);
    }
    Ok(validated)
}

/// `POST /v1/instances/{id}/process/batch` → array of ProcessResult.
pub async fn process_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    QueryParams(query): QueryParams<BatchQuery>,
    JsonBody(body): JsonBody<BatchRequest>,
) -> ApiResult<Response> {
    let from_query = query
        .include_intermediate
        .as_deref()
        .map(parse_flag)
        .transpose()?;
    let keep_intermediate =
        from_query.unwrap_or(false) || body.include_intermediate.unwrap_or(false);
    let inputs = body
        .observations
        .ok_or_else(|| ApiError::invalid_field("observations", "observations is required"))?;
    let observations = validate_batch(inputs)?;
    let count = observations.len();
    let (version, results) = run(
        &state,
        caller,
        &id,
        if_match,
        observations,
        keep_intermediate,
    )
    .await?;
    let mut response = with_etag(StatusCode::OK, version, &results);
    response
        .headers_mut()
        .insert("x-processed-count", HeaderValue::from(count));
    Ok(response)
}

/// `GET /v1/instances/{id}/snapshot`.
pub async fn snapshot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = caller.account.id;
    let view = state.registry.view(&id, &account_id).await?;
    let body = SnapshotBody::new(
        state.registry.engine(),
        &view.meta,
        &view.state,
        now_micros(),
    );
    Ok(with_etag(StatusCode::OK, view.meta.version, &body))
}

/// `GET /v1/instances/{id}/contract`.
pub async fn contract(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = caller.account.id;
    let view = state.registry.view(&id, &account_id).await?;
    let body = ContractBody::new(
        state.registry.engine(),
        &view.meta.id,
        &view.state,
        &view.profile,
    );
    Ok(with_etag(StatusCode::OK, view.meta.version, &body))
}

/// `POST /v1/instances/{id}/reset` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[serde(default)]
    mode: Option<String>,
}

/// `POST /v1/instances/{id}/reset` → Snapshot.
pub async fn reset(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<ResetRequest>,
) -> ApiResult<Response> {
    let mode = match body.mode.as_deref().unwrap_or("initial") {
        "initial" => ResetMode::Initial,
        "default" => ResetMode::Default,
        "last_stable" => ResetMode::LastStable,
        other => {
            return Err(ApiError::invalid_field(
                "mode",
                format!("mode must be initial, default or last_stable, not {other:?}"),
            ))
        }
    };
    let account_id = caller.account.id;
    let view = state
        .registry
        .call(&id, |reply| InstanceMessage::Reset {
            account_id: account_id.clone(),
            if_match,
            mode,
            reply,
        })
        .await?;
    let body = SnapshotBody::new(
        state.registry.engine(),
        &view.meta,
        &view.state,
        view.meta.updated_at,
    );
    Ok(with_etag(StatusCode::OK, view.meta.version, &body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::parse_json;
    use proptest::prelude::*;

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-zA-Z_]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("mode_target".to_string()),
                        Just("signal_strength".to_string()),
                        Just("confidence".to_string()),
                        Just("timestamp".to_string()),
                        Just("context".to_string()),
                        Just("observations".to_string()),
                        "[a-z]{1,6}",
                    ],
                    inner,
                    0..6,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Arbitrary bytes never panic the parser: they parse or give a 422.
        #[test]
        fn arbitrary_bytes_are_parsed_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Err(e) = parse_json::<ObservationInput>(&bytes).and_then(ObservationInput::validate) {
                prop_assert_eq!(e.code(), "invalid_request");
            }
        }

        /// Arbitrary JSON shapes never panic validation; whatever passes is a
        /// valid observation.
        #[test]
        fn arbitrary_json_is_validated_or_refused(value in json_value()) {
            let bytes = serde_json::to_vec(&value).unwrap_or_default();
            match parse_json::<ObservationInput>(&bytes).and_then(ObservationInput::validate) {
                Ok(timed) => {
                    let o = timed.observation;
                    prop_assert!((0.0..=1.0).contains(&o.signal_strength()));
                    prop_assert!((0.0..=1.0).contains(&o.confidence()));
                }
                Err(e) => prop_assert_eq!(e.code(), "invalid_request"),
            }
            if let Ok(batch) = parse_json::<BatchRequest>(&bytes) {
                if let Some(inputs) = batch.observations {
                    let _ = validate_batch(inputs);
                }
            }
        }
    }
}

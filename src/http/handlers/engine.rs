//! `/v1/instances/{id}/…`: process, batch, snapshot, contract, reset.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub use super::observation_input::ObservationInput;
use crate::actors::idempotency::RenderedResponse;
use crate::actors::limiter::PreReserved;
use crate::actors::{InstanceMessage, InstanceView, ProcessOutcome, ResetMode, TimedObservation};
use crate::engine::Engine;
use crate::http::idempotency::{render_json, replayed, KeyedRequest};
use crate::time::now_micros;

use super::with_etag;
use crate::http::deadline;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{IfMatch, JsonBody, QueryParams};
use crate::http::object_only;
use crate::http::openapi::params::{IfMatchHeader, InstanceId};
use crate::http::state::{AppState, Caller};
use crate::http::wire::{ContractBody, ProcessResultBody, SnapshotBody};

/// Largest accepted batch.
const MAX_BATCH: usize = 100;

/// How a process request is answered: one ProcessResult, or an array of
/// them with `X-Processed-Count`.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Single,
    Batch { count: usize },
}

/// The response to `outcome`, the same bytes whether it is sent now or
/// recorded for a replay.
fn render_outcome(engine: &Engine, outcome: &ProcessOutcome, answer: Answer) -> RenderedResponse {
    let version = Some(outcome.meta.version);
    let mut results = ProcessResultBody::all(engine, outcome);
    match answer {
        Answer::Single => match results.pop() {
            Some(result) => render_json(StatusCode::OK, version, &result, &[]),
            None => render_json(StatusCode::OK, version, &results, &[]),
        },
        Answer::Batch { count } => render_json(
            StatusCode::OK,
            version,
            &results,
            &[("x-processed-count", count.to_string())],
        ),
    }
}

/// A validated process or batch request.
struct ProcessCall {
    if_match: Option<i64>,
    observations: Vec<TimedObservation>,
    keep_intermediate: bool,
    answer: Answer,
    keyed: Option<KeyedRequest>,
    /// Cycles the rate limiter already reserved for this request.
    pre_reserved: Option<PreReserved>,
}

async fn run(state: &AppState, caller: Caller, id: &str, call: ProcessCall) -> ApiResult<Response> {
    let ProcessCall {
        if_match,
        observations,
        keep_intermediate,
        answer,
        keyed,
        pre_reserved,
    } = call;
    let cycles = observations.len() as u64;
    let reservation = match pre_reserved.and_then(|p| p.take(cycles)) {
        Some(reservation) => reservation,
        None => {
            state
                .limiter
                .reserve_cycles(&caller.account, cycles)
                .await?
        }
    };
    let monthly = reservation.status();
    let idempotency = keyed.map(|keyed| {
        let state = state.clone();
        keyed.attach::<ProcessOutcome>(
            &caller,
            Box::new(move |outcome| render_outcome(state.registry.engine(), outcome, answer)),
        )
    });
    let account_id = caller.account.id.clone();
    deadline::disarm();
    let answered = state
        .registry
        .call(id, |reply| InstanceMessage::Process {
            account_id,
            if_match,
            observations,
            keep_intermediate,
            reservation,
            idempotency,
            reply,
        })
        .await?;
    let mut response =
        render_outcome(state.registry.engine(), &answered.outcome, answer).into_response();
    Ok(if answered.replayed {
        replayed(response)
    } else {
        // For the monthly headers (http::limits): the figures with these
        // cycles spent.
        response.extensions_mut().insert(monthly);
        response
    })
}

/// `POST /v1/instances/{id}/process`.
#[utoipa::path(
    post, path = "/v1/instances/{id}/process", tag = "engine", operation_id = "process_observation",
    params(InstanceId, IfMatchHeader),
    request_body = ObservationInput,
    responses(
        (status = 200, description = "The observation and the new state are committed", body = ProcessResultBody,
            headers(("ETag" = String, description = "The new instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 409, description = "`If-Match` names another version (`conflict`)"),
        (status = 429, description = "`throttled` (closer than `MIN_CYCLE_INTERVAL` to the previous observation), `quota_exceeded` (monthly cycles spent; no `Retry-After`) or `rate_limited`"),
    ),
)]
pub async fn process(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
    pre_reserved: Option<Extension<PreReserved>>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<ObservationInput>,
) -> ApiResult<Response> {
    let observation = body.validate()?;
    let call = ProcessCall {
        if_match,
        observations: vec![observation],
        keep_intermediate: false,
        answer: Answer::Single,
        keyed: keyed.map(|Extension(k)| k),
        pre_reserved: pre_reserved.map(|Extension(p)| p),
    };
    run(&state, caller, &id, call).await
}

/// `POST /v1/instances/{id}/process/batch` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1–100 observations, applied in order; explicit timestamps must not decrease.
    #[serde(default, deserialize_with = "object_only::option_vec")]
    #[schema(value_type = Vec<ObservationInput>, required = true, min_items = 1, max_items = 100)]
    observations: Option<Vec<ObservationInput>>,
    /// Return every intermediate result, not only the final one.
    #[serde(default)]
    include_intermediate: Option<bool>,
}

/// Query of the batch route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// Return every intermediate result (either this or the body field
    /// turns it on).
    #[param(value_type = bool, required = false)]
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
        let observation = input.validate().map_err(|e| {
            let field = e.details().and_then(|d| d.get("field")).cloned();
            ApiError::invalid(format!("observations[{index}]: {}", e.message()))
                .with_details(serde_json::json!({ "index": index, "field": field }))
        })?;
        if let Some(t) = observation.timestamp {
            if last_timestamp.is_some_and(|last| t < last) {
                return Err(ApiError::invalid(format!(
                    "observations[{index}]: timestamps within a batch must not decrease"
                ))
                .with_details(serde_json::json!({ "index": index, "field": "timestamp" })));
            }
            last_timestamp = Some(t);
        }
        validated.push(observation);
    }
    Ok(validated)
}

/// `POST /v1/instances/{id}/process/batch` → array of ProcessResult.
#[utoipa::path(
    post, path = "/v1/instances/{id}/process/batch", tag = "engine", operation_id = "process_batch",
    params(InstanceId, IfMatchHeader, BatchQuery),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "All observations committed atomically: every intermediate result, or a one-element array with the final one",
            body = Vec<ProcessResultBody>,
            headers(
                ("ETag" = String, description = "The new instance version, quoted"),
                ("X-Processed-Count" = u32, description = "Observations applied"),
            )),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 409, description = "`If-Match` names another version (`conflict`)"),
        (status = 422, description = "A bad observation (`details.index` names it), decreasing timestamps, or 0 / more than 100 observations (`invalid_request`)"),
        (status = 429, description = "`throttled`, `quota_exceeded` (the remaining quota is smaller than the batch; no `Retry-After`) or `rate_limited`"),
    ),
)]
pub async fn process_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
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
    let call = ProcessCall {
        if_match,
        observations,
        keep_intermediate,
        answer: Answer::Batch { count },
        keyed: keyed.map(|Extension(k)| k),
        pre_reserved: None,
    };
    run(&state, caller, &id, call).await
}

/// `GET /v1/instances/{id}/snapshot`.
#[utoipa::path(
    get, path = "/v1/instances/{id}/snapshot", tag = "engine", operation_id = "get_snapshot",
    params(InstanceId),
    responses(
        (status = 200, description = "The current state", body = SnapshotBody,
            headers(("ETag" = String, description = "The instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn snapshot(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = &caller.account.id;
    let view = state.registry.view(&id, account_id).await?;
    let body = SnapshotBody::new(
        state.registry.engine(),
        &view.meta,
        &view.state,
        now_micros(),
    );
    Ok(with_etag(StatusCode::OK, view.meta.version, &body))
}

/// `GET /v1/instances/{id}/contract`.
#[utoipa::path(
    get, path = "/v1/instances/{id}/contract", tag = "engine", operation_id = "get_contract",
    params(InstanceId),
    responses(
        (status = 200, description = "What the agent may do now", body = ContractBody,
            headers(("ETag" = String, description = "The instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn contract(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let account_id = &caller.account.id;
    let view = state.registry.view(&id, account_id).await?;
    let body = ContractBody::new(
        state.registry.engine(),
        &view.meta.id,
        &view.state,
        &view.profile,
    );
    Ok(with_etag(StatusCode::OK, view.meta.version, &body))
}

/// `POST /v1/instances/{id}/reset` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// Default `initial`.
    #[serde(default)]
    mode: Option<ResetMode>,
}

/// `POST /v1/instances/{id}/reset` → Snapshot.
#[utoipa::path(
    post, path = "/v1/instances/{id}/reset", tag = "engine", operation_id = "reset_instance",
    params(InstanceId, IfMatchHeader),
    request_body(content = Option<ResetRequest>, description = "Optional: an empty body resets to `initial`"),
    responses(
        (status = 200, description = "The state after the reset", body = SnapshotBody,
            headers(("ETag" = String, description = "The new instance version, quoted"))),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 409, description = "`If-Match` names another version, or `last_stable` without a stable point yet (`conflict`)"),
    ),
)]
pub async fn reset(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    keyed: Option<Extension<KeyedRequest>>,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    JsonBody(body): JsonBody<ResetRequest>,
) -> ApiResult<Response> {
    let mode = body.mode.unwrap_or_default();
    let account_id = caller.account.id.clone();
    let render = {
        let state = state.clone();
        move |view: &InstanceView| {
            let body = SnapshotBody::new(
                state.registry.engine(),
                &view.meta,
                &view.state,
                view.meta.updated_at,
            );
            render_json(StatusCode::OK, Some(view.meta.version), &body, &[])
        }
    };
    let idempotency =
        keyed.map(|Extension(k)| k.attach::<InstanceView>(&caller, Box::new(render.clone())));
    deadline::disarm();
    let view = state
        .registry
        .call(&id, |reply| InstanceMessage::Reset {
            account_id,
            if_match,
            mode,
            idempotency,
            reply,
        })
        .await?;
    Ok(render(&view).into_response())
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
                prop_assert_eq!(e.code(), crate::http::error::Code::InvalidRequest);
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
                Err(e) => prop_assert_eq!(e.code(), crate::http::error::Code::InvalidRequest),
            }
            if let Ok(batch) = parse_json::<BatchRequest>(&bytes) {
                if let Some(inputs) = batch.observations {
                    let _ = validate_batch(inputs);
                }
            }
        }
    }
}

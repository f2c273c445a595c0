//! One observation as clients send it (`POST …/process` and each item of
//! a batch), and its validation into what the engine and throttle need.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::actors::TimedObservation;
use crate::engine::{Mode, Observation};
use crate::http::error::{ApiError, ApiResult};
use crate::time::{parse_timestamp, TIMESTAMP_YEARS};

/// Largest accepted `context`, serialised.
const MAX_CONTEXT_BYTES: usize = 16 * 1024;

/// One observation as sent by clients.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Observation)]
pub struct ObservationInput {
    /// The targeted mode (case-insensitive).
    #[schema(value_type = Mode, required = true)]
    mode_target: Option<String>,
    /// Signal strength in [0, 1].
    #[schema(value_type = f64, required = true, minimum = 0.0, maximum = 1.0)]
    signal_strength: Option<f64>,
    /// Confidence in [0, 1]; default 1.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: Option<f64>,
    /// Caller-controlled time (RFC 3339; without an offset it is UTC).
    /// Observations closer than `MIN_CYCLE_INTERVAL` to the previous one
    /// are throttled.
    #[serde(default)]
    // The documented subset of what is accepted (days up to 28 so that
    // every string of the pattern is a real date).
    #[schema(
        pattern = r"^(19[7-9][0-9]|[2-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?$",
        example = "2026-03-24T10:15:32Z"
    )]
    timestamp: Option<String>,
    /// Arbitrary metadata stored with the observation, at most 16 KiB
    /// serialised.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Map<String, serde_json::Value>>,
}

impl ObservationInput {
    /// Validates everything the engine and the throttle need.
    pub(super) fn validate(self) -> ApiResult<TimedObservation> {
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
                    format!(
                        "timestamp {text:?} is not an RFC 3339 / ISO 8601 date-time with a four-digit year from {} to {}",
                        TIMESTAMP_YEARS.start(),
                        TIMESTAMP_YEARS.end()
                    ),
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

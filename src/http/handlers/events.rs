//! `GET /v1/instances/{id}/events`: a server-sent-events stream of the
//! instance's committed changes (docs/api.md "Event stream").
//!
//! The stream subscribes before it reads the instance's version, so every
//! change committed after the `ready` event is delivered; `ready` tells a
//! reconnecting client (`Last-Event-ID`) whether it missed any.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use futures_util::stream::{self, Stream};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use utoipa::ToSchema;

use super::trajectory::FiguresBody;
use crate::actors::instance_events::{InstanceChange, SubscribeError, Subscription};
use crate::actors::ResetMode;
use crate::http::error::{ApiError, ApiResult, Code};
use crate::http::openapi::params::{InstanceId, LastEventIdHeader};
use crate::http::state::{AppState, Caller};
use crate::time::format_timestamp;

/// How long a client refused for the stream limit is told to wait.
const STREAM_LIMIT_RETRY_SECS: u64 = 5;

/// One event of the stream as a client parses it (the SSE fields); its
/// `data` is the JSON of the event's body (StreamReady, ObservationEvent,
/// ResetEvent or ChangeNotice).
#[derive(Debug, ToSchema)]
pub struct StreamEvent {
    /// `ready`, `observation`, `reset`, `updated`, `deleted` or `lagged`.
    #[schema(pattern = "^(ready|observation|reset|updated|deleted|lagged)$")]
    pub event: String,
    /// The event's body as JSON.
    #[schema(content_media_type = "application/json")]
    pub data: String,
    /// The instance version after the change.
    #[schema(pattern = "^[0-9]+$")]
    pub id: Option<String>,
}

/// The first event of every stream.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StreamReady)]
pub struct ReadyEvent {
    pub instance_id: String,
    /// The instance's version now (also the event's id).
    pub version: i64,
    /// With `Last-Event-ID`: whether changes were committed after that
    /// version (re-read the instance); `null` without the header.
    pub missed: Option<bool>,
}

/// The data of an `observation` event: the commit's last cycle.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ObservationEvent)]
pub struct ObservationEvent {
    pub version: i64,
    pub cycle_number: u64,
    /// Observations this commit applied (a batch's length).
    pub observations: u64,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[serde(flatten)]
    pub figures: FiguresBody,
}

/// The data of a `reset` event: the restored state.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ResetEvent)]
pub struct ResetEvent {
    pub version: i64,
    pub mode: ResetMode,
    pub cycle_count: u64,
    #[schema(format = DateTime)]
    pub timestamp: String,
    #[serde(flatten)]
    pub figures: FiguresBody,
}

/// The data of an `updated` (rename, personality test), `deleted` or
/// `lagged` event.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ChangeNotice)]
pub struct NoticeEvent {
    /// The version after the change (`updated`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// `lagged`: how many changes this stream skipped (re-read the instance).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    #[schema(format = DateTime)]
    pub timestamp: String,
}

/// A named SSE event with JSON data (and an id when it has a version).
fn event<T: Serialize>(name: &str, id: Option<i64>, data: &T) -> Event {
    let event = Event::default()
        .event(name)
        .data(serde_json::to_string(data).unwrap_or_default());
    match id {
        Some(id) => event.id(id.to_string()),
        None => event,
    }
}

/// The SSE event of one committed change.
fn change_event(change: &InstanceChange) -> Event {
    match *change {
        InstanceChange::Observation {
            version,
            cycle_number,
            observations,
            timestamp,
            point,
        } => event(
            "observation",
            Some(version),
            &ObservationEvent {
                version,
                cycle_number,
                observations,
                timestamp: format_timestamp(timestamp),
                figures: point.into(),
            },
        ),
        InstanceChange::Reset {
            version,
            mode,
            cycle_count,
            timestamp,
            point,
        } => event(
            "reset",
            Some(version),
            &ResetEvent {
                version,
                mode,
                cycle_count,
                timestamp: format_timestamp(timestamp),
                figures: point.into(),
            },
        ),
        InstanceChange::Updated { version, timestamp } => event(
            "updated",
            Some(version),
            &NoticeEvent {
                version: Some(version),
                skipped: None,
                timestamp: format_timestamp(timestamp),
            },
        ),
        InstanceChange::Deleted { timestamp } => event(
            "deleted",
            None,
            &NoticeEvent {
                version: None,
                skipped: None,
                timestamp: format_timestamp(timestamp),
            },
        ),
    }
}

/// Reads `Last-Event-ID` (a version).
fn last_event_id(headers: &HeaderMap) -> ApiResult<Option<i64>> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid_field(
                "Last-Event-ID",
                "Last-Event-ID must be the id of an earlier event (an instance version)",
            )
        })
}

/// What the stream still has to do.
struct StreamState {
    ready: Option<Event>,
    subscription: Subscription,
    closing: watch::Receiver<bool>,
    ended: bool,
}

/// The `ready` event, then every change until the instance is deleted, the
/// client goes or the server shuts down.
fn changes(state: StreamState) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(state, |mut s| async move {
        if let Some(ready) = s.ready.take() {
            return Some((Ok(ready), s));
        }
        if s.ended || *s.closing.borrow() {
            return None;
        }
        tokio::select! {
            _ = s.closing.changed() => None,
            received = s.subscription.changes.recv() => match received {
                Ok(change) => {
                    s.ended = matches!(*change, InstanceChange::Deleted { .. });
                    Some((Ok(change_event(&change)), s))
                }
                Err(RecvError::Lagged(skipped)) => {
                    let notice = NoticeEvent {
                        version: None,
                        skipped: Some(skipped),
                        timestamp: format_timestamp(crate::time::now_micros()),
                    };
                    Some((Ok(event("lagged", None, &notice)), s))
                }
                Err(RecvError::Closed) => None,
            },
        }
    })
}

/// `GET /v1/instances/{id}/events`: the instance's changes as they commit.
#[utoipa::path(
    get, path = "/v1/instances/{id}/events", tag = "engine", operation_id = "get_events",
    params(InstanceId, LastEventIdHeader),
    responses(
        (status = 200, description = "`text/event-stream`: `ready` (StreamReady), then `observation` (ObservationEvent), `reset` (ResetEvent), `updated`, `deleted` and `lagged` (ChangeNotice); each event's id is the instance version; a `:` comment every `server.event_heartbeat_secs`",
            content_type = "text/event-stream", body = StreamEvent),
        (status = 404, description = "No such instance for this account (`not_found`)"),
        (status = 422, description = "`Last-Event-ID` is not a version (`invalid_request`)"),
    ),
)]
pub async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let last_seen = last_event_id(&headers)?;
    let account_id = &caller.account.id;
    let hub = state.registry.events();
    let limit = state.config.server.max_event_streams_per_account;
    let subscription = hub.subscribe(account_id, &id, limit).map_err(|e| match e {
        SubscribeError::TooManyStreams { .. } => ApiError::new(Code::RateLimited, e.to_string())
            .with_retry_after(STREAM_LIMIT_RETRY_SECS),
        SubscribeError::Closing => ApiError::service_unavailable(e.to_string(), 1),
    })?;
    // After subscribing: a change committed from here on is in the stream.
    let view = state.registry.view(&id, account_id).await?;
    let version = view.meta.version;
    let ready = event(
        "ready",
        Some(version),
        &ReadyEvent {
            instance_id: id,
            version,
            missed: last_seen.map(|seen| seen != version),
        },
    );
    let stream = changes(StreamState {
        ready: Some(ready),
        subscription,
        closing: hub.closing(),
        ended: false,
    });
    let heartbeat = Duration::from_secs(state.config.server.event_heartbeat_secs);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(heartbeat))
        .into_response())
}

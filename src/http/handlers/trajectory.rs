//! `GET /v1/instances/{id}/trajectory`: the state every cycle produced, for
//! charts. Each observation stores its cycle's figures when it is committed
//! (store `CyclePoint`), so a page is one indexed read and its newest item
//! is exactly the current state's figures (docs/architecture.md
//! "Trajectory").

use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::history::{check_owner, instance_page};
use super::page_bounds;
use crate::engine::{DriftLevel, Mode, ModeStrengths, StressLevel};
use crate::http::error::ApiResult;
use crate::http::extract::QueryParams;
use crate::http::openapi::params::InstanceId;
use crate::http::state::{AppState, Caller};
use crate::http::wire::PageBody;
use crate::store::{CyclePoint, TrajectoryRow};
use crate::time::format_timestamp;

/// A cycle's drift reading in the trajectory.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TrajectoryDrift)]
pub struct TrajectoryDriftBody {
    /// The drift level.
    pub level: DriftLevel,
    /// How far the modes moved from their anchor.
    pub magnitude: f64,
    /// Whether this cycle rolled the state back to the last stable point.
    pub rolled_back: bool,
}

/// The figures of one state: a trajectory point, and the state an event
/// reports.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = StateFigures)]
pub struct FiguresBody {
    /// In [0, 1].
    pub energy_level: f64,
    /// `LOW`, `MED`, `HIGH` or `OVER`.
    pub stress_level: StressLevel,
    /// In [0, 1].
    pub stability_index: f64,
    /// The seven mode strengths, each in [-1, 1].
    pub mode_strengths: ModeStrengths,
    /// The mode the engine's memory counts as dominant (as in the
    /// contract's `memory_context.dominant_mode`); `null` before any.
    pub dominant_mode: Option<Mode>,
    /// The cycle's drift reading; `null` during the 20-cycle warm-up and
    /// for a reset.
    pub drift: Option<TrajectoryDriftBody>,
}

impl From<CyclePoint> for FiguresBody {
    fn from(p: CyclePoint) -> Self {
        FiguresBody {
            energy_level: p.energy_level,
            stress_level: p.stress_level,
            stability_index: p.stability_index,
            mode_strengths: p.mode_strengths.into(),
            dominant_mode: p.dominant_mode,
            drift: p.drift.map(|d| TrajectoryDriftBody {
                level: d.level,
                magnitude: d.magnitude,
                rolled_back: d.rolled_back,
            }),
        }
    }
}

/// One cycle of the trajectory.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TrajectoryPoint)]
pub struct TrajectoryPointBody {
    /// The cycle (restarts after an `initial`/`default` reset).
    pub cycle_number: u64,
    /// The observation's effective time, RFC 3339 UTC.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The state the cycle produced.
    #[serde(flatten)]
    pub figures: FiguresBody,
}

impl From<TrajectoryRow> for TrajectoryPointBody {
    fn from(row: TrajectoryRow) -> Self {
        TrajectoryPointBody {
            cycle_number: row.cycle_number,
            timestamp: format_timestamp(row.timestamp),
            figures: row.point.into(),
        }
    }
}

/// Query of the trajectory route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrajectoryQuery {
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    limit: Option<u64>,
    /// Items to skip (default 0).
    #[param(nullable = false)]
    offset: Option<u64>,
}

/// `GET /v1/instances/{id}/trajectory`: cycles, newest first.
#[utoipa::path(
    get, path = "/v1/instances/{id}/trajectory", tag = "history", operation_id = "get_trajectory",
    params(InstanceId, TrajectoryQuery),
    responses(
        (status = 200, description = "A page of cycles, newest first", body = PageBody<TrajectoryPointBody>),
        (status = 404, description = "No such instance for this account (`not_found`)"),
    ),
)]
pub async fn trajectory(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams<TrajectoryQuery>,
) -> ApiResult<Json<PageBody<TrajectoryPointBody>>> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 100, 1000)?;
    check_owner(&state, &caller, &id).await?;
    let page = state.store.trajectory(&id, limit, offset).await?;
    Ok(instance_page(id, page, limit, offset))
}

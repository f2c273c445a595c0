//! `GET /metrics`: Prometheus text exposition (metrics-exporter-prometheus)
//! of requests, latencies, actors, engine cycles, store commits and limiter
//! rejections.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

use super::state::AppState;

/// Latency buckets (seconds) for request and commit histograms.
const SECONDS_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// Buckets for commit group sizes.
const GROUP_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder (once) and returns its handle.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("group_size".into()), &GROUP_BUCKETS)
                });
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts a finished request by route, method and status, and records its
/// latency (the time until its response head was ready).
pub fn record_request(route: &str, method: &Method, status: StatusCode, latency: Duration) {
    let route = route.to_owned();
    let method = method.as_str().to_owned();
    metrics::counter!("identity_os_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.as_str().to_owned())
        .increment(1);
    metrics::histogram!("identity_os_http_request_duration_seconds", "route" => route, "method" => method)
        .record(latency.as_secs_f64());
}

/// `GET /metrics`.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text exposition", body = String,
        content_type = "text/plain")),
)]
pub async fn render(State(state): State<AppState>) -> Response {
    let stats = state.registry.stats();
    metrics::gauge!("identity_os_instance_actors_live").set(stats.live as f64);
    metrics::counter!("identity_os_instance_actors_spawned_total").absolute(stats.spawned);
    metrics::counter!("identity_os_instance_actor_restarts_total").absolute(stats.restarts);
    let body = install().map(|h| h.render()).unwrap_or_default();
    ([(CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

//! `GET /metrics`: Prometheus text exposition (metrics-exporter-prometheus)
//! of requests, latencies, actors, engine cycles, store commits and limiter
//! rejections.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use dashmap::DashMap;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{LazyLock, OnceLock};
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

/// The method label: the standard methods by name, anything else as
/// `OTHER`, so a client inventing methods cannot grow the series without
/// bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The handles of one (route, method, status) series.
struct RequestSeries {
    method: &'static str,
    status: StatusCode,
    count: Counter,
    duration: Histogram,
}

/// Series handles by route, built on a route's first request with each
/// method and status. Building them (label strings, key hash, registry
/// lookup) costs about 4 800 instructions per request (measured:
/// docs/benchmarks-history.md); finding them here is one hash of the route.
static REQUEST_SERIES: LazyLock<DashMap<Box<str>, Vec<RequestSeries>>> =
    LazyLock::new(DashMap::new);

impl RequestSeries {
    fn new(route: &str, method: &'static str, status: StatusCode) -> Self {
        let route = route.to_owned();
        RequestSeries {
            method,
            status,
            count: metrics::counter!("identity_os_http_requests_total", "route" => route.clone(), "method" => method, "status" => status.as_str().to_owned()),
            duration: metrics::histogram!("identity_os_http_request_duration_seconds", "route" => route, "method" => method),
        }
    }

    fn record(&self, latency: Duration) {
        self.count.increment(1);
        self.duration.record(latency.as_secs_f64());
    }
}

/// Counts a finished request by route, method and status, and records its
/// latency (the time until its response head was ready).
pub fn record_request(route: &str, method: &Method, status: StatusCode, latency: Duration) {
    let method = method_label(method);
    // Handles taken before the recorder exists would count nowhere forever.
    if !matches!(HANDLE.get(), Some(Some(_))) {
        RequestSeries::new(route, method, status).record(latency);
        return;
    }
    if let Some(series) = REQUEST_SERIES.get(route) {
        if let Some(s) = series
            .iter()
            .find(|s| s.method == method && s.status == status)
        {
            s.record(latency);
            return;
        }
    }
    let series = RequestSeries::new(route, method, status);
    series.record(latency);
    REQUEST_SERIES.entry(route.into()).or_default().push(series);
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

//! `GET /metrics` exposes requests, latencies, actors, engine cycles, store
//! commits and limiter rejections in Prometheus text format.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(prefix))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample starting with {prefix:?} in:\n{text}"))
}

#[tokio::test]
async fn metrics_count_what_happened() {
    // A process: the values are absolute, and the metrics recorder is
    // process-wide (in-process servers of other tests would add to it).
    let server =
        TestServer::start_process(Options::with_config("[actors]\nmax_live_instances = 2\n"));
    let key = server.key();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(server.create_instance(&key, &format!("m{i}")).await);
    }
    for id in &ids {
        let batch = json!({"observations": (0..3).map(|i| json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i * 2)})).collect::<Vec<_>>()});
        assert_eq!(
            server
                .post(&format!("/v1/instances/{id}/process/batch"), &key, batch)
                .await
                .status,
            StatusCode::OK
        );
    }
    let throttled = server
        .post(
            &format!("/v1/instances/{}/process", ids[0]),
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(0)}),
        )
        .await;
    throttled.assert_error(429, "throttled");

    // Invented methods share one label value instead of adding series.
    for invented in ["FOO", "BAR"] {
        let method = Method::from_bytes(invented.as_bytes()).unwrap();
        server.send(method, "/v1/nothing", None, None, &[]).await;
    }

    let answer = server.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(answer
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    let text = answer.text;
    assert_eq!(value(&text, "identity_os_engine_cycles_total"), 12.0);
    assert_eq!(
        value(
            &text,
            "identity_os_limiter_rejections_total{reason=\"throttled\"}"
        ),
        1.0
    );
    assert!(text.contains("identity_os_http_requests_total{route=\"/v1/instances/{id}/process/batch\",method=\"POST\",status=\"200\"} 4"), "{text}");
    assert!(text.contains("identity_os_http_request_duration_seconds_bucket{route=\"/v1/instances\",method=\"POST\""), "{text}");
    assert!(text.contains("identity_os_http_requests_total{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 2"), "{text}");
    assert!(!text.contains("method=\"FOO\""), "{text}");
    assert!(value(&text, "identity_os_store_commit_group_size_count") >= 1.0);
    assert!(value(&text, "identity_os_store_commit_seconds_count") >= 1.0);
    assert!(
        value(&text, "identity_os_instance_actors_spawned_total") >= 4.0,
        "one actor per instance, more after evictions"
    );
    // Eviction keeps the live actors near max_live_instances (it runs
    // asynchronously, so allow the one just spawned, and poll instead of
    // waiting a fixed time).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let text = server
            .send(Method::GET, "/metrics", None, None, &[])
            .await
            .text;
        if value(&text, "identity_os_instance_actors_live") <= 3.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

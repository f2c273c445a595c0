//! Idle instance actors passivate and come back from the store; the number
//! of live actors is bounded.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::{Duration, Instant};

/// The live-actor gauge of `/metrics` (set from this server's registry
/// when rendered).
async fn live_actors(server: &TestServer) -> f64 {
    let text = server
        .send(Method::GET, "/metrics", None, None, &[])
        .await
        .text;
    text.lines()
        .find_map(|line| line.strip_prefix("identity_os_instance_actors_live "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no identity_os_instance_actors_live in:\n{text}"))
}

#[tokio::test]
async fn passivated_and_evicted_actors_resume_from_the_store() {
    // A process: it polls the live-actor gauge, and the metrics recorder is
    // process-wide (in-process servers of other tests would share it).
    let server = TestServer::start_process(Options::with_config(
        "[actors]\nidle_timeout_secs = 1\nmax_live_instances = 4\n",
    ));
    let key = server.key();
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(server.create_instance(&key, &format!("a{i}")).await);
    }
    // More instances than max_live_instances, used round-robin: evictions happen.
    for round in 0..3u64 {
        for id in &ids {
            let answer = server
                .post(
                    &format!("/v1/instances/{id}/process"),
                    &key,
                    json!({"mode_target": "order", "signal_strength": 0.6, "timestamp": ts(round * 2)}),
                )
                .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
            assert_eq!(answer.body["snapshot"]["cycle_count"], round + 1);
        }
    }
    // Idle until everything has passivated (idle_timeout_secs = 1), then
    // continue.
    let deadline = Instant::now() + Duration::from_secs(15);
    while live_actors(&server).await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "every idle actor passivated within 15 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for id in &ids {
        let answer = server
            .post(
                &format!("/v1/instances/{id}/process"),
                &key,
                json!({"mode_target": "order", "signal_strength": 0.6, "timestamp": ts(10)}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(
            answer.body["snapshot"]["cycle_count"], 4,
            "state and throttle time survived passivation"
        );
        // Another observation at the same time (an identical one would be
        // answered as a retry of the last request).
        let throttled = server
            .post(
                &format!("/v1/instances/{id}/process"),
                &key,
                json!({"mode_target": "order", "signal_strength": 0.7, "timestamp": ts(10)}),
            )
            .await;
        throttled.assert_error(429, "throttled");
    }
}

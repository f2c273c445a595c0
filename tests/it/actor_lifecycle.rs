//! Idle instance actors passivate and come back from the store; the number
//! of live actors is bounded.

mod common;

use common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn passivated_and_evicted_actors_resume_from_the_store() {
    let server = TestServer::start(Options::with_config(
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
    // Idle long enough to passivate everything, then continue.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
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
        let throttled = server
            .post(
                &format!("/v1/instances/{id}/process"),
                &key,
                json!({"mode_target": "order", "signal_strength": 0.6, "timestamp": ts(10)}),
            )
            .await;
        throttled.assert_error(429, "throttled");
    }
}

//! A panicking instance actor is restarted from persisted state; only the
//! request it was handling fails. Needs `--features fault-injection` (the
//! test command enables it).

#![cfg(feature = "fault-injection")]

use crate::common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::json;

/// Fires a fault route: a generic JSON 500 that leaks nothing of the panic.
async fn crash(server: &TestServer, key: &str, path: &str) -> crate::common::Answer {
    let crashed = server.post(path, key, json!({})).await;
    crashed.assert_error(500, "internal");
    assert!(
        !crashed.text.contains("fault injection"),
        "no panic message leaks to the client"
    );
    crashed
}

#[tokio::test]
async fn a_crashed_actor_restarts_from_its_last_committed_state() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "fragile").await;
    let other = server.create_instance(&key, "bystander").await;
    for i in 0..5 {
        let body =
            json!({"mode_target": "exploration", "signal_strength": 0.8, "timestamp": ts(i * 2)});
        assert_eq!(
            server
                .post(&format!("/v1/instances/{id}/process"), &key, body.clone())
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            server
                .post(&format!("/v1/instances/{other}/process"), &key, body)
                .await
                .status,
            StatusCode::OK
        );
    }
    let before = server
        .get(&format!("/v1/instances/{id}/contract"), &key)
        .await
        .body;

    crash(&server, &key, &format!("/v1/instances/{id}/_fault/panic")).await;

    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/contract"), &key)
            .await
            .body,
        before
    );
    let next = server
        .post(
            &format!("/v1/instances/{id}/process"),
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(20)}),
        )
        .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text);
    assert_eq!(next.body["snapshot"]["cycle_count"], 6);
    let bystander = server
        .get(&format!("/v1/instances/{other}/snapshot"), &key)
        .await;
    assert_eq!(
        bystander.body["cycle_count"], 5,
        "other instances are unaffected"
    );
    // Another tenant cannot even aim the fault at this instance.
    let wrong = server
        .post(
            "/v1/instances/inst_0000000000000000/_fault/panic",
            &key,
            json!({}),
        )
        .await;
    wrong.assert_error(404, "not_found");
}

#[tokio::test]
async fn a_panicking_handler_gets_a_json_500_and_the_server_goes_on() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let crashed = crash(&server, &key, "/v1/_fault/handler_panic").await;
    assert_eq!(
        crashed.header("x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(crashed.header("x-request-id").is_some());
    let id = server.create_instance(&key, "after").await;
    assert!(id.starts_with("inst_"), "the server still serves: {id}");
}

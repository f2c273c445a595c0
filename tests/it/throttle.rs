//! `MIN_CYCLE_INTERVAL` throttling with and without caller timestamps.

use crate::common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn untimed_back_to_back_is_throttled_with_retry_after() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "t").await;
    let path = format!("/v1/instances/{id}/process");
    let body = json!({"mode_target": "order", "signal_strength": 0.5});
    let first = server.post(&path, &key, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let second = server.post(&path, &key, body).await;
    second.assert_error(429, "throttled");
    let retry: u64 = second
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(
        snapshot.body["cycle_count"], 1,
        "the throttled observation changed nothing"
    );
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/history"), &key)
            .await
            .body["total"],
        1
    );
}

#[tokio::test]
async fn caller_timestamps_two_seconds_apart_are_never_throttled() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "t").await;
    let path = format!("/v1/instances/{id}/process");
    for i in 0..40 {
        let answer = server
            .post(
                &path,
                &key,
                json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i * 2)}),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "observation {i}: {}",
            answer.text
        );
    }
    let naive = ts(82).replace('Z', "");
    let answer = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": naive}),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "a timestamp without offset is UTC: {}",
        answer.text
    );
    let close = server
        .post(&path, &key, json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": "2027-01-15T08:01:22.500Z"}))
        .await;
    close.assert_error(429, "throttled");
    let earlier = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(10)}),
        )
        .await;
    earlier.assert_error(429, "throttled");
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/snapshot"), &key)
            .await
            .body["cycle_count"],
        41
    );
}

#[tokio::test]
async fn of_32_simultaneous_untimed_requests_exactly_one_succeeds() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "t").await;
    let path = format!("/v1/instances/{id}/process");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(32));
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (server, key, path, barrier) =
            (server.clone(), key.clone(), path.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            server
                .post(
                    &path,
                    &key,
                    json!({"mode_target": "order", "signal_strength": 0.5}),
                )
                .await
                .status
        }));
    }
    let mut ok = 0;
    let mut throttled = 0;
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((ok, throttled), (1, 31));
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/history"), &key)
            .await
            .body["total"],
        1
    );
}

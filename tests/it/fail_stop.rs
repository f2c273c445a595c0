//! Fail-stop storage with a real injected failure: the next WAL fsync of the
//! server process fails with `EIO` (feature `fault-injection`). From then on
//! writes and `/ready` answer 503, the process exits non-zero, and a restart
//! on the same file has every acknowledged observation, with state and
//! history in agreement.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_fsync_stops_the_server_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        args: vec!["--durability".into(), "full".into()],
        ..Options::default()
    };
    let mut server = TestServer::start_process_in(dir.path(), &options);
    let key = server.key();
    let id = server.create_instance(&key, "durable").await;
    let path = format!("/v1/instances/{id}/process");
    let mut acknowledged = 0u64;
    for i in 0..20 {
        let body = json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i)});
        let answer = server.post(&path, &key, body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        acknowledged += 1;
    }

    let injected = server
        .send(Method::POST, "/v1/_fault/fsync", Some(&key), None, &[])
        .await;
    assert_eq!(injected.status, StatusCode::OK, "{}", injected.text);
    let failed = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(100)}),
        )
        .await;
    failed.assert_error(503, "service_unavailable");
    assert!(failed.header("retry-after").is_some());
    let later = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(101)}),
        )
        .await;
    later.assert_error(503, "service_unavailable");
    let ready = server.send(Method::GET, "/ready", None, None, &[]).await;
    ready.assert_error(503, "service_unavailable");

    let status = server
        .wait_for_exit(Duration::from_secs(30))
        .expect("the server exits by itself");
    assert!(!status.success(), "non-zero exit: {status:?}");

    let server = TestServer::start_process_in(dir.path(), &Options::default());
    let history = server
        .get(&format!("/v1/instances/{id}/history?limit=1000"), &key)
        .await;
    let total = history.body["total"].as_u64().unwrap();
    // The failed group was never acknowledged: present or not, both are
    // honest. Everything acknowledged is there.
    assert!(
        total == acknowledged || total == acknowledged + 1,
        "{total} observations after recovery, {acknowledged} acknowledged"
    );
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(
        snapshot.body["cycle_count"].as_u64(),
        Some(total),
        "state agrees with history"
    );
}

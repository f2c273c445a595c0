//! State survives restarts and crashes; the memory backend forgets.

use crate::common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn obs(mode: &str, strength: f64, t: u64) -> Value {
    json!({"mode_target": mode, "signal_strength": strength, "confidence": 0.9, "timestamp": ts(t)})
}

fn mode_at(i: u64) -> &'static str {
    [
        "perception",
        "exploration",
        "order",
        "assertion",
        "connection",
        "identity",
        "stress_response",
    ][(i * 7 / 5 % 7) as usize]
}

#[tokio::test]
async fn restart_continues_the_same_trajectory() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::default();
    // Reference: one server that never restarts.
    let reference = TestServer::start(options.clone());
    let ref_key = reference.key();
    let ref_id = reference.create_instance(&ref_key, "r").await;

    let mut server = TestServer::start_in(tempdir.path(), &options);
    let key = server.key();
    let id = server.create_instance(&key, "r").await;
    for i in 0..30 {
        let body = obs(mode_at(i), 0.4 + (i % 5) as f64 * 0.1, i * 2);
        assert_eq!(
            server
                .post(&format!("/v1/instances/{id}/process"), &key, body.clone())
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            reference
                .post(&format!("/v1/instances/{ref_id}/process"), &ref_key, body)
                .await
                .status,
            StatusCode::OK
        );
    }
    let before_contract = server
        .get(&format!("/v1/instances/{id}/contract"), &key)
        .await
        .body;
    let before_history = server
        .get(&format!("/v1/instances/{id}/history?limit=100"), &key)
        .await
        .body;
    let before_drift = server
        .get(&format!("/v1/instances/{id}/drift?limit=100"), &key)
        .await
        .body;
    server.stop();

    let server = TestServer::start_in(tempdir.path(), &options);
    assert!(
        server.first_key.is_none(),
        "the first key is printed only once"
    );
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/contract"), &key)
            .await
            .body,
        before_contract
    );
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/history?limit=100"), &key)
            .await
            .body,
        before_history
    );
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/drift?limit=100"), &key)
            .await
            .body,
        before_drift
    );
    // The next observations continue exactly as on the server that never stopped.
    for i in 30..40 {
        let body = obs(mode_at(i), 0.9, i * 2);
        let after = server
            .post(&format!("/v1/instances/{id}/process"), &key, body.clone())
            .await;
        let expected = reference
            .post(&format!("/v1/instances/{ref_id}/process"), &ref_key, body)
            .await;
        assert_eq!(
            after.body["contract"]["memory_context"],
            expected.body["contract"]["memory_context"]
        );
        assert_eq!(
            after.body["snapshot"]["mode_strengths"],
            expected.body["snapshot"]["mode_strengths"]
        );
        assert_eq!(
            after.body["snapshot"]["energy_level"],
            expected.body["snapshot"]["energy_level"]
        );
        assert_eq!(after.body["drift"], expected.body["drift"]);
    }
}

#[tokio::test]
async fn memory_backend_forgets_everything() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::with_config("").clone();
    let memory = Options {
        args: vec!["--db-backend".into(), "memory".into()],
        ..options
    };
    // A process: the backend is chosen with the `--db-backend` flag.
    let mut server = TestServer::start_process_in(tempdir.path(), &memory);
    let key = server.key();
    server.create_instance(&key, "gone").await;
    server.stop();
    let server = TestServer::start_process_in(tempdir.path(), &memory);
    assert!(
        server.first_key.is_some(),
        "a fresh database bootstraps again"
    );
    server
        .get("/v1/instances", &key)
        .await
        .assert_error(401, "unauthorized");
    assert!(
        !tempdir.path().join("data/identity-os.db").exists(),
        "memory writes no database file"
    );
}

/// Kills the server with SIGKILL while 16 workers send observations, then
/// checks every acknowledged observation is in the history and the state
/// agrees with the history.
#[tokio::test]
async fn sigkill_under_load_loses_no_acknowledged_observation() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::default();
    // A process: SIGKILL is the point.
    let mut server = TestServer::start_process_in(tempdir.path(), &options);
    let key = server.key();
    let mut ids = Vec::new();
    for i in 0..16 {
        ids.push(server.create_instance(&key, &format!("c{i}")).await);
    }
    let acknowledged: Arc<Vec<AtomicU64>> = Arc::new((0..16).map(|_| AtomicU64::new(0)).collect());
    let client = server.client.clone();
    let base = server.base_url.clone();
    let mut workers = Vec::new();
    for (w, id) in ids.iter().cloned().enumerate() {
        let (client, base, key, acknowledged) = (
            client.clone(),
            base.clone(),
            key.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            for i in 0..100_000u64 {
                let sent = client
                    .post(format!("{base}/v1/instances/{id}/process"))
                    .bearer_auth(&key)
                    .json(&obs(mode_at(i), 0.6, i * 2))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::OK => {
                        acknowledged[w].fetch_add(1, Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
        }));
    }
    // Kill once the load is well under way (every worker acknowledged,
    // hundreds in total) instead of after a fixed time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<u64> = acknowledged
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect();
        if counts.iter().all(|&n| n >= 5) && counts.iter().sum::<u64>() >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the load got under way within 30 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    for worker in workers {
        let _ = worker.await;
    }
    let server = TestServer::start_in(tempdir.path(), &options);
    let mut total_acked = 0;
    for (w, id) in ids.iter().enumerate() {
        let acked = acknowledged[w].load(Ordering::SeqCst);
        total_acked += acked;
        let history = server
            .get(&format!("/v1/instances/{id}/history?limit=1"), &key)
            .await
            .body;
        let snapshot = server
            .get(&format!("/v1/instances/{id}/snapshot"), &key)
            .await
            .body;
        let stored = history["total"].as_u64().unwrap();
        assert!(
            stored >= acked,
            "instance {w}: {acked} acknowledged but only {stored} stored"
        );
        assert!(
            stored <= acked + 1,
            "at most the one in-flight observation may have committed unacknowledged"
        );
        assert_eq!(
            snapshot["cycle_count"].as_u64().unwrap(),
            stored,
            "state agrees with history"
        );
        if stored > 0 {
            assert_eq!(
                history["items"][0]["cycle_number"].as_u64().unwrap(),
                stored
            );
        }
    }
    assert!(
        total_acked > 50,
        "the load really ran ({total_acked} acknowledged)"
    );
}

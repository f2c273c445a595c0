//! Process, batch, snapshot, contract, reset, history and drift over HTTP.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn obs(mode: &str, strength: f64, t: u64) -> Value {
    json!({"mode_target": mode, "signal_strength": strength, "confidence": 1.0, "timestamp": ts(t)})
}

#[tokio::test]
async fn process_returns_the_documented_result() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "a").await;
    let answer = server
        .post(
            &format!("/v1/instances/{id}/process"),
            &key,
            json!({"mode_target": "PERCEPTION", "signal_strength": 0.7, "context": {"task": "research"}}),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let snapshot = &answer.body["snapshot"];
    assert_eq!(snapshot["schema_version"], "1.0");
    assert_eq!(snapshot["instance_id"], id.as_str());
    assert!(snapshot["snapshot_id"]
        .as_str()
        .unwrap()
        .starts_with("snap_"));
    assert_eq!(snapshot["cycle_count"], 1);
    assert_eq!(snapshot["stress_level"], "LOW");
    assert_eq!(snapshot["system_state"], "baseline");
    let energy = snapshot["energy_level"].as_f64().unwrap();
    assert!((energy - 0.83).abs() < 1e-9, "energy {energy}");
    assert!((snapshot["mode_strengths"]["perception"].as_f64().unwrap() - 0.07).abs() < 1e-12);
    assert_eq!(snapshot["version"], 2);
    let contract = &answer.body["contract"];
    assert_eq!(contract["instance_id"], id.as_str());
    assert_eq!(contract["dominant_modes"], json!(["perception"]));
    assert_eq!(
        contract["allowed_actions"],
        json!(["question", "elaborate", "clarify"])
    );
    assert_eq!(
        contract["forbidden_actions"],
        json!(["emotional_manipulation", "identity_override"])
    );
    assert_eq!(contract["memory_context"].as_object().unwrap().len(), 14);
    assert!(answer.body["drift"].is_null(), "no drift during warm-up");
    assert_eq!(answer.header("etag").as_deref(), Some("\"2\""));

    let history = server
        .get(&format!("/v1/instances/{id}/history"), &key)
        .await;
    assert_eq!(history.body["total"], 1);
    assert_eq!(history.body["items"][0]["mode_target"], "perception");
    assert_eq!(
        history.body["items"][0]["context"],
        json!({"task": "research"})
    );
    assert_eq!(history.body["items"][0]["cycle_number"], 1);
}

#[tokio::test]
async fn process_validation_errors_change_nothing() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "a").await;
    let path = format!("/v1/instances/{id}/process");
    let cases = [
        json!({"signal_strength": 0.5}),
        json!({"mode_target": "calm", "signal_strength": 0.5}),
        json!({"mode_target": "order"}),
        json!({"mode_target": "order", "signal_strength": 1.5}),
        json!({"mode_target": "order", "signal_strength": -0.1}),
        json!({"mode_target": "order", "signal_strength": "high"}),
        json!({"mode_target": "order", "signal_strength": 0.5, "confidence": 2}),
        json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": "yesterday"}),
        json!({"mode_target": "order", "signal_strength": 0.5, "context": "not an object"}),
        json!({"mode_target": "order", "signal_strength": 0.5, "context": {"blob": "x".repeat(17 * 1024)}}),
        json!({"mode_target": "order", "signal_strength": 0.5, "extra": true}),
    ];
    for body in cases {
        server
            .post(&path, &key, body)
            .await
            .assert_error(422, "invalid_request");
    }
    let named = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 7}),
        )
        .await;
    assert_eq!(named.body["details"]["field"], "signal_strength");
    assert!(named.body["message"]
        .as_str()
        .unwrap()
        .contains("signal_strength"));
    for raw in [
        &b"{\"mode_target\": \"order\", \"signal_strength\": NaN}"[..],
        b"{not json",
        b"[1,2]",
        b"{\"mode_target\": \"order\", \"signal_strength\": 1e999}",
    ] {
        server
            .send_raw(Method::POST, &path, Some(&key), raw.to_vec())
            .await
            .assert_error(422, "invalid_request");
    }
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(snapshot.body["cycle_count"], 0);
    assert_eq!(snapshot.body["version"], 1);
}

#[tokio::test]
async fn batch_processes_atomically_and_reports_intermediates() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "a").await;
    let path = format!("/v1/instances/{id}/process/batch");
    let batch: Vec<Value> = (0..5).map(|i| obs("exploration", 0.6, i * 2)).collect();
    let last_only = server
        .post(&path, &key, json!({"observations": batch}))
        .await;
    assert_eq!(last_only.status, StatusCode::OK, "{}", last_only.text);
    assert_eq!(last_only.body.as_array().unwrap().len(), 1);
    assert_eq!(last_only.body[0]["snapshot"]["cycle_count"], 5);
    assert_eq!(last_only.header("x-processed-count").as_deref(), Some("5"));

    let batch: Vec<Value> = (10..13).map(|i| obs("order", 0.5, i * 2)).collect();
    let all = server
        .post(
            &format!("{path}?include_intermediate=true"),
            &key,
            json!({"observations": batch}),
        )
        .await;
    let cycles: Vec<u64> = all
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["snapshot"]["cycle_count"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, vec![6, 7, 8]);
    let batch: Vec<Value> = (20..22).map(|i| obs("order", 0.5, i * 2)).collect();
    let via_body = server
        .post(
            &path,
            &key,
            json!({"observations": batch, "include_intermediate": true}),
        )
        .await;
    assert_eq!(via_body.body.as_array().unwrap().len(), 2);

    // One bad item: 422 naming it, and nothing applied.
    let mut bad: Vec<Value> = (30..33).map(|i| obs("order", 0.5, i * 2)).collect();
    bad[1]["signal_strength"] = json!(3.0);
    let refused = server.post(&path, &key, json!({"observations": bad})).await;
    refused.assert_error(422, "invalid_request");
    assert_eq!(refused.body["details"]["index"], 1);
    let backwards = vec![obs("order", 0.5, 100), obs("order", 0.5, 90)];
    let refused = server
        .post(&path, &key, json!({"observations": backwards}))
        .await;
    refused.assert_error(422, "invalid_request");
    assert_eq!(refused.body["details"]["index"], 1);
    let too_many: Vec<Value> = (0..101).map(|i| obs("order", 0.5, 1000 + i * 2)).collect();
    server
        .post(&path, &key, json!({"observations": too_many}))
        .await
        .assert_error(422, "invalid_request");
    server
        .post(&path, &key, json!({"observations": []}))
        .await
        .assert_error(422, "invalid_request");
    server
        .post(&path, &key, json!({}))
        .await
        .assert_error(422, "invalid_request");
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/snapshot"), &key)
            .await
            .body["cycle_count"],
        10
    );
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/history?limit=3"), &key)
            .await
            .body["total"],
        10
    );
}

#[tokio::test]
async fn if_match_guards_process_and_reset() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "a").await;
    let stale = server
        .send(
            Method::POST,
            &format!("/v1/instances/{id}/process"),
            Some(&key),
            Some(obs("order", 0.5, 0)),
            &[("if-match", "\"7\"")],
        )
        .await;
    stale.assert_error(409, "conflict");
    let fresh = server
        .send(
            Method::POST,
            &format!("/v1/instances/{id}/process"),
            Some(&key),
            Some(obs("order", 0.5, 0)),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(fresh.status, StatusCode::OK, "{}", fresh.text);
    let reset = server
        .send(
            Method::POST,
            &format!("/v1/instances/{id}/reset"),
            Some(&key),
            Some(json!({})),
            &[("if-match", "\"1\"")],
        )
        .await;
    reset.assert_error(409, "conflict");
}

#[tokio::test]
async fn reset_modes() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let created = server
        .post("/v1/instances", &key, json!({"name": "r", "initial_config": {"mode_strengths": {"order": 0.4}, "energy_level": 0.5}}))
        .await;
    let id = created.body["id"].as_str().unwrap().to_string();
    let batch: Vec<Value> = (0..25).map(|i| obs("connection", 0.9, i * 2)).collect();
    let ran = server
        .post(
            &format!("/v1/instances/{id}/process/batch"),
            &key,
            json!({"observations": batch}),
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.text);

    let stable = server
        .post(
            &format!("/v1/instances/{id}/reset"),
            &key,
            json!({"mode": "last_stable"}),
        )
        .await;
    assert_eq!(stable.status, StatusCode::OK, "{}", stable.text);
    assert_eq!(
        stable.body["cycle_count"], 25,
        "last_stable keeps the cycle count"
    );

    let initial = server
        .post(
            &format!("/v1/instances/{id}/reset"),
            &key,
            json!({"mode": "initial"}),
        )
        .await;
    assert_eq!(initial.body["cycle_count"], 0);
    assert_eq!(initial.body["mode_strengths"]["order"], 0.4);
    assert_eq!(initial.body["energy_level"], 0.5);

    let default = server
        .post(
            &format!("/v1/instances/{id}/reset"),
            &key,
            json!({"mode": "default"}),
        )
        .await;
    assert_eq!(default.body["mode_strengths"]["order"], 0.0);
    assert_eq!(default.body["energy_level"], 0.8);

    let bare = server
        .send(
            Method::POST,
            &format!("/v1/instances/{id}/reset"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(
        bare.status,
        StatusCode::OK,
        "no body means initial: {}",
        bare.text
    );
    assert_eq!(bare.body["mode_strengths"]["order"], 0.4);

    server
        .post(
            &format!("/v1/instances/{id}/reset"),
            &key,
            json!({"mode": "yesterday"}),
        )
        .await
        .assert_error(422, "invalid_request");
    assert_eq!(
        server
            .get(&format!("/v1/instances/{id}/history"), &key)
            .await
            .body["total"],
        25,
        "history is kept"
    );

    let fresh = server.create_instance(&key, "fresh").await;
    server
        .post(
            &format!("/v1/instances/{fresh}/reset"),
            &key,
            json!({"mode": "last_stable"}),
        )
        .await
        .assert_error(409, "conflict");
}

#[tokio::test]
async fn history_and_drift_paging_and_filters() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "d").await;
    // Warm up on one group, then shift hard to another: drift events appear.
    let mut t = 0;
    for chunk in 0..3 {
        let batch: Vec<Value> = (0..100)
            .map(|i| {
                t += 2;
                let mode = if chunk == 0 || (chunk == 1 && i < 10) {
                    "perception"
                } else {
                    "connection"
                };
                obs(mode, 0.9, t)
            })
            .collect();
        let answer = server
            .post(
                &format!("/v1/instances/{id}/process/batch"),
                &key,
                json!({"observations": batch}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    let history = server
        .get(
            &format!("/v1/instances/{id}/history?limit=10&offset=5"),
            &key,
        )
        .await;
    assert_eq!(history.body["total"], 300);
    assert_eq!(history.body["limit"], 10);
    assert_eq!(history.body["offset"], 5);
    assert_eq!(history.body["has_more"], true);
    assert_eq!(
        history.body["items"][0]["cycle_number"], 295,
        "newest first"
    );
    for query in ["limit=0", "limit=1001", "offset=x"] {
        server
            .get(&format!("/v1/instances/{id}/history?{query}"), &key)
            .await
            .assert_error(422, "invalid_request");
    }

    let drift = server
        .get(&format!("/v1/instances/{id}/drift?limit=1000"), &key)
        .await;
    assert_eq!(drift.status, StatusCode::OK, "{}", drift.text);
    let total = drift.body["total"].as_u64().unwrap();
    assert!(
        total > 0,
        "a hard shift records drift events: {}",
        drift.text
    );
    let levels: Vec<&str> = drift.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["level"].as_str().unwrap())
        .collect();
    let d1 = levels.iter().filter(|l| **l == "D1_context").count() as u64;
    let filtered = server
        .get(
            &format!("/v1/instances/{id}/drift?type=D1&limit=1000"),
            &key,
        )
        .await;
    assert_eq!(filtered.body["total"], d1);
    let long_name = server
        .get(
            &format!("/v1/instances/{id}/drift?type=D1_context&limit=1000"),
            &key,
        )
        .await;
    assert_eq!(long_name.body["total"], d1);
    server
        .get(&format!("/v1/instances/{id}/drift?type=D9"), &key)
        .await
        .assert_error(422, "invalid_request");
}

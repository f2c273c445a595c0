//! Promises that must hold under unlucky and hostile clients: the quota
//! counts exactly the committed observations, retries are idempotent
//! (with `Idempotency-Key`, and for timed observations without one),
//! timestamps are bounded, the common base-URL mistake gets a clear error,
//! dev mode answers only this machine.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// A free tier without a per-minute limit and with a 20-cycle month.
const SMALL_QUOTA: &str =
    "[tiers.free]\nrate_per_minute = 0\nmonthly_cycles = 20\nmax_instances = 3\n";

/// Sends `body` to `path` over a fresh connection and closes it `after`
/// the send, without reading anything.
async fn send_and_close(addr: &str, path: &str, key: &str, body: &Value, after: Duration) {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await {
        let _ = stream.write_all(request.as_bytes()).await;
        tokio::time::sleep(after).await;
        drop(stream);
    }
}

/// Waits until the history total of `id` and the account's monthly usage
/// stop moving and agree (the usage also holds `others` cycles of other
/// instances), and returns them: the actors finish what the closed
/// requests handed them.
async fn settled_counts(server: &TestServer, key: &str, id: &str, others: u64) -> (u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = (u64::MAX, u64::MAX);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let history = server
            .get(&format!("/v1/instances/{id}/history?limit=1"), key)
            .await;
        let usage = server.get("/v1/usage", key).await;
        let now = (
            history.body["total"].as_u64().expect("total"),
            usage.body["monthly_used"].as_u64().expect("monthly_used"),
        );
        if now == last && now.0 + others == now.1 || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_closed_right_after_sending_never_exceed_the_quota() {
    let server = TestServer::start(Options::admin(SMALL_QUOTA));
    let (_, key) = server.account("free").await;
    let single = server.create_instance(&key, "single").await;
    let batched = server.create_instance(&key, "batched").await;
    let addr = server.base_url.trim_start_matches("http://").to_string();
    // Live actors and a cached key, so that requests closed within a few
    // milliseconds still reach their actor on a slow store (PostgreSQL,
    // debug build, busy machine).
    for id in [&single, &batched] {
        let warm = server
            .get(&format!("/v1/instances/{id}/snapshot"), &key)
            .await;
        assert_eq!(warm.status, StatusCode::OK, "{}", warm.text);
    }

    let mut sent = Vec::new();
    for i in 0..300u64 {
        let (addr, key) = (addr.clone(), key.clone());
        let path = format!("/v1/instances/{single}/process");
        let body =
            json!({"mode_target": "exploration", "signal_strength": 0.5, "timestamp": ts(i)});
        sent.push(tokio::spawn(async move {
            send_and_close(&addr, &path, &key, &body, Duration::from_millis(i % 20 * 3)).await
        }));
    }
    for task in sent {
        task.await.unwrap();
    }
    let (history, used) = settled_counts(&server, &key, &single, 0).await;
    assert_eq!(history, used, "committed observations = counted cycles");
    assert!(used <= 20, "the quota of 20 was exceeded: {used}");
    assert!(used > 0, "some requests reached their actor");

    // Batches of 3 on the second instance share what is left.
    let left = 20 - used;
    let mut sent = Vec::new();
    for i in 0..100u64 {
        let (addr, key) = (addr.clone(), key.clone());
        let path = format!("/v1/instances/{batched}/process/batch");
        let observations: Vec<Value> = (0..3)
            .map(|j| json!({"mode_target": "order", "signal_strength": 0.4, "timestamp": ts(10_000 + i * 3 + j)}))
            .collect();
        let body = json!({ "observations": observations });
        sent.push(tokio::spawn(async move {
            send_and_close(&addr, &path, &key, &body, Duration::from_millis(i % 20 * 3)).await
        }));
    }
    for task in sent {
        task.await.unwrap();
    }
    let (batch_history, total_used) = settled_counts(&server, &key, &batched, used).await;
    assert_eq!(
        total_used,
        used + batch_history,
        "committed cycles = counted cycles"
    );
    assert!(
        batch_history <= left,
        "{batch_history} cycles over {left} left"
    );
    assert_eq!(batch_history % 3, 0, "batches commit whole");
    let usage = server.get("/v1/usage", &key).await;
    assert_eq!(
        usage.body["monthly_remaining"].as_u64().unwrap(),
        20 - used - batch_history,
        "the in-memory ledger agrees with the stored usage"
    );
}

async fn keyed(
    server: &TestServer,
    method: Method,
    path: &str,
    key: &str,
    idempotency_key: &str,
    body: Option<Value>,
) -> crate::common::Answer {
    server
        .send(
            method,
            path,
            Some(key),
            body,
            &[("Idempotency-Key", idempotency_key)],
        )
        .await
}

/// Sends a keyed request twice; asserts the second is the replay of the
/// first (same status, headers and body, marked) and returns the first.
async fn sent_twice(
    server: &TestServer,
    method: Method,
    path: &str,
    key: &str,
    idempotency_key: &str,
    body: Option<Value>,
) -> crate::common::Answer {
    let first = keyed(
        server,
        method.clone(),
        path,
        key,
        idempotency_key,
        body.clone(),
    )
    .await;
    assert!(first.status.is_success(), "{}", first.text);
    assert_eq!(first.header("idempotent-replayed"), None);
    let repeat = keyed(server, method, path, key, idempotency_key, body).await;
    assert_eq!(repeat.status, first.status, "{}", repeat.text);
    assert_eq!(
        repeat.header("idempotent-replayed").as_deref(),
        Some("true")
    );
    assert_eq!(repeat.text, first.text);
    for header in ["etag", "x-processed-count"] {
        assert_eq!(repeat.header(header), first.header(header), "{header}");
    }
    first
}

#[tokio::test]
async fn a_keyed_repeat_gets_the_recorded_answer_and_changes_nothing() {
    let server = TestServer::start(Options::default());
    let key = server.key();

    let create = Some(json!({"name": "Keyed"}));
    let created = sent_twice(
        &server,
        Method::POST,
        "/v1/instances",
        &key,
        "create-1",
        create,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(server.get("/v1/instances", &key).await.body["total"], 1);

    // An untimed observation: the repeat would otherwise be applied again.
    let path = format!("/v1/instances/{id}/process");
    let observation = json!({"mode_target": "exploration", "signal_strength": 0.8});
    sent_twice(
        &server,
        Method::POST,
        &path,
        &key,
        "obs-1",
        Some(observation.clone()),
    )
    .await;
    let history = server
        .get(&format!("/v1/instances/{id}/history"), &key)
        .await;
    assert_eq!(history.body["total"], 1, "applied once");
    assert_eq!(
        server.get("/v1/usage", &key).await.body["monthly_used"],
        1,
        "billed once"
    );

    // The same key for another request is refused.
    let other = json!({"mode_target": "order", "signal_strength": 0.8});
    let reused = keyed(&server, Method::POST, &path, &key, "obs-1", Some(other)).await;
    reused.assert_error(422, "invalid_request");
    let message = reused.body["message"].as_str().unwrap();
    assert!(message.contains("another request"), "{message}");

    // Keys must be 1–255 visible ASCII characters.
    for bad in ["has space", &"k".repeat(256)] {
        let refused = keyed(
            &server,
            Method::POST,
            &path,
            &key,
            bad,
            Some(observation.clone()),
        )
        .await;
        refused.assert_error(422, "invalid_request");
        assert_eq!(refused.body["details"]["field"], "Idempotency-Key");
    }

    // Batch, reset, PATCH and DELETE replay too.
    let batch = json!({"observations": [
        {"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(100)},
        {"mode_target": "order", "signal_strength": 0.6, "timestamp": ts(101)}]});
    let batch_path = format!("/v1/instances/{id}/process/batch");
    let first = sent_twice(
        &server,
        Method::POST,
        &batch_path,
        &key,
        "batch-1",
        Some(batch),
    )
    .await;
    assert_eq!(first.header("x-processed-count").as_deref(), Some("2"));
    let reset_path = format!("/v1/instances/{id}/reset");
    let reset = Some(json!({"mode": "default"}));
    sent_twice(&server, Method::POST, &reset_path, &key, "reset-1", reset).await;
    let instance_path = format!("/v1/instances/{id}");
    let rename = Some(json!({"name": "Renamed"}));
    let patched = sent_twice(
        &server,
        Method::PATCH,
        &instance_path,
        &key,
        "patch-1",
        rename,
    )
    .await;
    let current = server.get(&instance_path, &key).await;
    assert_eq!(
        current.body["version"], patched.body["version"],
        "the repeat changed no version"
    );
    sent_twice(
        &server,
        Method::DELETE,
        &instance_path,
        &key,
        "delete-1",
        None,
    )
    .await;
    server
        .get(&instance_path, &key)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_with_one_key_apply_once() {
    let server = std::sync::Arc::new(TestServer::start(Options::default()));
    let key = server.key();
    let id = server.create_instance(&key, "race").await;
    let path = format!("/v1/instances/{id}/process");
    let body = json!({"mode_target": "assertion", "signal_strength": 0.7});
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (server, key, path, body) = (server.clone(), key.clone(), path.clone(), body.clone());
        racers.push(tokio::spawn(async move {
            keyed(&server, Method::POST, &path, &key, "same-key", Some(body)).await
        }));
    }
    let mut applied = 0;
    for racer in racers {
        let answer = racer.await.unwrap();
        match (answer.status.as_u16(), answer.header("idempotent-replayed")) {
            (200, None) => applied += 1,
            (200, Some(_)) => {}
            (409, _) => answer.assert_error(409, "conflict"),
            other => panic!("unexpected {other:?}: {}", answer.text),
        }
    }
    assert_eq!(applied, 1);
    let history = server
        .get(&format!("/v1/instances/{id}/history"), &key)
        .await;
    assert_eq!(history.body["total"], 1);
}

#[tokio::test]
async fn a_timed_retry_without_a_key_is_replayed_not_throttled() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "timed").await;
    let path = format!("/v1/instances/{id}/process");
    let body = json!({"mode_target": "identity", "signal_strength": 0.6, "timestamp": ts(5), "context": {"n": 1}});
    let first = server.post(&path, &key, body.clone()).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let retry = server.post(&path, &key, body).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));
    assert_eq!(retry.text, first.text);

    // Same timestamp, other content: a new observation, throttled.
    let other = json!({"mode_target": "identity", "signal_strength": 0.7, "timestamp": ts(5)});
    server
        .post(&path, &key, other)
        .await
        .assert_error(429, "throttled");

    let batch_path = format!("/v1/instances/{id}/process/batch?include_intermediate=true");
    let batch = json!({"observations": [
        {"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(10)},
        {"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(11)}]});
    let first = server.post(&batch_path, &key, batch.clone()).await;
    let retry = server.post(&batch_path, &key, batch).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.text);
    assert_eq!(retry.text, first.text);
    assert_eq!(retry.header("idempotent-replayed").as_deref(), Some("true"));

    let history = server
        .get(&format!("/v1/instances/{id}/history"), &key)
        .await;
    assert_eq!(history.body["total"], 3, "each observation recorded once");
    assert_eq!(server.get("/v1/usage", &key).await.body["monthly_used"], 3);
}

#[tokio::test]
async fn timestamps_are_bounded_and_a_reset_clears_the_clock() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "clock").await;
    let path = format!("/v1/instances/{id}/process");
    for bad in [
        "+262000-01-01T00:00:00",
        "-262000-01-01T00:00:00",
        "1969-12-31T23:59:59Z",
        "0999-01-01T00:00:00Z",
    ] {
        let refused = server
            .post(
                &path,
                &key,
                json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": bad}),
            )
            .await;
        refused.assert_error(422, "invalid_request");
        assert_eq!(refused.body["details"]["field"], "timestamp", "{bad}");
    }
    let batch = json!({"observations": [{"mode_target": "order", "signal_strength": 0.5, "timestamp": "+262000-01-01T00:00:00"}]});
    let refused = server.post(&format!("{path}/batch"), &key, batch).await;
    refused.assert_error(422, "invalid_request");
    assert_eq!(refused.body["details"]["field"], "timestamp");

    let far = json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": "9999-12-31T00:00:00Z"});
    assert_eq!(server.post(&path, &key, far).await.status, StatusCode::OK);
    let untimed = json!({"mode_target": "order", "signal_strength": 0.5});
    let throttled = server.post(&path, &key, untimed.clone()).await;
    throttled.assert_error(429, "throttled");
    let retry_after: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(throttled.body["message"]
        .as_str()
        .unwrap()
        .contains("reset"));

    let reset = server
        .post(&format!("/v1/instances/{id}/reset"), &key, json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    let after = server.post(&path, &key, untimed).await;
    assert_eq!(after.status, StatusCode::OK, "{}", after.text);
}

#[tokio::test]
async fn a_doubled_v1_prefix_says_what_is_wrong() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let answer = server.get("/v1/v1/instances", &key).await;
    answer.assert_error(404, "not_found");
    assert!(
        answer.body["message"]
            .as_str()
            .unwrap()
            .contains("base URL"),
        "{}",
        answer.text
    );
    let plain = server.get("/v1/nothing-here", &key).await;
    assert_eq!(plain.body["message"], "no such route");
}

#[tokio::test]
async fn dev_mode_answers_only_loopback_hosts_and_origins() {
    let server = TestServer::start(Options::with_config("[auth]\ndisabled = true\n"));
    let ok = server
        .send(Method::GET, "/v1/instances", None, None, &[])
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let local_origin = server
        .send(
            Method::GET,
            "/v1/instances",
            None,
            None,
            &[("Origin", "http://localhost:3000")],
        )
        .await;
    assert_eq!(local_origin.status, StatusCode::OK, "{}", local_origin.text);
    for (name, value) in [
        ("Host", "attacker.example"),
        ("Host", "127.0.0.1.attacker.example:8000"),
        ("Origin", "http://attacker.example"),
        ("Origin", "null"),
    ] {
        let refused = server
            .send(Method::GET, "/v1/instances", None, None, &[(name, value)])
            .await;
        refused.assert_error(403, "forbidden");
    }
}

//! Per-minute rate limits, monthly quotas, instance limits and the headers.

use crate::common::{ts, Options, TestServer, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn header_u64(answer: &crate::common::Answer, name: &str) -> u64 {
    answer
        .header(name)
        .unwrap_or_else(|| panic!("{name} missing on {} {}", answer.status, answer.text))
        .parse()
        .expect("integer header")
}

#[tokio::test]
async fn free_tier_bursts_ten_then_is_rate_limited_and_recovers() {
    let server = TestServer::start(Options::admin(""));
    let (_, key) = server.account("free").await;
    let mut remaining = Vec::new();
    for i in 0..10 {
        // Mix successes and errors: headers are on both.
        let answer = if i % 2 == 0 {
            server.get("/v1/instances", &key).await
        } else {
            server
                .get("/v1/instances/inst_0000000000000000", &key)
                .await
        };
        assert!(
            answer.status == StatusCode::OK || answer.status == StatusCode::NOT_FOUND,
            "{}",
            answer.text
        );
        assert_eq!(header_u64(&answer, "x-ratelimit-limit"), 10);
        assert_eq!(header_u64(&answer, "x-monthly-limit"), 10_000);
        assert_eq!(header_u64(&answer, "x-monthly-remaining"), 10_000);
        assert!(header_u64(&answer, "x-ratelimit-reset") >= chrono::Utc::now().timestamp() as u64);
        remaining.push(header_u64(&answer, "x-ratelimit-remaining"));
    }
    assert_eq!(remaining, (0..10).rev().collect::<Vec<u64>>());
    let limited = server.get("/v1/instances", &key).await;
    limited.assert_error(429, "rate_limited");
    assert!(header_u64(&limited, "retry-after") >= 1);
    assert_eq!(header_u64(&limited, "x-ratelimit-remaining"), 0);
    assert_eq!(header_u64(&limited, "x-ratelimit-limit"), 10);
    // 10 per minute = one request every 6 s comes back. Waiting for that
    // costs 6 s, so the recovery is checked on a faster free tier: 120 per
    // minute = one request every 0.5 s, announced as Retry-After: 1 (whole
    // seconds, rounded up); after waiting that long a request gets through.
    let fast = TestServer::start(Options::admin("[tiers.free]\nrate_per_minute = 120\n"));
    let (_, key) = fast.account("free").await;
    // Spend the burst (a token may come back meanwhile on a slow machine).
    let mut sent = 0;
    let limited = loop {
        let answer = fast.get("/v1/instances", &key).await;
        assert_eq!(header_u64(&answer, "x-ratelimit-limit"), 120);
        if answer.status != StatusCode::OK {
            break answer;
        }
        sent += 1;
        assert!(sent <= 240, "limited after the burst of 120");
    };
    assert!(sent >= 120, "the whole burst of 120 was allowed: {sent}");
    limited.assert_error(429, "rate_limited");
    let retry_after = header_u64(&limited, "retry-after");
    assert_eq!(retry_after, 1, "0.5 s rounded up to whole seconds");
    tokio::time::sleep(std::time::Duration::from_millis(retry_after * 1000 + 100)).await;
    let again = fast.get("/v1/instances", &key).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
}

#[tokio::test]
async fn monthly_quota_is_exhausted_exactly_at_the_boundary() {
    let server = TestServer::start(Options::admin(
        "[tiers.free]\nrate_per_minute = 1000\nmonthly_cycles = 5\n",
    ));
    let (_, key) = server.account("free").await;
    let id = server.create_instance(&key, "q").await;
    let path = format!("/v1/instances/{id}/process");
    for i in 0..3 {
        let answer = server
            .post(
                &path,
                &key,
                json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i * 2)}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        assert_eq!(header_u64(&answer, "x-monthly-remaining"), 4 - i);
    }
    let batch = |start: u64, n: u64| json!({"observations": (0..n).map(|i| json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(start + i * 2)})).collect::<Vec<_>>()});
    let crossing = server
        .post(&format!("{path}/batch"), &key, batch(100, 3))
        .await;
    crossing.assert_error(429, "quota_exceeded");
    assert!(
        crossing.header("retry-after").is_none(),
        "no Retry-After with quota_exceeded"
    );
    assert_eq!(header_u64(&crossing, "x-monthly-remaining"), 2);
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(
        snapshot.body["cycle_count"], 3,
        "the refused batch changed nothing"
    );
    let fitting = server
        .post(&format!("{path}/batch"), &key, batch(200, 2))
        .await;
    assert_eq!(fitting.status, StatusCode::OK, "{}", fitting.text);
    assert_eq!(header_u64(&fitting, "x-monthly-remaining"), 0);
    let over = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(400)}),
        )
        .await;
    over.assert_error(429, "quota_exceeded");
    // A throttled or invalid observation is not billed.
    let usage = server.get("/v1/usage", &key).await;
    assert_eq!(usage.body["monthly_used"], 5);
    assert_eq!(usage.body["monthly_remaining"], 0);
    assert_eq!(usage.body["monthly_quota"], 5);
    assert_eq!(usage.body["tier"], "free");
    assert_eq!(usage.body["instances_used"], 1);
    assert_eq!(usage.body["instances_limit"], 3);
    assert!(usage.body["period_start"]
        .as_str()
        .unwrap()
        .ends_with("T00:00:00.000Z"));
}

#[tokio::test]
async fn refused_observations_are_not_billed() {
    let server = TestServer::start(Options::admin("[tiers.free]\nrate_per_minute = 1000\n"));
    let (_, key) = server.account("free").await;
    let id = server.create_instance(&key, "b").await;
    let path = format!("/v1/instances/{id}/process");
    let ok = server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5}),
        )
        .await
        .assert_error(429, "throttled");
    server
        .post(
            &path,
            &key,
            json!({"mode_target": "order", "signal_strength": 5.0}),
        )
        .await
        .assert_error(422, "invalid_request");
    server
        .post(
            "/v1/instances/inst_0000000000000000/process",
            &key,
            json!({"mode_target": "order", "signal_strength": 0.5}),
        )
        .await
        .assert_error(404, "not_found");
    assert_eq!(server.get("/v1/usage", &key).await.body["monthly_used"], 1);
}

#[tokio::test]
async fn the_fourth_instance_on_free_is_forbidden() {
    let server = TestServer::start(Options::admin(""));
    let (_, key) = server.account("free").await;
    for i in 0..3 {
        server.create_instance(&key, &format!("i{i}")).await;
    }
    let fourth = server
        .post("/v1/instances", &key, json!({"name": "i3"}))
        .await;
    fourth.assert_error(403, "forbidden");
    let message = fourth.body["message"].as_str().unwrap();
    assert!(
        message.contains("free") && message.contains('3'),
        "{message}"
    );
}

#[tokio::test]
async fn unlimited_keys_are_never_limited_and_tier_changes_apply_at_once() {
    let server = TestServer::start(Options::admin(""));
    let unlimited = server.key();
    for _ in 0..60 {
        let answer = server.get("/v1/instances", &unlimited).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(header_u64(&answer, "x-ratelimit-limit"), 2_147_483_647);
        assert_eq!(header_u64(&answer, "x-monthly-remaining"), 2_147_483_647);
    }
    let (account, key) = server.account("free").await;
    assert_eq!(
        header_u64(
            &server.get("/v1/instances", &key).await,
            "x-ratelimit-limit"
        ),
        10
    );
    let changed = server
        .send(
            Method::PATCH,
            &format!("/v1/admin/accounts/{account}"),
            Some(ADMIN_TOKEN),
            Some(json!({"tier": "pro"})),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK);
    let next = server.get("/v1/instances", &key).await;
    assert_eq!(header_u64(&next, "x-ratelimit-limit"), 300);
    assert_eq!(header_u64(&next, "x-monthly-limit"), 500_000);
    let plans = server.get("/v1/billing/plans", &key).await;
    let ids: Vec<&str> = plans.body["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["free", "indie", "pro"]);
    assert_eq!(plans.body["plans"][1]["price_cents"], 2900);
}

#[tokio::test]
async fn usage_survives_a_restart() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::admin("");
    let mut server = TestServer::start_in(tempdir.path(), &options);
    let key = server.key();
    let id = server.create_instance(&key, "u").await;
    let batch = json!({"observations": (0..7).map(|i| json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i * 2)})).collect::<Vec<_>>()});
    assert_eq!(
        server
            .post(&format!("/v1/instances/{id}/process/batch"), &key, batch)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(server.get("/v1/usage", &key).await.body["monthly_used"], 7);
    server.stop();
    let server = TestServer::start_in(tempdir.path(), &options);
    assert_eq!(server.get("/v1/usage", &key).await.body["monthly_used"], 7);
}

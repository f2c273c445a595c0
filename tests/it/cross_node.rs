//! Two server nodes on one PostgreSQL database, requests split between them
//! on purpose: each node's instance actor is only a cache, the database is
//! the judge (docs/architecture.md "Several nodes"). Always on PostgreSQL,
//! whatever backend the run uses.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{eventually, fresh_postgres_database, ts, Options, TestServer, ADMIN_TOKEN};

/// Two in-process nodes sharing a fresh database, with the admin API.
fn two_nodes(extra: &str) -> (TestServer, TestServer) {
    let url = fresh_postgres_database();
    let options = || {
        Options {
        storage: Some(format!(
            "[storage]\nbackend = \"postgres\"\ndatabase_url = \"{url}\"\ndurability = \"normal\"\npool_size = 8\n"
        )),
        ..Options::admin(extra)
    }
    };
    let a = TestServer::start(options());
    let b = TestServer::start(options());
    (a, b)
}

/// An instance created on `a` whose actor is live (and cached) on both nodes.
async fn shared_instance(a: &TestServer, b: &TestServer, key: &str) -> String {
    let id = a.create_instance(key, "shared").await;
    for node in [a, b] {
        let seen = node.get(&format!("/v1/instances/{id}/snapshot"), key).await;
        assert_eq!(seen.status, StatusCode::OK, "{}", seen.text);
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_simultaneous_untimed_observations_on_two_nodes_exactly_one_succeeds() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("unlimited").await;
    let id = shared_instance(&a, &b, &key).await;
    let path = format!("/v1/instances/{id}/process");
    let body = json!({"mode_target": "exploration", "signal_strength": 0.8});
    let answers = join_all((0..16).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.post(&path, &key, body.clone())
    }))
    .await;
    let ok = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "exactly one untimed observation passes");
    for answer in answers.iter().filter(|r| r.status != StatusCode::OK) {
        answer.assert_error(429, "throttled");
    }
    let history = b.get(&format!("/v1/instances/{id}/history"), &key).await;
    assert_eq!(history.body["total"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_observations_alternating_between_nodes_all_commit_in_order() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("unlimited").await;
    let id = shared_instance(&a, &b, &key).await;
    let path = format!("/v1/instances/{id}/process");
    for i in 0..12u64 {
        let node = if i % 2 == 0 { &a } else { &b };
        let answer = node
            .post(
                &path,
                &key,
                json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i)}),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "step {i}: {}", answer.text);
        assert_eq!(answer.body["snapshot"]["cycle_count"], i + 1, "contiguous");
    }
    let history = a
        .get(&format!("/v1/instances/{id}/history?limit=100"), &key)
        .await;
    assert_eq!(history.body["total"], 12);
    let mut cycles: Vec<u64> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["cycle_number"].as_u64().unwrap())
        .collect();
    cycles.sort_unstable();
    assert_eq!(cycles, (1..=12).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_match_across_nodes_refuses_the_stale_version_and_takes_the_current_one() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("unlimited").await;
    let id = shared_instance(&a, &b, &key).await;
    let path = format!("/v1/instances/{id}");
    let renamed = a
        .send(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({"name": "on a"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text);
    // B's actor still holds version 1.
    let stale = b
        .send(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({"name": "on b"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_error(409, "conflict");
    let current = b
        .send(
            Method::PATCH,
            &path,
            Some(&key),
            Some(json!({"name": "on b"})),
            &[("if-match", "\"2\"")],
        )
        .await;
    assert_eq!(
        current.status,
        StatusCode::OK,
        "no false 409: {}",
        current.text
    );
    assert_eq!(current.body["name"], "on b");
    // A's actor is now the stale one: a process with the current version
    // passes there too.
    let processed = a
        .send(
            Method::POST,
            &format!("{path}/process"),
            Some(&key),
            Some(json!({"mode_target": "order", "signal_strength": 0.5})),
            &[("if-match", "\"3\"")],
        )
        .await;
    assert_eq!(processed.status, StatusCode::OK, "{}", processed.text);
    assert_eq!(processed.header("etag").as_deref(), Some("\"4\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_on_one_node_see_writes_made_on_the_other_and_deletes_are_everywhere() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("unlimited").await;
    let id = shared_instance(&a, &b, &key).await;
    let processed = a
        .post(
            &format!("/v1/instances/{id}/process/batch"),
            &key,
            json!({"observations": (0..3).map(|i| json!({"mode_target": "exploration", "signal_strength": 0.9, "timestamp": ts(i)})).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(processed.status, StatusCode::OK, "{}", processed.text);
    let snapshot = b.get(&format!("/v1/instances/{id}/snapshot"), &key).await;
    assert_eq!(snapshot.body["cycle_count"], 3, "{}", snapshot.text);
    assert_eq!(snapshot.body["version"], 2);
    let got = b.get(&format!("/v1/instances/{id}"), &key).await;
    assert_eq!(got.header("etag").as_deref(), Some("\"2\""));

    let deleted = a
        .send(
            Method::DELETE,
            &format!("/v1/instances/{id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);
    for path in [
        format!("/v1/instances/{id}"),
        format!("/v1/instances/{id}/snapshot"),
        format!("/v1/instances/{id}/contract"),
        format!("/v1/instances/{id}/history"),
    ] {
        b.get(&path, &key).await.assert_error(404, "not_found");
    }
    b.post(
        &format!("/v1/instances/{id}/process"),
        &key,
        json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(100)}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_on_both_nodes_stop_exactly_at_the_instance_limit() {
    let (a, b) = two_nodes("");
    let (_, key) = a.account("free").await;
    let answers = join_all((0..10).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.post("/v1/instances", &key, json!({"name": format!("n{i}")}))
    }))
    .await;
    let created = answers
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 3, "the free tier's limit, exactly");
    for refused in answers.iter().filter(|r| r.status != StatusCode::CREATED) {
        refused.assert_error(403, "forbidden");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_and_a_tier_changed_on_one_node_apply_on_the_other_within_a_second() {
    let (a, b) = two_nodes("");
    let (account_id, key) = a.account("free").await;
    // Cache the key on B.
    let usage = b.get("/v1/usage", &key).await;
    assert_eq!(usage.body["tier"], "free", "{}", usage.text);

    let changed = a
        .send(
            Method::PATCH,
            &format!("/v1/admin/accounts/{account_id}"),
            Some(ADMIN_TOKEN),
            Some(json!({"tier": "pro"})),
            &[],
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    eventually(
        Duration::from_secs(1),
        Duration::from_millis(20),
        || async { b.get("/v1/usage", &key).await.body["tier"] == "pro" },
    )
    .await
    .expect("the tier change applies on B within 1 s");

    let second = a
        .send(
            Method::POST,
            &format!("/v1/admin/accounts/{account_id}/keys"),
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    let second_key = second.body["key"].as_str().unwrap().to_string();
    let second_id = second.body["key_id"].as_str().unwrap().to_string();
    assert_eq!(b.get("/v1/usage", &second_key).await.status, StatusCode::OK);
    let revoked = a
        .send(
            Method::DELETE,
            &format!("/v1/admin/keys/{second_id}"),
            Some(ADMIN_TOKEN),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    let took = eventually(
        Duration::from_secs(1),
        Duration::from_millis(20),
        || async { b.get("/v1/usage", &second_key).await.status == StatusCode::UNAUTHORIZED },
    )
    .await
    .expect("the revocation applies on B within 1 s");
    eprintln!("revocation on node A refused on node B after {took:?}");
    b.get("/v1/usage", &second_key)
        .await
        .assert_error(401, "unauthorized");
    assert_eq!(b.get("/v1/usage", &key).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_and_metrics_name_the_node() {
    let (a, b) = two_nodes("[server]\nnode_id = \"node-a\"\n");
    let version = a.get("/version", "").await;
    assert_eq!(version.body["node_id"], "node-a", "{}", version.text);
    let metrics = b.get("/metrics", "").await;
    assert!(
        metrics
            .text
            .contains("identity_os_node_info{node_id=\"node-a\"} 1"),
        "{}",
        metrics.text
    );
    let default = TestServer::start(Options::default());
    let id = default.get("/version", "").await.body["node_id"].clone();
    let id = id.as_str().unwrap_or_default();
    assert!(
        id.ends_with(&format!("-{}", std::process::id())),
        "host name and process id by default: {id}"
    );
}

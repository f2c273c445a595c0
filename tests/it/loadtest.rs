//! `identity-os loadtest` (the binary) against a server (in-process): the
//! summary it prints must agree with the server's own records (every
//! observation the tool counts as successful is in an instance's history,
//! and nothing else is), and a rerun with `--reuse` keeps its caller
//! timestamps monotonic.

use crate::common::{binary, Options, TestServer};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs the loadtest binary against `server` and returns its JSON summary.
pub(crate) fn loadtest(server: &TestServer, json: &Path, extra: &[&str]) -> Value {
    let output = Command::new(binary())
        .arg("loadtest")
        .args(["--url", &server.base_url, "--key", &server.key()])
        .args(["--json", &json.display().to_string(), "--quiet"])
        .args(extra)
        .output()
        .expect("run identity-os loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "loadtest failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("observations/s"), "table: {stdout}");
    let text = std::fs::read_to_string(json).expect("summary written");
    serde_json::from_str(&text).expect("summary is JSON")
}

/// Sum of the history totals of every instance of the key's account.
pub(crate) async fn history_total(server: &TestServer, key: &str) -> (usize, u64) {
    let listing = server.get("/v1/instances?limit=100", key).await;
    let items = listing.body["items"].as_array().expect("items").clone();
    let mut total = 0;
    for item in &items {
        let id = item["id"].as_str().expect("id");
        let history = server
            .get(&format!("/v1/instances/{id}/history?limit=1"), key)
            .await;
        total += history.body["total"].as_u64().expect("history total");
    }
    (items.len(), total)
}

pub(crate) fn assert_clean(summary: &Value) {
    assert_eq!(summary["errors"], 0, "{summary:#}");
    assert_eq!(
        summary["error_counts"],
        serde_json::json!({}),
        "{summary:#}"
    );
    assert_eq!(
        summary["requests"], summary["successful_requests"],
        "{summary:#}"
    );
    assert_eq!(
        summary["status_counts"]["200"], summary["requests"],
        "{summary:#}"
    );
}

#[tokio::test]
async fn summary_matches_the_servers_history() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let dir = tempfile::tempdir().expect("tempdir");

    let first = loadtest(
        &server,
        &dir.path().join("first.json"),
        &["--instances", "4", "--concurrency", "4", "--duration", "1s"],
    );
    assert_clean(&first);
    assert_eq!(first["instances"], 4);
    assert_eq!(first["setup"]["created"], 4);
    let first_observations = first["observations"].as_u64().expect("observations");
    assert!(first_observations > 20, "{first:#}");
    assert!(first["latency_us"]["p99"].as_u64().expect("p99") > 0);
    let (instances, recorded) = history_total(&server, &key).await;
    assert_eq!(instances, 4);
    assert_eq!(recorded, first_observations, "{first:#}");

    // Rerun on the same instances, batched: the clocks resume after the
    // newest recorded timestamps, so nothing is throttled.
    let second = loadtest(
        &server,
        &dir.path().join("second.json"),
        &[
            "--instances",
            "4",
            "--reuse",
            "--batch",
            "5",
            "--requests",
            "40",
            "--mode",
            "stress",
        ],
    );
    assert_clean(&second);
    assert_eq!(second["setup"]["reused"], 4);
    assert_eq!(second["setup"]["created"], 0);
    assert_eq!(second["requests"], 40);
    assert_eq!(second["observations"], 200);
    let (_, recorded) = history_total(&server, &key).await;
    assert_eq!(recorded, first_observations + 200);
}

//! Security properties that are not covered elsewhere (see SECURITY.md for
//! the full OWASP API Top 10 mapping).

use crate::common::{Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    for answer in [
        server.get("/v1/instances", &key).await,
        server.get("/v1/nothing", &key).await,
        server.send(Method::GET, "/health", None, None, &[]).await,
        server
            .send(Method::GET, "/v1/instances", None, None, &[])
            .await,
    ] {
        assert_eq!(
            answer.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(answer.header("x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(answer.header("cache-control").as_deref(), Some("no-store"));
        assert!(answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
    }
}

#[tokio::test]
async fn logs_never_contain_keys_or_request_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    // A process: the log under test is the binary's stderr.
    let mut server = TestServer::start_process(Options {
        log_file: Some(log.clone()),
        env: vec![("RUST_LOG".into(), "debug".into())],
        ..Options::default()
    });
    let key = server.key();
    let id = server.create_instance(&key, "secret-project-name").await;
    let answer = server
        .post(&format!("/v1/instances/{id}/process"), &key, json!({"mode_target": "order", "signal_strength": 0.5, "context": {"note": "private-context-value"}}))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    server
        .send(
            Method::GET,
            "/v1/instances",
            Some("idos_sk_notarealkeynotarealkeynotareal12"),
            None,
            &[("x-request-id", "log-trace-7")],
        )
        .await
        .assert_error(401, "unauthorized");
    server.stop();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("/v1/instances/{id}/process"),
        "request lines are logged: {text}"
    );
    let unauthorized = text
        .lines()
        .find(|line| line.contains("route=\"/v1/instances\"") && line.contains("status=401"))
        .unwrap_or_else(|| panic!("the 401 has its access-log line: {text}"));
    for field in ["method=GET", "latency_us=", "request_id=\"log-trace-7\""] {
        assert!(unauthorized.contains(field), "{field} in {unauthorized}");
    }
    for secret in [
        key.as_str(),
        "idos_sk_notarealkey",
        "secret-project-name",
        "private-context-value",
    ] {
        assert!(!text.contains(secret), "log contains {secret:?}");
    }
}

#[tokio::test]
async fn responses_never_expose_internal_identifiers() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let created = server
        .post("/v1/instances", &key, json!({"name": "x"}))
        .await;
    let text = created.text;
    assert!(!text.contains("acct_"), "account ids stay internal: {text}");
    assert!(
        !text.contains("state_json") && !text.contains("digest"),
        "{text}"
    );
}

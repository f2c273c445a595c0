//! The log is buffered (src/logging.rs): prove that lines still reach the
//! log while the server runs, without waiting for exit or a full buffer.

use crate::common::{Options, TestServer};
use reqwest::Method;
use std::time::{Duration, Instant};

/// Waits up to `limit` for `needle` to appear in the log file.
fn wait_for(log: &std::path::Path, needle: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains(needle)) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn access_log_lines_are_written_while_the_server_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    // A process: the log under test is the binary's stderr.
    let server = TestServer::start_process(Options {
        log_file: Some(log.clone()),
        env: vec![("RUST_LOG".into(), "info".into())],
        ..Options::default()
    });
    let answer = server
        .send(
            Method::GET,
            "/health",
            None,
            None,
            &[("x-request-id", "flush-me-1")],
        )
        .await;
    assert_eq!(answer.status, reqwest::StatusCode::OK);
    // Flushed every 100 ms; a loaded CI machine gets ample slack.
    let waited = wait_for(&log, "request_id=\"flush-me-1\"", Duration::from_secs(5));
    assert!(
        waited.is_some(),
        "the access-log line reached the file while the server ran: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

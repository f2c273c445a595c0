//! Abuse resistance: slow clients, too many connections, deep JSON, and a
//! graceful shutdown under load that keeps every acknowledged write.

use crate::common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base_url.trim_start_matches("http://");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Reads until EOF (or error); returns what was read and how long it took.
fn read_to_close(stream: &mut TcpStream) -> (String, Duration) {
    let started = Instant::now();
    let mut buffer = Vec::new();
    let _ = stream.read_to_end(&mut buffer);
    (
        String::from_utf8_lossy(&buffer).to_string(),
        started.elapsed(),
    )
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_dropped() {
    let server = TestServer::start(Options::with_config(
        "[server]\nheader_read_timeout_secs = 1\n",
    ));
    let mut stream = connect(&server);
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let (_, waited) = read_to_close(&mut stream);
    assert!(
        waited < Duration::from_secs(5),
        "closed after the header timeout, not after {waited:?}"
    );
}

#[tokio::test]
async fn a_client_that_trickles_its_body_gets_a_json_503() {
    let server = TestServer::start(Options::with_config("[server]\nrequest_timeout_secs = 1\n"));
    let key = server.key();
    let mut stream = connect(&server);
    let head = format!(
        "POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"na"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = stream.read(&mut buffer).unwrap_or(0);
    let text = String::from_utf8_lossy(&buffer[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("\"code\":\"service_unavailable\""), "{text}");
    let head = text.to_ascii_lowercase();
    for header in [
        "x-content-type-options: nosniff",
        "cache-control: no-store",
        "x-request-id: ",
    ] {
        assert!(
            head.contains(header),
            "a timed-out request still gets {header:?}: {text}"
        );
    }
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed() {
    let server = TestServer::start(Options::with_config(
        "[server]\nmax_connections = 3\nheader_read_timeout_secs = 30\n",
    ));
    let held: Vec<TcpStream> = (0..3).map(|_| connect(&server)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = connect(&server);
    let _ = extra.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let (text, waited) = read_to_close(&mut extra);
    assert!(
        text.is_empty() && waited < Duration::from_secs(5),
        "refused at once: {text:?} after {waited:?}"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let answer = server
        .send(reqwest::Method::GET, "/health", None, None, &[])
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "slots are freed when connections close"
    );
}

#[tokio::test]
async fn deeply_nested_json_is_a_422_not_a_crash() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "deep").await;
    let nested = format!(
        "{{\"mode_target\":\"order\",\"signal_strength\":0.5,\"context\":{{\"a\":{}1{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let answer = server
        .send_raw(
            reqwest::Method::POST,
            &format!("/v1/instances/{id}/process"),
            Some(&key),
            nested.into_bytes(),
        )
        .await;
    answer.assert_error(422, "invalid_request");
    assert_eq!(server.get("/health", &key).await.status, StatusCode::OK);
}

/// SIGTERM while 8 workers send observations: the server finishes what is in
/// flight, exits cleanly, and everything it acknowledged is stored.
#[tokio::test]
async fn sigterm_under_load_keeps_every_acknowledged_write() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::default();
    // A process: SIGTERM is the point.
    let mut server = TestServer::start_process_in(tempdir.path(), &options);
    let key = server.key();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(server.create_instance(&key, &format!("s{i}")).await);
    }
    let acknowledged: Arc<Vec<AtomicU64>> = Arc::new((0..8).map(|_| AtomicU64::new(0)).collect());
    let mut workers = Vec::new();
    for (w, id) in ids.iter().cloned().enumerate() {
        let (client, base, key, acknowledged) = (
            server.client.clone(),
            server.base_url.clone(),
            key.clone(),
            acknowledged.clone(),
        );
        workers.push(tokio::spawn(async move {
            for i in 0..100_000u64 {
                let body =
                    json!({"mode_target": "order", "signal_strength": 0.5, "timestamp": ts(i * 2)});
                match client
                    .post(format!("{base}/v1/instances/{id}/process"))
                    .bearer_auth(&key)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) if response.status() == StatusCode::OK => {
                        acknowledged[w].fetch_add(1, Ordering::SeqCst);
                    }
                    _ => break,
                }
            }
        }));
    }
    // SIGTERM once every worker has had writes acknowledged (the load is
    // under way) instead of after a fixed time.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counts: Vec<u64> = acknowledged
            .iter()
            .map(|a| a.load(Ordering::SeqCst))
            .collect();
        if counts.iter().all(|&n| n >= 20) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the load got under way within 30 s: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    server.stop();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "shut down within the grace period"
    );
    for worker in workers {
        let _ = worker.await;
    }
    let server = TestServer::start_in(tempdir.path(), &options);
    for (w, id) in ids.iter().enumerate() {
        let acked = acknowledged[w].load(Ordering::SeqCst);
        let stored = server
            .get(&format!("/v1/instances/{id}/history?limit=1"), &key)
            .await
            .body["total"]
            .as_u64()
            .unwrap();
        assert!(acked > 0, "worker {w} made progress");
        assert_eq!(
            stored, acked,
            "instance {w}: in-flight requests were finished and answered"
        );
    }
}

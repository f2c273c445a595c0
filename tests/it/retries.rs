//! The official SDK through a network that loses the first reply of every
//! call: the proxy forwards each request, reads the server's answer and,
//! the first time it sees a request, withholds it until the SDK times out
//! and retries. Every observation must be recorded exactly once and the
//! script must see no exception (tests/sdk/retry_through_proxy.py).

use crate::common::{Options, TestServer};
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP/1.1 message (head and `Content-Length` body).
async fn read_message(stream: &mut (impl AsyncRead + Unpin)) -> Option<(String, Vec<u8>)> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some((head, buffer[head_end..head_end + length].to_vec()))
}

/// The requests (request line and body) the proxy has seen once.
type Seen = Arc<Mutex<HashSet<(String, Vec<u8>)>>>;

/// One client connection: forward one request, answer or withhold.
async fn relay(mut client: TcpStream, upstream: String, seen: Seen, withheld: Arc<AtomicU64>) {
    let Some((head, body)) = read_message(&mut client).await else {
        return;
    };
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let mut request = head.clone().into_bytes();
    request.extend_from_slice(&body);
    if server.write_all(&request).await.is_err() {
        return;
    }
    let Some((reply_head, reply_body)) = read_message(&mut server).await else {
        return;
    };
    let request_line = head.lines().next().unwrap_or("").to_owned();
    let first_time = seen.lock().unwrap().insert((request_line, body));
    if first_time {
        // The reply is lost: hold the connection past the client's timeout.
        withheld.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(5)).await;
        return;
    }
    let reply_head = reply_head.replacen("\r\n", "\r\nconnection: close\r\n", 1);
    let _ = client.write_all(reply_head.as_bytes()).await;
    let _ = client.write_all(&reply_body).await;
    let _ = client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sdk_retries_through_lost_replies_record_each_observation_once() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "flaky network").await;
    let upstream = server.base_url.trim_start_matches("http://").to_owned();

    let proxy = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let seen: Seen = Arc::new(Mutex::new(HashSet::new()));
    let withheld = Arc::new(AtomicU64::new(0));
    let relays = {
        let (seen, withheld) = (seen.clone(), withheld.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = proxy.accept().await {
                tokio::spawn(relay(
                    client,
                    upstream.clone(),
                    seen.clone(),
                    withheld.clone(),
                ));
            }
        })
    };

    const CALLS: u64 = 5;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sdk/retry_through_proxy.py"
    );
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(&proxy_url)
            .arg(&key)
            .arg(&id)
            .arg(CALLS.to_string())
            .output()
            .map(|o| (o, key, id))
    })
    .await
    .unwrap()
    .expect("python runs");
    let (output, key, id) = output;
    relays.abort();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert_eq!(
        withheld.load(Ordering::Relaxed),
        CALLS + 1,
        "every call lost its first reply"
    );

    let history = server
        .get(&format!("/v1/instances/{id}/history?limit=100"), &key)
        .await;
    assert_eq!(
        history.body["total"].as_u64(),
        Some(CALLS + 3),
        "{}",
        history.text
    );
    let mut cycles: Vec<u64> = history.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["cycle_number"].as_u64().unwrap())
        .collect();
    cycles.sort_unstable();
    assert_eq!(
        cycles,
        (1..=CALLS + 3).collect::<Vec<_>>(),
        "each once, in order"
    );
    let usage = server.get("/v1/usage", &key).await;
    assert_eq!(usage.body["monthly_used"].as_u64(), Some(CALLS + 3));
}

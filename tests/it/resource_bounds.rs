//! Slow and greedy clients cannot pin the server's resources: a reply the
//! client does not take is dropped after `server.write_timeout_secs` (and
//! its memory is given back), one address holds at most
//! `server.max_connections_per_ip` connections (refusals are counted and
//! logged once per interval, not once each), and history and drift pages
//! are bounded in bytes by `server.max_page_bytes`.
//!
//! The first two run the server as a process: its RSS is then its own,
//! and its metrics are not shared with in-process servers of other tests.

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A sample's value in a Prometheus text (0 when the series is absent:
/// series appear once they have something to report).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn metrics(server: &TestServer) -> String {
    let answer = server.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.text
}

/// The `host:port` the server listens on.
fn addr(server: &TestServer) -> String {
    server
        .base_url
        .strip_prefix("http://")
        .expect("http URL")
        .to_string()
}

/// The pid of the `identity-os serve` process whose config is in `dir`
/// (the harness starts it with `--config DIR/test.toml`).
fn server_pid(dir: &Path) -> u32 {
    let config = dir.join("test.toml");
    let config = config.to_string_lossy();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let entry = entry.expect("proc entry");
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == "serve") && args.iter().any(|a| *a == *config) {
            return pid;
        }
    }
    panic!("no identity-os serve process with --config {config}");
}

/// A `/proc/PID/status` figure in bytes (`VmRSS`, `RssAnon`, ...).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    kib * 1024
}

/// The resident set size of a process, in bytes.
fn rss(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS")
}

/// The server's lowest RSS over `at_most`, or as soon as `done` says so,
/// and how long that took, under light traffic (small history pages of
/// `path`). mimalloc keeps memory freed by another thread on its owner's
/// lists until the owner allocates again or, for a runtime thread, goes
/// idle (main.rs); a server with no traffic at all may hold freed memory
/// for a while before the OS gets it back. A reply still pinned would
/// never come back, traffic or not.
async fn settle(
    server: &TestServer,
    key: &str,
    path: &str,
    pid: u32,
    at_most: Duration,
    done: impl Fn(u64) -> bool,
) -> (u64, Duration) {
    let started = Instant::now();
    let mut lowest = rss(pid);
    while !done(lowest) && started.elapsed() < at_most {
        let page = server.get(&format!("{path}?limit=20"), key).await;
        assert_eq!(page.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(250)).await;
        lowest = lowest.min(rss(pid));
    }
    (lowest, started.elapsed())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Sends `count` observations with contexts of about `context_bytes`
/// each, caller timestamps 1 s apart, in batches that fit the body limit.
async fn observe(server: &TestServer, key: &str, id: &str, count: u64, context_bytes: usize) {
    let per_batch = (512 * 1024 / context_bytes.max(1)).clamp(1, 100) as u64;
    let mut sent = 0;
    while sent < count {
        let batch: Vec<Value> = (sent..count.min(sent + per_batch))
            .map(|i| {
                json!({
                    "mode_target": if i % 2 == 0 { "exploration" } else { "order" },
                    "signal_strength": 0.8,
                    "context": {"i": i, "pad": "x".repeat(context_bytes)},
                    "timestamp": ts(i),
                })
            })
            .collect();
        sent += batch.len() as u64;
        let answer = server
            .post(
                &format!("/v1/instances/{id}/process/batch"),
                key,
                json!({ "observations": batch }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
}

#[tokio::test]
async fn a_reply_the_client_never_reads_is_dropped_after_the_write_timeout() {
    // One page of the whole history: ~16 MiB, far more than the kernel's
    // socket buffers take, so most of it waits in the server.
    //
    // `MIMALLOC_PURGE_DELAY=0`: mimalloc hands freed pages back to the OS
    // at once instead of lazily, some time after the delay, on later
    // allocator activity. With the default, up to ~10 MiB of what the
    // reply freed can stay resident (reused by the next allocations, not
    // growing with more stuck clients): the RSS would measure when the
    // allocator purges, not whether the server let go.
    let server = TestServer::start_process(Options {
        config: "[server]\nwrite_timeout_secs = 1\nmax_page_bytes = 33554432\n".into(),
        env: vec![("MIMALLOC_PURGE_DELAY".into(), "0".into())],
        ..Options::default()
    });
    let key = server.key();
    let pid = server_pid(&server.dir);
    let id = server.create_instance(&key, "big").await;
    observe(&server, &key, &id, 1000, 16 * 1024 - 64).await;
    let history = format!("/v1/instances/{id}/history");
    let path = format!("{history}?limit=1000");

    // A client that reads gets it all (and warms the server's caches, so
    // the baseline below includes them).
    let full = server.get(&path, &key).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body["items"].as_array().unwrap().len(), 1000);
    assert_eq!(full.body["has_more"], false);
    let body_bytes = full.text.len();
    assert!(body_bytes > 16_000_000, "{body_bytes}");
    drop(full);
    let (before, _) = settle(&server, &key, &history, pid, Duration::from_secs(4), |_| {
        false
    })
    .await;
    let open_before = sample(&metrics(&server).await, "identity_os_connections_open");

    // Twice: what one stuck reply leaves behind would add up.
    for round in 1..=2 {
        // A client that asks and never reads.
        let mut stuck = TcpStream::connect(addr(&server)).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\r\n",
            addr(&server)
        );
        stuck.write_all(request.as_bytes()).await.unwrap();
        let sent_at = Instant::now();

        // Until the server lets go: its memory peaks with the reply.
        let (mut peak, mut open) = (before, open_before);
        let dropped_after = loop {
            peak = peak.max(rss(pid));
            let text = metrics(&server).await;
            open = open.max(sample(&text, "identity_os_connections_open"));
            let timeouts = sample(&text, "identity_os_connection_write_timeouts_total");
            if timeouts >= f64::from(round)
                && sample(&text, "identity_os_connections_open") <= open_before
            {
                break sent_at.elapsed();
            }
            assert!(
                sent_at.elapsed() < Duration::from_secs(60),
                "the stuck connection is still open after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(open, open_before + 1.0, "the stuck connection was counted");
        assert!(
            dropped_after >= Duration::from_secs(1),
            "dropped after {dropped_after:?}, before the write timeout"
        );

        // The memory the reply held is given back: the RSS falls back at
        // least half way from the peak (a reply kept alive would hold it
        // at the peak; allocator caches keep a few MiB for a while).
        let back = |rss: u64| rss < before + peak.saturating_sub(before) / 2;
        let (after, settled_in) =
            settle(&server, &key, &history, pid, Duration::from_secs(30), back).await;
        eprintln!(
            "stuck client {round}: server RSS before {:.1} MiB, peak with the stuck reply \
             {:.1} MiB, after {:.1} MiB (connection dropped {dropped_after:.2?} after the \
             request, RSS back {settled_in:.2?} later)",
            mib(before),
            mib(peak),
            mib(after)
        );
        assert!(
            peak > before + 8 * 1024 * 1024,
            "the stuck reply should have been measurable: before {before}, peak {peak}"
        );
        assert!(
            back(after),
            "RSS did not fall back from the peak: before {before}, peak {peak}, after {after}"
        );

        // The client finds the connection reset (or closed) without the
        // whole reply: it gets only what the kernel had already sent it.
        let mut received = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        let ended = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stuck.read(&mut buf).await {
                    Ok(0) => return "eof".to_string(),
                    Ok(n) => received += n,
                    Err(e) => return e.to_string(),
                }
            }
        })
        .await
        .expect("the connection ends");
        assert!(
            received < body_bytes,
            "got {received} of {body_bytes} bytes, then {ended}"
        );
        eprintln!("stuck client {round}: got {received} of {body_bytes} bytes, then {ended}");
    }

    // The server still serves.
    let page = server.get(&format!("{path}&offset=999"), &key).await;
    assert_eq!(page.status, StatusCode::OK);
}

#[tokio::test]
async fn one_address_holds_at_most_max_connections_per_ip() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let server = TestServer::start_process(Options {
        config: "[server]\nmax_connections_per_ip = 3\n".into(),
        log_file: Some(log.clone()),
        ..Options::default()
    });

    // Three idle connections are accepted and stay open.
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(TcpStream::connect(addr(&server)).await.unwrap());
    }
    // The fourth, and every one after it, is closed at once.
    for attempt in 0..20 {
        let mut extra = TcpStream::connect(addr(&server)).await.unwrap();
        let mut byte = [0u8; 1];
        let closed = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut byte))
            .await
            .unwrap_or_else(|_| panic!("connection {} was not closed", attempt + 4));
        assert!(
            matches!(closed, Ok(0) | Err(_)),
            "connection {}: {closed:?}",
            attempt + 4
        );
    }
    for (i, conn) in idle.iter_mut().enumerate() {
        let mut byte = [0u8; 1];
        let waited = tokio::time::timeout(Duration::from_millis(300), conn.read(&mut byte)).await;
        assert!(
            waited.is_err(),
            "idle connection {i} was closed: {waited:?}"
        );
    }
    // And they serve.
    idle[0]
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = vec![0u8; 256];
    let n = idle[0].read(&mut head).await.unwrap();
    assert!(
        head[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );

    // Closing them gives their slots back (the server notices the close
    // asynchronously): a new client is served again, and the metric
    // counted each refusal with its reason.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    // A scrape made before the server noticed the closes is refused too,
    // and counted like the others.
    let mut refused_scrapes = 0.0;
    let text = loop {
        let scraped = server
            .client
            .get(server.url("/metrics"))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == StatusCode::OK);
        if let Some(response) = scraped {
            break response.text().await.unwrap();
        }
        refused_scrapes += 1.0;
        assert!(Instant::now() < deadline, "no slot came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        sample(
            &text,
            "identity_os_connections_refused_total{reason=\"max_connections_per_ip\"}"
        ),
        20.0 + refused_scrapes,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "identity_os_connections_refused_total{reason=\"max_connections\"}"
        ),
        0.0
    );

    // Twenty refusals, one log line (the next would come 10 s later).
    let lines = std::fs::read_to_string(&log).unwrap();
    let refusal_lines = lines
        .lines()
        .filter(|l| l.contains("connections refused at the connection limits"))
        .count();
    assert_eq!(refusal_lines, 1, "{lines}");
}

/// Every page of a listing walked with `offset += items.len()`: the items
/// in order, and each page's items' JSON size.
async fn walk(server: &TestServer, key: &str, path: &str) -> (Vec<Value>, Vec<usize>) {
    let (mut items, mut pages, mut offset) = (Vec::new(), Vec::new(), 0usize);
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let page = server
            .get(&format!("{path}{sep}limit=1000&offset={offset}"), key)
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert_eq!(page.body["limit"], 1000, "limit stays the one asked for");
        assert_eq!(page.body["offset"], offset as u64);
        let got = page.body["items"].as_array().unwrap().clone();
        assert!(!got.is_empty(), "a page always has at least one item");
        let total = page.body["total"].as_u64().unwrap() as usize;
        offset += got.len();
        assert_eq!(page.body["has_more"], offset < total, "{}", page.text);
        pages.push(serde_json::to_string(&got).unwrap().len() - 2);
        items.extend(got);
        if offset >= total {
            return (items, pages);
        }
    }
}

#[tokio::test]
async fn history_and_drift_pages_are_bounded_in_bytes() {
    const MAX_PAGE_BYTES: usize = 8_000;
    let server = TestServer::start(Options::with_config(&format!(
        "[server]\nmax_page_bytes = {MAX_PAGE_BYTES}\n"
    )));
    let key = server.key();
    let id = server.create_instance(&key, "paged").await;
    // Contexts of 100 bytes to 2.5 KiB, in a pattern, so pages hold
    // different numbers of items; one bigger than a page on its own.
    let per_batch = 10;
    for start in (0..120u64).step_by(per_batch) {
        let batch: Vec<Value> = (start..start + per_batch as u64)
            .map(|i| {
                let pad = if i == 60 {
                    12_000
                } else {
                    100 + (i as usize * 337) % 2500
                };
                // Steady order, then a swing to stress: drift events.
                let (mode, strength) = if i < 40 {
                    ("order", 0.9)
                } else {
                    ("stress_response", 1.0)
                };
                json!({"mode_target": mode, "signal_strength": strength,
                       "context": {"i": i, "pad": "y".repeat(pad)}, "timestamp": ts(i)})
            })
            .collect();
        let answer = server
            .post(
                &format!("/v1/instances/{id}/process/batch"),
                &key,
                json!({ "observations": batch }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }

    let (items, pages) = walk(&server, &key, &format!("/v1/instances/{id}/history")).await;
    let cycles: Vec<u64> = items
        .iter()
        .map(|o| o["context"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(
        cycles,
        (0..120).rev().collect::<Vec<_>>(),
        "every item exactly once, newest first"
    );
    assert!(pages.len() > 10, "pages: {pages:?}");
    for (i, bytes) in pages.iter().enumerate() {
        // A page over the bound is the one item too big for any page.
        assert!(
            *bytes <= MAX_PAGE_BYTES || *bytes > 12_000,
            "page {i}: {bytes} bytes ({pages:?})"
        );
    }

    let (events, pages) = walk(&server, &key, &format!("/v1/instances/{id}/drift")).await;
    assert!(
        pages.len() > 1,
        "drift pages: {pages:?}, {} events",
        events.len()
    );
    assert!(pages.iter().all(|b| *b <= MAX_PAGE_BYTES), "{pages:?}");
    let all = server
        .get(&format!("/v1/instances/{id}/drift?limit=1000"), &key)
        .await;
    // The same events in the same order as one unbounded listing would
    // give: the first page's events start it.
    let first: Vec<&Value> = all.body["items"].as_array().unwrap().iter().collect();
    assert!(first.len() < events.len());
    assert_eq!(first, events[..first.len()].iter().collect::<Vec<_>>());
    let mut seen: Vec<u64> = events
        .iter()
        .map(|e| e["cycle_number"].as_u64().unwrap())
        .collect();
    let count = seen.len();
    seen.dedup();
    assert_eq!(seen.len(), count, "no event twice");
}

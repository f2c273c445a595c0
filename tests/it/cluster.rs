//! Several nodes on one PostgreSQL database behind nginx (issue 21): the
//! deployment files (deploy/) and the load balancer's routing, with real
//! `identity-os` processes, a real nginx running the shipped routing file
//! (tests/it/common/nginx.rs) and real sockets. Always on PostgreSQL
//! (scripts/test runs these once, not again in its PostgreSQL pass); the
//! nodes share Redis for their limits when the run has one
//! (`IDENTITY_OS_TEST_REDIS_URL`), as deploy/compose.yaml does, else each
//! limits on its own.

use crate::common::nginx::{self, Nginx};
use crate::common::{binary, fresh_postgres_database, ts, Options, ProcessServer, TestServer};
use crate::events::Events;
use crate::loadtest::{assert_clean, history_total, loadtest};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// A node's options, as deploy/node.toml configures them: PostgreSQL, no
/// per-IP connection limit behind the load balancer, Redis limits when
/// the run has a Redis.
fn node(database_url: &str) -> Options {
    let limiter = match std::env::var("IDENTITY_OS_TEST_REDIS_URL") {
        Ok(redis) => format!("[limiter]\nbackend = \"redis\"\nredis_url = \"{redis}\"\n"),
        Err(_) => String::new(),
    };
    Options {
        storage: Some(format!(
            "[storage]\nbackend = \"postgres\"\ndatabase_url = \"{database_url}\"\n\
             durability = \"full\"\npool_size = 8\nconnect_timeout_secs = 2.0\n"
        )),
        config: format!("[server]\nmax_connections_per_ip = 0\n{limiter}"),
        ..Options::default()
    }
}

/// Two node processes on one fresh database (the first creates the schema
/// and prints the first key) and nginx in front of them.
fn cluster() -> (ProcessServer, ProcessServer, Nginx) {
    let url = fresh_postgres_database();
    let first = TestServer::start_process(node(&url));
    let second = TestServer::start_process(node(&url));
    assert!(first.first_key.is_some(), "the first node prints the key");
    assert!(second.first_key.is_none(), "the second node finds it");
    let lb = Nginx::start(&[&first, &second]);
    (first, second, lb)
}

/// The node's `identity_os_http_requests_total` for one route and method,
/// summed over statuses.
async fn requests_served(node: &TestServer, route: &str, method: &str) -> u64 {
    let metrics = node.send(Method::GET, "/metrics", None, None, &[]).await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    let route = format!("route=\"{route}\"");
    let method = format!("method=\"{method}\"");
    metrics
        .text
        .lines()
        .filter(|line| line.starts_with("identity_os_http_requests_total{"))
        .filter(|line| line.contains(&route) && line.contains(&method))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

fn observation(n: u64) -> Value {
    const MODES: [&str; 3] = ["exploration", "order", "connection"];
    json!({
        "mode_target": MODES[(n % 3) as usize],
        "signal_strength": 0.5,
        "confidence": 0.9,
        "timestamp": ts(n * 2),
        "context": {"n": n},
    })
}

/// Every history item of an instance, paged.
async fn history(server: &TestServer, key: &str, id: &str) -> (u64, Vec<Value>) {
    let mut items = Vec::new();
    loop {
        let page = server
            .get(
                &format!(
                    "/v1/instances/{id}/history?limit=1000&offset={}",
                    items.len()
                ),
                key,
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.text);
        let batch = page.body["items"].as_array().expect("items").clone();
        let done = !page.body["has_more"].as_bool().unwrap_or(false) || batch.is_empty();
        items.extend(batch);
        if done {
            return (page.body["total"].as_u64().expect("total"), items);
        }
    }
}

// --- The deployment files ------------------------------------------------

#[test]
fn the_shipped_nginx_configuration_passes_nginx_t() {
    // The tests' main file around the routing file, as Nginx::start uses it.
    let dir = nginx::tempdir();
    let config = nginx::write_config(
        dir.path(),
        &[
            "server 127.0.0.1:18001;".into(),
            "server 127.0.0.1:18002;".into(),
        ],
        18000,
    );
    let output = nginx::check(dir.path(), &config);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "nginx -t: {stderr}");
    assert!(stderr.contains("test is successful"), "{stderr}");

    // Compose's main file with its listen.conf and the routing file, all
    // unchanged; only the node names of upstream.conf (which nginx would
    // resolve: they exist on the compose network only) become addresses.
    let compose = nginx::tempdir();
    for file in ["nginx.conf", "identity-os.conf", "listen.conf"] {
        std::fs::copy(deploy(&format!("nginx/{file}")), compose.path().join(file)).unwrap();
    }
    let upstream = std::fs::read_to_string(deploy("nginx/upstream.conf")).unwrap();
    assert!(
        upstream.contains("server node1:8000;") && upstream.contains("server node2:8000;"),
        "{upstream}"
    );
    let local = upstream
        .replace("node1:8000", "127.0.0.1:18001")
        .replace("node2:8000", "127.0.0.1:18002");
    std::fs::write(compose.path().join("upstream.conf"), local).unwrap();
    let output = nginx::check(compose.path(), &compose.path().join("nginx.conf"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "nginx -t (compose): {stderr}");
}

/// deploy/compose.yaml as JSON (python3's yaml module: `docker compose
/// config` needs Docker). The python3 on PATH, else the system's, where
/// scripts/services/nginx.sh installs python3-yaml if it is missing.
fn compose() -> Value {
    let mut errors = String::new();
    for python in ["python3", "/usr/bin/python3"] {
        let output = Command::new(python)
            .args([
                "-c",
                "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
            ])
            .arg(deploy("compose.yaml"))
            .output();
        match output {
            Ok(output) if output.status.success() => {
                return serde_json::from_slice(&output.stdout).expect("JSON")
            }
            Ok(output) => errors.push_str(&String::from_utf8_lossy(&output.stderr)),
            Err(e) => errors.push_str(&format!("{python}: {e}\n")),
        }
    }
    panic!("compose.yaml does not parse, or no python3 with yaml: {errors}");
}

/// The `${NAME...}` variables a text uses, with their `:-default` if any.
fn variables(text: &str) -> BTreeMap<String, Option<String>> {
    let mut found = BTreeMap::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed ${") + start;
        let inner = &rest[start + 2..end];
        let name_end = inner.find([':', '-', '?']).unwrap_or(inner.len());
        let default = inner[name_end..].strip_prefix(":-").map(str::to_string);
        found.insert(inner[..name_end].to_string(), default);
        rest = &rest[end + 1..];
    }
    found
}

/// Compose's interpolation of `${NAME:?msg}`, `${NAME:-default}` and
/// `${NAME}` with `values`.
fn interpolate(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let inner = &rest[start + 2..end];
        let name_end = inner.find([':', '-', '?']).unwrap_or(inner.len());
        let name = &inner[..name_end];
        let value = values
            .get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .or_else(|| inner[name_end..].strip_prefix(":-").map(str::to_string))
            .unwrap_or_default();
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    }
}

#[test]
fn the_compose_file_parses_and_is_complete() {
    let compose = compose();
    let services = compose["services"].as_object().expect("services");
    for name in ["node1", "node2", "postgres", "redis", "lb"] {
        assert!(services.contains_key(name), "service {name}");
    }
    for (name, service) in services {
        let test = strings(&service["healthcheck"]["test"]).join(" ");
        assert!(!test.is_empty(), "{name} has no healthcheck");
    }
    let declared: BTreeSet<&String> = compose["volumes"]
        .as_object()
        .map(|v| v.keys().collect())
        .unwrap_or_default();
    assert!(declared.contains(&"pgdata".to_string()), "{declared:?}");

    let dockerfile = std::fs::read_to_string(deploy("../Dockerfile")).unwrap();
    let upstream = std::fs::read_to_string(deploy("nginx/upstream.conf")).unwrap();
    let env_example = std::fs::read_to_string(deploy(".env.example")).unwrap();
    let example: BTreeMap<String, String> = env_example
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();

    for name in ["node1", "node2"] {
        let node = &services[name];
        assert_eq!(node["build"]["context"], "..", "{name}");
        assert_eq!(node["build"]["dockerfile"], "Dockerfile", "{name}");
        for dependency in ["postgres", "redis"] {
            assert_eq!(
                node["depends_on"][dependency]["condition"], "service_healthy",
                "{name} waits for a healthy {dependency}"
            );
        }
        let health = strings(&node["healthcheck"]["test"]).join(" ");
        assert!(health.contains("http://127.0.0.1:8000/ready"), "{health}");
        assert!(
            dockerfile.contains("curl"),
            "the image has the healthcheck's curl"
        );
        assert!(
            upstream.contains(&format!("server {name}:8000;")),
            "{name} in upstream.conf"
        );
        // The image reads /etc/identity-os/config.toml: node.toml replaces it.
        assert!(dockerfile.contains("/etc/identity-os/config.toml"));
        assert!(
            strings(&node["volumes"])
                .contains(&"./node.toml:/etc/identity-os/config.toml:ro".into()),
            "{name} mounts node.toml"
        );
        let env = node["environment"].as_object().expect("environment");
        let database = env["IDENTITY_OS_DATABASE_URL"].as_str().unwrap();
        assert!(database.contains("@postgres:5432/"), "{database}");
        let redis = env["IDENTITY_OS_REDIS_URL"].as_str().unwrap();
        assert!(redis.contains("@redis:6379"), "{redis}");

        // The node's effective configuration: node.toml and the compose
        // environment (placeholders from .env.example), read by the binary.
        let mut command = Command::new(binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .args(["config", "--config"])
            .arg(deploy("node.toml"));
        for (var, value) in env {
            command.env(var, interpolate(value.as_str().unwrap_or(""), &example));
        }
        let output = command.output().expect("run identity-os config");
        let effective = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "node.toml + compose env: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        for line in [
            "bind = \"0.0.0.0:8000\"",
            "max_connections_per_ip = 0",
            "backend = \"postgres\"",
            "backend = \"redis\"",
            "admin_token = \"********\"",
        ] {
            assert!(effective.contains(line), "{line} in:\n{effective}");
        }
    }

    let postgres = &services["postgres"];
    assert!(postgres["image"]
        .as_str()
        .unwrap()
        .starts_with("postgres:16"));
    assert!(strings(&postgres["healthcheck"]["test"]).contains(&"pg_isready".into()));
    assert!(strings(&postgres["volumes"]).contains(&"pgdata:/var/lib/postgresql/data".into()));
    let redis = &services["redis"];
    assert!(redis["image"].as_str().unwrap().starts_with("redis:7"));
    assert!(strings(&redis["healthcheck"]["test"])
        .join(" ")
        .contains("redis-cli ping"));

    // The load balancer mounts the very files the tests run, each where
    // the relative includes of nginx.conf / identity-os.conf look.
    let lb = &services["lb"];
    let mounts = strings(&lb["volumes"]);
    for file in [
        "nginx.conf",
        "identity-os.conf",
        "upstream.conf",
        "listen.conf",
    ] {
        let mount = format!("./nginx/{file}:/etc/nginx/{file}:ro");
        assert!(mounts.contains(&mount), "{mount} in {mounts:?}");
        assert!(deploy(&format!("nginx/{file}")).exists());
    }
    assert_eq!(
        deploy("nginx/identity-os.conf"),
        Path::new(nginx::ROUTING),
        "compose and the tests use one routing file"
    );
    for node in ["node1", "node2"] {
        assert_eq!(lb["depends_on"][node]["condition"], "service_healthy");
    }
    let listen = std::fs::read_to_string(deploy("nginx/listen.conf")).unwrap();
    assert!(listen.contains("listen 8080;"), "{listen}");
    assert!(strings(&lb["ports"]).contains(&"8080:8080".into()));
    let routing = std::fs::read_to_string(nginx::ROUTING).unwrap();
    assert!(strings(&lb["healthcheck"]["test"])
        .join(" ")
        .contains("http://127.0.0.1:8080/lb-health"));
    assert!(routing.contains("location = /lb-health"));

    // Every volume a service names is declared; every variable is in
    // .env.example, and the required ones have a value there.
    for (name, service) in services {
        for volume in strings(&service["volumes"]) {
            let source = volume.split(':').next().unwrap();
            if !source.starts_with('.') && !source.starts_with('/') {
                assert!(declared.contains(&source.to_string()), "{name}: {volume}");
            }
        }
    }
    let text = std::fs::read_to_string(deploy("compose.yaml")).unwrap();
    for (var, default) in variables(&text) {
        assert!(example.contains_key(&var), "{var} in deploy/.env.example");
        if default.is_none() {
            assert!(!example[&var].is_empty(), "{var} has a placeholder");
        }
    }
}

// --- Traffic through the load balancer -----------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_is_served_by_one_node_and_the_rest_is_spread() {
    let (first, second, lb) = cluster();
    let key = lb.key();
    let id = lb.create_instance(&key, "routed").await;
    let route = "/v1/instances/{id}";
    let before = [
        requests_served(&first, route, "GET").await,
        requests_served(&second, route, "GET").await,
    ];
    for _ in 0..20 {
        let answer = lb.get(&format!("/v1/instances/{id}"), &key).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let served = [
        requests_served(&first, route, "GET").await - before[0],
        requests_served(&second, route, "GET").await - before[1],
    ];
    assert!(
        served == [20, 0] || served == [0, 20],
        "one node serves the instance: {served:?}"
    );
    // nginx's own record agrees: one upstream for all of them.
    let request_line = format!("\"GET /v1/instances/{id} HTTP/1.1\"");
    let log = lb.access_log_when(|log| log.matches(&request_line).count() >= 20);
    let upstreams: BTreeSet<&str> = log
        .lines()
        .filter(|l| l.contains(&request_line))
        .filter_map(|l| l.split(" upstream=").nth(1)?.split(' ').next())
        .collect();
    assert_eq!(upstreams.len(), 1, "{log}");

    // Requests that name no instance are spread over both nodes.
    let before = [
        requests_served(&first, "/v1/usage", "GET").await,
        requests_served(&second, "/v1/usage", "GET").await,
    ];
    for _ in 0..40 {
        assert_eq!(lb.get("/v1/usage", &key).await.status, 200);
    }
    let spread = [
        requests_served(&first, "/v1/usage", "GET").await - before[0],
        requests_served(&second, "/v1/usage", "GET").await - before[1],
    ];
    assert_eq!(spread[0] + spread[1], 40, "{spread:?}");
    assert!(
        spread[0] > 0 && spread[1] > 0,
        "both nodes serve: {spread:?}"
    );

    // X-Request-Id: the caller's passes through; without one, nginx's id
    // reaches the node, which echoes it, and nginx logs the same id.
    let mine = lb
        .send(
            Method::GET,
            "/v1/usage",
            Some(&key),
            None,
            &[("x-request-id", "cluster-rid-1")],
        )
        .await;
    assert_eq!(
        mine.header("x-request-id").as_deref(),
        Some("cluster-rid-1")
    );
    let theirs = lb.get("/v1/usage", &key).await;
    let rid = theirs.header("x-request-id").expect("a request id");
    let needle = format!("rid={rid} ");
    let log = lb.access_log_when(|log| log.contains(&needle));
    assert!(log.contains(&needle), "{rid} in {log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_passes_through_unbuffered() {
    let (_first, _second, lb) = cluster();
    let key = lb.key();
    let id = lb.create_instance(&key, "streamed").await;
    let mut events = Events::start(&lb, &id, &key, None).await;
    let ready = events.next().await.expect("ready");
    assert_eq!(ready.name, "ready");
    let processed = lb
        .post(&format!("/v1/instances/{id}/process"), &key, observation(1))
        .await;
    assert_eq!(processed.status, 200, "{}", processed.text);
    // Within Events' 10 s: a buffering proxy would hold the small event.
    let event = events.next().await.expect("the observation's event");
    assert_eq!(event.name, "observation");
    assert_eq!(event.data["cycle_number"], 1);
}

#[test]
fn the_sdk_conformance_suite_passes_through_the_load_balancer() {
    let (_first, _second, lb) = cluster();
    crate::sdk_conformance::run_sdk_conformance(&lb.base_url, &lb.key());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadtest_drives_the_cluster_through_the_load_balancer() {
    let (_first, _second, lb) = cluster();
    let key = lb.key();
    let dir = tempfile::tempdir().unwrap();
    let summary = loadtest(
        &lb,
        &dir.path().join("summary.json"),
        &["--instances", "4", "--concurrency", "4", "--duration", "2s"],
    );
    assert_clean(&summary);
    assert_eq!(summary["setup"]["created"], 4, "{summary:#}");
    let observations = summary["observations"].as_u64().unwrap();
    assert!(observations > 8, "{summary:#}");
    let (instances, recorded) = history_total(&lb, &key).await;
    assert_eq!(instances, 4);
    assert_eq!(recorded, observations, "{summary:#}");
}

/// What one load worker saw: (observation number, status, sent at).
type Sent = Vec<(u64, u16, Instant)>;

/// Sends observations 0, 1, 2, ... to one instance through `base` until
/// `stop`, one at a time.
async fn drive(
    client: reqwest::Client,
    base: String,
    key: String,
    id: String,
    stop: Arc<AtomicBool>,
) -> Sent {
    let mut sent = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let at = Instant::now();
        let status = client
            .post(format!("{base}/v1/instances/{id}/process"))
            .bearer_auth(&key)
            .json(&observation(n))
            .timeout(Duration::from_secs(15))
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        sent.push((n, status, at));
        n += 1;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_the_other_serving_and_loses_no_acknowledged_write() {
    let (mut first, second, lb) = cluster();
    let key = lb.key();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(lb.create_instance(&key, &format!("load-{i}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(drive(
                lb.client.clone(),
                lb.base_url.clone(),
                key.clone(),
                id.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let dead = nginx::address(&first);
    first.kill();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for worker in workers {
        results.push(worker.await.unwrap());
    }

    for (id, sent) in ids.iter().zip(&results) {
        let acked: BTreeSet<u64> = sent
            .iter()
            .filter(|(_, status, _)| *status == 200)
            .map(|(n, _, _)| *n)
            .collect();
        assert!(acked.len() > 2, "{id}: load flowed: {sent:?}");
        // A request in flight on the killed node fails with nginx's 502
        // (it was sent: nginx may not resend a POST); nothing else fails,
        // and nothing sent after the kill has settled.
        for (n, status, at) in sent {
            if *status != 200 {
                assert_eq!(*status, 502, "{id}: observation {n}: {sent:?}");
                assert!(
                    *at < killed_at + Duration::from_millis(500),
                    "{id}: observation {n} failed {:?} after the kill",
                    at.saturating_duration_since(killed_at)
                );
            }
        }
        // Every acknowledged observation is in the history (read from the
        // survivor), and the state's cycle count agrees with it.
        let (total, items) = history(&second, &key, id).await;
        let recorded: BTreeSet<u64> = items
            .iter()
            .filter_map(|item| item["context"]["n"].as_u64())
            .collect();
        let missing: Vec<&u64> = acked.difference(&recorded).collect();
        assert!(
            missing.is_empty(),
            "{id}: acknowledged, not recorded: {missing:?}"
        );
        let sent_numbers: BTreeSet<u64> = sent.iter().map(|(n, _, _)| *n).collect();
        assert!(
            recorded.is_subset(&sent_numbers),
            "{id}: recorded what was never sent"
        );
        assert_eq!(total as usize, items.len(), "{id}");
        assert_eq!(
            recorded.len(),
            items.len(),
            "{id}: one item per observation"
        );
        let snapshot = second
            .get(&format!("/v1/instances/{id}/snapshot"), &key)
            .await;
        assert_eq!(snapshot.status, 200, "{}", snapshot.text);
        assert_eq!(
            snapshot.body["cycle_count"].as_u64(),
            Some(total),
            "{id}: state and history agree"
        );
    }

    // nginx noticed the dead node, and the cluster keeps serving through
    // it: reads and writes of every instance, and requests that name none.
    assert!(
        lb.error_log().contains(&dead),
        "nginx logs the failed node {dead}"
    );
    for (id, sent) in ids.iter().zip(&results) {
        let next = sent.last().map_or(0, |(n, _, _)| n + 1);
        let answer = lb
            .post(
                &format!("/v1/instances/{id}/process"),
                &key,
                observation(next),
            )
            .await;
        assert_eq!(answer.status, 200, "{id}: {}", answer.text);
        let read = lb.get(&format!("/v1/instances/{id}"), &key).await;
        assert_eq!(read.status, 200, "{id}: {}", read.text);
    }
    for _ in 0..10 {
        assert_eq!(lb.get("/v1/usage", &key).await.status, 200);
    }
}

/// A backend that reads a request head, records its request line and
/// closes the connection without answering: a node dying mid-request.
async fn dropping_backend() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buffer = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head);
                let line = text.lines().next().unwrap_or_default().to_string();
                record.lock().unwrap().push(line);
            });
        }
    });
    (address, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_a_node_dropped_is_resent_only_if_idempotent() {
    let url = fresh_postgres_database();
    let real = TestServer::start_process(node(&url));
    let key = real.key();
    let (dropping, seen) = dropping_backend().await;
    // max_fails=0: the dropping node is never marked failed, so every
    // request that hashes to it shows what nginx does after the drop.
    let lb = Nginx::start_with(
        &[
            format!("server {dropping} max_fails=0;"),
            format!("server {};", nginx::address(&real)),
        ],
        Some(key.clone()),
    );
    let mut outcomes: BTreeMap<&str, Vec<u16>> = BTreeMap::new();
    // Paths that name no instance: nginx spreads them by a random hash.
    for i in 0..30u64 {
        let get = lb.get("/v1/keys", &key).await.status.as_u16();
        outcomes.entry("GET").or_default().push(get);
        let post = lb
            .post("/v1/instances", &key, json!({"name": format!("retry-{i}")}))
            .await;
        outcomes
            .entry("POST")
            .or_default()
            .push(post.status.as_u16());
        let delete = lb
            .send(
                Method::DELETE,
                &format!("/v1/keys/key_missing_{i}"),
                Some(&key),
                None,
                &[],
            )
            .await;
        outcomes
            .entry("DELETE")
            .or_default()
            .push(delete.status.as_u16());
    }
    let seen = seen.lock().unwrap().clone();
    let dropped = |method: &str| {
        seen.iter()
            .filter(|l| l.starts_with(&format!("{method} ")))
            .count()
    };
    // GET: resent to the real node, always answered.
    assert!(outcomes["GET"].iter().all(|s| *s == 200), "{outcomes:?}");
    assert!(
        dropped("GET") > 0,
        "some GETs went to the dropping node: {seen:?}"
    );
    // POST and DELETE: every one the dropping node took is a 502, none was
    // resent; the others reached the real node.
    for method in ["POST", "DELETE"] {
        let bad = outcomes[method].iter().filter(|s| **s == 502).count();
        assert_eq!(bad, dropped(method), "{method}: {outcomes:?} {seen:?}");
        assert!(
            bad > 0,
            "{method}: some went to the dropping node: {seen:?}"
        );
    }
}

//! What only the PostgreSQL backend can show, whatever backend the run
//! uses: servers starting together on one empty database, and a database
//! that stops and comes back. Each test has a database (or a whole
//! cluster) of its own.

use crate::common::{fresh_postgres_database, ts, Options, TestServer};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn postgres_storage(url: &str) -> String {
    format!(
        "[storage]\nbackend = \"postgres\"\ndatabase_url = \"{url}\"\ndurability = \"full\"\n\
         connect_timeout_secs = 1.0\n"
    )
}

fn on(url: &str) -> Options {
    Options {
        storage: Some(postgres_storage(url)),
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_starting_together_on_an_empty_database_print_one_key() {
    let url = fresh_postgres_database();
    let (a, b) = (on(&url), on(&url));
    let first = std::thread::spawn(move || TestServer::start_process(a));
    let second = std::thread::spawn(move || TestServer::start_process(b));
    let (first, second) = (first.join().unwrap(), second.join().unwrap());
    let keys: Vec<&String> = [&first.first_key, &second.first_key]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(keys.len(), 1, "exactly one node creates the first key");
    // The key works on both nodes: they share the accounts.
    let key = keys[0].clone();
    let id = first.create_instance(&key, "shared").await;
    let seen = second.get(&format!("/v1/instances/{id}"), &key).await;
    assert_eq!(seen.status, 200, "{}", seen.text);
}

/// A PostgreSQL cluster of the test's own, to stop and start.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn run_as_postgres(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn start() -> Cluster {
        let bin = PathBuf::from(
            std::env::var("IDENTITY_OS_TEST_POSTGRES_BIN")
                .expect("IDENTITY_OS_TEST_POSTGRES_BIN is not set: run scripts/test"),
        );
        let dir = tempfile::Builder::new()
            .prefix("identity-os-pg-test")
            .tempdir_in("/tmp")
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let cluster = Cluster { bin, dir, port };
        if running_as_root() {
            assert!(Command::new("chown")
                .arg("postgres")
                .arg(cluster.dir.path())
                .status()
                .unwrap()
                .success());
        }
        let data = cluster.data();
        let status = cluster
            .run_as_postgres("initdb")
            .arg(format!("--pgdata={}", data.display()))
            .args(["--username=postgres", "--auth=trust", "--no-sync"])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "initdb");
        let conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n",
            cluster.port,
            cluster.dir.path().display()
        );
        let mut existing = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        existing.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), existing).unwrap();
        cluster.pg_ctl("start");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn pg_ctl(&self, action: &str) {
        let log = self.dir.path().join("server.log");
        let status = self
            .run_as_postgres("pg_ctl")
            .arg(format!("--pgdata={}", self.data().display()))
            .arg(format!("--log={}", log.display()))
            .args(["--mode=immediate", "--wait", action])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {action}");
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode=disable",
            self.port
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .run_as_postgres("pg_ctl")
            .arg(format!("--pgdata={}", self.data().display()))
            .args(["--mode=immediate", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn running_as_root() -> bool {
    Path::new("/proc/self").exists()
        && std::fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_database_answers_503_quickly_and_the_server_recovers() {
    let cluster = Cluster::start();
    let server = TestServer::start(on(&cluster.url()));
    let key = server.key();
    let id = server.create_instance(&key, "agent").await;
    let observe = |t: u64| json!({"mode_target": "exploration", "signal_strength": 0.6, "confidence": 0.9, "timestamp": ts(t)});
    let path = format!("/v1/instances/{id}/process");
    assert_eq!(server.post(&path, &key, observe(1)).await.status, 200);

    cluster.pg_ctl("stop");
    let started = Instant::now();
    let down = server.post(&path, &key, observe(2)).await;
    down.assert_error(503, "service_unavailable");
    assert!(down.header("retry-after").is_some(), "Retry-After on 503");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}, not a hang",
        started.elapsed()
    );
    let ready = server
        .send(reqwest::Method::GET, "/ready", None, None, &[])
        .await;
    assert_eq!(ready.status, 503, "{}", ready.text);

    cluster.pg_ctl("start");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut t = 3;
    loop {
        let answer = server.post(&path, &key, observe(t)).await;
        if answer.status == 200 {
            break;
        }
        answer.assert_error(503, "service_unavailable");
        assert!(Instant::now() < deadline, "the server did not recover");
        t += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let history = server
        .get(&format!("/v1/instances/{id}/history"), &key)
        .await;
    assert_eq!(history.status, 200);
    // Observation 1 and the one that succeeded after the restart; none of
    // the refused ones.
    assert_eq!(history.body["total"], 2, "{}", history.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_points_to_pg_dump_and_fails() {
    let server = TestServer::start(on(&fresh_postgres_database()));
    let output = std::process::Command::new(crate::common::binary())
        .current_dir(&server.dir)
        .args(["backup", "copy.db", "--config"])
        .arg(server.dir.join("test.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "backup must fail: {stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!server.dir.join("copy.db").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_ready_and_metrics_name_the_backend_and_its_groups() {
    let server = TestServer::start_process(on(&fresh_postgres_database()));
    let key = server.key();
    let id = server.create_instance(&key, "m").await;
    let observation = json!({"mode_target": "order", "signal_strength": 0.5, "confidence": 0.9, "timestamp": ts(1)});
    let answer = server
        .post(&format!("/v1/instances/{id}/process"), &key, observation)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let version = server
        .send(reqwest::Method::GET, "/version", None, None, &[])
        .await;
    assert_eq!(version.body["storage"], "postgres", "{}", version.text);
    let ready = server
        .send(reqwest::Method::GET, "/ready", None, None, &[])
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    let metrics = server
        .send(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    for name in [
        "identity_os_store_commit_group_size_count",
        "identity_os_store_pool_size",
        "identity_os_store_pool_available",
    ] {
        assert!(metrics.text.contains(name), "{name} in /metrics");
    }
}

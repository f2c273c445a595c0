//! Test harness: starts a server on a random port in a temporary directory
//! and talks to it over real HTTP.
//!
//! Two ways to run the server:
//!
//! - **in-process** ([`TestServer::start`], [`TestServer::start_in`]): the
//!   library's [`Server`] on its own multi-thread tokio runtime, on its own
//!   thread, built from the same TOML a process would read. The default:
//!   no process start, no binary to relink.
//! - **process** ([`TestServer::start_process`],
//!   [`TestServer::start_process_in`]): the real `identity-os serve` binary,
//!   for what needs a process boundary: SIGKILL and SIGTERM, CLI arguments,
//!   environment variables, the server's own log on stderr, and metrics
//!   (the Prometheus recorder is process-wide, so in-process servers of
//!   concurrent tests would share its counters). Only a [`ProcessServer`]
//!   can be killed.
//!
//! `start`/`start_in` with options only a process understands (`env`,
//! `args`, `log_file`) start a process too rather than ignore them.

#![allow(dead_code)]

pub mod nginx;

use identity_os::config::Config;
use identity_os::server::Server;
use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a server may take to start.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Worker threads of each in-process server's runtime.
const SERVER_WORKER_THREADS: usize = 2;

/// A running server (in-process or a process) and a client for it.
pub struct TestServer {
    running: Running,
    pub base_url: String,
    /// The first key printed on first start (None on a restart).
    pub first_key: Option<String>,
    pub dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    pub client: Client,
}

/// What [`TestServer::stop`] has to stop.
enum Running {
    InProcess(InProcess),
    Process(Child),
    Stopped,
}

/// An in-process server: a thread that runs the server on its own runtime
/// until `shutdown` fires (or is dropped), and returns once `serve` has
/// closed the store.
struct InProcess {
    shutdown: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<Result<(), String>>,
}

impl InProcess {
    /// Starts `config`'s server on a listener on 127.0.0.1:0; returns the
    /// handle, the base URL and the first key.
    fn start(config: Config) -> (InProcess, String, Option<String>) {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(String, Option<String>), String>>();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("test-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(SERVER_WORKER_THREADS)
                    .thread_name("test-server-worker")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("server runtime: {e}"));
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.clone()));
                        return Err(e);
                    }
                };
                let served = runtime.block_on(async move {
                    let started = async {
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(|e| format!("bind: {e}"))?;
                        let addr = listener.local_addr().map_err(|e| e.to_string())?;
                        let server = Server::start(config).await.map_err(|e| e.to_string())?;
                        let first_key = server.first_key().map(|(_, key)| key.to_string());
                        Ok::<_, String>((listener, server, format!("http://{addr}"), first_key))
                    };
                    let (listener, server) = match started.await {
                        Ok((listener, server, url, first_key)) => {
                            let _ = ready_tx.send(Ok((url, first_key)));
                            (listener, server)
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.clone()));
                            return Err(e);
                        }
                    };
                    let stopped = async {
                        let _ = shutdown_rx.await;
                    };
                    server
                        .serve(listener, stopped)
                        .await
                        .map_err(|e| format!("shutdown: {e}"))
                });
                runtime.shutdown_timeout(Duration::from_secs(10));
                served
            })
            .expect("spawn server thread");
        let (base_url, first_key) = ready_rx
            .recv_timeout(START_TIMEOUT)
            .expect("in-process server started within 30 s")
            .unwrap_or_else(|e| panic!("in-process server failed to start: {e}"));
        let handle = InProcess { shutdown, thread };
        (handle, base_url, first_key)
    }

    /// Shuts the server down and waits until `serve` has returned.
    fn stop(self) {
        let _ = self.shutdown.send(());
        match self.thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("in-process server: {e}"),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Shuts the server down without waiting (closing the store takes a
    /// few hundred ms). Its data may be deleted meanwhile: the files stay
    /// usable through the open handles, and any error on the way out is
    /// nobody's concern.
    fn stop_in_background(self) {
        let _ = self.shutdown.send(());
    }
}

/// A server running as a real `identity-os` process: everything a
/// [`TestServer`] does, plus [`ProcessServer::kill`].
pub struct ProcessServer(TestServer);

impl Deref for ProcessServer {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.0
    }
}

impl DerefMut for ProcessServer {
    fn deref_mut(&mut self) -> &mut TestServer {
        &mut self.0
    }
}

impl ProcessServer {
    /// Waits up to `within` for the server to exit by itself; its status.
    pub fn wait_for_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let Running::Process(child) = &mut self.0.running else {
            return None;
        };
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                self.0.running = Running::Stopped;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Kills the server with SIGKILL (a crash) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Running::Process(mut child) =
            std::mem::replace(&mut self.0.running, Running::Stopped)
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// How to start a server.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra TOML appended to the config file.
    pub config: String,
    /// Extra environment variables (process only).
    pub env: Vec<(String, String)>,
    /// Extra CLI arguments after `serve` (process only).
    pub args: Vec<String>,
    /// Send the server's log (stderr) to this file instead of the terminal
    /// (process only).
    pub log_file: Option<PathBuf>,
    /// A `[storage]` section instead of the run's [`storage_section`].
    pub storage: Option<String>,
}

impl Options {
    pub fn with_config(config: &str) -> Self {
        Options {
            config: config.to_string(),
            ..Options::default()
        }
    }

    /// Whether these options only make sense for a process.
    fn needs_process(&self) -> bool {
        !self.env.is_empty() || !self.args.is_empty() || self.log_file.is_some()
    }
}

/// An HTTP answer with status, headers and JSON body (Null when not JSON).
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// Asserts an API error with this status and code, in the docs/api.md shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        assert_eq!(self.body["error"], code, "body: {}", self.text);
        assert_eq!(self.body["code"], code, "body: {}", self.text);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.text
        );
    }
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_identity-os")
}

/// The backend the servers of this run use: `IDENTITY_OS_TEST_BACKEND`
/// (`sqlite`, the default, or `postgres`). scripts/test runs the suite once
/// on each.
pub fn backend() -> &'static str {
    match std::env::var("IDENTITY_OS_TEST_BACKEND").as_deref() {
        Ok("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// The administrator URL of the PostgreSQL cluster scripts/test started.
pub fn postgres_admin_url() -> String {
    std::env::var("IDENTITY_OS_TEST_POSTGRES_URL").expect(
        "IDENTITY_OS_TEST_POSTGRES_URL is not set: run scripts/test, which starts PostgreSQL",
    )
}

/// Creates a new, empty database in the test cluster; its URL.
pub fn fresh_postgres_database() -> String {
    let admin = postgres_admin_url();
    let name = format!(
        "it_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let psql = std::env::var("IDENTITY_OS_TEST_POSTGRES_BIN")
        .map(|bin| format!("{bin}/psql"))
        .unwrap_or_else(|_| "psql".into());
    let status = Command::new(psql)
        .args([
            "--quiet",
            "--no-psqlrc",
            "-v",
            "ON_ERROR_STOP=1",
            &admin,
            "-c",
        ])
        .arg(format!("CREATE DATABASE {name}"))
        .stdout(Stdio::null())
        .status()
        .expect("run psql");
    assert!(status.success(), "CREATE DATABASE {name} failed");
    let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    format!("{base}/{name}?{query}")
}

static NEXT_DATABASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The `[storage]` section of a server whose data lives in `dir`: a SQLite
/// file under `dir/data`, or (postgres runs) a database of its own, whose
/// URL is kept in `dir/postgres-url` so a restart in `dir` finds it again.
pub fn storage_section(dir: &Path) -> String {
    if backend() == "postgres" {
        let remembered = dir.join("postgres-url");
        let url = match std::fs::read_to_string(&remembered) {
            Ok(url) => url,
            Err(_) => {
                let url = fresh_postgres_database();
                std::fs::write(&remembered, &url).expect("remember the database");
                url
            }
        };
        format!(
            "[storage]\nbackend = \"postgres\"\ndatabase_url = \"{url}\"\ndurability = \"normal\"\npool_size = 8\n"
        )
    } else {
        format!(
            "[storage]\nsqlite_path = \"{}\"\ndurability = \"normal\"\n",
            dir.join("data/identity-os.db").display()
        )
    }
}

/// Writes the config file both kinds of server (and the CLI) read: the
/// [`storage_section`] (`normal` durability), then `options.config`.
fn write_config(dir: &Path, options: &Options) -> (PathBuf, String) {
    let path = dir.join("test.toml");
    let storage = match &options.storage {
        Some(section) => section.clone(),
        None => storage_section(dir),
    };
    let text = format!("{storage}{}\n", options.config);
    std::fs::write(&path, &text).expect("write config");
    (path, text)
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build()
        .expect("client")
}

impl TestServer {
    /// Starts a fresh server (SQLite file in a new temp dir), in-process
    /// unless the options need a process.
    pub fn start(options: Options) -> TestServer {
        let tempdir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_in(tempdir.path(), &options);
        server._tempdir = Some(tempdir);
        server
    }

    /// Starts a server whose data lives in `dir` (to restart on the same
    /// data), in-process unless the options need a process.
    pub fn start_in(dir: &Path, options: &Options) -> TestServer {
        if options.needs_process() {
            return Self::start_process_in(dir, options).0;
        }
        let (_, text) = write_config(dir, options);
        let mut config = Config::from_toml(&text).expect("valid test configuration");
        // Informational only: the harness binds the listener itself.
        config.server.bind = "127.0.0.1:0".into();
        let (handle, base_url, first_key) = InProcess::start(config);
        TestServer {
            running: Running::InProcess(handle),
            base_url,
            first_key,
            dir: dir.to_path_buf(),
            _tempdir: None,
            client: client(),
        }
    }

    /// Starts a fresh server as a real `identity-os` process.
    pub fn start_process(options: Options) -> ProcessServer {
        let tempdir = tempfile::tempdir().expect("tempdir");
        let mut server = Self::start_process_in(tempdir.path(), &options);
        server.0._tempdir = Some(tempdir);
        server
    }

    /// Starts a real `identity-os` process whose data lives in `dir`.
    pub fn start_process_in(dir: &Path, options: &Options) -> ProcessServer {
        let (config_path, _) = write_config(dir, options);
        let mut command = Command::new(binary());
        command
            .current_dir(dir)
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--config")
            .arg(&config_path)
            .args(&options.args)
            .env("RUST_LOG", "warn")
            .env_remove("IDENTITY_OS_AUTH")
            .env_remove("IDENTITY_OS_ADMIN_TOKEN")
            .stdout(Stdio::piped())
            .stderr(match &options.log_file {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
                None => Stdio::inherit(),
            });
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn identity-os");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut first_key = None;
        let base_url = loop {
            let line = rx
                .recv_timeout(START_TIMEOUT)
                .expect("server printed `listening on` within 30 s");
            let trimmed = line.trim();
            if trimmed.starts_with("idos_sk_") {
                first_key = Some(trimmed.to_string());
            }
            if let Some(url) = trimmed.strip_prefix("listening on ") {
                break url.to_string();
            }
        };
        ProcessServer(TestServer {
            running: Running::Process(child),
            base_url,
            first_key,
            dir: dir.to_path_buf(),
            _tempdir: None,
            client: client(),
        })
    }

    /// A client for a server this harness did not start (a load balancer
    /// in front of test servers, [`nginx::Nginx`]): the same request
    /// helpers, nothing to stop.
    pub fn remote(base_url: &str, first_key: Option<String>) -> TestServer {
        TestServer {
            running: Running::Stopped,
            base_url: base_url.to_string(),
            first_key,
            dir: PathBuf::new(),
            _tempdir: None,
            client: client(),
        }
    }

    /// Whether this server runs in this process.
    pub fn in_process(&self) -> bool {
        matches!(self.running, Running::InProcess(_))
    }

    pub fn key(&self) -> String {
        self.first_key.clone().expect("first key printed")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Any request; `key` None sends no Authorization header.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        Self::answer(response).await
    }

    /// A request with a raw body.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Vec<u8>,
    ) -> Answer {
        let mut request = self
            .client
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        Self::answer(request.send().await.expect("request sent")).await
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Answer {
        self.send(Method::GET, path, Some(key), None, &[]).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(key), Some(body), &[])
            .await
    }

    /// Creates an instance and returns its id.
    pub async fn create_instance(&self, key: &str, name: &str) -> String {
        let answer = self
            .post("/v1/instances", key, json!({ "name": name }))
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text);
        answer.body["id"].as_str().expect("id").to_string()
    }

    /// Runs a CLI subcommand against this server's database.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(binary())
            .current_dir(&self.dir)
            .args(args)
            .arg("--config")
            .arg(self.dir.join("test.toml"))
            .output()
            .expect("run cli");
        assert!(
            output.status.success(),
            "cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).to_string()
    }

    /// Stops the server gracefully and waits until it has shut down (store
    /// flushed and closed), so a restart on the same `dir` sees everything:
    /// an in-process server gets its shutdown signal, a process SIGTERM.
    pub fn stop(&mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::InProcess(server) => server.stop(),
            Running::Process(mut child) => {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                let _ = child.wait();
            }
            Running::Stopped => {}
        }
    }
}

impl Drop for TestServer {
    /// A process is killed, as a crash would (nothing to wait for). An
    /// in-process server is told to shut down and finishes in the
    /// background (the temp dir goes at once: a server still closing when
    /// the test binary exits would otherwise leave it behind); a test that
    /// restarts on the same data calls [`TestServer::stop`], which waits.
    fn drop(&mut self) {
        match std::mem::replace(&mut self.running, Running::Stopped) {
            Running::InProcess(server) => server.stop_in_background(),
            Running::Process(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Running::Stopped => {}
        }
    }
}

/// An RFC 3339 timestamp `secs` seconds after a fixed origin: caller
/// timestamps let tests drive many observations without the throttle.
pub fn ts(secs: u64) -> String {
    identity_os::time::format_timestamp(((1_800_000_000 + secs) * 1_000_000) as i64)
}

/// The admin token test servers are started with by [`Options::admin`].
pub const ADMIN_TOKEN: &str = "test-admin-token";

impl Options {
    /// Options with the admin API enabled plus extra TOML.
    pub fn admin(extra: &str) -> Self {
        Options::with_config(&format!("[auth]\nadmin_token = \"{ADMIN_TOKEN}\"\n{extra}"))
    }
}

impl TestServer {
    /// Creates an account on `tier` through the admin API; returns (account id, key).
    pub async fn account(&self, tier: &str) -> (String, String) {
        let created = self
            .send(
                Method::POST,
                "/v1/admin/accounts",
                Some(ADMIN_TOKEN),
                Some(json!({"name": format!("{tier} account"), "tier": tier})),
                &[],
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let id = created.body["id"].as_str().expect("account id").to_string();
        let key = self
            .send(
                Method::POST,
                &format!("/v1/admin/accounts/{id}/keys"),
                Some(ADMIN_TOKEN),
                None,
                &[],
            )
            .await;
        (id, key.body["key"].as_str().expect("key").to_string())
    }
}

/// Polls `check` every `every` until it holds or `within` has passed;
/// returns how long it took, or `None` if it never held.
pub async fn eventually<F, Fut>(within: Duration, every: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if check().await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

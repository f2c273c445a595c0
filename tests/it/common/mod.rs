//! Test harness: starts the real `identity-os` binary on a random port in a
//! temporary directory and talks to it over real HTTP.

#![allow(dead_code)]

use reqwest::{Client, Method, StatusCode};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running server process.
pub struct TestServer {
    child: Option<Child>,
    pub base_url: String,
    /// The first key printed on first start (None on a restart).
    pub first_key: Option<String>,
    pub dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    pub client: Client,
}

/// How to start a server.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra TOML appended to the config file.
    pub config: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Extra CLI arguments after `serve`.
    pub args: Vec<String>,
    /// Send the server's log (stderr) to this file instead of the terminal.
    pub log_file: Option<PathBuf>,
}

impl Options {
    pub fn with_config(config: &str) -> Self {
        Options {
            config: config.to_string(),
            ..Options::default()
        }
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

impl TestServer {
    /// Starts a fresh server (SQLite file in a new temp dir).
    pub fn start(options: Options) -> TestServer {
        let tempdir = tempfile::tempdir().expect("tempdir");
        let dir = tempdir.path().to_path_buf();
        let mut server = Self::start_in(&dir, &options);
        server._tempdir = Some(tempdir);
        server
    }

    /// Starts a server whose data lives in `dir` (to restart on the same data).
    pub fn start_in(dir: &Path, options: &Options) -> TestServer {
        let config_path = dir.join("test.toml");
        std::fs::write(
            &config_path,
            format!(
                "[storage]\nsqlite_path = \"{}\"\ndurability = \"normal\"\n{}\n",
                dir.join("data/identity-os.db").display(),
                options.config
            ),
        )
        .expect("write config");
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
                .recv_timeout(Duration::from_secs(30))
                .expect("server printed `listening on` within 30 s");
            let trimmed = line.trim();
            if trimmed.starts_with("idos_sk_") {
                first_key = Some(trimmed.to_string());
            }
            if let Some(url) = trimmed.strip_prefix("listening on ") {
                break url.to_string();
            }
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        TestServer {
            child: Some(child),
            base_url,
            first_key,
            dir: dir.to_path_buf(),
            _tempdir: None,
            client,
        }
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

    /// Stops the server with SIGTERM (graceful) and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
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

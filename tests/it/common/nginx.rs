//! nginx in front of test servers, with the routing file the deployment
//! ships (deploy/nginx/identity-os.conf, included unchanged). Each
//! [`Nginx`] is its own process (`daemon off`) with its configuration,
//! pid file, logs and temp files in a temporary directory, on a free port;
//! it is killed on drop. scripts/services/nginx.sh installs nginx and
//! exports its path as `IDENTITY_OS_TEST_NGINX`.

use super::TestServer;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The routing file of deploy/compose.yaml.
pub const ROUTING: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/nginx/identity-os.conf");

/// How long nginx may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The nginx binary.
pub fn binary() -> String {
    std::env::var("IDENTITY_OS_TEST_NGINX").unwrap_or_else(|_| "nginx".into())
}

/// `host:port` of a test server.
pub fn address(server: &TestServer) -> String {
    server
        .base_url
        .strip_prefix("http://")
        .expect("http:// base URL")
        .trim_end_matches('/')
        .to_string()
}

/// The files of an nginx in `dir`, around the shipped routing file:
/// `upstream.conf` (the `server` lines of the upstream block),
/// `listen.conf` and the main `nginx.conf`, whose path it returns.
pub fn write_config(dir: &Path, upstream: &[String], port: u16) -> PathBuf {
    let nodes: String = upstream.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(dir.join("upstream.conf"), nodes).expect("write upstream.conf");
    std::fs::write(
        dir.join("listen.conf"),
        format!("listen 127.0.0.1:{port};\n"),
    )
    .expect("write listen.conf");
    let d = dir.display();
    let main = format!(
        "daemon off;\n\
         worker_processes 1;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log info;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n\
         \x20   client_body_temp_path {d}/client_body;\n\
         \x20   proxy_temp_path {d}/proxy;\n\
         \x20   fastcgi_temp_path {d}/fastcgi;\n\
         \x20   uwsgi_temp_path {d}/uwsgi;\n\
         \x20   scgi_temp_path {d}/scgi;\n\
         \x20   include {ROUTING};\n\
         \x20   access_log {d}/access.log identity_os;\n\
         }}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main).expect("write nginx.conf");
    path
}

/// `nginx -t` on a configuration; its output (the check prints to stderr).
pub fn check(dir: &Path, config: &Path) -> Output {
    Command::new(binary())
        .arg("-t")
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(config)
        .output()
        .expect("run nginx -t (install nginx: scripts/services/nginx.sh)")
}

/// A temporary directory nginx's workers can use. When the tests run as
/// root the workers run as `nobody` and must reach the temp paths the
/// master creates (and chowns) in it.
pub fn tempdir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("identity-os-nginx")
        .tempdir()
        .expect("tempdir");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A running nginx and a client for it: derefs to a [`TestServer`] view
/// of the load balancer (the same request helpers; its key is the first
/// server's).
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    front: TestServer,
}

impl Deref for Nginx {
    type Target = TestServer;
    fn deref(&self) -> &TestServer {
        &self.front
    }
}

impl Nginx {
    /// nginx in front of `servers`, each an upstream `server` with nginx's
    /// defaults (max_fails=1, fail_timeout=10s).
    pub fn start(servers: &[&TestServer]) -> Nginx {
        let lines: Vec<String> = servers
            .iter()
            .map(|server| format!("server {};", address(server)))
            .collect();
        let key = servers.iter().find_map(|server| server.first_key.clone());
        Self::start_with(&lines, key)
    }

    /// nginx with these `server` lines in its upstream block; `key` is the
    /// key the [`TestServer`] view hands out.
    pub fn start_with(upstream: &[String], key: Option<String>) -> Nginx {
        let mut last_error = String::new();
        // The free port may be taken between the probe and nginx's bind.
        for _ in 0..3 {
            let dir = tempdir();
            let port = free_port();
            let config = write_config(dir.path(), upstream, port);
            let mut child = Command::new(binary())
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(dir.path().join("error.log"))
                .arg("-c")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start nginx (install it: scripts/services/nginx.sh)");
            let deadline = Instant::now() + START_TIMEOUT;
            let listening = loop {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    break true;
                }
                if matches!(child.try_wait(), Ok(Some(_))) || Instant::now() > deadline {
                    break false;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            if listening {
                let front = TestServer::remote(&format!("http://127.0.0.1:{port}"), key);
                return Nginx { child, dir, front };
            }
            if let Ok(None) = child.try_wait() {
                let _ = Command::new("kill")
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .status();
                let _ = child.wait();
            }
            last_error = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
        }
        panic!("nginx did not start:\n{last_error}");
    }

    /// The access log so far (format `identity_os` of the routing file:
    /// one line per request with `upstream=` the node(s) tried).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// The access log once `done` holds for it, or after 5 s (nginx
    /// writes a request's line after the response has left, so a client
    /// can be faster than the log).
    pub fn access_log_when(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.access_log();
            if done(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The error log so far (upstream failures are logged here).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, not SIGKILL: the master stops its workers (a killed master
    /// would leave them running, holding the port). SIGKILL only if it has
    /// not exited within 5 s.
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

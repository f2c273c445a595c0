//! Runs the official Python SDK (identity-os-sdk 0.9.0, installed by the
//! test command) against the server (in-process); tests/it/cluster.rs runs
//! the same driver through a load balancer in front of two nodes.

use crate::common::{Options, TestServer};
use std::process::Command;

#[test]
fn python_sdk_drives_every_method() {
    let server = TestServer::start(Options::default());
    run_sdk_conformance(&server.base_url, &server.key());
}

/// Runs tests/sdk/sdk_conformance.py against `base_url` with `key` (an
/// unlimited-tier key) and asserts that every check passed.
pub fn run_sdk_conformance(base_url: &str, key: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/sdk_conformance.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let output = Command::new(python)
        .arg(script)
        .arg(base_url)
        .arg(key)
        .output()
        .expect("python3 runs (install the SDK: pip install identity-os-sdk==0.9.0)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK conformance failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

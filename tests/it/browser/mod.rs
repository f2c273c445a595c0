//! The dashboard in a real browser: headless Chromium (installed by
//! scripts/services/chromium.sh) against the real server. Screenshots of
//! each state go to the directory the test prints.

mod webdriver;

use std::path::PathBuf;
use std::process::Command;

use reqwest::StatusCode;
use serde_json::json;
use webdriver::Browser;

use crate::common::{Options, TestServer};

/// Where the screenshots go (kept after the test).
fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    println!("dashboard screenshots: {}", dir.display());
    dir
}

/// Sends `count` observations through the Python SDK, timestamped after
/// the playground's own clock (an hour ahead), as an agent would.
fn sdk_observations(server: &TestServer, instance: &str, count: u32) {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/sdk_observe.py");
    let output = Command::new(python)
        .args([
            script,
            &server.base_url,
            &server.key(),
            instance,
            &count.to_string(),
        ])
        .output()
        .expect("python runs (scripts/test installs the SDK and sets PYTHON)");
    assert!(
        output.status.success(),
        "SDK: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_headless_chromium() {
    let server = TestServer::start(Options::default());
    let dir = screenshot_dir();
    let browser = Browser::start().await;
    let dashboard = server.url("/dashboard");

    // First load: bytes and time to interactive.
    browser.goto(&dashboard).await;
    let load = browser
        .wait_for(
            "the load figures",
            "const n = performance.getEntriesByType('navigation')[0]; \
            if (!n || !n.loadEventEnd) return null; \
            const r = performance.getEntriesByType('resource'); \
            return {interactive_ms: n.domInteractive, loaded_ms: n.loadEventEnd, \
                    bytes: n.transferSize + r.reduce((a, e) => a + e.transferSize, 0), \
                    decoded: n.decodedBodySize + r.reduce((a, e) => a + e.decodedBodySize, 0)};",
        )
        .await;
    println!("dashboard first load: {load}");

    // A wrong key: a clear error.
    browser
        .type_into("#api-key", "idos_sk_wrongwrongwrongwrongwrongwrong12")
        .await;
    browser.click("#sign-in button").await;
    let error = browser
        .wait_for(
            "the sign-in error",
            "const e = document.getElementById('sign-in-error'); return e && e.textContent;",
        )
        .await;
    assert!(error.as_str().unwrap().contains("not accepted"), "{error}");
    browser.screenshot(&dir, "1-wrong-key").await;
    // The refused sign-in's 401 is the only message so far (reading the log clears it).
    for message in browser.console().await {
        assert!(
            message["message"].as_str().unwrap().contains("/v1/usage")
                && message["message"].as_str().unwrap().contains("401"),
            "{message}"
        );
    }

    // The right key: the instances appear.
    let existing = server
        .create_instance(&server.key(), "Existing agent")
        .await;
    browser.type_into("#api-key", &server.key()).await;
    browser.click("#sign-in button").await;
    browser
        .wait_for("the instance list", "return document.getElementById('instance-rows').textContent.includes('Existing agent');")
        .await;
    let stored = browser
        .run("return sessionStorage.getItem('idos_key');", json!([]))
        .await;
    assert_eq!(stored, json!(server.key()));
    assert!(!browser
        .run("return location.href;", json!([]))
        .await
        .as_str()
        .unwrap()
        .contains("idos_sk"));
    browser.screenshot(&dir, "2-signed-in").await;

    // Create an instance, send 10× and run the stress attack.
    browser.type_into("#create-name", "Playground agent").await;
    browser.click("#create button").await;
    browser
        .wait_for("the instance page", "return !document.getElementById('instance-view').hidden && document.getElementById('instance-title').textContent.includes('Playground agent');")
        .await;
    browser.click("[data-send='10']").await;
    browser
        .wait_for("10 points", "const s = document.querySelector('svg[data-chart=energy]'); return s && s.dataset.points === '10';")
        .await;
    browser.click("[data-scenario='stress']").await;
    browser
        .wait_for("20 points", "const s = document.querySelector('svg[data-chart=energy]'); return s && s.dataset.points === '20';")
        .await;
    for chart in ["energy", "stability", "stress", "modes", "drift"] {
        let points = browser
            .run(
                &format!(
                    "return document.querySelector('svg[data-chart={chart}]').dataset.points;"
                ),
                json!([]),
            )
            .await;
        assert_eq!(points, json!("20"), "{chart}");
    }
    let stress = browser
        .wait_for("OVER", "const e = document.getElementById('stress-level'); return e && e.textContent === 'OVER' && e.textContent;")
        .await;
    assert_eq!(stress, json!("OVER"));
    let forbidden = browser
        .run(
            "return document.getElementById('forbidden-actions').textContent;",
            json!([]),
        )
        .await;
    assert!(
        forbidden.as_str().unwrap().contains("explore"),
        "{forbidden}"
    );
    // The usage panel follows what the page sent.
    browser
        .wait_for(
            "20 cycles used",
            "return document.getElementById('usage').textContent.includes('20 of no limit');",
        )
        .await;
    browser.screenshot(&dir, "3-stress-attack").await;

    // Observations from the Python SDK appear without a reload.
    let instance = browser
        .run(
            "return document.querySelector('#instance-rows button').textContent;",
            json!([]),
        )
        .await;
    assert!(instance.is_string());
    let id = server
        .get("/v1/instances?sort=name&order=asc", &server.key())
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "Playground agent")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    browser
        .run("window.__marker = 'same page';", json!([]))
        .await;
    sdk_observations(&server, &id, 3);
    browser
        .wait_for("the SDK's observations", "const s = document.querySelector('svg[data-chart=energy]'); return s && s.dataset.points === '23';")
        .await;
    assert_eq!(
        browser.run("return window.__marker;", json!([])).await,
        json!("same page")
    );
    browser.screenshot(&dir, "4-live-from-sdk").await;

    // Create and revoke a key on the page; the revoked key gets 401.
    browser.click("#create-key").await;
    let shown = browser
        .wait_for("the new key", "const t = document.getElementById('new-key').textContent; return t.includes('idos_sk_') && t;")
        .await;
    let new_key = shown
        .as_str()
        .unwrap()
        .split(": ")
        .last()
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(
        server.get("/v1/usage", &new_key).await.status,
        StatusCode::OK
    );
    browser
        .wait_for(
            "two revoke buttons",
            "return document.querySelectorAll('#key-rows button').length === 2;",
        )
        .await;
    browser.run("window.confirm = () => true;", json!([])).await;
    browser.click("#key-rows tr:nth-child(2) button").await;
    browser
        .wait_for(
            "one active key",
            "return document.querySelectorAll('#key-rows button').length === 1;",
        )
        .await;
    server
        .get("/v1/usage", &new_key)
        .await
        .assert_error(401, "unauthorized");
    // The signed-in key has authenticated requests, the new one one; the
    // uses are recorded to the minute, so both still say when they were
    // last flushed or "never".
    let last_used = browser
        .run(
            "return [...document.querySelectorAll('#key-rows tr td:nth-child(3)')].map((c) => c.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(
        last_used.as_array().map(Vec::len),
        Some(2),
        "a Last used cell per key: {last_used}"
    );
    browser.screenshot(&dir, "5-key-revoked").await;

    // No console errors, no request to another origin.
    let console = browser.console().await;
    let errors: Vec<_> = console.iter().filter(|m| m["level"] == "SEVERE").collect();
    assert!(errors.is_empty(), "console errors: {errors:?}");
    let origins = browser
        .run(
            "return performance.getEntriesByType('resource').map(e => new URL(e.name).origin);",
            json!([]),
        )
        .await;
    for origin in origins.as_array().unwrap() {
        assert_eq!(
            origin.as_str().unwrap(),
            server.base_url,
            "a request to another origin"
        );
    }
    drop(existing);
}

/// A page on one origin calls a server that allows it; a page on another
/// origin is refused by the browser at the preflight.
#[tokio::test(flavor = "multi_thread")]
async fn cors_preflight_in_the_browser() {
    let page = TestServer::start(Options::default());
    let allowed_origin = page.base_url.clone();
    let api = TestServer::start(Options::with_config(&format!(
        "[server]\ncors_allowed_origins = [\"{allowed_origin}\"]\n"
    )));
    let browser = Browser::start().await;
    let call = format!(
        "const done = arguments[arguments.length - 1]; \
         fetch('{}/v1/usage', {{headers: {{Authorization: 'Bearer {}'}}}}) \
           .then(r => done('status ' + r.status + ' remaining ' + r.headers.get('X-RateLimit-Remaining'))) \
           .catch(e => done('refused: ' + e.message));",
        api.base_url,
        api.key()
    );
    browser.goto(&page.url("/health")).await;
    let allowed = browser.run_async(&call).await;
    assert!(
        allowed
            .as_str()
            .unwrap()
            .starts_with("status 200 remaining"),
        "{allowed}"
    );
    let other = page.base_url.replace("127.0.0.1", "localhost");
    browser.goto(&format!("{other}/health")).await;
    let refused = browser.run_async(&call).await;
    assert!(
        refused.as_str().unwrap().starts_with("refused"),
        "{refused}"
    );
}

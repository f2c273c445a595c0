//! The command line: accounts, keys, config, backup, and refusing bad config.

use crate::common::{binary, eventually, Options, TestServer};
use reqwest::StatusCode;
use std::process::Command;
use std::time::Duration;

/// How the CLI tests wait for a server to pick up the CLI's change.
const WAIT: (Duration, Duration) = (Duration::from_secs(3), Duration::from_millis(20));

#[tokio::test]
async fn accounts_and_keys_from_the_cli_work_against_a_running_server() {
    let server = TestServer::start(Options::default());
    let created = server.cli(&["accounts", "create", "--name", "Team B", "--tier", "indie"]);
    let account_id = created.split('\t').next().unwrap().to_string();
    assert!(account_id.starts_with("acct_"), "{created}");
    let listed = server.cli(&["accounts", "list"]);
    assert!(
        listed.contains(&account_id) && listed.contains("indie") && listed.contains("Team B"),
        "{listed}"
    );

    let key = server
        .cli(&["keys", "create", "--account", &account_id])
        .trim()
        .to_string();
    assert!(key.starts_with("idos_sk_") && key.len() == 40, "{key}");
    let answer = server.get("/v1/usage", &key).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["tier"], "indie");

    server.cli(&[
        "accounts",
        "set-tier",
        "--account",
        &account_id,
        "--tier",
        "pro",
    ]);
    // The CLI is another process: the server picks its changes up within
    // the key cache's TTL (1 s); changes through the server apply at once.
    let upgraded = eventually(WAIT.0, WAIT.1, || async {
        server.get("/v1/usage", &key).await.body["tier"] == "pro"
    })
    .await;
    assert!(
        upgraded.is_some(),
        "tier change applies within the cache TTL"
    );

    let keys = server.cli(&["keys", "list", "--account", &account_id]);
    assert!(!keys.contains(&key), "listings never show the key itself");
    let key_id = keys.split('\t').next().unwrap().to_string();
    assert!(key_id.starts_with("key_"), "{keys}");
    server.cli(&["keys", "revoke", &key_id]);
    let revoked = eventually(WAIT.0, WAIT.1, || async {
        server.get("/v1/usage", &key).await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    assert!(revoked.is_some(), "revocation applies within the cache TTL");
}

#[tokio::test]
async fn backup_while_serving_produces_a_working_database() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "backed up").await;
    let backup = server.dir.join("backup.db");
    server.cli(&["backup", backup.to_str().unwrap()]);
    let restored_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(restored_dir.path().join("data")).unwrap();
    std::fs::copy(&backup, restored_dir.path().join("data/identity-os.db")).unwrap();
    let restored = TestServer::start_in(restored_dir.path(), &Options::default());
    let answer = restored.get(&format!("/v1/instances/{id}"), &key).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.body["name"], "backed up");
}

#[test]
fn config_prints_the_effective_configuration_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .current_dir(dir.path())
        .arg("config")
        .env("IDENTITY_OS_ADMIN_TOKEN", "very-secret-token")
        .env("IDENTITY_OS_BIND", "127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("bind = \"127.0.0.1:9999\""),
        "env overrides the default: {text}"
    );
    assert!(!text.contains("very-secret-token"), "{text}");
    assert!(text.contains("admin_token = \"********\""), "{text}");
}

#[test]
fn invalid_configuration_stops_the_server_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "[storage]\ndurability = \"sometimes\"\n").unwrap();
    let output = Command::new(binary())
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("durability"), "{stderr}");

    let output = Command::new(binary())
        .current_dir(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("IDENTITY_OS_MIN_CYCLE_INTERVAL", "-3")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("min_cycle_interval_secs"), "{stderr}");
}

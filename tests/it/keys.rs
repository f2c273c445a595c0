//! `/v1/keys`: an account lists, creates and revokes its own keys.

use crate::common::{Options, TestServer};
use identity_os::time::{now_micros, parse_timestamp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

#[tokio::test]
async fn create_list_revoke_and_the_last_key_stays() {
    let server = TestServer::start(Options::admin(""));
    let (_, key) = server.account("indie").await;
    let (_, other) = server.account("free").await;
    let listed = server.get("/v1/keys", &key).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let items = listed.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    let first_id = items[0]["id"].as_str().unwrap().to_string();
    assert!(!listed.text.contains(&key), "never the secret");
    for field in ["id", "prefix", "created_at", "last_used_at", "revoked_at"] {
        assert!(items[0].get(field).is_some(), "{field}");
    }

    // The last active key cannot be revoked.
    server
        .send(
            Method::DELETE,
            &format!("/v1/keys/{first_id}"),
            Some(&key),
            None,
            &[],
        )
        .await
        .assert_error(409, "conflict");

    let created = server
        .send(Method::POST, "/v1/keys", Some(&key), None, &[])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let second = created.body["key"].as_str().unwrap().to_string();
    let second_id = created.body["id"].as_str().unwrap().to_string();
    assert!(second.starts_with(created.body["prefix"].as_str().unwrap()));
    assert_eq!(
        server.get("/v1/usage", &second).await.status,
        StatusCode::OK
    );

    // Another account's key is not found; its own keys list only its own.
    server
        .send(
            Method::DELETE,
            &format!("/v1/keys/{second_id}"),
            Some(&other),
            None,
            &[],
        )
        .await
        .assert_error(404, "not_found");
    let others = server.get("/v1/keys", &other).await;
    assert_eq!(others.body["items"].as_array().unwrap().len(), 1);

    // Revoking with the new key: the old one answers 401 at once.
    let revoked = server
        .send(
            Method::DELETE,
            &format!("/v1/keys/{first_id}"),
            Some(&second),
            None,
            &[],
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.text);
    assert!(revoked.body["revoked_at"].is_string());
    server
        .get("/v1/usage", &key)
        .await
        .assert_error(401, "unauthorized");
    let listed = server.get("/v1/keys", &second).await;
    let revoked_at: Vec<&Value> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["revoked_at"])
        .collect();
    assert!(revoked_at[0].is_string() && revoked_at[1].is_null());
}

/// `last_used_at`: `null` for a key that never authenticated a request;
/// once used, the time of its last use, written from memory at most once a
/// minute and when the server stops, so a restarted server shows it.
#[tokio::test]
async fn last_used_at_is_recorded_and_survives_a_restart() {
    let tempdir = tempfile::tempdir().unwrap();
    let options = Options::admin("");
    let mut server = TestServer::start_in(tempdir.path(), &options);
    let (_, key) = server.account("indie").await;
    let created = server
        .send(Method::POST, "/v1/keys", Some(&key), None, &[])
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let unused_id = created.body["id"].as_str().unwrap().to_string();
    let listed = server.get("/v1/keys", &key).await;
    let items = listed.body["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    let used_id = items
        .iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .find(|id| *id != unused_id)
        .unwrap();
    for item in &items {
        assert!(item["last_used_at"].is_null(), "not yet written: {item}");
    }
    let before = now_micros();
    assert_eq!(server.get("/v1/usage", &key).await.status, StatusCode::OK);
    let after_use = now_micros();
    server.stop();

    let server = TestServer::start_in(tempdir.path(), &options);
    let listed = server.get("/v1/keys", &key).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let items = listed.body["items"].as_array().unwrap();
    let field = |id: &str| -> Value {
        items
            .iter()
            .find(|k| k["id"] == id)
            .map(|k| k["last_used_at"].clone())
            .unwrap()
    };
    assert!(field(&unused_id).is_null(), "a fresh key was never used");
    let used = field(&used_id);
    let at = parse_timestamp(used.as_str().expect("a timestamp")).expect("RFC 3339");
    // The list requests themselves count as uses too; the recorded time is
    // one of this key's uses before the stop (millisecond resolution).
    assert!(
        at >= before - 1_000 && at <= after_use + 1_000,
        "{used} not between the first use and the stop"
    );
    assert!(now_micros() - at < 60_000_000, "within the last minute");
}

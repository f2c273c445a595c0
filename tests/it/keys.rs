//! `/v1/keys`: an account lists, creates and revokes its own keys.

use crate::common::{Options, TestServer};
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

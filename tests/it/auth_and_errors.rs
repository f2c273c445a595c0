//! Authentication, tenant isolation and the error shape of the HTTP edge.

use crate::common::{Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn wrong_or_missing_credentials_are_401_without_echoing_the_key() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let path = "/v1/instances";
    let missing = server.send(Method::GET, path, None, None, &[]).await;
    missing.assert_error(401, "unauthorized");
    assert!(missing.body["message"]
        .as_str()
        .unwrap()
        .contains("missing"));
    for scheme in ["ApiKey", "Token", "Basic", "bearer"] {
        let value = format!("{scheme} {key}");
        let answer = server
            .send(Method::GET, path, None, None, &[("authorization", &value)])
            .await;
        answer.assert_error(401, "unauthorized");
        assert!(!answer.text.contains(&key), "the key is never echoed");
        assert!(
            answer.body["message"].as_str().unwrap().contains("scheme"),
            "{}",
            answer.text
        );
    }
    let unknown = server
        .get(path, "idos_sk_00000000000000000000000000000000")
        .await;
    unknown.assert_error(401, "unauthorized");
    assert!(unknown.body["message"]
        .as_str()
        .unwrap()
        .contains("unknown"));
    assert!(!unknown.text.contains("idos_sk_0000"));
    assert_eq!(server.get(path, &key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_big_bodies_get_json_errors() {
    let server = TestServer::start(Options::with_config("[server]\nbody_limit_bytes = 2048\n"));
    let key = server.key();
    server
        .get("/v1/nothing-here", &key)
        .await
        .assert_error(404, "not_found");
    server
        .get("/nope", &key)
        .await
        .assert_error(404, "not_found");
    let wrong = server
        .send(
            Method::PUT,
            "/v1/instances",
            Some(&key),
            Some(json!({})),
            &[],
        )
        .await;
    wrong.assert_error(405, "method_not_allowed");
    let wrong = server
        .send(Method::DELETE, "/health", None, None, &[])
        .await;
    wrong.assert_error(405, "method_not_allowed");
    let big = json!({"name": "x", "description": "y".repeat(4096)});
    server
        .post("/v1/instances", &key, big)
        .await
        .assert_error(413, "payload_too_large");
    let health = server.send(Method::GET, "/health", None, None, &[]).await;
    assert_eq!(health.body, json!({"status": "ok"}));
    let ready = server.send(Method::GET, "/ready", None, None, &[]).await;
    assert_eq!(ready.status, StatusCode::OK);
    let version = server.send(Method::GET, "/version", None, None, &[]).await;
    assert_eq!(version.body["name"], "identity-os");
}

#[tokio::test]
async fn request_ids_are_generated_or_echoed() {
    let server = TestServer::start(Options::default());
    let generated = server.send(Method::GET, "/health", None, None, &[]).await;
    assert!(generated
        .header("x-request-id")
        .is_some_and(|id| id.len() >= 16));
    let echoed = server
        .send(
            Method::GET,
            "/health",
            None,
            None,
            &[("x-request-id", "trace-abc-123")],
        )
        .await;
    assert_eq!(
        echoed.header("x-request-id").as_deref(),
        Some("trace-abc-123")
    );
    // Too long, or not printable ASCII: replaced, so the log stays sane.
    let long = "x".repeat(200);
    for unusable in [long.as_str(), "two words"] {
        let replaced = server
            .send(
                Method::GET,
                "/health",
                None,
                None,
                &[("x-request-id", unusable)],
            )
            .await;
        let id = replaced.header("x-request-id").unwrap_or_default();
        assert_eq!(id.len(), 36, "a fresh UUID instead of {unusable:?}: {id}");
    }
}

#[tokio::test]
async fn another_tenants_instance_is_404_on_every_route() {
    let server = TestServer::start(Options::with_config(
        "[auth]\nadmin_token = \"admin-secret\"\n",
    ));
    let owner = server.key();
    let account = server
        .send(
            Method::POST,
            "/v1/admin/accounts",
            Some("admin-secret"),
            Some(json!({"name": "other", "tier": "unlimited"})),
            &[],
        )
        .await;
    assert_eq!(account.status, StatusCode::CREATED, "{}", account.text);
    let account_id = account.body["id"].as_str().unwrap();
    let created = server
        .send(
            Method::POST,
            &format!("/v1/admin/accounts/{account_id}/keys"),
            Some("admin-secret"),
            None,
            &[],
        )
        .await;
    let intruder = created.body["key"].as_str().unwrap().to_string();
    let id = server.create_instance(&owner, "mine").await;
    let observation = json!({"mode_target": "order", "signal_strength": 0.5});
    let routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/v1/instances/{id}"), None),
        (
            Method::PATCH,
            format!("/v1/instances/{id}"),
            Some(json!({"name": "stolen"})),
        ),
        (Method::DELETE, format!("/v1/instances/{id}"), None),
        (
            Method::POST,
            format!("/v1/instances/{id}/process"),
            Some(observation.clone()),
        ),
        (
            Method::POST,
            format!("/v1/instances/{id}/process/batch"),
            Some(json!({"observations": [observation]})),
        ),
        (Method::GET, format!("/v1/instances/{id}/snapshot"), None),
        (Method::GET, format!("/v1/instances/{id}/contract"), None),
        (
            Method::POST,
            format!("/v1/instances/{id}/reset"),
            Some(json!({"mode": "default"})),
        ),
        (Method::GET, format!("/v1/instances/{id}/history"), None),
        (Method::GET, format!("/v1/instances/{id}/drift"), None),
    ];
    let missing = "inst_0000000000000000";
    for (method, path, body) in routes {
        let theirs = server
            .send(method.clone(), &path, Some(&intruder), body.clone(), &[])
            .await;
        theirs.assert_error(404, "not_found");
        let nobody = server
            .send(
                method,
                &path.replace(&id, missing),
                Some(&intruder),
                body,
                &[],
            )
            .await;
        assert_eq!(
            theirs.body["message"]
                .as_str()
                .unwrap()
                .replace(&id, missing),
            nobody.body["message"].as_str().unwrap(),
            "indistinguishable from a missing instance"
        );
    }
    let submit = json!({"instance_id": id, "responses": (1..=14).map(|q| json!({"question_id": q, "score": 3})).collect::<Vec<_>>()});
    server
        .post("/v1/test/submit", &intruder, submit)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        server.get("/v1/instances", &intruder).await.body["total"],
        0
    );
    let mine = server.get(&format!("/v1/instances/{id}"), &owner).await;
    assert_eq!(mine.body["name"], "mine");
    assert_eq!(
        mine.body["version"], 1,
        "nothing the intruder sent changed it"
    );
}

#[tokio::test]
async fn admin_api_and_key_revocation() {
    let server = TestServer::start(Options::with_config(
        "[auth]\nadmin_token = \"admin-secret\"\n",
    ));
    server
        .send(Method::GET, "/v1/admin/accounts", Some("wrong"), None, &[])
        .await
        .assert_error(401, "unauthorized");
    server
        .send(Method::GET, "/v1/admin/accounts", None, None, &[])
        .await
        .assert_error(401, "unauthorized");
    let owner = server.key();
    server
        .get("/v1/admin/accounts", &owner)
        .await
        .assert_error(401, "unauthorized");
    let accounts = server
        .send(
            Method::GET,
            "/v1/admin/accounts",
            Some("admin-secret"),
            None,
            &[],
        )
        .await;
    assert_eq!(accounts.body["total"], 1);
    let account_id = accounts.body["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let created = server
        .send(
            Method::POST,
            &format!("/v1/admin/accounts/{account_id}/keys"),
            Some("admin-secret"),
            None,
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let key = created.body["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("idos_sk_") && key.len() == 40);
    assert_eq!(
        server.get("/v1/instances", &key).await.status,
        StatusCode::OK
    );
    let revoke = server
        .send(
            Method::DELETE,
            &format!(
                "/v1/admin/keys/{}",
                created.body["key_id"].as_str().unwrap()
            ),
            Some("admin-secret"),
            None,
            &[],
        )
        .await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.text);
    let refused = server.get("/v1/instances", &key).await;
    refused.assert_error(401, "unauthorized");
    assert!(refused.body["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    let bad_tier = server
        .send(
            Method::PATCH,
            &format!("/v1/admin/accounts/{account_id}"),
            Some("admin-secret"),
            Some(json!({"tier": "gold"})),
            &[],
        )
        .await;
    bad_tier.assert_error(422, "invalid_request");
    let tier = server
        .send(
            Method::PATCH,
            &format!("/v1/admin/accounts/{account_id}"),
            Some("admin-secret"),
            Some(json!({"tier": "pro"})),
            &[],
        )
        .await;
    assert_eq!(tier.body["tier"], "pro");
}

#[tokio::test]
async fn admin_routes_are_absent_without_a_token() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    server
        .get("/v1/admin/accounts", &key)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn dev_mode_needs_no_key() {
    // A process: `--no-auth` is a CLI flag, and "no key is printed" is
    // about the binary's stdout.
    let server = TestServer::start_process(Options {
        args: vec!["--no-auth".into()],
        ..Options::default()
    });
    assert!(server.first_key.is_none(), "no key is printed in dev mode");
    let created = server
        .send(
            Method::POST,
            "/v1/instances",
            None,
            Some(json!({"name": "dev"})),
            &[],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
}

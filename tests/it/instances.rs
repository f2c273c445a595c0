//! Instance CRUD over real HTTP.

use crate::common::{Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn create_get_list_patch_delete() {
    let server = TestServer::start(Options::default());
    let key = server.key();

    let created = server
        .post(
            "/v1/instances",
            &key,
            json!({"name": "  Aria  ", "description": "Research assistant",
                   "initial_config": {"mode_strengths": {"PERCEPTION": 0.5, "exploration": -0.25},
                                      "energy_level": 0.9,
                                      "profile": {"core_modes": ["exploration"], "risk_posture": "Seeking",
                                                  "description": "A curious research agent"}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("inst_") && id.len() == 21, "{id}");
    assert_eq!(created.body["name"], "Aria");
    assert_eq!(created.body["description"], "Research assistant");
    assert_eq!(created.body["cycle_count"], 0);
    assert_eq!(created.body["energy_level"], 0.9);
    assert_eq!(created.body["stress_level"], "LOW");
    assert_eq!(created.body["stability_index"], 1.0);
    assert_eq!(created.body["version"], 1);
    assert_eq!(created.header("etag").as_deref(), Some("\"1\""));
    assert!(created.body["created_at"].as_str().unwrap().ends_with('Z'));

    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(snapshot.body["mode_strengths"]["perception"], 0.5);
    assert_eq!(snapshot.body["mode_strengths"]["exploration"], -0.25);

    let fetched = server.get(&format!("/v1/instances/{id}"), &key).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["id"], id.as_str());

    let second = server.create_instance(&key, "Bea").await;
    let listed = server
        .get("/v1/instances?limit=1&sort=name&order=asc", &key)
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["total"], 2);
    assert_eq!(listed.body["limit"], 1);
    assert_eq!(listed.body["offset"], 0);
    assert_eq!(listed.body["has_more"], true);
    assert_eq!(listed.body["items"][0]["name"], "Aria");
    let newest = server.get("/v1/instances", &key).await;
    assert_eq!(
        newest.body["items"][0]["id"],
        second.as_str(),
        "default order is newest first"
    );

    let patched = server
        .send(
            Method::PATCH,
            &format!("/v1/instances/{id}"),
            Some(&key),
            Some(json!({"name": "Aria 2"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(patched.body["name"], "Aria 2");
    assert_eq!(patched.body["description"], "Research assistant");
    assert_eq!(patched.body["version"], 2);

    let stale = server
        .send(
            Method::PATCH,
            &format!("/v1/instances/{id}"),
            Some(&key),
            Some(json!({"name": "Aria 3"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    stale.assert_error(409, "conflict");

    let empty = server
        .send(
            Method::PATCH,
            &format!("/v1/instances/{id}"),
            Some(&key),
            Some(json!({})),
            &[],
        )
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.body["version"], 2, "an empty PATCH changes nothing");

    let engine_field = server
        .send(
            Method::PATCH,
            &format!("/v1/instances/{id}"),
            Some(&key),
            Some(json!({"energy_level": 1.0})),
            &[],
        )
        .await;
    engine_field.assert_error(422, "invalid_request");

    let deleted = server
        .send(
            Method::DELETE,
            &format!("/v1/instances/{id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert_eq!(deleted.body, json!({"id": id, "deleted": true}));
    for path in ["", "/snapshot", "/contract", "/history", "/drift"] {
        server
            .get(&format!("/v1/instances/{id}{path}"), &key)
            .await
            .assert_error(404, "not_found");
    }
    let again = server
        .send(
            Method::DELETE,
            &format!("/v1/instances/{id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
    again.assert_error(404, "not_found");
    assert_eq!(server.get("/v1/instances", &key).await.body["total"], 1);
}

#[tokio::test]
async fn create_validation_errors() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let cases = [
        json!({}),
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "x".repeat(101)}),
        json!({"name": 5}),
        json!({"name": "a", "description": "d".repeat(1001)}),
        json!({"name": "a", "owner": "me"}),
        json!({"name": "a", "initial_config": {"energy_level": 1.5}}),
        json!({"name": "a", "initial_config": {"energy_level": -0.1}}),
        json!({"name": "a", "initial_config": {"mode_strengths": {"calm": 0.5}}}),
        json!({"name": "a", "initial_config": {"mode_strengths": {"order": 1.5}}}),
        json!({"name": "a", "initial_config": {"persona_id": "persona_nobody"}}),
        json!({"name": "a", "initial_config": {"profile": {"risk_posture": "reckless"}}}),
        json!({"name": "a", "initial_config": {"profile": {"core_modes": ["telepathy"]}}}),
        json!({"name": "a", "initial_config": {"profile": {"mood": "happy"}}}),
        json!({"name": "a", "initial_config": {"profile": {"description": "p".repeat(501)}}}),
        json!({"name": "a", "initial_config": {"version": 7}}),
    ];
    for body in cases {
        let answer = server.post("/v1/instances", &key, body.clone()).await;
        assert_eq!(answer.status.as_u16(), 422, "{body} → {}", answer.text);
        answer.assert_error(422, "invalid_request");
    }
    assert_eq!(
        server.get("/v1/instances", &key).await.body["total"],
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn persona_seeds_mode_strengths_and_explicit_values_override() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let created = server
        .post(
            "/v1/instances",
            &key,
            json!({"name": "p", "initial_config": {"persona_id": "persona_analytical", "mode_strengths": {"stress_response": 0.2}}}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    assert_eq!(snapshot.body["mode_strengths"]["perception"], 0.85);
    assert_eq!(snapshot.body["mode_strengths"]["stress_response"], 0.2);
    assert_eq!(snapshot.body["mode_strengths"]["order"], 0.75);
    assert_eq!(snapshot.body["persona_primary"], "persona_analytical");
}

#[tokio::test]
async fn list_query_validation() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    for query in [
        "limit=0",
        "limit=101",
        "limit=abc",
        "offset=-1",
        "sort=size",
        "order=up",
    ] {
        server
            .get(&format!("/v1/instances?{query}"), &key)
            .await
            .assert_error(422, "invalid_request");
    }
}

//! `GET /v1/instances/{id}/trajectory`: one point per cycle, newest first,
//! its newest point equal to the snapshot.

use crate::common::{ts, Options, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn the_newest_point_is_the_snapshot_and_every_cycle_has_one() {
    let server = TestServer::start(Options::admin(""));
    let key = server.key();
    let id = server.create_instance(&key, "t").await;
    let observations: Vec<_> = (0..25)
        .map(|i| json!({"mode_target": "stress_response", "signal_strength": 0.95, "timestamp": ts(i)}))
        .collect();
    let batch = server
        .post(
            &format!("/v1/instances/{id}/process/batch"),
            &key,
            json!({ "observations": observations }),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK, "{}", batch.text);
    let page = server
        .get(&format!("/v1/instances/{id}/trajectory?limit=1000"), &key)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["total"], 25);
    let items = page.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 25);
    let cycles: Vec<u64> = items
        .iter()
        .map(|p| p["cycle_number"].as_u64().unwrap())
        .collect();
    assert_eq!(cycles, (1..=25).rev().collect::<Vec<_>>());
    let snapshot = server
        .get(&format!("/v1/instances/{id}/snapshot"), &key)
        .await;
    let newest = &items[0];
    for field in [
        "energy_level",
        "stress_level",
        "stability_index",
        "mode_strengths",
    ] {
        assert_eq!(newest[field], snapshot.body[field], "{field}");
    }
    assert_eq!(newest["stress_level"], "OVER");
    assert_eq!(newest["dominant_mode"], "stress_response");
    let contract = server
        .get(&format!("/v1/instances/{id}/contract"), &key)
        .await;
    assert_eq!(newest["drift"]["level"], contract.body["drift_level"]);
    assert_eq!(
        newest["drift"]["magnitude"],
        contract.body["drift_magnitude"]
    );
    assert!(items[5]["drift"].is_null(), "cycle 20 is in the warm-up");
    assert!(
        items[4]["drift"]["rolled_back"].is_boolean(),
        "cycle 21 is measured"
    );

    let second = server
        .get(
            &format!("/v1/instances/{id}/trajectory?limit=10&offset=10"),
            &key,
        )
        .await;
    assert_eq!(second.body["items"][0]["cycle_number"], 15);
    assert_eq!(second.body["has_more"], true);
    server
        .get(&format!("/v1/instances/{id}/trajectory?limit=0"), &key)
        .await
        .assert_error(422, "invalid_request");
}

#[tokio::test]
async fn another_account_cannot_read_it() {
    let server = TestServer::start(Options::admin(""));
    let id = server.create_instance(&server.key(), "mine").await;
    let (_, other) = server.account("free").await;
    server
        .get(&format!("/v1/instances/{id}/trajectory"), &other)
        .await
        .assert_error(404, "not_found");
    server
        .send(
            reqwest::Method::GET,
            &format!("/v1/instances/{id}/trajectory"),
            None,
            None,
            &[],
        )
        .await
        .assert_error(401, "unauthorized");
}

#[tokio::test]
async fn the_new_routes_have_their_schemas_in_the_document() {
    let server = TestServer::start(Options::default());
    let doc = server
        .send(reqwest::Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    let schemas = &doc["components"]["schemas"];
    let point = &schemas["TrajectoryPoint"];
    let figures = &schemas["StateFigures"]["properties"];
    for field in [
        "energy_level",
        "stress_level",
        "stability_index",
        "mode_strengths",
        "dominant_mode",
        "drift",
    ] {
        assert!(figures.get(field).is_some(), "StateFigures.{field}");
    }
    assert!(point.to_string().contains("cycle_number"));
    for name in [
        "ApiKey",
        "ApiKeyList",
        "NewApiKey",
        "StreamReady",
        "ObservationEvent",
        "ResetEvent",
        "ChangeNotice",
    ] {
        assert!(schemas.get(name).is_some(), "{name}");
    }
    let key = &schemas["ApiKey"]["properties"];
    for field in ["id", "prefix", "created_at", "last_used_at", "revoked_at"] {
        assert!(key.get(field).is_some(), "ApiKey.{field}");
    }
    let events = &doc["paths"]["/v1/instances/{id}/events"]["get"];
    assert!(events["responses"]["200"]["content"]["text/event-stream"].is_object());
}

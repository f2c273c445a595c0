//! Personas and the personality test over HTTP.

use crate::common::{Options, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn personas_list_and_get() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let list = server.get("/v1/personas", &key).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["total"], 12);
    let personas = list.body["personas"].as_array().unwrap();
    let ids: Vec<&str> = personas.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids[0], "persona_analytical");
    assert_eq!(ids.len(), 12);
    for persona in personas {
        for field in [
            "name",
            "archetype",
            "description",
            "mode_a",
            "mode_b",
            "mode_profile",
            "core_values",
            "preferred_actions",
            "decision_style",
            "stress_recovery",
            "expressions",
        ] {
            assert!(!persona[field].is_null(), "{field} missing in {persona}");
        }
        assert_eq!(persona["mode_profile"].as_object().unwrap().len(), 7);
    }
    let leader = server.get("/v1/personas/persona_leader", &key).await;
    assert_eq!(leader.body["name"], "The Leader");
    assert_eq!(leader.body["archetype"], "commanding");
    assert_eq!(leader.body["mode_a"], "assertion");
    assert_eq!(leader.body["mode_b"], "identity");
    assert_eq!(leader.body["mode_profile"]["assertion"], 0.85);
    server
        .get("/v1/personas/persona_nobody", &key)
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn questions_per_version() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    for (version, total) in [("v1", 14), ("v2", 28), ("v3", 42)] {
        let answer = server
            .get(&format!("/v1/test/questions?version={version}"), &key)
            .await;
        assert_eq!(answer.body["version"], version);
        assert_eq!(answer.body["total"], total);
        let questions = answer.body["questions"].as_array().unwrap();
        assert_eq!(questions.len(), total);
        for mode in [
            "perception",
            "exploration",
            "order",
            "assertion",
            "connection",
            "identity",
            "stress_response",
        ] {
            let n = questions
                .iter()
                .filter(|q| q["mode_target"] == mode)
                .count();
            assert_eq!(n, total / 7, "{version} {mode}");
        }
    }
    assert_eq!(
        server.get("/v1/test/questions", &key).await.body["total"],
        14,
        "v1 is the default"
    );
    server
        .get("/v1/test/questions?version=v9", &key)
        .await
        .assert_error(422, "invalid_request");
}

fn answers(server_questions: &Value, score_for: impl Fn(&str) -> i64) -> Vec<Value> {
    server_questions["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| json!({"question_id": q["id"], "score": score_for(q["mode_target"].as_str().unwrap())}))
        .collect()
}

#[tokio::test]
async fn submit_scores_matches_and_applies_the_profile() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let questions = server.get("/v1/test/questions?version=v1", &key).await.body;
    let responses = answers(&questions, |mode| {
        if mode == "connection" || mode == "assertion" {
            5
        } else {
            2
        }
    });
    let result = server
        .post("/v1/test/submit", &key, json!({"version": "v1", "responses": responses, "create_instance": true, "instance_name": "Tested"}))
        .await;
    assert_eq!(result.status, StatusCode::OK, "{}", result.text);
    assert_eq!(result.body["test_completed"], true);
    assert_eq!(result.body["mode_profile"]["connection"], 1.0);
    assert_eq!(result.body["mode_profile"]["order"], 0.25);
    let matched = result.body["matched_personas"].as_array().unwrap();
    assert_eq!(matched.len(), 3);
    let top_two: Vec<&str> = matched[..2]
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(top_two.contains(&"persona_performer"), "{top_two:?}");
    assert!(matched
        .windows(2)
        .all(|w| w[0]["match_score"].as_f64() >= w[1]["match_score"].as_f64()));
    let id = result.body["instance_id"].as_str().unwrap().to_string();
    assert_eq!(result.body["snapshot"]["instance_id"], id.as_str());
    assert_eq!(result.body["contract"]["instance_id"], id.as_str());
    let instance = server.get(&format!("/v1/instances/{id}"), &key).await;
    assert_eq!(instance.body["name"], "Tested");

    // A profile equal to a persona's (scores reproduce the scholar's profile
    // closely) makes it the best match; then it becomes the `initial` state.
    let scholar =
        server.get("/v1/personas/persona_scholar", &key).await.body["mode_profile"].clone();
    let v3 = server.get("/v1/test/questions?version=v3", &key).await.body;
    // v3 has six questions per mode: spread round(24·p) points of (score − 1)
    // over them so each mode's mean is within 1/48 of the profile.
    let mut seen = std::collections::HashMap::<String, i64>::new();
    let responses: Vec<Value> = v3["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| {
            let mode = q["mode_target"].as_str().unwrap().to_string();
            let points = (scholar[&mode].as_f64().unwrap() * 24.0).round() as i64;
            let j = seen.entry(mode).or_insert(0);
            let score = 1 + (points + *j) / 6;
            *j += 1;
            json!({"question_id": q["id"], "score": score})
        })
        .collect();
    let applied = server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": responses, "instance_id": id}),
        )
        .await;
    assert_eq!(applied.status, StatusCode::OK, "{}", applied.text);
    assert_eq!(applied.body["instance_id"], id.as_str());
    assert_eq!(applied.body["matched_personas"][0]["id"], "persona_scholar");
    assert!(
        applied.body["matched_personas"][0]["match_score"]
            .as_f64()
            .unwrap()
            >= 0.99
    );
    let reset = server
        .post(
            &format!("/v1/instances/{id}/reset"),
            &key,
            json!({"mode": "initial"}),
        )
        .await;
    assert_eq!(
        reset.body["mode_strengths"], applied.body["mode_profile"],
        "the test result is the new initial state"
    );
}

#[tokio::test]
async fn submit_validation() {
    let server = TestServer::start(Options::admin("[tiers.free]\nrate_per_minute = 1000\n"));
    let (_, key) = server.account("free").await;
    let questions = server.get("/v1/test/questions", &key).await.body;
    let full = answers(&questions, |_| 3);
    let id = server.create_instance(&key, "t").await;

    server
        .post("/v1/test/submit", &key, json!({"responses": full}))
        .await
        .assert_error(422, "invalid_request");
    server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": full, "instance_id": id, "create_instance": true}),
        )
        .await
        .assert_error(422, "invalid_request");
    let missing = server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": full[..12].to_vec(), "instance_id": id}),
        )
        .await;
    missing.assert_error(422, "incomplete_test");
    assert_eq!(
        missing.body["details"]["missing_questions"],
        json!([13, 14])
    );
    let mut duplicate = full.clone();
    duplicate.push(full[0].clone());
    server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": duplicate, "instance_id": id}),
        )
        .await
        .assert_error(422, "invalid_request");
    let mut unknown = full.clone();
    unknown[0]["question_id"] = json!(999);
    let answer = server
        .post(
            "/v1/test/submit",
            &key,
            json!({"version": "v1", "responses": unknown, "instance_id": id}),
        )
        .await;
    answer.assert_error(422, "invalid_request");
    assert_eq!(answer.body["details"]["question_ids"], json!([999]));
    for bad in [0, 6] {
        let mut scores = full.clone();
        scores[3]["score"] = json!(bad);
        server
            .post(
                "/v1/test/submit",
                &key,
                json!({"responses": scores, "instance_id": id}),
            )
            .await
            .assert_error(422, "invalid_request");
    }
    server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": full, "instance_id": id, "version": "v7"}),
        )
        .await
        .assert_error(422, "invalid_request");
    server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": full, "instance_id": "inst_0000000000000000"}),
        )
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        server.get(&format!("/v1/instances/{id}"), &key).await.body["version"],
        1,
        "nothing applied"
    );

    // Creating through the test counts against the tier's instance limit.
    server.create_instance(&key, "t2").await;
    server.create_instance(&key, "t3").await;
    server
        .post(
            "/v1/test/submit",
            &key,
            json!({"responses": full, "create_instance": true}),
        )
        .await
        .assert_error(403, "forbidden");
}

//! `GET /v1/instances/{id}/events`: server-sent events of committed changes.
//! [`Events`] also reads a stream through a load balancer (tests/it/cluster.rs).

use std::time::Duration;

use crate::common::{ts, Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// An open event stream, read event by event.
pub(crate) struct Events {
    response: reqwest::Response,
    buffer: String,
}

/// One parsed event.
#[derive(Debug)]
pub(crate) struct Sse {
    pub name: String,
    pub id: Option<String>,
    pub data: Value,
}

impl Events {
    async fn open(
        server: &TestServer,
        id: &str,
        key: &str,
        last: Option<&str>,
    ) -> reqwest::Response {
        let mut request = server
            .client
            .get(server.url(&format!("/v1/instances/{id}/events")))
            .bearer_auth(key);
        if let Some(last) = last {
            request = request.header("last-event-id", last);
        }
        request.send().await.unwrap()
    }

    pub(crate) async fn start(
        server: &TestServer,
        id: &str,
        key: &str,
        last: Option<&str>,
    ) -> Events {
        let response = Self::open(server, id, key, last).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the stream ends.
    pub(crate) async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), None, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if name.is_empty() {
                    continue;
                }
                return Some(Sse {
                    name,
                    id,
                    data: serde_json::from_str(&data).unwrap_or(Value::Null),
                });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

fn obs(t: u64) -> Value {
    json!({"mode_target": "exploration", "signal_strength": 0.5, "timestamp": ts(t)})
}

#[tokio::test]
async fn every_committed_change_arrives_with_its_version_as_id() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "e").await;
    let mut events = Events::start(&server, &id, &key, None).await;
    let ready = events.next().await.unwrap();
    assert_eq!(
        (ready.name.as_str(), ready.id.as_deref()),
        ("ready", Some("1"))
    );
    assert_eq!(ready.data["missed"], Value::Null);

    let processed = server
        .post(&format!("/v1/instances/{id}/process"), &key, obs(1))
        .await;
    assert_eq!(processed.status, StatusCode::OK);
    let observation = events.next().await.unwrap();
    assert_eq!(observation.name, "observation");
    assert_eq!(observation.id.as_deref(), Some("2"));
    assert_eq!(observation.data["cycle_number"], 1);
    assert_eq!(
        observation.data["energy_level"],
        processed.body["snapshot"]["energy_level"]
    );
    let batch = server
        .post(
            &format!("/v1/instances/{id}/process/batch"),
            &key,
            json!({"observations": [obs(2), obs(3), obs(4)]}),
        )
        .await;
    assert_eq!(batch.status, StatusCode::OK);
    let batched = events.next().await.unwrap();
    assert_eq!(
        (
            batched.data["cycle_number"].as_u64(),
            batched.data["observations"].as_u64()
        ),
        (Some(4), Some(3))
    );

    let reset = server
        .post(&format!("/v1/instances/{id}/reset"), &key, json!({}))
        .await;
    assert_eq!(reset.status, StatusCode::OK);
    let reset_event = events.next().await.unwrap();
    assert_eq!(
        (reset_event.name.as_str(), reset_event.id.as_deref()),
        ("reset", Some("4"))
    );
    assert_eq!(reset_event.data["mode"], "initial");

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
    assert_eq!(events.next().await.unwrap().name, "deleted");
    assert!(
        events.next().await.is_none(),
        "the stream ends after deleted"
    );
}

#[tokio::test]
async fn a_reconnect_is_told_whether_it_missed_changes() {
    let server = TestServer::start(Options::default());
    let key = server.key();
    let id = server.create_instance(&key, "r").await;
    let mut caught_up = Events::start(&server, &id, &key, Some("1")).await;
    assert_eq!(caught_up.next().await.unwrap().data["missed"], false);
    server
        .post(&format!("/v1/instances/{id}/process"), &key, obs(1))
        .await;
    let mut behind = Events::start(&server, &id, &key, Some("1")).await;
    let ready = behind.next().await.unwrap();
    assert_eq!(
        (
            ready.data["missed"].as_bool(),
            ready.data["version"].as_i64()
        ),
        (Some(true), Some(2))
    );
    let bad = Events::open(&server, &id, &key, Some("yesterday")).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn streams_are_limited_per_account_and_need_the_owner() {
    let server = TestServer::start(Options::admin(
        "[server]\nmax_event_streams_per_account = 2\n",
    ));
    let key = server.key();
    let id = server.create_instance(&key, "l").await;
    let (_, other) = server.account("free").await;
    let not_found = Events::open(&server, &id, &other, None).await;
    assert_eq!(not_found.status(), StatusCode::NOT_FOUND);
    let unauthenticated = server
        .send(
            Method::GET,
            &format!("/v1/instances/{id}/events"),
            None,
            None,
            &[],
        )
        .await;
    unauthenticated.assert_error(401, "unauthorized");

    let first = Events::start(&server, &id, &key, None).await;
    let _second = Events::start(&server, &id, &key, None).await;
    let third = server
        .get(&format!("/v1/instances/{id}/events"), &key)
        .await;
    third.assert_error(429, "rate_limited");
    assert!(third.header("retry-after").is_some());
    // Another account has its own budget (its 404 above took none).
    let other_id = server.create_instance(&other, "o").await;
    let _theirs = Events::start(&server, &other_id, &other, None).await;
    drop(first);
    // The closed stream's slot comes back once the server notices.
    let mut reopened = None;
    for _ in 0..50 {
        let response = Events::open(&server, &id, &key, None).await;
        if response.status() == StatusCode::OK {
            reopened = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a closed stream frees its slot");
}

#[tokio::test]
async fn heartbeats_keep_an_idle_stream_alive() {
    let server = TestServer::start(Options::with_config("[server]\nevent_heartbeat_secs = 1\n"));
    let key = server.key();
    let id = server.create_instance(&key, "h").await;
    let mut events = Events::start(&server, &id, &key, None).await;
    events.next().await.unwrap();
    let chunk = tokio::time::timeout(Duration::from_secs(3), events.response.chunk())
        .await
        .expect("a heartbeat within 3 s")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&chunk).starts_with(':'));
}

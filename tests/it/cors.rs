//! CORS: preflights from configured origins pass, others do not; the
//! headers scripts need are exposed.

use crate::common::{Options, TestServer};
use reqwest::{Method, StatusCode};

const ALLOWED: &str = "https://app.example.test";

fn preflight(origin: &str) -> Vec<(&str, &str)> {
    vec![
        ("origin", origin),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "authorization, content-type",
        ),
    ]
}

#[tokio::test]
async fn an_allowed_origin_passes_and_another_does_not() {
    let server = TestServer::start(Options::with_config(&format!(
        "[server]\ncors_allowed_origins = [\"{ALLOWED}\"]\n"
    )));
    let ok = server
        .send(
            Method::OPTIONS,
            "/v1/instances",
            None,
            None,
            &preflight(ALLOWED),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    let methods = ok.header("access-control-allow-methods").unwrap();
    assert!(methods.contains("POST") && methods.contains("DELETE"));
    assert!(ok
        .header("access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    assert!(ok.header("access-control-allow-credentials").is_none());

    let refused = server
        .send(
            Method::OPTIONS,
            "/v1/instances",
            None,
            None,
            &preflight("https://evil.test"),
        )
        .await;
    refused.assert_error(403, "forbidden");
    assert!(refused.header("access-control-allow-origin").is_none());

    let key = server.key();
    let answer = server
        .send(
            Method::GET,
            "/v1/usage",
            Some(&key),
            None,
            &[("origin", ALLOWED)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("access-control-allow-origin").as_deref(),
        Some(ALLOWED)
    );
    let exposed = answer.header("access-control-expose-headers").unwrap();
    for name in [
        "etag",
        "retry-after",
        "x-request-id",
        "idempotent-replayed",
        "x-ratelimit-remaining",
    ] {
        assert!(exposed.contains(name), "{name} in {exposed}");
    }
    let other = server
        .send(
            Method::GET,
            "/v1/usage",
            Some(&key),
            None,
            &[("origin", "https://evil.test")],
        )
        .await;
    assert!(other.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_configuration_no_cors_headers_are_sent() {
    let server = TestServer::start(Options::default());
    let answer = server
        .send(
            Method::OPTIONS,
            "/v1/instances",
            None,
            None,
            &preflight(ALLOWED),
        )
        .await;
    assert!(answer.header("access-control-allow-origin").is_none());
    assert_ne!(answer.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_star_is_sent_as_a_star() {
    let server = TestServer::start(Options::with_config(
        "[server]\ncors_allowed_origins = [\"*\"]\n",
    ));
    let ok = server
        .send(
            Method::OPTIONS,
            "/v1/usage",
            None,
            None,
            &preflight("https://any.test"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("*")
    );
}

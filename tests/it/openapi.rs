//! `GET /openapi.json` describes exactly the routes the server serves, with
//! their security, success and error answers; `/docs` is off by default and
//! an HTML page when enabled.

use crate::common::{Options, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// How a route authenticates.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Auth {
    Public,
    ApiKey,
    Admin,
}

/// Every route of the router: method, path template, authentication.
const ROUTES: &[(&str, &str, Auth)] = &[
    ("get", "/health", Auth::Public),
    ("get", "/ready", Auth::Public),
    ("get", "/version", Auth::Public),
    ("get", "/metrics", Auth::Public),
    ("get", "/openapi.json", Auth::Public),
    ("get", "/docs", Auth::Public),
    ("post", "/v1/instances", Auth::ApiKey),
    ("get", "/v1/instances", Auth::ApiKey),
    ("get", "/v1/instances/{id}", Auth::ApiKey),
    ("patch", "/v1/instances/{id}", Auth::ApiKey),
    ("delete", "/v1/instances/{id}", Auth::ApiKey),
    ("post", "/v1/instances/{id}/process", Auth::ApiKey),
    ("post", "/v1/instances/{id}/process/batch", Auth::ApiKey),
    ("get", "/v1/instances/{id}/snapshot", Auth::ApiKey),
    ("get", "/v1/instances/{id}/contract", Auth::ApiKey),
    ("post", "/v1/instances/{id}/reset", Auth::ApiKey),
    ("get", "/v1/instances/{id}/history", Auth::ApiKey),
    ("get", "/v1/instances/{id}/drift", Auth::ApiKey),
    ("get", "/v1/instances/{id}/trajectory", Auth::ApiKey),
    ("get", "/v1/instances/{id}/events", Auth::ApiKey),
    ("get", "/v1/keys", Auth::ApiKey),
    ("post", "/v1/keys", Auth::ApiKey),
    ("delete", "/v1/keys/{id}", Auth::ApiKey),
    ("get", "/dashboard", Auth::Public),
    ("get", "/v1/personas", Auth::ApiKey),
    ("get", "/v1/personas/{id}", Auth::ApiKey),
    ("get", "/v1/test/questions", Auth::ApiKey),
    ("post", "/v1/test/submit", Auth::ApiKey),
    ("get", "/v1/usage", Auth::ApiKey),
    ("get", "/v1/billing/plans", Auth::ApiKey),
    ("post", "/v1/billing/checkout", Auth::ApiKey),
    ("post", "/v1/billing/portal", Auth::ApiKey),
    ("post", "/v1/billing/webhook", Auth::Public),
    ("post", "/v1/admin/accounts", Auth::Admin),
    ("get", "/v1/admin/accounts", Auth::Admin),
    ("patch", "/v1/admin/accounts/{id}", Auth::Admin),
    ("post", "/v1/admin/accounts/{id}/keys", Auth::Admin),
    ("delete", "/v1/admin/keys/{key_id}", Auth::Admin),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(server: &TestServer) -> Value {
    let answer = server
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/json")
    );
    assert!(answer.body.is_object(), "not JSON: {}", answer.text);
    answer.body
}

fn schema<'a>(document: &'a Value, name: &str) -> &'a Value {
    let schema = &document["components"]["schemas"][name];
    assert!(schema.is_object(), "no schema {name}");
    schema
}

#[tokio::test]
async fn the_document_covers_every_route_with_its_answers() {
    let server = TestServer::start(Options::with_config(
        "[auth]\nadmin_token = \"admin-secret\"\n",
    ));
    let doc = document(&server).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );

    // Every route is documented, with a 2xx, and 401 + security where
    // authenticated.
    for (method, path, auth) in ROUTES {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        let responses = operation["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path} has no responses"));
        assert!(
            responses.keys().any(|status| status.starts_with('2')),
            "{method} {path} documents no 2xx"
        );
        assert!(
            responses.contains_key("500"),
            "{method} {path} documents no 500"
        );
        let scheme = match auth {
            Auth::Public => None,
            Auth::ApiKey => Some("api_key"),
            Auth::Admin => Some("admin_token"),
        };
        match scheme {
            Some(scheme) => {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                assert_eq!(
                    operation["security"][0][scheme],
                    serde_json::json!([]),
                    "{method} {path} security"
                );
            }
            None => assert!(
                operation.get("security").is_none(),
                "{method} {path} is public"
            ),
        }
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/Error",
                    "{method} {path} {status} body"
                );
            }
            assert_eq!(
                response["headers"]["X-Request-Id"]["required"], true,
                "{method} {path} {status} X-Request-Id"
            );
        }
        if *auth == Auth::ApiKey {
            let ok = responses
                .iter()
                .find(|(status, _)| status.starts_with('2'))
                .map(|(_, r)| r)
                .unwrap_or(&Value::Null);
            for header in [
                "X-RateLimit-Limit",
                "X-RateLimit-Remaining",
                "X-RateLimit-Reset",
            ] {
                assert_eq!(
                    ok["headers"][header]["required"], true,
                    "{method} {path} {header}"
                );
            }
            assert!(ok["headers"]["X-Monthly-Remaining"].is_object());
            assert!(responses["429"]["headers"]["Retry-After"].is_object());
        }
    }

    // Nothing is documented that the list above does not name.
    let mut documented = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                documented += 1;
                assert!(
                    ROUTES.iter().any(|(m, p, _)| *m == method && p == path),
                    "{method} {path} is documented but not in ROUTES"
                );
            }
        }
    }
    assert_eq!(documented, ROUTES.len());

    // Every documented route is served: without credentials the public ones
    // answer, the others ask for them (never "no such route", never 405).
    for (method, path, auth) in ROUTES {
        let concrete = path
            .replace("{id}", "inst_0000000000000000")
            .replace("{key_id}", "key_0000000000000000");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let answer = server
            .send(method.clone(), &concrete, None, None, &[])
            .await;
        match auth {
            Auth::Public if *path == "/docs" => answer.assert_error(404, "not_found"),
            // This server has no Stripe keys: the webhook says so.
            Auth::Public if *path == "/v1/billing/webhook" => {
                answer.assert_error(500, "stripe_not_configured")
            }
            Auth::Public => assert_eq!(answer.status, StatusCode::OK, "{method} {path}"),
            Auth::ApiKey | Auth::Admin => answer.assert_error(401, "unauthorized"),
        }
    }
}

#[tokio::test]
async fn schemas_say_what_the_server_enforces() {
    let server = TestServer::start(Options::with_config(
        "[tiers.team]\nrate_per_minute = 600\n",
    ));
    let doc = document(&server).await;

    let error = schema(&doc, "Error");
    let required: Vec<&str> = error["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, ["error", "message", "code"]);
    assert!(error["properties"]["details"].is_object());

    // Bodies that reject unknown fields say so.
    for name in [
        "CreateInstanceRequest",
        "InitialConfigInput",
        "ProfileInput",
        "UpdateInstanceRequest",
        "Observation",
        "BatchRequest",
        "ResetRequest",
        "TestSubmission",
        "TestResponse",
        "CreateAccountRequest",
        "UpdateAccountRequest",
    ] {
        assert_eq!(
            schema(&doc, name)["additionalProperties"],
            false,
            "{name} must forbid unknown fields"
        );
    }

    // Ranges and enums come from the code.
    let observation = &schema(&doc, "Observation")["properties"];
    assert_eq!(observation["signal_strength"]["minimum"], 0);
    assert_eq!(observation["signal_strength"]["maximum"], 1);
    let modes = schema(&doc, "Mode")["enum"]
        .as_array()
        .expect("modes")
        .len();
    assert_eq!(modes, 7);
    let list = &doc["paths"]["/v1/instances"]["get"]["parameters"];
    let limit = list
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("limit parameter");
    assert_eq!(limit["schema"]["maximum"], 100);

    // Nullable fields are declared nullable.
    let view = &schema(&doc, "SnapshotView")["properties"];
    assert_eq!(
        view["persona_primary"]["type"],
        serde_json::json!(["string", "null"])
    );
    let result = &schema(&doc, "ProcessResult")["properties"];
    assert!(
        result["drift"]["oneOf"]
            .as_array()
            .is_some_and(|v| v.iter().any(|s| s["type"] == "null")),
        "{}",
        result["drift"]
    );

    // Tier names are this server's.
    let tiers = schema(&doc, "TierName")["enum"]
        .as_array()
        .expect("tiers")
        .clone();
    assert!(tiers.contains(&Value::from("team")), "{tiers:?}");
    assert!(tiers.contains(&Value::from("free")), "{tiers:?}");
}

#[tokio::test]
async fn docs_page_is_off_by_default_and_html_when_enabled() {
    let off = TestServer::start(Options::default());
    off.send(Method::GET, "/docs", None, None, &[])
        .await
        .assert_error(404, "not_found");

    // A process: this is also the one test of IDENTITY_OS_DOCS_ENABLED.
    let on = TestServer::start_process(Options {
        env: vec![("IDENTITY_OS_DOCS_ENABLED".into(), "true".into())],
        ..Options::default()
    });
    let page = on.send(Method::GET, "/docs", None, None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page
        .header("content-type")
        .is_some_and(|t| t.starts_with("text/html")));
    assert!(page.text.contains("<html"), "{}", page.text);
    assert!(page.text.contains("/openapi.json"), "{}", page.text);
}

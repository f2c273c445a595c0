//! The physical limit: a bare hyper 1 server that answers every POST with
//! a fixed ~1 KB JSON body shaped like a ProcessResult, so
//! `identity-os loadtest` runs against it unchanged and `scripts/bench`
//! can say what fraction of "HTTP alone" the real server reaches.
//!
//! Routes (just enough for the load tester):
//! - `POST /v1/instances` → 201 with a new instance id;
//! - `GET /v1/instances…` → an empty listing;
//! - `POST …/process/batch` → a one-element array of the fixed result;
//! - any other `POST` → the fixed result;
//! - anything else → 404 with an API error body.
//!
//! Usage: `cargo run --release --example bare_hyper -- --bind 127.0.0.1:0`;
//! prints `listening on http://ADDR` once ready.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A ProcessResult-shaped answer, about 1 KB.
const PROCESS_RESULT: &str = concat!(
    r#"{"snapshot":{"schema_version":"1.0","instance_id":"inst_0000000000000000","#,
    r#""snapshot_id":"snap_0000000000000000","mode_strengths":{"perception":0.1,"#,
    r#""exploration":0.25,"order":0.05,"assertion":0.0,"connection":0.12,"identity":0.08,"#,
    r#""stress_response":0.02},"stress_level":"LOW","system_state":"baseline","#,
    r#""energy_level":0.83,"stability_index":0.99,"cycle_count":1,"#,
    r#""persona_primary":"persona_explorer","persona_secondary":"persona_creative","#,
    r#""active_composites":[],"timestamp":"2030-01-01T00:00:00.000Z","version":2},"#,
    r#""contract":{"schema_version":"1.0","instance_id":"inst_0000000000000000","#,
    r#""cycle_count":1,"dominant_modes":["exploration"],"suppressed_modes":[],"#,
    r#""allowed_actions":["explore","question","suggest","pivot"],"#,
    r#""forbidden_actions":["emotional_manipulation","identity_override"],"#,
    r#""decision_style":{"tempo":"exploratory","risk":"seeking","expressiveness":"high","#,
    r#""commitment_threshold":"low"},"recovery_profile":{"preferred_path":"baseline","#,
    r#""support_required":false,"cooldown_required":false},"current_stress_level":"LOW","#,
    r#""current_system_state":"baseline","energy_level":0.83,"stability_index":0.99,"#,
    r#""drift_level":null,"drift_magnitude":null,"should_pause":false,"should_escalate":false,"#,
    r#""max_steps_remaining":null,"narrative_prompt":"You are an agent with a consistent, "#,
    r#"self-aware identity. Things are calm: work normally."},"drift":null}"#
);

/// The listing answer: no instances.
const EMPTY_LISTING: &str = r#"{"items":[],"total":0,"limit":100,"offset":0,"has_more":false}"#;

/// The answer to anything else.
const NOT_FOUND: &str = r#"{"error":"not_found","message":"no such route","code":"not_found"}"#;

fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn created_instance(n: u64) -> String {
    format!(
        r#"{{"id":"inst_{n:016x}","name":"bare","description":"","created_at":"2030-01-01T00:00:00.000Z","updated_at":"2030-01-01T00:00:00.000Z","cycle_count":0,"energy_level":0.8,"stress_level":"LOW","stability_index":1.0,"version":1}}"#
    )
}

async fn handle(
    request: Request<Incoming>,
    next_id: Arc<AtomicU64>,
    single: Bytes,
    batch: Bytes,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    // Read the whole request body, as a real handler would.
    let _ = request.into_body().collect().await;
    let response = match (method, path.as_str()) {
        (Method::POST, "/v1/instances") => json(
            StatusCode::CREATED,
            created_instance(next_id.fetch_add(1, Ordering::Relaxed)),
        ),
        (Method::GET, "/v1/instances") => json(StatusCode::OK, EMPTY_LISTING),
        (Method::POST, p) if p.ends_with("/process/batch") => json(StatusCode::OK, batch),
        (Method::POST, _) => json(StatusCode::OK, single),
        _ => json(StatusCode::NOT_FOUND, NOT_FOUND),
    };
    Ok(response)
}

fn bind_arg() -> Result<String, String> {
    let mut args = std::env::args().skip(1);
    let mut bind = "127.0.0.1:0".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().ok_or("--bind needs an address")?,
            other => return Err(format!("unknown argument {other:?} (only --bind ADDR)")),
        }
    }
    Ok(bind)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind = bind_arg()?;
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("listening on http://{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    let next_id = Arc::new(AtomicU64::new(1));
    let single = Bytes::from_static(PROCESS_RESULT.as_bytes());
    let batch = Bytes::from(format!("[{PROCESS_RESULT}]"));
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (next_id, single, batch) = (next_id.clone(), single.clone(), batch.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                handle(request, next_id.clone(), single.clone(), batch.clone())
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

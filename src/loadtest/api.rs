//! The HTTP calls the load tester makes, and the validation of every answer.
//!
//! One [`ApiClient`] (one reqwest client, one connection pool sized for the
//! concurrency) is shared by every worker, so connections are kept alive
//! and reused instead of being opened per request.

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::{Client, StatusCode};
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::time::Duration;

use super::LoadtestError;
use crate::store::Micros;
use crate::time::parse_timestamp;

/// Largest batch the server accepts (docs/api.md).
pub const MAX_BATCH: usize = 100;

/// Largest page `GET /v1/instances` returns.
const PAGE_LIMIT: usize = 100;

/// The pieces of a ProcessResult a valid answer must have; every other
/// field is skipped without being materialised. The fields are only
/// parsed, never read: parsing them is the check.
#[derive(Deserialize)]
#[allow(dead_code)]
struct ProcessResultCheck {
    snapshot: SnapshotCheck,
    contract: ContractCheck,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct SnapshotCheck {
    cycle_count: u64,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct ContractCheck {
    allowed_actions: Vec<IgnoredAny>,
}

/// The `code` of an API error body.
#[derive(Deserialize)]
struct ErrorCheck {
    code: String,
}

/// An instance as listed or created.
#[derive(Debug, Clone, Deserialize)]
pub struct InstanceInfo {
    /// `inst_…`.
    pub id: String,
    /// Cycles processed so far (0 for a fresh instance).
    #[serde(default)]
    pub cycle_count: u64,
}

#[derive(Deserialize)]
struct InstancePage {
    items: Vec<InstanceInfo>,
    #[serde(default)]
    has_more: bool,
}

#[derive(Deserialize)]
struct HistoryPage {
    items: Vec<HistoryItem>,
}

#[derive(Deserialize)]
struct HistoryItem {
    timestamp: String,
}

/// Error code recorded when the connection failed or timed out.
pub const CONNECTION_ERROR: &str = "connection_error";
/// Error code recorded when the request timed out.
pub const TIMEOUT: &str = "timeout";
/// Error code recorded when a 200 body is not a valid ProcessResult (or a
/// non-200 body has no API error `code`).
pub const MALFORMED_BODY: &str = "malformed_body";

/// What one observation request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOutcome {
    /// HTTP status, None when no response arrived.
    pub status: Option<u16>,
    /// None for a valid 200; otherwise the API error code, or one of
    /// [`CONNECTION_ERROR`], [`TIMEOUT`], [`MALFORMED_BODY`].
    pub error: Option<String>,
}

impl RequestOutcome {
    fn failed(status: Option<u16>, code: &str) -> Self {
        RequestOutcome {
            status,
            error: Some(code.to_string()),
        }
    }
}

/// A client for one server and one API key.
pub struct ApiClient {
    client: Client,
    base: String,
    auth: HeaderValue,
}

impl ApiClient {
    /// Builds the shared client: keep-alive pool of `pool` connections,
    /// no proxy (load goes straight to the target), per-request timeout.
    pub fn new(
        url: &str,
        key: &str,
        timeout: Duration,
        pool: usize,
    ) -> Result<ApiClient, LoadtestError> {
        let client = Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(pool.max(1))
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .no_proxy()
            .user_agent(concat!("identity-os-loadtest/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LoadtestError::Client(e.to_string()))?;
        let auth = HeaderValue::from_str(&format!("Bearer {}", key.trim()))
            .map_err(|_| LoadtestError::InvalidOption("--key has invalid characters".into()))?;
        Ok(ApiClient {
            client,
            base: url.trim_end_matches('/').to_string(),
            auth,
        })
    }

    /// The absolute URL of an API path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, String> {
        let response = self
            .client
            .get(self.url(path))
            .header(AUTHORIZATION, self.auth.clone())
            .send()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("GET {path}: {e}"))?;
        if status != StatusCode::OK {
            return Err(format!("GET {path}: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("GET {path}: unexpected body: {e}"))
    }

    /// `POST /v1/instances`.
    pub async fn create_instance(&self, name: &str) -> Result<InstanceInfo, String> {
        let body =
            serde_json::json!({ "name": name, "description": "created by identity-os loadtest" });
        let response = self
            .client
            .post(self.url("/v1/instances"))
            .header(AUTHORIZATION, self.auth.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("POST /v1/instances: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("POST /v1/instances: {e}"))?;
        if status != StatusCode::CREATED {
            return Err(format!("POST /v1/instances: HTTP {status}: {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("POST /v1/instances: unexpected body: {e}"))
    }

    /// Every instance of the key's account, oldest first (pages through
    /// `GET /v1/instances`), stopping once `want` are known.
    pub async fn list_instances(&self, want: usize) -> Result<Vec<InstanceInfo>, String> {
        let mut all = Vec::new();
        loop {
            let path = format!(
                "/v1/instances?limit={PAGE_LIMIT}&offset={}&sort=created_at&order=asc",
                all.len()
            );
            let page: InstancePage = self.get_json(&path).await?;
            let empty = page.items.is_empty();
            all.extend(page.items);
            if !page.has_more || empty || all.len() >= want {
                all.truncate(want);
                return Ok(all);
            }
        }
    }

    /// The newest timestamp in an instance's history, if any.
    pub async fn last_observation_at(&self, id: &str) -> Result<Option<Micros>, String> {
        let page: HistoryPage = self
            .get_json(&format!("/v1/instances/{id}/history?limit=1"))
            .await?;
        Ok(page
            .items
            .first()
            .and_then(|item| parse_timestamp(&item.timestamp)))
    }

    /// Sends one prepared observation request (`/process` or
    /// `/process/batch`) and validates the answer: a 200 whose body is a
    /// ProcessResult (or, for a batch, a non-empty array of them).
    pub async fn send_observations(&self, url: &str, body: Vec<u8>, batch: bool) -> RequestOutcome {
        let sent = self
            .client
            .post(url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_timeout() => return RequestOutcome::failed(None, TIMEOUT),
            Err(_) => return RequestOutcome::failed(None, CONNECTION_ERROR),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(e) if e.is_timeout() => return RequestOutcome::failed(Some(status), TIMEOUT),
            Err(_) => return RequestOutcome::failed(Some(status), CONNECTION_ERROR),
        };
        if status != 200 {
            return match serde_json::from_slice::<ErrorCheck>(&bytes) {
                Ok(error) => RequestOutcome::failed(Some(status), &error.code),
                Err(_) => RequestOutcome::failed(Some(status), MALFORMED_BODY),
            };
        }
        let valid = if batch {
            serde_json::from_slice::<Vec<ProcessResultCheck>>(&bytes).is_ok_and(|v| !v.is_empty())
        } else {
            serde_json::from_slice::<ProcessResultCheck>(&bytes).is_ok()
        };
        if valid {
            RequestOutcome {
                status: Some(status),
                error: None,
            }
        } else {
            RequestOutcome::failed(Some(status), MALFORMED_BODY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_result_needs_cycle_count_and_allowed_actions() {
        let good = br#"{"snapshot":{"cycle_count":3,"x":1},"contract":{"allowed_actions":["explore"]},"drift":null}"#;
        assert!(serde_json::from_slice::<ProcessResultCheck>(good).is_ok());
        let no_actions = br#"{"snapshot":{"cycle_count":3},"contract":{}}"#;
        assert!(serde_json::from_slice::<ProcessResultCheck>(no_actions).is_err());
        let no_cycle = br#"{"snapshot":{},"contract":{"allowed_actions":[]}}"#;
        assert!(serde_json::from_slice::<ProcessResultCheck>(no_cycle).is_err());
    }
}

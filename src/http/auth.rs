//! Authentication: bearer API keys for `/v1`, a separate admin token for
//! `/v1/admin`. Messages say what was wrong without echoing the key.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::accounts;

use super::error::ApiError;
use super::limits;
use super::state::{AppState, Caller};

/// The credential of an `Authorization: Bearer <credential>` header.
fn bearer(request: &Request) -> Result<&str, ApiError> {
    let header = request.headers().get(AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthorized(
            "missing Authorization header; send `Authorization: Bearer idos_sk_...`",
        )
    })?;
    let text = header
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid ASCII"))?;
    let (scheme, credential) = text.split_once(' ').unwrap_or((text, ""));
    if scheme != "Bearer" {
        let shown: String = scheme.chars().take(16).collect();
        return Err(ApiError::unauthorized(format!(
            "unsupported authorization scheme `{shown}`; use `Authorization: Bearer <key>`"
        )));
    }
    let credential = credential.trim();
    if credential.is_empty() {
        return Err(ApiError::unauthorized("the Bearer credential is empty"));
    }
    Ok(credential)
}

/// Whether `host` (a `Host` header or an origin's authority) names this
/// machine: `localhost`, `127.0.0.1` or `[::1]`, with or without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "::1"
}

/// Dev mode serves every request as the unlimited local account, so it
/// answers only requests addressed to this machine from this machine: a
/// web page elsewhere could otherwise reach it through the browser, by a
/// DNS name rebound to 127.0.0.1 (a `Host` that is not loopback) or by a
/// cross-site request (an `Origin` that is not loopback).
fn loopback_only(request: &Request) -> Result<(), ApiError> {
    let headers = request.headers();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !is_loopback_host(host) {
        return Err(ApiError::forbidden(
            "authentication is disabled (dev mode): only requests to localhost, 127.0.0.1 or [::1] are served",
        ));
    }
    if let Some(origin) = headers.get(axum::http::header::ORIGIN) {
        let authority = origin.to_str().ok().and_then(|o| {
            o.strip_prefix("http://")
                .or_else(|| o.strip_prefix("https://"))
        });
        if !authority.is_some_and(is_loopback_host) {
            return Err(ApiError::forbidden(
                "authentication is disabled (dev mode): requests from web pages of other origins are refused",
            ));
        }
    }
    Ok(())
}

/// Resolves the caller's account, stores it as a request extension and
/// runs the request under the caller's rate limit ([`limits`]): one
/// middleware for both, so the API routes cost one layer, not two.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let account = match &state.local_account {
        Some(local) => {
            if let Err(e) = loopback_only(&request) {
                return e.into_response();
            }
            local.clone()
        }
        None => {
            let key = match bearer(&request) {
                Ok(key) => key.to_string(),
                Err(e) => return e.into_response(),
            };
            match accounts::authenticate(state.store.as_ref(), &key).await {
                Ok(Ok(account)) => account,
                Ok(Err(rejection)) => return ApiError::from(rejection).into_response(),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let caller = Caller { account };
    request.extensions_mut().insert(caller.clone());
    limits::enforce_rate_limit(&state, &caller, request, next).await
}

/// Guards `/v1/admin/*`: absent (404) without a configured admin token,
/// otherwise the token must match (compared in constant time).
pub async fn require_admin_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let expected = state.config.auth.admin_token.as_bytes();
    if expected.is_empty() {
        return ApiError::not_found("no such route").into_response();
    }
    let presented = match bearer(&request) {
        Ok(token) => token.as_bytes(),
        Err(e) => return e.into_response(),
    };
    if !bool::from(presented.ct_eq(expected)) {
        return ApiError::unauthorized("invalid admin token").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::is_loopback_host;

    #[test]
    fn loopback_hosts_with_and_without_ports() {
        for host in [
            "localhost",
            "LOCALHOST:8000",
            "127.0.0.1",
            "127.0.0.1:9",
            "[::1]",
            "[::1]:8000",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "example.com",
            "127.0.0.1.evil.test",
            "localhost.evil.test:80",
            "10.0.0.1",
            "[::2]",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}

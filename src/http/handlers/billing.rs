//! `/v1/billing/*` (Stripe): checkout and customer portal for the calling
//! account, and the public webhook Stripe calls. The billing actor does
//! the Stripe work; this module is the wire contract (docs/api.md "Billing").
//!
//! Decisions where docs/api.md is silent:
//! - Stripe unset answers `500 stripe_not_configured` on all three routes,
//!   the webhook included (it cannot verify anything without a secret).
//!   A malformed body is still `422 invalid_request` first (the JSON
//!   extractor runs before the handler).
//! - Stripe failing or unreachable answers `500 internal` with a generic
//!   message; the detail goes to the log (the error table has no 502).
//! - The portal creates the account's Stripe customer if it has none, so
//!   it always answers a `portal_url`. It accepts an optional `return_url`
//!   (default `[billing] success_url`).
//! - A verified webhook body that is not an event envelope answers
//!   `422 invalid_request`; every handled, replayed, stale, unmatched or
//!   ignored event answers `200 {"received": true, "outcome": ...}`.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::actors::{BillingHandle, EventResult};
use crate::store::{Account, BillingEventOutcome};

use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{read_body, JsonBody};
use crate::http::state::{AppState, Caller};

/// Longest URL accepted for redirects.
const MAX_URL_LEN: usize = 2048;

/// `POST /v1/billing/checkout` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// A paid plan with a configured Stripe price (`indie`, `pro`).
    plan: String,
    /// Where Stripe sends the customer after paying (default `[billing] success_url`).
    #[serde(default)]
    success_url: Option<String>,
    /// Where Stripe sends the customer after cancelling (default `[billing] cancel_url`).
    #[serde(default)]
    cancel_url: Option<String>,
}

/// `POST /v1/billing/checkout` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutBody {
    /// The Stripe Checkout page to send the customer to.
    checkout_url: String,
    /// The Stripe Checkout Session id.
    session_id: String,
}

/// `POST /v1/billing/portal` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalRequest {
    /// Where the portal returns to (default `[billing] success_url`).
    #[serde(default)]
    return_url: Option<String>,
}

/// `POST /v1/billing/portal` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct PortalBody {
    /// The Stripe customer-portal page.
    portal_url: String,
}

/// `POST /v1/billing/webhook` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookBody {
    /// Always `true`.
    received: bool,
    /// The Stripe event id.
    event_id: String,
    /// `applied`, `replayed`, `stale`, `no_account` or `ignored`.
    outcome: &'static str,
}

fn billing(state: &AppState) -> ApiResult<&BillingHandle> {
    state
        .billing
        .as_ref()
        .ok_or(ApiError::stripe_not_configured())
}

/// The plans with a configured price, i.e. the ones checkout sells.
fn purchasable(state: &AppState) -> Vec<&'static str> {
    let billing = &state.config.billing;
    [
        ("indie", &billing.stripe_price_indie),
        ("pro", &billing.stripe_price_pro),
    ]
    .into_iter()
    .filter(|(_, price)| !price.is_empty())
    .map(|(plan, _)| plan)
    .collect()
}

/// An absolute http(s) URL of sane length, or an `invalid_request`.
fn redirect_url(field: &str, url: Option<String>) -> ApiResult<Option<String>> {
    let Some(url) = url else { return Ok(None) };
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let clean = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !scheme_ok || !clean || url.len() > MAX_URL_LEN {
        return Err(ApiError::invalid_field(
            field,
            format!("{field} must be an absolute http(s) URL of at most {MAX_URL_LEN} characters"),
        ));
    }
    Ok(Some(url))
}

/// Starts a Stripe Checkout (subscription mode) for the caller's account.
#[utoipa::path(
    post, path = "/v1/billing/checkout", tag = "billing", operation_id = "create_checkout",
    request_body = CheckoutRequest,
    responses(
        (status = 200, description = "A Stripe Checkout Session for the plan", body = CheckoutBody),
        (status = 422, description = "Unknown or unpriced plan (`invalid_plan`), or a bad URL / unknown field (`invalid_request`)"),
        (status = 500, description = "Billing is not configured (`stripe_not_configured`) or Stripe failed (`internal`)"),
    ),
)]
pub async fn checkout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<CheckoutRequest>,
) -> ApiResult<Json<CheckoutBody>> {
    let billing = billing(&state)?;
    let plans = purchasable(&state);
    if !plans.contains(&body.plan.as_str()) {
        let shown: String = body.plan.chars().take(32).collect();
        let choices = if plans.is_empty() {
            "no plan has a Stripe price configured (STRIPE_PRICE_INDIE / STRIPE_PRICE_PRO)".into()
        } else {
            format!("choose one of: {}", plans.join(", "))
        };
        return Err(ApiError::invalid_plan(format!(
            "plan {shown:?} cannot be bought on this server; {choices}"
        )));
    }
    let success_url = redirect_url("success_url", body.success_url)?;
    let cancel_url = redirect_url("cancel_url", body.cancel_url)?;
    let session = billing
        .checkout(
            Account::clone(&caller.account),
            body.plan,
            success_url,
            cancel_url,
        )
        .await?;
    Ok(Json(CheckoutBody {
        checkout_url: session.url,
        session_id: session.id,
    }))
}

/// Opens a Stripe customer-portal session for the caller's account.
#[utoipa::path(
    post, path = "/v1/billing/portal", tag = "billing", operation_id = "create_portal",
    request_body(content = Option<PortalRequest>, description = "Optional; an empty body is fine"),
    responses(
        (status = 200, description = "A Stripe customer-portal session", body = PortalBody),
        (status = 422, description = "A bad URL or unknown field (`invalid_request`)"),
        (status = 500, description = "Billing is not configured (`stripe_not_configured`) or Stripe failed (`internal`)"),
    ),
)]
pub async fn portal(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    JsonBody(body): JsonBody<PortalRequest>,
) -> ApiResult<Json<PortalBody>> {
    let billing = billing(&state)?;
    let return_url = redirect_url("return_url", body.return_url)?;
    let url = billing
        .portal(Account::clone(&caller.account), return_url)
        .await?;
    Ok(Json(PortalBody { portal_url: url }))
}

fn signature_header(headers: &HeaderMap) -> Option<&str> {
    // A header that is not visible ASCII reads as garbage, not as absent.
    headers
        .get("stripe-signature")
        .map(|v| v.to_str().unwrap_or(""))
}

/// Receives a Stripe event: verify the signature on the raw body, then
/// apply the event once. No bearer auth: the signature is the credential.
#[utoipa::path(
    post, path = "/v1/billing/webhook", tag = "billing", operation_id = "stripe_webhook",
    params(("Stripe-Signature" = String, Header, description = "`t=<unix>,v1=<hex HMAC-SHA256>[,v1=…]`")),
    request_body(content = Object, description = "A Stripe event, verified on its raw bytes"),
    responses(
        (status = 200, description = "Verified; applied at most once", body = WebhookBody),
        (status = 400, description = "Missing, malformed, stale or wrong `Stripe-Signature` (`webhook_verification_failed`)"),
        (status = 422, description = "A verified body that is not a Stripe event (`invalid_request`)"),
        (status = 500, description = "Billing is not configured (`stripe_not_configured`)"),
    ),
)]
pub async fn webhook(
    State(state): State<AppState>,
    request: Request,
) -> ApiResult<Json<WebhookBody>> {
    let billing = billing(&state)?;
    let signature = signature_header(request.headers()).map(str::to_owned);
    let body = read_body(request, state.config.server.body_limit_bytes).await?;
    let now = crate::time::now_micros() / 1_000_000;
    let event = billing.verify_webhook(signature.as_deref(), &body, now)?;
    let id = event.id.clone();
    let outcome = match billing.apply_event(event).await? {
        EventResult::Ignored => "ignored",
        EventResult::Handled(BillingEventOutcome::Applied { .. }) => "applied",
        EventResult::Handled(BillingEventOutcome::Replayed) => "replayed",
        EventResult::Handled(BillingEventOutcome::Stale { .. }) => "stale",
        EventResult::Handled(BillingEventOutcome::NoAccount) => "no_account",
    };
    Ok(Json(WebhookBody {
        received: true,
        event_id: id,
        outcome,
    }))
}

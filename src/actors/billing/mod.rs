//! Billing (Stripe): checkout, customer portal, verified webhooks that
//! change an account's tier.
//!
//! - [`BillingActor`] (actor.rs): the only component that talks to Stripe.
//! - [`BillingHandle`]: what the HTTP layer holds; `None` in the app state
//!   when Stripe is not configured.
//! - signature.rs: `Stripe-Signature` verification (local HMAC work, done
//!   on the request's task before anything is parsed).
//! - events.rs: which event changes what; subscription events and
//!   checkouts are decided by the subscription as fetched from Stripe
//!   (status and current price), not by the event's payload.
//! - stripe_api.rs: the Stripe requests (async-stripe).
//!
//! A tier change is one store write; authentication reloads the account on
//! every request, so the new limits apply from the caller's next request.

mod actor;
mod events;
mod signature;
mod stripe_api;

pub use actor::{BillingActor, BillingContext, BillingMessage, EventResult, Lanes};
pub use events::{PlanPrices, StripeEvent};
pub use signature::SignatureError;
pub use stripe_api::{CheckoutSession, StripeFailure};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorRef, RpcReplyPort};
use std::sync::Arc;
use std::time::Duration;

use crate::config::BillingConfig;
use crate::store::{Account, Store, StoreError};

/// How long a handler waits for the billing actor (Stripe calls included;
/// each Stripe attempt is bounded by its own, shorter timeout).
const CALL_TIMEOUT: Duration = Duration::from_secs(40);

/// Why a billing request failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The plan is not one this server sells (no configured price).
    #[error("plan {0:?} cannot be bought on this server")]
    InvalidPlan(String),
    /// Stripe refused or could not be reached.
    #[error(transparent)]
    Stripe(#[from] StripeFailure),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The billing actor is gone or did not answer in time.
    #[error("the billing actor did not answer")]
    Unavailable,
}

/// Why a webhook request was refused before reaching the actor.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Correctly signed, but not a Stripe event envelope.
    #[error("the payload is not a Stripe event (JSON object with string `id` and `type`)")]
    NotAnEvent,
}

/// Cloneable handle to the running billing actor.
#[derive(Clone)]
pub struct BillingHandle {
    actor: ActorRef<BillingMessage>,
    webhook_secret: Arc<str>,
}

impl BillingHandle {
    /// Starts the billing actor, or returns `None` when Stripe is not
    /// configured (secret key or webhook secret unset): billing routes then
    /// answer `stripe_not_configured` and nothing else is affected.
    pub async fn start(
        config: &BillingConfig,
        store: Arc<dyn Store>,
    ) -> Result<Option<BillingHandle>, String> {
        if config.stripe_secret_key.is_empty() || config.stripe_webhook_secret.is_empty() {
            tracing::info!("billing disabled: STRIPE_SECRET_KEY / STRIPE_WEBHOOK_SECRET unset");
            return Ok(None);
        }
        let stripe = stripe_api::StripeApi::new(&config.stripe_secret_key, &config.stripe_api_base)
            .map_err(|e| format!("billing.stripe_api_base: {e}"))?;
        let prices = [
            ("indie", &config.stripe_price_indie),
            ("pro", &config.stripe_price_pro),
        ];
        let plans = PlanPrices {
            prices: prices
                .into_iter()
                .filter(|(_, price)| !price.is_empty())
                .map(|(plan, price)| (plan.to_owned(), price.clone()))
                .collect(),
        };
        let context = Arc::new(BillingContext {
            stripe,
            store,
            plans,
            success_url: config.success_url.clone(),
            cancel_url: config.cancel_url.clone(),
            lanes: Lanes::new(),
        });
        let (actor, _) = Actor::spawn(None, BillingActor, context)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(api_base = %config.stripe_api_base, "billing enabled");
        Ok(Some(BillingHandle {
            actor,
            webhook_secret: Arc::from(config.stripe_webhook_secret.as_str()),
        }))
    }

    async fn call<T: Send + 'static>(
        &self,
        message: impl FnOnce(RpcReplyPort<Result<T, BillingError>>) -> BillingMessage,
    ) -> Result<T, BillingError> {
        match self.actor.call(message, Some(CALL_TIMEOUT)).await {
            Ok(CallResult::Success(result)) => result,
            Ok(CallResult::Timeout) | Ok(CallResult::SenderError) | Err(_) => {
                Err(BillingError::Unavailable)
            }
        }
    }

    /// A Checkout Session for `plan`, linked to the account.
    pub async fn checkout(
        &self,
        account: Account,
        plan: String,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Result<CheckoutSession, BillingError> {
        self.call(|reply| BillingMessage::CreateCheckout {
            account,
            plan,
            success_url,
            cancel_url,
            reply,
        })
        .await
    }

    /// The URL of a customer-portal session for the account.
    pub async fn portal(
        &self,
        account: Account,
        return_url: Option<String>,
    ) -> Result<String, BillingError> {
        self.call(|reply| BillingMessage::CreatePortal {
            account,
            return_url,
            reply,
        })
        .await
    }

    /// Verifies the signature of a webhook body (raw bytes, before any
    /// parsing), then reads the event envelope.
    pub fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<StripeEvent, WebhookError> {
        signature::verify(signature, body, &self.webhook_secret, now_secs)?;
        StripeEvent::parse(body).ok_or(WebhookError::NotAnEvent)
    }

    /// Applies a verified event (at most once per event id). Fails with
    /// [`BillingError::Stripe`] when the event's subscription cannot be
    /// fetched: the event is then not recorded, and the webhook's 5xx makes
    /// Stripe deliver it again.
    pub async fn apply_event(&self, event: StripeEvent) -> Result<EventResult, BillingError> {
        self.call(|reply| BillingMessage::ApplyEvent { event, reply })
            .await
    }

    /// Stops the actor (at shutdown).
    pub fn stop(&self) {
        self.actor.stop(None);
    }
}

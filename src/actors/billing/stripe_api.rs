//! The Stripe calls billing makes, over async-stripe (1.0 line: the typed
//! request builders do the form encoding Stripe expects, e.g.
//! `line_items[0][price]`, `metadata[account_id]`): create a customer, a
//! Checkout Session and a portal session, and retrieve a subscription
//! (what webhook events are checked against).
//!
//! The API base URL is configurable (`[billing] stripe_api_base`,
//! `STRIPE_API_BASE`) so tests can point the client at a local fake; the
//! connector speaks TLS to `https` and plain HTTP to `http` bases.

use std::collections::HashMap;
use std::time::Duration;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionLineItems, CreateCheckoutSessionSubscriptionData,
};
use stripe_checkout::CheckoutSessionMode;
use stripe_core::customer::CreateCustomer;

use super::events::FetchedSubscription;

/// Per-attempt timeout of a Stripe request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Attempts for session creation (retries reuse one idempotency key, so a
/// retried POST never creates two sessions).
const ATTEMPTS: u32 = 2;

/// Per-attempt timeout of retrieving a subscription while a webhook waits:
/// two attempts stay well inside the time Stripe gives a webhook to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A Stripe call that failed; the detail is for the log, not the client.
#[derive(Debug, thiserror::Error)]
#[error("stripe request failed: {0}")]
pub struct StripeFailure(String);

impl From<StripeError> for StripeFailure {
    fn from(error: StripeError) -> Self {
        let detail = match error {
            StripeError::Stripe(api, status) => format!(
                "status {status}: {} (param {:?}, code {:?})",
                api.message.as_deref().unwrap_or("no message"),
                api.param,
                api.code
            ),
            other => other.to_string(),
        };
        StripeFailure(detail)
    }
}

/// A created Checkout Session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    pub id: String,
    pub url: String,
}

/// What a checkout needs to know.
#[derive(Debug, Clone)]
pub struct CheckoutParams<'a> {
    pub account_id: &'a str,
    pub customer_id: &'a str,
    pub plan: &'a str,
    pub price_id: &'a str,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
}

/// A configured Stripe client (cheap to clone).
#[derive(Clone, Debug)]
pub struct StripeApi {
    client: Client,
}

impl StripeApi {
    /// A client for `secret_key` against `api_base` (e.g.
    /// `https://api.stripe.com`).
    pub fn new(secret_key: &str, api_base: &str) -> Result<StripeApi, StripeFailure> {
        // The client appends `v1/...` to the base: it must end with a slash.
        let base = format!("{}/", api_base.trim_end_matches('/'));
        let client = ClientBuilder::new(secret_key)
            .url(base)
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(StripeApi { client })
    }

    fn link_metadata(account_id: &str, plan: Option<&str>) -> HashMap<String, String> {
        let mut metadata = HashMap::from([("account_id".to_owned(), account_id.to_owned())]);
        if let Some(plan) = plan {
            metadata.insert("plan".to_owned(), plan.to_owned());
        }
        metadata
    }

    /// Creates the Stripe customer of an account. The idempotency key is
    /// derived from the account, so two concurrent first checkouts of one
    /// account get the same customer rather than two.
    pub async fn create_customer(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<String, StripeFailure> {
        let key = IdempotencyKey::new(format!("identity-os-customer-{account_id}"))
            .map_err(|e| StripeFailure(e.to_string()))?;
        let customer = CreateCustomer::new()
            .name(name)
            .metadata(Self::link_metadata(account_id, None))
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(&self.client)
            .await?;
        Ok(customer.id.as_str().to_owned())
    }

    /// Creates a subscription-mode Checkout Session linked to the account.
    pub async fn create_checkout_session(
        &self,
        params: CheckoutParams<'_>,
    ) -> Result<CheckoutSession, StripeFailure> {
        let metadata = Self::link_metadata(params.account_id, Some(params.plan));
        let mut item = CreateCheckoutSessionLineItems::new();
        item.price = Some(params.price_id.to_owned());
        item.quantity = Some(1);
        let mut subscription = CreateCheckoutSessionSubscriptionData::new();
        subscription.metadata = Some(metadata.clone());
        let session = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Subscription)
            .line_items(vec![item])
            .customer(params.customer_id)
            .client_reference_id(params.account_id)
            .metadata(metadata)
            .subscription_data(subscription)
            .success_url(params.success_url)
            .cancel_url(params.cancel_url)
            .customize()
            .request_strategy(RequestStrategy::Retry(ATTEMPTS))
            .send(&self.client)
            .await?;
        let url = session
            .url
            .ok_or_else(|| StripeFailure("the checkout session has no url".into()))?;
        Ok(CheckoutSession {
            id: session.id.as_str().to_owned(),
            url,
        })
    }

    /// Retrieves a subscription as Stripe has it now
    /// (`GET /v1/subscriptions/{id}`), reduced to what billing decides on.
    /// A GET changes nothing, so it is retried on transient failures.
    pub async fn retrieve_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<FetchedSubscription, StripeFailure> {
        let subscription = RetrieveSubscription::new(subscription_id)
            .customize()
            .request_strategy(RequestStrategy::Retry(ATTEMPTS))
            .timeout(FETCH_TIMEOUT)
            .send(&self.client)
            .await?;
        let fetched = FetchedSubscription {
            id: subscription.id.as_str().to_owned(),
            customer_id: subscription.customer.id().as_str().to_owned(),
            status: subscription.status.as_str().to_owned(),
            price_ids: subscription
                .items
                .data
                .iter()
                .map(|item| item.price.id.as_str().to_owned())
                .collect(),
            account_id: subscription.metadata.get("account_id").cloned(),
            plan: subscription.metadata.get("plan").cloned(),
        };
        if fetched.id != subscription_id {
            return Err(StripeFailure(format!(
                "asked for subscription {subscription_id}, got {}",
                fetched.id
            )));
        }
        Ok(fetched)
    }

    /// Creates a customer-portal session; returns its URL.
    pub async fn create_portal_session(
        &self,
        customer_id: &str,
        return_url: &str,
    ) -> Result<String, StripeFailure> {
        let session = CreateBillingPortalSession::new()
            .customer(customer_id)
            .return_url(return_url)
            .customize()
            .request_strategy(RequestStrategy::Retry(ATTEMPTS))
            .send(&self.client)
            .await?;
        Ok(session.url)
    }
}

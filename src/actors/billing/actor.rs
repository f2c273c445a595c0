//! The billing actor: the only component that talks to Stripe.
//!
//! It owns the Stripe client and the plan/price table. Webhook events are
//! applied inline (one store transaction each, so they answer fast and in
//! arrival order). Stripe calls run in tasks the actor spawns, so a slow
//! Stripe never holds up the mailbox (and with it the webhooks); each
//! spawned call answers its own reply port.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::sync::Arc;

use crate::store::{Account, BillingEventOutcome, Store, StoreError};

use super::events::{interpret, Action, PlanPrices, StripeEvent};
use super::stripe_api::{CheckoutParams, CheckoutSession, StripeApi};
use super::BillingError;

/// What happened to a webhook event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventResult {
    /// An event type billing does not handle.
    Ignored,
    /// Handled: applied, replayed, stale or without account.
    Handled(BillingEventOutcome),
}

/// Messages of the billing actor.
pub enum BillingMessage {
    /// Creates a Checkout Session for `plan` (creating the account's Stripe
    /// customer first if it has none).
    CreateCheckout {
        account: Account,
        plan: String,
        success_url: Option<String>,
        cancel_url: Option<String>,
        reply: RpcReplyPort<Result<CheckoutSession, BillingError>>,
    },
    /// Creates a customer-portal session; replies with its URL.
    CreatePortal {
        account: Account,
        return_url: Option<String>,
        reply: RpcReplyPort<Result<String, BillingError>>,
    },
    /// Applies a verified webhook event.
    ApplyEvent {
        event: StripeEvent,
        reply: RpcReplyPort<Result<EventResult, BillingError>>,
    },
}

/// What the actor owns: the Stripe client and the billing settings.
pub struct BillingContext {
    pub stripe: StripeApi,
    pub store: Arc<dyn Store>,
    pub plans: PlanPrices,
    pub success_url: String,
    pub cancel_url: String,
}

impl BillingContext {
    /// The account's Stripe customer, created and remembered on first use.
    async fn customer_of(&self, account: &Account) -> Result<String, BillingError> {
        if let Some(existing) = self
            .store
            .billing_info(&account.id)
            .await?
            .and_then(|info| info.stripe_customer_id)
        {
            return Ok(existing);
        }
        let created = self
            .stripe
            .create_customer(&account.id, &account.name)
            .await?;
        Ok(self
            .store
            .link_stripe_customer(&account.id, &created)
            .await?)
    }

    async fn checkout(
        &self,
        account: Account,
        plan: String,
        price: String,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Result<CheckoutSession, BillingError> {
        let customer = self.customer_of(&account).await?;
        let session = self
            .stripe
            .create_checkout_session(CheckoutParams {
                account_id: &account.id,
                customer_id: &customer,
                plan: &plan,
                price_id: &price,
                success_url: success_url.as_deref().unwrap_or(&self.success_url),
                cancel_url: cancel_url.as_deref().unwrap_or(&self.cancel_url),
            })
            .await?;
        tracing::info!(account = %account.id, plan, session = %session.id, "stripe checkout session created");
        Ok(session)
    }

    async fn portal(
        &self,
        account: Account,
        return_url: Option<String>,
    ) -> Result<String, BillingError> {
        let customer = self.customer_of(&account).await?;
        let return_url = return_url.as_deref().unwrap_or(&self.success_url);
        Ok(self
            .stripe
            .create_portal_session(&customer, return_url)
            .await?)
    }

    async fn apply(&self, event: &StripeEvent) -> Result<EventResult, StoreError> {
        let (account_id, change) = match interpret(event, &self.plans) {
            Action::Ignore => {
                tracing::debug!(event = %event.id, kind = %event.event_type, "stripe event ignored");
                return Ok(EventResult::Ignored);
            }
            Action::Apply { account_id, change } => (account_id, change),
        };
        let outcome = self
            .store
            .apply_billing_event(&event.id, &event.event_type, account_id.as_deref(), &change)
            .await?;
        match &outcome {
            BillingEventOutcome::NoAccount => {
                tracing::warn!(event = %event.id, kind = %event.event_type, "stripe event matches no account")
            }
            other => {
                tracing::info!(event = %event.id, kind = %event.event_type, tier = ?change.tier, outcome = ?other, "stripe event processed")
            }
        }
        Ok(EventResult::Handled(outcome))
    }
}

/// The actor's behaviour; its state is the shared [`BillingContext`].
pub struct BillingActor;

impl Actor for BillingActor {
    type Msg = BillingMessage;
    type State = Arc<BillingContext>;
    type Arguments = Arc<BillingContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        context: Arc<BillingContext>,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(context)
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        context: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BillingMessage::CreateCheckout {
                account,
                plan,
                success_url,
                cancel_url,
                reply,
            } => {
                let Some(price) = context.plans.price_of(&plan).map(str::to_owned) else {
                    let _ = reply.send(Err(BillingError::InvalidPlan(plan)));
                    return Ok(());
                };
                let context = Arc::clone(context);
                tokio::spawn(async move {
                    let result = context
                        .checkout(account, plan, price, success_url, cancel_url)
                        .await;
                    let _ = reply.send(result);
                });
            }
            BillingMessage::CreatePortal {
                account,
                return_url,
                reply,
            } => {
                let context = Arc::clone(context);
                tokio::spawn(async move {
                    let _ = reply.send(context.portal(account, return_url).await);
                });
            }
            BillingMessage::ApplyEvent { event, reply } => {
                let result = context.apply(&event).await.map_err(BillingError::from);
                let _ = reply.send(result);
            }
        }
        Ok(())
    }
}

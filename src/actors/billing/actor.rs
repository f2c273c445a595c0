//! The billing actor: the only component that talks to Stripe.
//!
//! It owns the Stripe client and the plan/price table. Every Stripe call
//! runs in a task the actor spawns, so a slow Stripe never holds up the
//! mailbox; each spawned task answers its own reply port. Webhook events
//! that may be stale or out of order are checked against the subscription
//! as Stripe has it now (fetched, then applied in one store transaction);
//! the events of one subscription go through one lane at a time, so each
//! applies a fetch made after the previous one was committed.

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::Arc;
use tokio::sync::{Mutex, MutexGuard};

use crate::store::{Account, BillingChange, BillingEventOutcome, Store};

use super::events::{interpret, Action, PlanPrices, StripeEvent, Verify};
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
    pub lanes: Lanes,
}

/// Serialises the webhook events of one subscription (fetch, then commit)
/// while events of other subscriptions proceed: a fixed set of locks, a
/// subscription id always hashing to the same one.
pub struct Lanes {
    locks: Vec<Mutex<()>>,
}

impl Lanes {
    const COUNT: usize = 64;

    pub fn new() -> Lanes {
        Lanes {
            locks: (0..Self::COUNT).map(|_| Mutex::new(())).collect(),
        }
    }

    /// The lane of `subscription_id`, held until the guard drops.
    async fn enter(&self, subscription_id: &str) -> MutexGuard<'_, ()> {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(subscription_id);
        // The modulo keeps the index below COUNT, so it fits a usize.
        let index = (hash % Self::COUNT as u64) as usize;
        self.locks[index].lock().await
    }
}

impl Default for Lanes {
    fn default() -> Self {
        Lanes::new()
    }
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

    async fn apply(&self, event: &StripeEvent) -> Result<EventResult, BillingError> {
        match interpret(event, &self.plans) {
            Action::Ignore => {
                tracing::debug!(event = %event.id, kind = %event.event_type, "stripe event ignored");
                Ok(EventResult::Ignored)
            }
            Action::Apply { account_id, change } => {
                let _lane = match change.subscription_id.as_deref() {
                    Some(subscription) => Some(self.lanes.enter(subscription).await),
                    None => None,
                };
                self.record(event, account_id.as_deref(), &change).await
            }
            Action::Verify(verify) => {
                let _lane = self.lanes.enter(&verify.subscription_id).await;
                self.verify_and_record(event, &verify).await
            }
        }
    }

    /// Fetches the event's subscription and applies what Stripe says of
    /// it. A failed fetch fails the webhook (5xx, event id not recorded),
    /// so Stripe delivers it again later.
    async fn verify_and_record(
        &self,
        event: &StripeEvent,
        verify: &Verify,
    ) -> Result<EventResult, BillingError> {
        if !self.matches_an_account(verify).await? {
            // Nothing here to change (e.g. a Stripe account shared with
            // other products): recorded without asking Stripe.
            let (account_id, change) = verify.unverified();
            return self.record(event, account_id.as_deref(), &change).await;
        }
        let fetched = match self
            .stripe
            .retrieve_subscription(&verify.subscription_id)
            .await
        {
            Ok(fetched) => fetched,
            Err(error) => {
                tracing::warn!(event = %event.id, kind = %event.event_type,
                    subscription = %verify.subscription_id, %error,
                    "stripe subscription fetch failed; the webhook answers 500 so Stripe retries");
                return Err(error.into());
            }
        };
        let (account_id, change) = verify.with(&fetched, &self.plans);
        self.record(event, account_id.as_deref(), &change).await
    }

    /// Whether the account the event names, or the owner of its customer,
    /// exists.
    async fn matches_an_account(&self, verify: &Verify) -> Result<bool, BillingError> {
        if let Some(account) = verify.account_id.as_deref() {
            if self.store.get_account(account).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(match verify.customer_id.as_deref() {
            Some(customer) => self
                .store
                .find_account_by_stripe_customer(customer)
                .await?
                .is_some(),
            None => false,
        })
    }

    /// Records the event id and applies the change, in one transaction.
    async fn record(
        &self,
        event: &StripeEvent,
        account_id: Option<&str>,
        change: &BillingChange,
    ) -> Result<EventResult, BillingError> {
        let outcome = self
            .store
            .apply_billing_event(&event.id, &event.event_type, account_id, change)
            .await?;
        match &outcome {
            BillingEventOutcome::NoAccount => {
                tracing::warn!(event = %event.id, kind = %event.event_type, "stripe event matches no account")
            }
            other => {
                tracing::info!(event = %event.id, kind = %event.event_type, tier = ?change.tier,
                    status = ?change.subscription_status, verified = change.verified,
                    outcome = ?other, "stripe event processed")
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
                let context = Arc::clone(context);
                tokio::spawn(async move {
                    let _ = reply.send(context.apply(&event).await);
                });
            }
        }
        Ok(())
    }
}

//! Webhook events: from verified JSON to what billing does with them.
//!
//! Only the fields billing needs are read, leniently (a field of an
//! unexpected shape counts as absent), so Stripe API version changes that
//! add or move unrelated fields cannot break the endpoint.
//!
//! An event's payload may be stale: Stripe delivers out of order, and
//! `created` has one-second resolution. So subscription events and
//! checkouts are not decided here from the payload but from the
//! subscription as fetched from Stripe ([`Action::Verify`], then
//! [`Verify::with`]): its status and its current price, never
//! `metadata.plan` when a price is known.

use serde_json::Value;

use crate::store::BillingChange;

/// The plans that can be bought, with their Stripe price ids.
#[derive(Debug, Clone, Default)]
pub struct PlanPrices {
    /// `(plan, price id)`; only plans with a configured price.
    pub prices: Vec<(String, String)>,
}

impl PlanPrices {
    /// The price of a purchasable plan.
    pub fn price_of(&self, plan: &str) -> Option<&str> {
        self.prices
            .iter()
            .find(|(p, _)| p == plan)
            .map(|(_, price)| price.as_str())
    }

    /// The plan sold at this price.
    pub fn plan_of_price(&self, price: &str) -> Option<&str> {
        self.prices
            .iter()
            .find(|(_, p)| p == price)
            .map(|(plan, _)| plan.as_str())
    }
}

/// A verified webhook event, reduced to its envelope and object.
#[derive(Debug, Clone)]
pub struct StripeEvent {
    pub id: String,
    pub event_type: String,
    /// Unix seconds (0 when absent).
    pub created: i64,
    /// `data.object`.
    pub object: Value,
}

impl StripeEvent {
    /// Parses the envelope; `None` unless the body is a JSON object with a
    /// string `id` and `type`.
    pub fn parse(body: &[u8]) -> Option<StripeEvent> {
        let value: Value = serde_json::from_slice(body).ok()?;
        Some(StripeEvent {
            id: value.get("id")?.as_str()?.to_owned(),
            event_type: value.get("type")?.as_str()?.to_owned(),
            created: value.get("created").and_then(Value::as_i64).unwrap_or(0),
            object: value
                .get("data")
                .and_then(|d| d.get("object"))
                .cloned()
                .unwrap_or(Value::Null),
        })
    }
}

/// A subscription as Stripe reports it when asked for it
/// (`GET /v1/subscriptions/{id}`): the fields billing decides on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchedSubscription {
    pub id: String,
    pub customer_id: String,
    /// `active`, `trialing`, `past_due`, `canceled`, ...
    pub status: String,
    /// The price ids of its items, in order: what the customer pays now.
    pub price_ids: Vec<String>,
    /// `metadata.account_id`.
    pub account_id: Option<String>,
    /// `metadata.plan` (what was bought at checkout; used only when the
    /// subscription shows no price at all).
    pub plan: Option<String>,
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the event id and apply the change to the account named by
    /// `account_id` (or the owner of `change.customer_id`).
    Apply {
        account_id: Option<String>,
        change: BillingChange,
    },
    /// The event may be stale or out of order: fetch its subscription from
    /// Stripe, then apply what the fetched subscription says
    /// ([`Verify::with`]).
    Verify(Verify),
    /// An event type billing does not handle: answered 200, not recorded.
    Ignore,
}

/// An event whose effect is decided by its subscription as fetched.
#[derive(Debug, Clone, PartialEq)]
pub struct Verify {
    pub subscription_id: String,
    /// The account the event names (`metadata.account_id`,
    /// `client_reference_id`).
    pub account_id: Option<String>,
    /// The event's customer.
    pub customer_id: Option<String>,
    /// False for a checkout whose payment is not complete: the link
    /// (customer, subscription, status) is recorded, the tier is not
    /// granted.
    pub may_grant: bool,
    pub event_created: i64,
}

impl Verify {
    /// The change without asking Stripe, for an event no account matches
    /// (recorded as such; it carries no status and no tier).
    pub fn unverified(&self) -> (Option<String>, BillingChange) {
        let change = BillingChange {
            customer_id: self.customer_id.clone(),
            subscription_id: Some(self.subscription_id.clone()),
            event_created: self.event_created,
            ..BillingChange::default()
        };
        (self.account_id.clone(), change)
    }

    /// The change the fetched subscription makes: its status, and the tier
    /// of its current price, never the event's payload.
    pub fn with(
        &self,
        fetched: &FetchedSubscription,
        plans: &PlanPrices,
    ) -> (Option<String>, BillingChange) {
        let (tier, live) = tier_of_subscription(fetched, plans);
        let change = BillingChange {
            customer_id: Some(fetched.customer_id.clone())
                .filter(|c| !c.is_empty())
                .or_else(|| self.customer_id.clone()),
            subscription_id: Some(fetched.id.clone()),
            subscription_status: Some(fetched.status.clone()).filter(|s| !s.is_empty()),
            tier: if self.may_grant { tier } else { None },
            switches_subscription: live && self.may_grant,
            event_created: self.event_created,
            verified: true,
        };
        let account_id = self
            .account_id
            .clone()
            .or_else(|| fetched.account_id.clone());
        (account_id, change)
    }
}

/// Statuses in which the subscription is paid for.
pub fn is_live(status: &str) -> bool {
    matches!(status, "active" | "trialing")
}

/// The tier a subscription gives and whether it is live (paid for):
/// `active`/`trialing` → the plan of its current price (`None` if no
/// configured price matches); `canceled`/`unpaid`/`incomplete_expired`/
/// `paused` → `free`; other statuses (`past_due`, `incomplete`) keep the
/// tier.
pub fn tier_of_subscription(
    subscription: &FetchedSubscription,
    plans: &PlanPrices,
) -> (Option<String>, bool) {
    match subscription.status.as_str() {
        status if is_live(status) => {
            let tier = if subscription.price_ids.is_empty() {
                subscription
                    .plan
                    .as_deref()
                    .filter(|p| plans.price_of(p).is_some())
                    .map(str::to_owned)
            } else {
                subscription
                    .price_ids
                    .iter()
                    .find_map(|price| plans.plan_of_price(price))
                    .map(str::to_owned)
            };
            (tier, true)
        }
        "canceled" | "unpaid" | "incomplete_expired" | "paused" => (Some("free".into()), false),
        _ => (None, false),
    }
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().filter(|s| !s.is_empty())
}

/// An id field that may also arrive expanded (`{"id": ...}`).
fn id_of(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id")?.as_str().map(str::to_owned),
        _ => None,
    }
}

/// The metadata billing wrote, wherever this object carries it (invoices
/// carry their subscription's metadata under `subscription_details`, in
/// newer API versions under `parent.subscription_details`).
fn metadata<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    text(object, &["metadata", key])
        .or_else(|| text(object, &["subscription_details", "metadata", key]))
        .or_else(|| text(object, &["parent", "subscription_details", "metadata", key]))
}

/// Whether a Checkout Session's payment is done (`payment_status`).
fn checkout_paid(session: &Value) -> bool {
    matches!(
        text(session, &["payment_status"]),
        Some("paid" | "no_payment_required")
    )
}

/// Decides what an event does. See docs/api.md "Billing (Stripe)".
pub fn interpret(event: &StripeEvent, plans: &PlanPrices) -> Action {
    let object = &event.object;
    let account_id = metadata(object, "account_id")
        .or_else(|| text(object, &["client_reference_id"]))
        .map(str::to_owned);
    let customer_id = id_of(object, "customer");
    let kind = event.event_type.as_str();
    let verify = |subscription_id: String, may_grant: bool| {
        Action::Verify(Verify {
            subscription_id,
            account_id: account_id.clone(),
            customer_id: customer_id.clone(),
            may_grant,
            event_created: event.created,
        })
    };
    match kind {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            if text(object, &["mode"]).is_some_and(|m| m != "subscription") {
                return Action::Ignore;
            }
            let paid = checkout_paid(object);
            if let Some(subscription) = id_of(object, "subscription") {
                return verify(subscription, paid);
            }
            // No subscription to ask about: the session is all there is.
            let change = BillingChange {
                customer_id,
                tier: metadata(object, "plan")
                    .filter(|p| paid && plans.price_of(p).is_some())
                    .map(str::to_owned),
                switches_subscription: paid,
                event_created: event.created,
                ..BillingChange::default()
            };
            Action::Apply { account_id, change }
        }
        _ if kind.starts_with("customer.subscription.") => match id_of(object, "id") {
            Some(subscription) => verify(subscription, true),
            None => Action::Ignore,
        },
        "invoice.payment_failed" => {
            let change = BillingChange {
                customer_id,
                subscription_id: id_of(object, "subscription").or_else(|| {
                    object
                        .get("parent")
                        .and_then(|p| p.get("subscription_details"))
                        .and_then(|d| id_of(d, "subscription"))
                }),
                subscription_status: Some("past_due".into()),
                event_created: event.created,
                ..BillingChange::default()
            };
            Action::Apply { account_id, change }
        }
        _ => Action::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plans() -> PlanPrices {
        PlanPrices {
            prices: vec![
                ("indie".into(), "price_indie".into()),
                ("pro".into(), "price_pro".into()),
            ],
        }
    }

    fn event(kind: &str, object: Value) -> StripeEvent {
        StripeEvent {
            id: "evt_1".into(),
            event_type: kind.into(),
            created: 10,
            object,
        }
    }

    fn applied(action: Action) -> (Option<String>, BillingChange) {
        match action {
            Action::Apply { account_id, change } => (account_id, change),
            other => panic!("expected Apply, got {other:?}"),
        }
    }

    fn verify(action: Action) -> Verify {
        match action {
            Action::Verify(verify) => verify,
            other => panic!("expected Verify, got {other:?}"),
        }
    }

    fn fetched(status: &str, prices: &[&str]) -> FetchedSubscription {
        FetchedSubscription {
            id: "sub_1".into(),
            customer_id: "cus_1".into(),
            status: status.into(),
            price_ids: prices.iter().map(|p| p.to_string()).collect(),
            account_id: Some("acct_meta".into()),
            plan: Some("pro".into()),
        }
    }

    fn checkout(payment_status: &str) -> StripeEvent {
        event(
            "checkout.session.completed",
            json!({"mode": "subscription", "customer": "cus_1", "subscription": "sub_1",
                   "client_reference_id": "acct_b", "payment_status": payment_status,
                   "metadata": {"account_id": "acct_a", "plan": "pro"}}),
        )
    }

    fn subscription_payload(status: &str, price: &str) -> Value {
        json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": status,
               "metadata": {"account_id": "acct_a", "plan": "pro"},
               "items": {"data": [{"price": {"id": price}}]}})
    }

    #[test]
    fn a_paid_checkout_is_verified_and_grants_the_fetched_price() {
        let v = verify(interpret(&checkout("paid"), &plans()));
        assert_eq!(v.subscription_id, "sub_1");
        assert_eq!(v.account_id.as_deref(), Some("acct_a"));
        assert_eq!(v.customer_id.as_deref(), Some("cus_1"));
        assert!(v.may_grant);
        // The price says indie: metadata.plan (pro) does not count.
        let (account, change) = v.with(&fetched("active", &["price_indie"]), &plans());
        assert_eq!(account.as_deref(), Some("acct_a"));
        assert_eq!(change.tier.as_deref(), Some("indie"));
        assert_eq!(change.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!(change.subscription_status.as_deref(), Some("active"));
        assert_eq!(change.customer_id.as_deref(), Some("cus_1"));
        assert!(change.switches_subscription && change.verified);
        assert_eq!(change.event_created, 10);
        // No payment needed (a free trial, a 100 % coupon): granted too.
        assert!(verify(interpret(&checkout("no_payment_required"), &plans())).may_grant);
    }

    #[test]
    fn an_unpaid_checkout_records_the_link_but_grants_nothing() {
        let v = verify(interpret(&checkout("unpaid"), &plans()));
        assert!(!v.may_grant);
        let (account, change) = v.with(&fetched("active", &["price_pro"]), &plans());
        assert_eq!(account.as_deref(), Some("acct_a"));
        assert_eq!(change.tier, None);
        assert!(!change.switches_subscription);
        assert_eq!(change.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(change.subscription_id.as_deref(), Some("sub_1"));
        // A missing payment_status is not a payment either.
        let mut e = checkout("paid");
        e.object.as_object_mut().unwrap().remove("payment_status");
        assert!(!verify(interpret(&e, &plans())).may_grant);
        // The async payment succeeding later grants it.
        let mut later = checkout("paid");
        later.event_type = "checkout.session.async_payment_succeeded".into();
        let v = verify(interpret(&later, &plans()));
        assert!(v.may_grant);
        let (_, change) = v.with(&fetched("active", &["price_pro"]), &plans());
        assert_eq!(change.tier.as_deref(), Some("pro"));
    }

    #[test]
    fn every_subscription_event_is_decided_by_the_fetched_subscription() {
        for kind in [
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
            "customer.subscription.paused",
            "customer.subscription.resumed",
        ] {
            // The payload claims active pro; the fetched state decides.
            let v = verify(interpret(
                &event(kind, subscription_payload("active", "price_pro")),
                &plans(),
            ));
            assert_eq!(v.subscription_id, "sub_1", "{kind}");
            assert!(v.may_grant, "{kind}");
            let (_, change) = v.with(&fetched("canceled", &["price_pro"]), &plans());
            assert_eq!(change.tier.as_deref(), Some("free"), "{kind}");
            assert_eq!(
                change.subscription_status.as_deref(),
                Some("canceled"),
                "{kind}"
            );
            assert!(!change.switches_subscription, "{kind}");
        }
        // Without a subscription id there is nothing to ask about.
        let bare = event("customer.subscription.updated", json!({"status": "active"}));
        assert_eq!(interpret(&bare, &plans()), Action::Ignore);
    }

    #[test]
    fn the_status_and_current_price_drive_the_tier() {
        let tier = |status: &str, prices: &[&str]| {
            tier_of_subscription(&fetched(status, prices), &plans())
        };
        assert_eq!(
            tier("active", &["price_indie"]),
            (Some("indie".into()), true)
        );
        assert_eq!(tier("trialing", &["price_pro"]), (Some("pro".into()), true));
        // The first item with a configured price counts.
        assert_eq!(
            tier("active", &["price_addon", "price_pro"]),
            (Some("pro".into()), true)
        );
        // A price this server does not sell: live, tier unchanged (not
        // metadata.plan, which may name the plan before a portal switch).
        assert_eq!(tier("active", &["price_legacy"]), (None, true));
        // No price at all: metadata.plan, if purchasable.
        assert_eq!(tier("active", &[]), (Some("pro".into()), true));
        for status in ["canceled", "unpaid", "incomplete_expired", "paused"] {
            assert_eq!(
                tier(status, &["price_pro"]),
                (Some("free".into()), false),
                "{status}"
            );
        }
        for status in ["past_due", "incomplete", "something_new"] {
            assert_eq!(tier(status, &["price_pro"]), (None, false), "{status}");
        }
    }

    #[test]
    fn a_portal_switch_follows_the_new_price_not_the_metadata() {
        // Checkout wrote metadata.plan = pro; the portal switched the price.
        let e = event(
            "customer.subscription.updated",
            subscription_payload("active", "price_indie"),
        );
        let (_, change) =
            verify(interpret(&e, &plans())).with(&fetched("active", &["price_indie"]), &plans());
        assert_eq!(change.tier.as_deref(), Some("indie"));
        assert!(change.switches_subscription);
    }

    #[test]
    fn the_fetched_subscription_supplies_what_the_event_lacks() {
        let e = event(
            "customer.subscription.updated",
            json!({"id": "sub_1", "status": "active"}),
        );
        let v = verify(interpret(&e, &plans()));
        assert_eq!(
            (v.account_id.as_deref(), v.customer_id.as_deref()),
            (None, None)
        );
        let (account, change) = v.with(&fetched("active", &["price_pro"]), &plans());
        assert_eq!(account.as_deref(), Some("acct_meta"));
        assert_eq!(change.customer_id.as_deref(), Some("cus_1"));
        // Unverified (no account matched): no status, no tier.
        let (account, change) = v.unverified();
        assert_eq!(account, None);
        assert_eq!(change.subscription_id.as_deref(), Some("sub_1"));
        assert_eq!((change.subscription_status, change.tier), (None, None));
        assert!(!change.verified && !change.switches_subscription);
    }

    #[test]
    fn checkouts_without_subscription_and_unknown_types() {
        // Paid, no subscription to fetch: metadata.plan if purchasable.
        let session = |plan: &str, paid: &str| {
            event(
                "checkout.session.completed",
                json!({"metadata": {"plan": plan}, "customer": "cus_1", "payment_status": paid}),
            )
        };
        let (_, change) = applied(interpret(&session("pro", "paid"), &plans()));
        assert_eq!(change.tier.as_deref(), Some("pro"));
        assert_eq!(change.subscription_status, None);
        assert_eq!(
            applied(interpret(&session("pro", "unpaid"), &plans()))
                .1
                .tier,
            None
        );
        assert_eq!(
            applied(interpret(&session("unlimited", "paid"), &plans()))
                .1
                .tier,
            None
        );
        assert_eq!(
            interpret(&event("charge.succeeded", json!({})), &plans()),
            Action::Ignore
        );
        let payment = event("checkout.session.completed", json!({"mode": "payment"}));
        assert_eq!(interpret(&payment, &plans()), Action::Ignore);
    }

    #[test]
    fn failed_invoice_marks_past_due_and_finds_the_subscription_metadata() {
        let e = event(
            "invoice.payment_failed",
            json!({"customer": "cus_1", "parent": {"subscription_details":
                   {"subscription": "sub_9", "metadata": {"account_id": "acct_a"}}}}),
        );
        let (account, change) = applied(interpret(&e, &plans()));
        assert_eq!(account.as_deref(), Some("acct_a"));
        assert_eq!(change.subscription_status.as_deref(), Some("past_due"));
        assert_eq!(change.subscription_id.as_deref(), Some("sub_9"));
        assert_eq!(change.tier, None);
        assert!(!change.verified);
    }

    #[test]
    fn envelope_parsing_requires_id_and_type() {
        assert!(StripeEvent::parse(b"not json").is_none());
        assert!(StripeEvent::parse(br#"{"id":"evt_1"}"#).is_none());
        let e = StripeEvent::parse(
            br#"{"id":"evt_1","type":"x","created":5,"data":{"object":{"a":1}}}"#,
        )
        .expect("parses");
        assert_eq!(
            (e.id.as_str(), e.event_type.as_str(), e.created),
            ("evt_1", "x", 5)
        );
    }
}

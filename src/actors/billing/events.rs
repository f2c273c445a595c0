//! Webhook events: from verified JSON to what billing does with them.
//!
//! Only the fields billing needs are read, leniently (a field of an
//! unexpected shape counts as absent), so Stripe API version changes that
//! add or move unrelated fields cannot break the endpoint.

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

/// What to do with an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Record the event id and apply the change to the account named by
    /// `account_id` (or the owner of `change.customer_id`).
    Apply {
        account_id: Option<String>,
        change: BillingChange,
    },
    /// An event type billing does not handle: answered 200, not recorded.
    Ignore,
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

/// The purchasable plan the object is about: `metadata.plan`, else the
/// price of its first subscription item.
fn plan(object: &Value, plans: &PlanPrices) -> Option<String> {
    if let Some(p) = metadata(object, "plan").filter(|p| plans.price_of(p).is_some()) {
        return Some(p.to_owned());
    }
    let price = object
        .get("items")?
        .get("data")?
        .as_array()?
        .iter()
        .find_map(|item| id_of(item, "price"))?;
    plans.plan_of_price(&price).map(str::to_owned)
}

/// Decides what an event does. See docs/api.md "Billing (Stripe)".
pub fn interpret(event: &StripeEvent, plans: &PlanPrices) -> Action {
    let object = &event.object;
    let account_id = metadata(object, "account_id")
        .or_else(|| text(object, &["client_reference_id"]))
        .map(str::to_owned);
    let mut change = BillingChange {
        customer_id: id_of(object, "customer"),
        event_created: event.created,
        ..BillingChange::default()
    };
    match event.event_type.as_str() {
        "checkout.session.completed" => {
            if text(object, &["mode"]).is_some_and(|m| m != "subscription") {
                return Action::Ignore;
            }
            change.subscription_id = id_of(object, "subscription");
            change.subscription_status = Some("active".into());
            change.tier = plan(object, plans);
            change.switches_subscription = true;
        }
        "customer.subscription.created" | "customer.subscription.updated" => {
            let status = text(object, &["status"]).map(str::to_owned);
            change.subscription_id = id_of(object, "id");
            change.tier = match status.as_deref() {
                Some("active" | "trialing") => {
                    change.switches_subscription = true;
                    plan(object, plans)
                }
                Some("canceled" | "unpaid" | "incomplete_expired") => Some("free".into()),
                _ => None,
            };
            change.subscription_status = status;
        }
        "customer.subscription.deleted" => {
            change.subscription_id = id_of(object, "id");
            change.subscription_status = Some("canceled".into());
            change.tier = Some("free".into());
        }
        "invoice.payment_failed" => {
            change.subscription_id = id_of(object, "subscription").or_else(|| {
                object
                    .get("parent")
                    .and_then(|p| p.get("subscription_details"))
                    .and_then(|d| id_of(d, "subscription"))
            });
            change.subscription_status = Some("past_due".into());
        }
        _ => return Action::Ignore,
    }
    Action::Apply { account_id, change }
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
            Action::Ignore => panic!("expected Apply"),
        }
    }

    #[test]
    fn completed_checkout_sets_the_plan() {
        let e = event(
            "checkout.session.completed",
            json!({"mode": "subscription", "customer": "cus_1", "subscription": "sub_1",
                   "client_reference_id": "acct_b", "metadata": {"account_id": "acct_a", "plan": "pro"}}),
        );
        let (account, change) = applied(interpret(&e, &plans()));
        assert_eq!(account.as_deref(), Some("acct_a"));
        assert_eq!(change.tier.as_deref(), Some("pro"));
        assert_eq!(change.customer_id.as_deref(), Some("cus_1"));
        assert_eq!(change.subscription_id.as_deref(), Some("sub_1"));
    }

    #[test]
    fn subscription_status_drives_the_tier() {
        let sub = |status: &str| {
            json!({"id": "sub_1", "customer": {"id": "cus_1"}, "status": status,
                   "items": {"data": [{"price": {"id": "price_indie"}}]}})
        };
        let tier = |kind: &str, status: &str| {
            applied(interpret(&event(kind, sub(status)), &plans()))
                .1
                .tier
        };
        assert_eq!(
            tier("customer.subscription.updated", "active").as_deref(),
            Some("indie")
        );
        assert_eq!(
            tier("customer.subscription.created", "trialing").as_deref(),
            Some("indie")
        );
        assert_eq!(tier("customer.subscription.updated", "past_due"), None);
        assert_eq!(
            tier("customer.subscription.updated", "canceled").as_deref(),
            Some("free")
        );
        assert_eq!(
            tier("customer.subscription.updated", "unpaid").as_deref(),
            Some("free")
        );
        assert_eq!(
            tier("customer.subscription.deleted", "canceled").as_deref(),
            Some("free")
        );
    }

    #[test]
    fn unknown_plans_change_no_tier_and_unknown_types_are_ignored() {
        let e = event(
            "checkout.session.completed",
            json!({"metadata": {"plan": "unlimited"}, "customer": "cus_1"}),
        );
        assert_eq!(applied(interpret(&e, &plans())).1.tier, None);
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

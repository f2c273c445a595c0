//! When a Stripe webhook's change must not be applied to an account: the
//! ordering and subscription rules both backends apply in the transaction
//! that records the event.

use super::BillingChange;

/// Subscription statuses Stripe never leaves: the subscription is over.
fn is_ended(status: Option<&str>) -> bool {
    matches!(status, Some("canceled" | "incomplete_expired"))
}

fn is_live(status: Option<&str>) -> bool {
    matches!(status, Some("active" | "trialing"))
}

/// Whether the change must not be applied to the account's stored link
/// (`newest` applied event time, current subscription and its status).
pub(crate) fn is_stale(
    newest: Option<i64>,
    current: Option<&str>,
    current_status: Option<&str>,
    change: &BillingChange,
) -> bool {
    let event_subscription = change.subscription_id.as_deref();
    let same_subscription = current.is_some() && current == event_subscription;
    // A fetched subscription is current whatever the event's `created`;
    // ordering by `created` only guards unverified changes and moves onto
    // another subscription.
    let older = newest.is_some_and(|newest| newest > change.event_created)
        && !(change.verified && same_subscription);
    // An ended subscription comes back only if Stripe shows it live.
    let ended = same_subscription
        && is_ended(current_status)
        && !(change.verified && is_live(change.subscription_status.as_deref()));
    // A change about another subscription than the account's live one
    // (e.g. the old plan cancelled after an upgrade) applies only if it
    // may move the account onto that subscription.
    let other_subscription = !change.switches_subscription
        && !is_ended(current_status)
        && matches!((current, event_subscription), (Some(current), Some(event)) if current != event);
    older || ended || other_subscription
}

//! What every handler can reach: configuration, store, instance registry.

use std::sync::Arc;

use crate::actors::limiter::LimiterHandle;
use crate::actors::InstanceRegistry;
use crate::config::{Config, TierConfig};
use crate::store::{Account, Store};

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState(Arc<AppInner>);

/// The contents of [`AppState`].
pub struct AppInner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub registry: InstanceRegistry,
    pub limiter: LimiterHandle,
    /// The account every request acts as in dev mode (`auth.disabled`).
    pub local_account: Option<Arc<Account>>,
    /// Billing (Stripe); `None` when it is not configured.
    pub billing: Option<crate::actors::BillingHandle>,
    /// `(account, Idempotency-Key)` of the keyed requests in progress here.
    pub idempotency_in_flight: dashmap::DashMap<(String, String), ()>,
}

impl std::ops::Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: AppInner) -> Self {
        AppState(Arc::new(inner))
    }

    /// The limits of a tier; an unknown tier name gets the free tier's.
    pub fn tier(&self, name: &str) -> TierConfig {
        self.limiter.tier(name)
    }
}

/// The authenticated account of a request (a request extension).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Shared with the key cache: cloning a `Caller` copies no strings.
    pub account: Arc<Account>,
}

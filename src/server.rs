//! Wiring: opens the store, bootstraps the first account, starts the
//! actors and serves HTTP on a listener until told to stop, then shuts down
//! in order (stop accepting → finish in-flight requests → stop actors →
//! flush store). [`Server`] is the whole server as a value, so tests can
//! run it in-process; [`run`] is what the binary's `serve` does with it.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::accounts;
use crate::actors::limiter::{LimiterActor, LimiterHandle, RateBackend};
use crate::actors::{InstanceRegistry, InstanceSupervisor};
use crate::config::Config;
use crate::engine::Engine;
use crate::http::listener::ListenerLimits;
use crate::http::{self, AppInner, AppState};
use crate::store::{self, Account, Store, StoreError};

/// Why the server could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("server I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("actor system failed to start: {0}")]
    Actors(String),
    #[error("limiter backend: {0}")]
    Limiter(String),
    #[error("storage failed: {0}; stopped so that recovery runs from disk on restart")]
    StorageFailed(String),
}

/// Name of the account dev mode acts as.
const LOCAL_ACCOUNT_NAME: &str = "local-dev";

/// The account used for every request when authentication is disabled.
async fn local_account(store: &dyn Store) -> Result<Account, StoreError> {
    let existing = store.list_accounts().await?;
    if let Some(account) = existing.into_iter().find(|a| a.name == LOCAL_ACCOUNT_NAME) {
        return Ok(account);
    }
    accounts::create_account(store, LOCAL_ACCOUNT_NAME, "unlimited").await
}

/// Prints the first key on first start: the only time it is ever shown.
fn announce_first_key(account: &Account, key: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nFirst start: created account {} (tier unlimited).\nIts API key, shown only this once:\n\n    {}\n\n\
         Create more keys with `identity-os keys create --account {}`.\n",
        account.id, key, account.id
    );
    let _ = out.flush();
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

/// A server whose store, first account and actors are up, ready to serve
/// on a listener. Tests build one in-process; the binary's [`run`] binds
/// the configured address, prints the first key and serves until a signal.
pub struct Server {
    state: AppState,
    limits: ListenerLimits,
    first_key: Option<(Account, accounts::CreatedKey)>,
}

impl Server {
    /// Opens the store, bootstraps the first account (or the dev-mode
    /// account) and starts the actors.
    pub async fn start(mut config: Config) -> Result<Server, ServerError> {
        http::metrics::install();
        config.server.node_id = config.server.node_id();
        metrics::gauge!("identity_os_node_info", "node_id" => config.server.node_id.clone())
            .set(1.0);
        let store: Arc<dyn Store> = store::open(&config.store_config()).await?;
        let mut first_key = None;
        let local = if config.auth.disabled {
            tracing::warn!("authentication is DISABLED (dev mode): every request acts as the local unlimited account");
            Some(Arc::new(local_account(store.as_ref()).await?))
        } else {
            first_key = accounts::bootstrap(store.as_ref()).await?;
            None
        };

        let engine = Engine::new(config.engine.params.clone());
        let registry = InstanceRegistry::new(
            store.clone(),
            engine,
            Duration::from_secs_f64(config.engine.min_cycle_interval_secs),
            Duration::from_secs(config.actors.idle_timeout_secs),
            config.actors.max_live_instances,
        );
        InstanceSupervisor::start(&registry)
            .await
            .map_err(|e| ServerError::Actors(e.to_string()))?;

        let rate_backend = RateBackend::from_config(&config.limiter)
            .map_err(|e| ServerError::Limiter(e.to_string()))?;
        let limiter = LimiterHandle::new(config.tiers.clone(), store.clone(), rate_backend);
        LimiterActor::start(&limiter)
            .await
            .map_err(|e| ServerError::Actors(e.to_string()))?;

        let billing = crate::actors::BillingHandle::start(&config.billing, store.clone())
            .await
            .map_err(ServerError::Actors)?;

        let limits = ListenerLimits::from_config(&config.server);
        let state = AppState::new(AppInner {
            config,
            store,
            registry,
            limiter,
            local_account: local,
            billing,
            idempotency_in_flight: Default::default(),
        });
        Ok(Server {
            state,
            limits,
            first_key,
        })
    }

    /// The account and key created on first start of an empty database
    /// (`None` on later starts and in dev mode): shown once, never stored.
    pub fn first_key(&self) -> Option<(&Account, &str)> {
        self.first_key
            .as_ref()
            .map(|(account, key)| (account, key.key.as_str()))
    }

    /// Serves HTTP on `listener` until `shutdown` resolves, then shuts down
    /// in order: stop accepting, finish in-flight requests (grace period),
    /// stop the actors, flush and close the store.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServerError> {
        let Server { state, limits, .. } = self;
        let app = http::router(state.clone());
        tracing::info!(local_addr = %listener.local_addr()?, node = %state.config.server.node_id, "listening");
        let sweeper = tokio::spawn(sweep_idempotency_keys(state.store.clone()));
        let key_uses = tokio::spawn(flush_key_uses(state.store.clone()));
        // A failed store stops the server as a signal would. Until then,
        // for FAIL_STOP_LINGER, writes get 503 and `/ready` answers 503,
        // so clients and health checks see why before the port closes.
        let stop = async {
            tokio::select! {
                () = shutdown => {}
                () = state.store.fail_stop().tripped() => {
                    tokio::time::sleep(FAIL_STOP_LINGER).await;
                }
            }
            // Event streams never finish on their own: end them now, so
            // the grace period is spent on real requests.
            state.registry.events().close();
        };
        http::listener::serve(listener, app, limits, stop).await;
        sweeper.abort();
        // The store's close writes the last minute's key uses.
        key_uses.abort();

        if let Some(billing) = &state.billing {
            billing.stop();
        }
        state.registry.shutdown().await;
        let closed = state.store.close().await;
        if let Some(reason) = state.store.fail_stop().reason() {
            return Err(ServerError::StorageFailed(reason.to_owned()));
        }
        closed?;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}

/// How long a server whose store failed keeps answering (503) before it
/// stops accepting connections.
const FAIL_STOP_LINGER: Duration = Duration::from_secs(2);

/// How often recorded `Idempotency-Key` responses past their retention
/// are removed.
const IDEMPOTENCY_SWEEP_INTERVAL: Duration = Duration::from_secs(3600);

/// Removes recorded responses once older than their retention, hourly.
async fn sweep_idempotency_keys(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(IDEMPOTENCY_SWEEP_INTERVAL);
    loop {
        every.tick().await;
        let before = crate::time::now_micros() - http::idempotency::RETENTION_MICROS;
        match store.expire_idempotency(before).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "expired recorded Idempotency-Key responses"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot expire recorded Idempotency-Key responses")
            }
        }
    }
}

/// How often the API keys' uses noted in memory are written as their
/// `last_used_at` (so each key's row is written at most this often).
const KEY_USE_FLUSH_INTERVAL: Duration = Duration::from_secs(60);

/// Writes the keys' noted uses once a minute (and the store's close once
/// more): `last_used_at` is accurate to the minute without a write per
/// request.
async fn flush_key_uses(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(KEY_USE_FLUSH_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = store.flush_key_uses().await {
            tracing::warn!(error = %crate::logging::ErrorChain(&e), "cannot record when API keys were last used; retrying in a minute");
        }
    }
}

/// Starts a server from `config` and serves `listener` until `shutdown`
/// resolves (see [`Server::serve`]).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServerError> {
    Server::start(config).await?.serve(listener, shutdown).await
}

/// The binary's `serve`: binds the configured address, prints the first
/// key (first start only) and the address, and serves until SIGTERM/SIGINT.
pub async fn run(config: Config) -> Result<(), ServerError> {
    let addr = config.bind_addr()?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let server = Server::start(config).await?;
    if let Some((account, key)) = server.first_key() {
        announce_first_key(account, key);
    }
    println!("listening on http://{local_addr}");
    let _ = std::io::stdout().flush();
    server.serve(listener, shutdown_signal()).await
}

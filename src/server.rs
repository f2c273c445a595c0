//! Wiring: opens the store, bootstraps the first account, starts the
//! actors and serves HTTP until SIGTERM/SIGINT, then shuts down in order
//! (stop accepting → finish in-flight requests → stop actors → flush store).

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use crate::accounts;
use crate::actors::limiter::{LimiterActor, LimiterHandle};
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
fn announce_first_key(account: &Account, key: &accounts::CreatedKey) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\nFirst start: created account {} (tier unlimited).\nIts API key, shown only this once:\n\n    {}\n\n\
         Create more keys with `identity-os keys create --account {}`.\n",
        account.id, key.key, account.id
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

/// Runs the server until a shutdown signal.
pub async fn run(config: Config) -> Result<(), ServerError> {
    http::metrics::install();
    let store: Arc<dyn Store> = store::open(&config.store_config())?;
    let local = if config.auth.disabled {
        tracing::warn!("authentication is DISABLED (dev mode): every request acts as the local unlimited account");
        Some(Arc::new(local_account(store.as_ref()).await?))
    } else {
        if let Some((account, key)) = accounts::bootstrap(store.as_ref()).await? {
            announce_first_key(&account, &key);
        }
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

    let limiter = LimiterHandle::new(config.tiers.clone(), store.clone());
    LimiterActor::start(&limiter)
        .await
        .map_err(|e| ServerError::Actors(e.to_string()))?;

    let billing = crate::actors::BillingHandle::start(&config.billing, store.clone())
        .await
        .map_err(ServerError::Actors)?;

    let addr = config.bind_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
    let local_addr = listener.local_addr()?;
    let limits = ListenerLimits {
        max_connections: config.server.max_connections,
        header_read_timeout: Duration::from_secs(config.server.header_read_timeout_secs),
        shutdown_grace: Duration::from_secs(config.server.shutdown_grace_secs),
    };
    let state = AppState::new(AppInner {
        config,
        store: store.clone(),
        registry: registry.clone(),
        limiter,
        local_account: local,
        billing: billing.clone(),
    });
    let app = http::router(state);

    tracing::info!(%local_addr, "listening");
    println!("listening on http://{local_addr}");
    let _ = std::io::stdout().flush();

    http::listener::serve(listener, app, limits, shutdown_signal()).await;

    if let Some(billing) = &billing {
        billing.stop();
    }
    registry.shutdown().await;
    store.close().await?;
    tracing::info!("shut down cleanly");
    Ok(())
}

//! Cross-node cache invalidation: every write that can change an API-key
//! lookup (tier, revocation, billing) sends `NOTIFY identity_os_keys` in its
//! transaction, so PostgreSQL delivers it to every node once it commits.
//! Each node keeps one connection of its own `LISTEN`ing and clears its key
//! cache on every notification. While that connection is down (or stops
//! answering its once-a-second probe) the cache falls back to its short
//! lifetime, and it is cleared on every connect and disconnect, because a
//! notification may have been missed in between.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Transaction;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls};

use super::connect::{self, ConnectTarget, TlsMode};
use crate::logging::ErrorChain;
use crate::store::key_cache::KeyCache;
use crate::store::{StoreError, StoreResult};

/// The channel of key-lookup changes.
pub(crate) const CHANNEL: &str = "identity_os_keys";
/// The statement a write runs in its transaction to notify every node.
const NOTIFY: &str = "SELECT pg_notify('identity_os_keys', '')";

/// Commits a transaction that changed key lookups; PostgreSQL notifies
/// every node once (and only if) it commits.
pub(crate) async fn commit_notified(tx: Transaction<'_>) -> StoreResult<()> {
    tx.execute(NOTIFY, &[]).await?;
    tx.commit().await?;
    Ok(())
}

/// How often the listening connection is checked, and how long it may
/// take to answer.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long to wait before connecting again after the connection failed.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Starts the listener; it runs until the returned task is aborted.
pub(crate) fn spawn(
    target: ConnectTarget,
    connect_timeout: Duration,
    keys: Arc<KeyCache>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut was_up = true;
        loop {
            let result = listen(&target, connect_timeout, &keys).await;
            keys.set_notified(false);
            if let Err(e) = result {
                if was_up {
                    tracing::warn!(error = %ErrorChain(&e),
                        "key-cache notifications from PostgreSQL lost; other nodes' changes apply within 1 s until they return");
                }
                was_up = false;
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    })
}

async fn listen(
    target: &ConnectTarget,
    connect_timeout: Duration,
    keys: &KeyCache,
) -> StoreResult<()> {
    let mut config = target.config.clone();
    config
        .connect_timeout(connect_timeout)
        .application_name("identity-os-listener");
    match target.tls {
        TlsMode::Disable => run(config.connect(NoTls).await?, keys).await,
        mode => {
            run(
                config
                    .connect(connect::tls_connector(mode, target)?)
                    .await?,
                keys,
            )
            .await
        }
    }
}

async fn run<S, T>(
    (client, connection): (Client, Connection<S, T>),
    keys: &KeyCache,
) -> StoreResult<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // The connection yields notifications only while polled: a task of its
    // own drives it and hands them over.
    let (tx, mut notifications) = mpsc::unbounded_channel();
    let mut connection = connection;
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(_)) => {
                    if tx.send(()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    });
    let _stop_driver = AbortOnDrop(driver.abort_handle());
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    keys.set_notified(true);
    tracing::info!("listening for key-cache notifications from PostgreSQL");
    let mut probe = tokio::time::interval(PROBE_EVERY);
    loop {
        tokio::select! {
            notified = notifications.recv() => match notified {
                Some(()) => keys.clear(),
                None => break,
            },
            _ = probe.tick() => {
                match tokio::time::timeout(PROBE_EVERY, client.batch_execute("SELECT 1")).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(e.into()),
                    Err(_) => return Err(StoreError::Unavailable(
                        "the notification connection stopped answering".into(),
                    )),
                }
            }
        }
    }
    match driver.await {
        Ok(Err(e)) => Err(e.into()),
        _ => Err(StoreError::Unavailable(
            "the notification connection closed".into(),
        )),
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

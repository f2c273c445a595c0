//! Fail-stop storage: the first failure after which acknowledged data may
//! be gone or half-written latches the store as failed.
//!
//! A failed fsync may have dropped pages the kernel later reports as clean
//! ("fsyncgate"): a later fsync that succeeds proves nothing about them,
//! so acknowledging anything after it could acknowledge writes that vanish
//! at recovery. The same holds for a COMMIT whose outcome is unknown and
//! for the death of a thread that owns part of the write path. From then
//! on every write is refused (`503 service_unavailable`), `/ready` fails,
//! and the server stops (exit status non-zero) so its supervisor restarts
//! it and recovery runs from what is on disk.

use tokio::sync::watch;

use super::{StoreError, StoreResult};

/// The latch. Tripping it is idempotent: the first reason wins.
#[derive(Debug)]
pub struct FailStop {
    reason: std::sync::OnceLock<String>,
    tripped: watch::Sender<bool>,
}

impl Default for FailStop {
    fn default() -> Self {
        FailStop {
            reason: std::sync::OnceLock::new(),
            tripped: watch::Sender::new(false),
        }
    }
}

impl FailStop {
    /// Latches the store as failed because of `reason`.
    pub fn trip(&self, reason: impl Into<String>) {
        let reason = reason.into();
        if self.reason.set(reason.clone()).is_ok() {
            tracing::error!(%reason, "storage failed: refusing every write from now on; the server stops");
            self.tripped.send_replace(true);
        }
    }

    /// Why the store failed, once it has.
    pub fn reason(&self) -> Option<&str> {
        self.reason.get().map(String::as_str)
    }

    /// `Err(FailStopped)` once the store has failed.
    pub fn check(&self) -> StoreResult<()> {
        match self.reason() {
            Some(reason) => Err(StoreError::FailStopped(reason.to_owned())),
            None => Ok(()),
        }
    }

    /// Resolves once the store has failed.
    pub async fn tripped(&self) {
        let mut watching = self.tripped.subscribe();
        // The sender lives in `self`, so the channel cannot close first.
        let _ = watching.wait_for(|tripped| *tripped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_first_reason_wins_and_waiters_wake() {
        let latch = std::sync::Arc::new(FailStop::default());
        assert!(latch.check().is_ok());
        let waiter = {
            let latch = latch.clone();
            tokio::spawn(async move { latch.tripped().await })
        };
        latch.trip("fsync of the WAL failed");
        latch.trip("a later failure");
        waiter.await.unwrap();
        assert_eq!(latch.reason(), Some("fsync of the WAL failed"));
        assert!(matches!(latch.check(), Err(StoreError::FailStopped(r)) if r.contains("fsync")));
        latch.tripped().await;
    }
}

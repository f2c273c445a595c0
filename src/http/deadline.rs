//! The request deadline (`server.request_timeout_secs`), and the moment it
//! stops applying.
//!
//! A request whose change has been handed to its instance's actor will be
//! committed or refused by the actor whatever the HTTP side does, so from
//! then on a deadline could only turn a committed change into a `503` the
//! client would retry. Handlers call [`disarm`] right before that hand-off;
//! the edge ([`super::edge`]) then waits for the answer past the deadline.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

tokio::task_local! {
    static ARMED: Arc<AtomicBool>;
}

/// Stops the current request's deadline: the request's outcome is decided
/// elsewhere now. Outside a request (unit tests) it does nothing.
pub fn disarm() {
    let _ = ARMED.try_with(|armed| armed.store(false, Ordering::Release));
}

/// Runs `request` under `limit`: `None` if the deadline passed while it was
/// still armed.
pub async fn run<F: Future>(limit: Duration, request: F) -> Option<F::Output> {
    let armed = Arc::new(AtomicBool::new(true));
    let request = ARMED.scope(armed.clone(), request);
    tokio::pin!(request);
    match tokio::time::timeout(limit, &mut request).await {
        Ok(output) => Some(output),
        Err(_) if !armed.load(Ordering::Acquire) => Some(request.await),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_armed_deadline_fires_and_a_disarmed_one_waits() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            1
        };
        assert_eq!(run(Duration::from_secs(1), slow).await, None);
        let handed_off = async {
            disarm();
            tokio::time::sleep(Duration::from_secs(5)).await;
            2
        };
        assert_eq!(run(Duration::from_secs(1), handed_off).await, Some(2));
    }
}

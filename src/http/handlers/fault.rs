//! Test-only fault injection (feature `fault-injection`, never in release
//! builds): makes an instance actor panic inside its handler so tests can
//! prove supervision restarts it from persisted state, and makes a request
//! handler itself panic so tests can prove the edge contains it.

use axum::extract::{Path, State};
use axum::Extension;

use crate::actors::InstanceMessage;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::{AppState, Caller};

/// `POST /v1/instances/{id}/_fault/panic`: the request fails with 500.
pub async fn panic_actor(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<()> {
    let account_id = &caller.account.id;
    state
        .registry
        .call(
            &id,
            |reply: ractor::RpcReplyPort<Result<(), crate::actors::InstanceError>>| {
                InstanceMessage::Crash {
                    account_id: account_id.clone(),
                    reply,
                }
            },
        )
        .await
        .map_err(ApiError::from)
}

/// `POST /v1/_fault/fsync`: the next WAL fsync fails with `EIO` (with
/// durability `full`), which fail-stops the store.
pub async fn fail_next_fsync(Extension(_caller): Extension<Caller>) -> ApiResult<()> {
    crate::store::fail_next_wal_fsync();
    Ok(())
}

/// `POST /v1/_fault/handler_panic`: the handler panics; the edge answers
/// a JSON 500 and the server goes on.
pub async fn panic_handler(Extension(_caller): Extension<Caller>) -> ApiResult<()> {
    panic!("fault injection: a request handler panicked");
}

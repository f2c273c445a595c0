//! Parameters shared by many operations, described once: the instance id
//! in the path and the optional `If-Match` header.
//!
//! These types exist only for the OpenAPI document; the handlers extract
//! the same values with `Path<String>` and [`crate::http::extract::IfMatch`].

#![allow(dead_code)]

use utoipa::IntoParams;

/// The `{id}` of `/v1/instances/{id}/…`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct InstanceId {
    /// Instance id (`inst_` + 16 lowercase hex digits). Unknown ids and
    /// other accounts' instances both answer 404.
    id: String,
}

/// Optimistic locking on writes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatchHeader {
    /// Only apply the change if the instance is at this version: `"3"`,
    /// `3` or `W/"3"` (`*` means any). Mismatch → 409 `conflict`; a value
    /// that is not a version → 422.
    #[param(
        rename = "If-Match",
        nullable = false,
        pattern = r#"^[ \t]*(\*|(W/)*"*[+-]?[0-9]{1,18}"*)[ \t]*$"#
    )]
    if_match: Option<String>,
}

/// Where a reconnecting event stream left off.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct LastEventIdHeader {
    /// The id (instance version) of the last event received before
    /// reconnecting; the `ready` event says whether changes were missed.
    #[param(rename = "Last-Event-ID", nullable = false)]
    last_event_id: Option<i64>,
}

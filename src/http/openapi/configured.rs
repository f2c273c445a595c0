//! The parts of the document that depend on this server's configuration:
//! the tier names the admin API accepts.

use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::config::Config;

/// A tier name from `[tiers.*]`; the document lists the configured ones.
/// (Only the schema is used; the handlers take a plain string.)
#[derive(ToSchema)]
#[schema(as = TierName)]
pub struct TierName(#[allow(dead_code)] String);

/// Fills in the configured values.
pub fn apply(document: &mut Value, config: &Config) {
    let tiers: Vec<&str> = config.tiers.keys().map(String::as_str).collect();
    if let Some(schema) = document.pointer_mut("/components/schemas/TierName") {
        *schema = json!({
            "type": "string",
            "enum": tiers,
            "description": "A tier configured on this server (`[tiers.NAME]`)."
        });
    }
}

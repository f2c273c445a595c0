//! How an instance's engine state is stored: a one-byte format tag, then
//! the state in postcard (compact binary serde, floats as their raw 8 bytes).
//!
//! Why not JSON: every observation rewrites the stored state. As JSON
//! (≈ 1.7 KB, forty-odd floats printed and escaped) it made the instance row
//! about one SQLite page, so 1 000 live instances no longer fitted the
//! writer's page cache and every commit re-read pages; encoding it was also
//! the largest single item of a request after the response itself
//! (docs/benchmarks-history.md, fifth pass). Binary keeps every `f64` bit-exact without
//! a float-to-text round trip, and is about a quarter of the size.
//!
//! Rows written before this format hold JSON text (their first byte is
//! `{`); [`decode_state`] and [`decode_initial`] still read them, and the
//! next write of the instance stores the binary form. A future change of
//! the encoded types (field order, enum variants) must take a new tag and
//! keep reading the old one: the golden test in `state_codec_tests.rs`
//! fails when the bytes change.

use serde::{Deserialize, Serialize};

use super::InstanceError;
use crate::engine::{EngineState, Profile};

/// Tag of the current format: postcard of [`PersistedStateRef`] (state) or
/// of an [`EngineState`] (initial state).
const POSTCARD_V1: u8 = 1;
/// First byte of a legacy JSON row.
const LEGACY_JSON: u8 = b'{';
/// Room for a whole encoded state (≈ 350 bytes with its profile, more
/// with a long description) from the start.
const CAPACITY: usize = 768;

/// The stored state of an instance: its profile travels with it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(crate) struct PersistedState {
    pub profile: Profile,
    pub state: EngineState,
}

/// [`PersistedState`] as written: borrowed, so encoding copies nothing.
#[derive(Serialize)]
struct PersistedStateRef<'a> {
    profile: &'a Profile,
    state: &'a EngineState,
}

/// Encodes the current state with its profile.
pub(crate) fn encode_state(
    profile: &Profile,
    state: &EngineState,
) -> Result<Vec<u8>, InstanceError> {
    encode(&PersistedStateRef { profile, state })
}

/// Encodes the state `reset {"mode":"initial"}` restores.
pub(crate) fn encode_initial(state: &EngineState) -> Result<Vec<u8>, InstanceError> {
    encode(state)
}

/// Decodes what [`encode_state`] (or an older build's JSON) stored.
pub(crate) fn decode_state(bytes: &[u8]) -> Result<PersistedState, InstanceError> {
    decode(bytes)
}

/// Decodes what [`encode_initial`] (or an older build's JSON) stored.
pub(crate) fn decode_initial(bytes: &[u8]) -> Result<EngineState, InstanceError> {
    decode(bytes)
}

/// Why stored state bytes could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("postcard")]
    Postcard(#[from] postcard::Error),
    #[error("legacy JSON state")]
    Json(#[from] serde_json::Error),
    #[error("{0} trailing bytes after the state")]
    TrailingBytes(usize),
    #[error("unknown format tag {0}")]
    UnknownTag(u8),
    #[error("the stored state is empty")]
    Empty,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, InstanceError> {
    let mut out = Vec::with_capacity(CAPACITY);
    out.push(POSTCARD_V1);
    Ok(postcard::to_extend(value, out).map_err(CodecError::from)?)
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, InstanceError> {
    let decoded = match bytes.split_first() {
        Some((&POSTCARD_V1, body)) => match postcard::take_from_bytes(body) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(CodecError::TrailingBytes(rest.len())),
            Err(e) => Err(e.into()),
        },
        Some((&LEGACY_JSON, _)) => serde_json::from_slice(bytes).map_err(CodecError::from),
        Some((tag, _)) => Err(CodecError::UnknownTag(*tag)),
        None => Err(CodecError::Empty),
    };
    Ok(decoded?)
}

#[cfg(test)]
#[path = "state_codec_tests.rs"]
mod tests;

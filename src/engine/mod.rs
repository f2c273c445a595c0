//! The deterministic behavioural engine (ENGINE.md).
//!
//! Pure: no clock, no randomness, no I/O, no async. The server wraps it and
//! it never reaches back.

mod mode;

pub use mode::{Mode, UnknownMode, MODE_COUNT};
pub mod personas;

//! Identity OS: a self-hostable server for the personality operating system
//! for AI agents.
//!
//! The crate is layered so each layer only knows the ones below it:
//! [`engine`] (pure, deterministic) ← `store` (durable persistence) ←
//! `actors` (one owner per instance) ← `http` (the wire contract).

pub mod engine;
pub mod store;

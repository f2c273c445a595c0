//! Identity OS: a self-hostable server for the personality operating system
//! for AI agents.
//!
//! The crate is layered so each layer only knows the ones below it:
//! [`engine`] (pure, deterministic) and [`catalog`] (reference data) ←
//! [`store`] (durable persistence) ← [`actors`] (one owner per instance) ←
//! [`http`] (the wire contract) ← [`server`] (wiring and lifecycle).
//! [`config`] feeds them all. [`loadtest`] is a client of the API.

pub mod accounts;
pub mod actors;
pub mod catalog;
pub mod config;
pub mod engine;
pub mod http;
pub mod loadtest;
pub mod logging;
pub mod server;
pub mod store;
pub mod time;

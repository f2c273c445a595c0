//! The integration tests: one test crate (one binary to link), every
//! module a former `tests/*.rs` file. Servers run in-process unless a test
//! needs a process boundary (`common`, "Two ways to run the server").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod actor_lifecycle;
mod auth_and_errors;
mod billing;
mod browser;
mod cli;
mod cluster;
mod cors;
mod cross_node;
mod dashboard;
mod durability;
mod engine_routes;
mod events;
mod exactly_once;
mod fail_stop;
mod hardening;
mod instances;
mod keys;
mod limits;
mod loadtest;
mod logging;
mod metrics;
mod openapi;
mod personas_and_test;
mod postgres;
mod redis_limiter;
mod resource_bounds;
mod retries;
mod sdk_conformance;
mod security;
mod supervision;
mod throttle;
mod trajectory;

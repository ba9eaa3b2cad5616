//! Integration tests of the local stack against a real moto server (one per test binary, shared
//! by every test; each test isolates its resources with its own `resource_prefix`) and real
//! function processes (the `echo_lambda` example).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod gateway;
mod plan;
mod provision;
mod runtime;
mod schedules_and_events;
mod sqs;

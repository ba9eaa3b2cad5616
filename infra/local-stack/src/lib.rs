//! The local stack: runs the whole system declared in `template.yaml` on loopback against moto.
//! It reads the template (the single source of truth), creates every table, queue and bus in the
//! emulator, runs every function's real binary as child processes speaking the Lambda Runtime
//! API, serves the HTTP API routes (payload format 2.0), polls SQS event sources with Lambda's
//! batch semantics and fires schedules. Functions only ever see standard Lambda/AWS environment
//! variables (`AWS_ENDPOINT_URL` points them at the emulator).
//!
//! # Layout
//! - [`template`]: YAML loading, short-form tags → long-form JSON.
//! - [`resolve`]: parameters, pseudo parameters, conditions and intrinsic functions.
//! - [`plan`]: one local binding per resource/event; [`plan::plan`] fails on anything unbound.
//! - [`provision`]: creates tables, queues and buses in the emulator.
//! - [`server`]: the HTTP/1.1 serve loop shared by the gateway and the Runtime API.
//! - [`runtime_api`]: the Lambda Runtime API served to each function process.
//! - [`functions`]: function processes, instance pools, invocation, output capture.
//! - [`gateway`]: the HTTP API (route matching, payload 2.0 events, response mapping).
//! - [`sqs_source`]: SQS event source poll loops and partial batch failures.
//! - [`scheduler`]: `Schedule`/`ScheduleV2` events.
//! - [`event_tap`]: an SQS queue subscribed to a bus, to observe published events.
//! - [`moto`]: starting and probing the moto emulator.
//! - [`stack`]: [`LocalStack`], the handle tying it all together.
//!
//! Test lambdas: a function's binary is `<bin_dir>/<binary name>`, the binary name coming from
//! the `Cargo.toml` at its `CodeUri`. This crate's tests point `CodeUri` at a fixture directory
//! whose `Cargo.toml` names the `echo_lambda` example and set `bin_dir` to
//! `<target>/debug/examples`.

pub mod event_tap;
pub mod functions;
pub mod gateway;
pub mod moto;
pub mod plan;
pub mod provision;
pub mod resolve;
pub mod runtime_api;
pub mod scheduler;
pub mod server;
pub mod sqs_source;
pub mod stack;
pub mod template;

pub use event_tap::EventTap;
pub use functions::{InvokeError, StartError};
pub use moto::{MotoError, MotoServer};
pub use plan::{Plan, PlanError, plan};
pub use provision::ProvisionError;
pub use stack::{LocalStack, LocalStackConfig, StackError};

//! Runtime glue shared by every function: the pieces of a Lambda binary that are not business
//! logic, written once.
//!
//! # Layout
//! * [`telemetry`]: tracing initialisation (Lambda's JSON log format and level controls).
//! * [`aws`]: the SDK configuration (endpoints from `AWS_ENDPOINT_URL*`, never from code).
//! * [`env`]: typed reading of a function's whitelisted environment variables.
//! * [`sqs`]: SQS batches with per-record outcomes and partial batch failures.
//! * [`openapi`]: the Yeastar OpenAPI HTTP plumbing (request parsing, tokens, idempotency, replies).
//! * [`metrics`]: CloudWatch Embedded Metric Format lines.
//! * `testing` (feature `testing`): API Gateway events for handler tests.

pub mod aws;
pub mod env;
pub mod metrics;
pub mod openapi;
pub mod sqs;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

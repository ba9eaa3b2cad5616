//! Use cases, one module each: they take their ports as references, make the decisions, and
//! return an outcome or a use-case error classified as retryable or permanent.

pub mod admin;
pub mod idempotency;
pub mod ingest;
pub mod outbox;
pub mod routing;
pub mod sending;
pub mod sessions;
pub mod tokens;

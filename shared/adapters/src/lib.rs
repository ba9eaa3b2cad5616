//! Adapters: the domain's ports implemented over AWS and HTTP, plus in-memory fakes.
//!
//! # Layout
//! * [`dynamodb`]: every store port over the Directory, Conversation and Auth tables.
//! * [`sqs`]: the routing and sending work queues.
//! * [`eventbridge`]: the domain event publisher.
//! * [`ses`]: e-mail (SLA notices to queue managers).
//! * [`export`], [`s3`]: chat-log exports — a zip of CSV files streamed to an S3 multipart upload,
//!   its download link, and the export job queue.
//! * [`files`]: uploaded message files' bytes on S3 and their presigned links (the records are
//!   in [`dynamodb`]; `DynamoStore::with_files` implements `FileStore` over both).
//! * [`http`]: provider API calls with `reqwest`.
//! * [`system`]: the system clock and the OS random source.
//! * `memory` (feature `testing`): in-memory versions of all of the above for fast tests.
#![allow(async_fn_in_trait)]

pub mod dynamodb;
pub mod eventbridge;
pub mod export;
pub mod files;
pub mod http;
pub mod kms;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod s3;
pub mod ses;
pub mod sqs;
pub mod system;

//! System tests through the local stack: every test starts moto, the whole template and the
//! sandbox provider, and drives them through the HTTP routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin_channels;
mod admin_directory;
mod admin_extensions;
mod admin_queues;
mod auto_close;
mod campaigns;
mod channel_health;
mod chat_logs;
mod concurrency;
mod contract;
mod credentials;
mod event_push;
mod files;
mod fixtures;
mod happy_path;
mod lifecycle;
mod outbox;
mod pacing;
mod phonebooks;
mod providers;
mod rejections;
mod routing;
mod sending;
mod sla;
mod templates;
mod tokens;

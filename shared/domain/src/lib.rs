//! Switchboard's domain: the pure core of an omnichannel messaging backend. No AWS, no Lambda,
//! no I/O: every outside dependency is a port ([`ports`]) implemented in the `adapters` crate.
//!
//! # Layout
//! * [`ids`], [`phone`], [`secret`], [`time`]: validated value types (ids, E.164 numbers,
//!   tokens, secrets that cannot be printed, microsecond timestamps).
//! * [`channel`], [`directory`]: configuration — channels with their numbers and routing rules;
//!   extensions and message queues; [`groups`]: extension groups and the organization tree.
//! * [`webhook`]: provider webhooks — verification and parsing, one module per scheme.
//! * [`inbound`], [`session`], [`message`]: the conversation model — stored deliveries, sessions
//!   and their state machine, messages and their delivery state machine.
//! * [`provider`]: outbound provider calls as data, and their classification.
//! * [`pacing`]: send-rate slots and retry delays.
//! * [`files`]: files uploaded for messaging (`message/batchupload`), kept 72 hours.
//! * [`stats`], [`events`], [`auth`]: statistics, domain events, principals and tokens.
//! * [`openapi`]: the Yeastar OpenAPI conventions and the request/response shapes.
//! * [`ports`]: the traits adapters implement.
//! * [`services`]: the use cases.
#![allow(async_fn_in_trait)] // ports are used through generics (static dispatch); no Send bound is needed

pub mod auth;
pub mod campaign;
pub mod channel;
pub mod chat_log;
pub mod credentials;
pub mod directory;
pub mod event_push;
pub mod events;
pub mod files;
pub mod groups;
pub mod health;
pub mod ids;
pub mod inbound;
pub mod message;
pub mod openapi;
pub mod pacing;
pub mod phone;
pub mod phonebook;
pub mod ports;
pub mod provider;
pub mod recipients;
pub mod secret;
pub mod services;
pub mod session;
pub mod sla;
pub mod stats;
pub mod time;
pub mod webhook;
pub mod whatsapp_template;

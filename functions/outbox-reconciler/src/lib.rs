//! The outbox-reconciler function (EventBridge schedule, every minute): hands stored but
//! unfinished work back to its queue (`domain::services::outbox`).

pub mod config;
pub mod handler;

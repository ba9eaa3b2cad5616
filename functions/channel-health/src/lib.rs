//! The channel-health function (EventBridge schedule, every minute): checks each channel's
//! connection when it is due and records the result (`domain::services::channel_health`).

pub mod config;
pub mod handler;

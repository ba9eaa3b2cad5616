//! The auto-close function (EventBridge schedule, every minute): closes sessions inactive for
//! their channel's `session_expired_time` (`domain::services::auto_close`).

pub mod config;
pub mod handler;

//! The template-sync function (EventBridge schedule, hourly): synchronises each WhatsApp
//! channel's message templates from Meta's Graph API when never synchronised or last
//! synchronised a day ago (`domain::services::templates`). The admin API syncs on demand.

pub mod config;
pub mod handler;

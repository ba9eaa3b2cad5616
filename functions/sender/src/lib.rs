//! The sender function: consumes the outbound queue and delivers each message through its
//! channel's provider at the channel's send rate (`domain::services::sending::deliver`).

pub mod config;
pub mod handler;

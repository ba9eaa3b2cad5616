//! The router function: consumes the inbound queue and routes each stored message into a
//! session (`domain::services::routing`), reporting partial batch failures per record.

pub mod config;
pub mod handler;

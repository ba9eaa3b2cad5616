//! The admin-api function: Yeastar OpenAPI `get_token` and the administrator's resources
//! (`message_channel/*`, `extension/*`, `message_queue/*`). Shapes and rules are in
//! `domain::openapi` and `domain::services`; this crate routes requests to them.

pub mod campaign;
pub mod chat_log;
pub mod config;
pub mod handler;
pub mod phonebook;

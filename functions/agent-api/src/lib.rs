//! The agent-api function: Yeastar OpenAPI session and message calls (`message_session/*`,
//! `message/*`) for agents and API clients acting as an extension. Shapes and rules are in
//! `domain::openapi` and `domain::services`; this crate routes requests to them.

pub mod config;
pub mod files;
pub mod handler;

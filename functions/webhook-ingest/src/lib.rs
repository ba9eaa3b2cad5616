//! The webhook-ingest function: `POST /api/v1.0/webhook/{provider}/{token}`.
//! It verifies a provider's webhook, stores it durably and hands it to routing
//! (`domain::services::ingest`); this crate only adapts HTTP to the use case.

pub mod config;
pub mod handler;

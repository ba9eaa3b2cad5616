//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The conversation table (the outbox index lives there).
    pub tables: Tables,
    /// The routing queue.
    pub inbound_queue_url: String,
    /// The sending queue.
    pub outbound_queue_url: String,
}

impl Config {
    /// Reads `CONVERSATION_TABLE_NAME`, `INBOUND_QUEUE_URL`, `OUTBOUND_QUEUE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables { conversation: required("CONVERSATION_TABLE_NAME")?, ..Tables::default() },
            inbound_queue_url: required("INBOUND_QUEUE_URL")?,
            outbound_queue_url: required("OUTBOUND_QUEUE_URL")?,
        })
    }
}

//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, parsed, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory (settings, parked deliveries) and conversation (messages) tables.
    pub tables: Tables,
    /// This function's own queue (retries).
    pub event_push_queue_url: String,
    /// The envelope's `sn`.
    pub sn: String,
    /// The first retry's delay (s).
    pub retry_base_secs: u32,
}

impl Config {
    /// Reads `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `EVENT_PUSH_QUEUE_URL`,
    /// `EVENT_PUSH_SN`, `EVENT_PUSH_RETRY_BASE_SECONDS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                ..Tables::default()
            },
            event_push_queue_url: required("EVENT_PUSH_QUEUE_URL")?,
            sn: required("EVENT_PUSH_SN")?,
            retry_base_secs: parsed("EVENT_PUSH_RETRY_BASE_SECONDS")?,
        })
    }
}

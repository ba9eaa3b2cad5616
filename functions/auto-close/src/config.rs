//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory (channels) and conversation (sessions) tables.
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The event bus (`session.closed`).
    pub event_bus_name: String,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `EVENT_BUS_NAME`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                ..Tables::default()
            },
            event_bus_name: required("EVENT_BUS_NAME")?,
        })
    }
}

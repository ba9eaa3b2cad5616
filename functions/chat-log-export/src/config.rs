//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory (names) and conversation (sessions, messages, jobs) tables.
    pub tables: Tables,
    /// The export bucket.
    pub bucket: String,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`): reading the channels
    /// (for their names) opens their stored credentials.
    pub credentials_key_id: String,
}

impl Config {
    /// Reads `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `CHAT_LOG_EXPORT_BUCKET`,
    /// `CREDENTIALS_KEY_ID`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: String::new(),
            },
            bucket: required("CHAT_LOG_EXPORT_BUCKET")?,
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
        })
    }
}

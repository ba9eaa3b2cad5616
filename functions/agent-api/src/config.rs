//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// All three tables.
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The sending queue.
    pub outbound_queue_url: String,
    /// The SLA breach timer queue.
    pub sla_timer_queue_url: String,
    /// The event bus.
    pub event_bus_name: String,
    /// The bucket of uploaded message files (`MESSAGE_FILES_BUCKET`).
    pub message_files_bucket: String,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `AUTH_TABLE_NAME`, `OUTBOUND_QUEUE_URL`, `SLA_TIMER_QUEUE_URL`, `EVENT_BUS_NAME`, `MESSAGE_FILES_BUCKET`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: required("AUTH_TABLE_NAME")?,
            },
            outbound_queue_url: required("OUTBOUND_QUEUE_URL")?,
            sla_timer_queue_url: required("SLA_TIMER_QUEUE_URL")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            message_files_bucket: required("MESSAGE_FILES_BUCKET")?,
        })
    }
}

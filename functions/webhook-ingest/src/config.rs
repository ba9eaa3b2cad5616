//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, optional, parsed, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory and conversation tables.
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The routing queue.
    pub inbound_queue_url: String,
    /// The event bus (`message.receipt` events).
    pub event_bus_name: String,
    /// Largest body accepted (413 above).
    pub max_body_bytes: usize,
    /// The public base URL providers call (Twilio signs the URL it called).
    pub public_base_url: Option<String>,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `INBOUND_QUEUE_URL`, `EVENT_BUS_NAME`,
    /// `MAX_WEBHOOK_BODY_BYTES`, optional `PUBLIC_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: String::new(),
            },
            inbound_queue_url: required("INBOUND_QUEUE_URL")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            max_body_bytes: parsed("MAX_WEBHOOK_BODY_BYTES")?,
            public_base_url: optional("PUBLIC_BASE_URL").filter(|u| !u.trim().is_empty()),
        })
    }
}

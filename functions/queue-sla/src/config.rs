//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use lambda_support::env::{ConfigError, optional, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory (queues, managers) and conversation (offers, evaluations) tables.
    pub tables: Tables,
    /// The event bus (`queue.sla_below_threshold`, `queue.sla_recovered`).
    pub event_bus_name: String,
    /// The verified SES sender of the managers' e-mail; unset: no e-mail.
    pub mail_from: Option<String>,
}

impl Config {
    /// Reads `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `EVENT_BUS_NAME`, optional
    /// `SLA_MAIL_FROM`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: String::new(),
            },
            event_bus_name: required("EVENT_BUS_NAME")?,
            mail_from: optional("SLA_MAIL_FROM"),
        })
    }
}

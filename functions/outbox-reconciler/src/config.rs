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
    /// The SLA breach timer queue.
    pub sla_timer_queue_url: String,
    /// The event bus (lifecycle events left in the event outbox).
    pub event_bus_name: String,
}

impl Config {
    /// Reads `CONVERSATION_TABLE_NAME`, `INBOUND_QUEUE_URL`, `OUTBOUND_QUEUE_URL`, `SLA_TIMER_QUEUE_URL`, `EVENT_BUS_NAME`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables { conversation: required("CONVERSATION_TABLE_NAME")?, ..Tables::default() },
            inbound_queue_url: required("INBOUND_QUEUE_URL")?,
            outbound_queue_url: required("OUTBOUND_QUEUE_URL")?,
            sla_timer_queue_url: required("SLA_TIMER_QUEUE_URL")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
        })
    }
}

//! Configuration from the environment template.yaml declares for this function.

use std::time::Duration;

use adapters::dynamodb::Tables;
use domain::provider::ProviderEndpoints;
use domain::services::sending::RetryPolicy;
use lambda_support::env::{ConfigError, optional, parsed, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Directory and conversation tables.
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The sending queue (re-delays and retries).
    pub outbound_queue_url: String,
    /// The event bus.
    pub event_bus_name: String,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Where the providers' APIs are: the real ones, or all at `PROVIDER_API_BASE_URL` when set
    /// (a local stack's sandbox provider).
    pub endpoints: ProviderEndpoints,
    /// The public base URL of our webhooks (`CALLBACK_BASE_URL`): providers that take a status
    /// callback URL per message are given the channel's webhook URL under it.
    pub callback_base_url: Option<String>,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `OUTBOUND_QUEUE_URL`,
    /// `EVENT_BUS_NAME`, `SENDER_MAX_ATTEMPTS`, `SENDER_RETRY_BASE_SECONDS`, optional
    /// `PROVIDER_API_BASE_URL`, `CALLBACK_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_attempts: u32 = parsed("SENDER_MAX_ATTEMPTS")?;
        let base_seconds: u64 = parsed("SENDER_RETRY_BASE_SECONDS")?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid { name: "SENDER_MAX_ATTEMPTS", reason: "must be at least 1".into() });
        }
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: String::new(),
            },
            outbound_queue_url: required("OUTBOUND_QUEUE_URL")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            retry: RetryPolicy { max_attempts, base_delay: Duration::from_secs(base_seconds) },
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
            callback_base_url: optional("CALLBACK_BASE_URL")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
        })
    }
}

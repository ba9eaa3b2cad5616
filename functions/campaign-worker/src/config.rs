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
    /// The sending queue (retries; messages a crash left unsent).
    pub outbound_queue_url: String,
    /// The campaign queue (the next slice, waits).
    pub campaign_queue_url: String,
    /// The message-files bucket (MMS campaigns).
    pub files_bucket: String,
    /// The event bus.
    pub event_bus_name: String,
    /// Provider attempts and backoff (as the sender's).
    pub retry: RetryPolicy,
    /// How long one invocation sends before handing on (`CAMPAIGN_SLICE_SECONDS`).
    pub slice: Duration,
    /// Where the providers' APIs are.
    pub endpoints: ProviderEndpoints,
    /// The public base URL of our webhooks (status callbacks).
    pub callback_base_url: Option<String>,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`,
    /// `OUTBOUND_QUEUE_URL`, `CAMPAIGN_QUEUE_URL`, `MESSAGE_FILES_BUCKET`, `EVENT_BUS_NAME`,
    /// `SENDER_MAX_ATTEMPTS`, `SENDER_RETRY_BASE_SECONDS`, `CAMPAIGN_SLICE_SECONDS`, optional
    /// `PROVIDER_API_BASE_URL`, `CALLBACK_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let max_attempts: u32 = parsed("SENDER_MAX_ATTEMPTS")?;
        let base_seconds: u64 = parsed("SENDER_RETRY_BASE_SECONDS")?;
        let slice_seconds: u64 = parsed("CAMPAIGN_SLICE_SECONDS")?;
        if max_attempts == 0 {
            return Err(ConfigError::Invalid { name: "SENDER_MAX_ATTEMPTS", reason: "must be at least 1".into() });
        }
        if !(1..=600).contains(&slice_seconds) {
            return Err(ConfigError::Invalid { name: "CAMPAIGN_SLICE_SECONDS", reason: "must be 1 to 600".into() });
        }
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: String::new(),
            },
            outbound_queue_url: required("OUTBOUND_QUEUE_URL")?,
            campaign_queue_url: required("CAMPAIGN_QUEUE_URL")?,
            files_bucket: required("MESSAGE_FILES_BUCKET")?,
            event_bus_name: required("EVENT_BUS_NAME")?,
            retry: RetryPolicy { max_attempts, base_delay: Duration::from_secs(base_seconds) },
            slice: Duration::from_secs(slice_seconds),
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
            callback_base_url: optional("CALLBACK_BASE_URL")
                .map(|u| u.trim().trim_end_matches('/').to_owned())
                .filter(|u| !u.is_empty()),
        })
    }
}

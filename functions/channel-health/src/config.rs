//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use domain::provider::ProviderEndpoints;
use lambda_support::env::{ConfigError, optional, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory table (channels).
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The event bus (`channel.health_changed`).
    pub event_bus_name: String,
    /// Where the providers' APIs are: the real ones, or all at `PROVIDER_API_BASE_URL` when set.
    pub endpoints: ProviderEndpoints,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `EVENT_BUS_NAME`, optional `PROVIDER_API_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables { directory: required("DIRECTORY_TABLE_NAME")?, ..Tables::default() },
            event_bus_name: required("EVENT_BUS_NAME")?,
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
        })
    }
}

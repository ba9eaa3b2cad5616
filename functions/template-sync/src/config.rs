//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use domain::provider::ProviderEndpoints;
use lambda_support::env::{ConfigError, optional, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory table (channels, templates, template ids).
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// Where Meta's Graph API is: the real one, or `PROVIDER_API_BASE_URL` when set.
    pub endpoints: ProviderEndpoints,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, optional `PROVIDER_API_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables { directory: required("DIRECTORY_TABLE_NAME")?, ..Tables::default() },
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
        })
    }
}

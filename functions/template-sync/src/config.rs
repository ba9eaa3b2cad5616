//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use domain::provider::ProviderEndpoints;
use lambda_support::env::{ConfigError, optional, required};

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The directory table (channels, templates, template ids).
    pub tables: Tables,
    /// Where Meta's Graph API is: the real one, or `PROVIDER_API_BASE_URL` when set.
    pub endpoints: ProviderEndpoints,
}

impl Config {
    /// Reads `DIRECTORY_TABLE_NAME`, optional `PROVIDER_API_BASE_URL`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            tables: Tables { directory: required("DIRECTORY_TABLE_NAME")?, ..Tables::default() },
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
        })
    }
}

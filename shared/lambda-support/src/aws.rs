//! The AWS SDK configuration. Endpoints come from the SDK's standard settings
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), which is how the local stack points the
//! same binaries at the emulator; there is no "is local" branch anywhere.

use aws_config::{BehaviorVersion, SdkConfig};

/// Loads the default configuration chain (region, credentials, endpoints).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

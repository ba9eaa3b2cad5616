//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::kms::KmsVault;
use adapters::s3::S3Exports;
use adapters::system::SystemClock;
use chat_log_export::{config::Config, handler};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
            .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id)),
        storage: S3Exports::new(adapters::s3::client(&sdk), config.bucket),
        clock: SystemClock,
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::http::ReqwestProvider;
use adapters::kms::KmsVault;
use adapters::system::{OsRandom, SystemClock};
use channel_health::{config::Config, handler};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
            .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id)),
        provider: ReqwestProvider::new()?,
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        random: OsRandom,
        clock: SystemClock,
        endpoints: config.endpoints,
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::kms::KmsVault;
use adapters::sqs::SqsQueue;
use lambda_runtime::{Error, service_fn};
use router::{config::Config, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
        .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id));
    let deps = handler::Deps {
        store,
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        timers: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.sla_timer_queue_url),
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::kms::KmsVault;
use adapters::sqs::SqsQueue;
use adapters::system::SystemClock;
use lambda_http::{Error, service_fn};
use webhook_ingest::{config::Config, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
        .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id));
    let deps = handler::Deps {
        channels: store.clone(),
        inbox: store.clone(),
        queue: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.inbound_queue_url),
        receipts: store,
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        clock: SystemClock,
        max_body_bytes: config.max_body_bytes,
        public_base_url: config.public_base_url,
    };
    lambda_http::run(service_fn(|request| handler::handle(&deps, request))).await
}

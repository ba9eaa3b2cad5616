//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::files::S3FileObjects;
use adapters::http::ReqwestProvider;
use adapters::kms::KmsVault;
use adapters::sqs::SqsQueue;
use adapters::system::SystemClock;
use campaign_worker::{config::Config, handler};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
            .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id))
            .with_files(S3FileObjects::new(adapters::s3::client(&sdk), config.files_bucket)),
        outbound: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.outbound_queue_url),
        work: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.campaign_queue_url),
        provider: ReqwestProvider::new()?,
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        clock: SystemClock,
        retry: config.retry,
        slice: config.slice,
        endpoints: config.endpoints,
        callback_base_url: config.callback_base_url,
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::files::S3FileObjects;
use adapters::kms::KmsVault;
use adapters::sqs::{SendQueues, SqsQueue};
use adapters::system::SystemClock;
use agent_api::{config::Config, handler};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
            .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id))
            .with_files(S3FileObjects::new(adapters::s3::client(&sdk), config.message_files_bucket)),
        outbound: SendQueues {
            outbound: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.outbound_queue_url),
            sla_timers: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.sla_timer_queue_url),
        },
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        clock: SystemClock,
    };
    lambda_http::run(service_fn(|request| handler::handle(&deps, request))).await
}

//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::http::ReqwestProvider;
use adapters::sqs::SqsQueue;
use adapters::system::SystemClock;
use domain::services::event_push::PushConfig;
use event_push::{config::Config, handler};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let deps = handler::Deps {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables),
        retries: SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), config.event_push_queue_url),
        http: ReqwestProvider::new()?,
        clock: SystemClock,
        config: PushConfig { sn: config.sn, retry_base_secs: config.retry_base_secs },
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

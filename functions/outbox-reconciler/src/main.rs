//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::sqs::{SqsQueue, SqsQueues};
use adapters::system::SystemClock;
use lambda_runtime::{Error, service_fn};
use outbox_reconciler::{config::Config, handler};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let deps = handler::Deps {
        outbox: DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables),
        queues: SqsQueues {
            inbound: SqsQueue::new(sqs.clone(), config.inbound_queue_url),
            outbound: SqsQueue::new(sqs.clone(), config.outbound_queue_url),
            sla_timers: SqsQueue::new(sqs, config.sla_timer_queue_url),
        },
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        clock: SystemClock,
    };
    lambda_runtime::run(service_fn(|event| handler::handle(&deps, event))).await
}

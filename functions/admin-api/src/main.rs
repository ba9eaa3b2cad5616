//! Wiring only: tracing, configuration, SDK clients, dependencies, run.

use adapters::dynamodb::DynamoStore;
use adapters::eventbridge::EventBridgePublisher;
use adapters::http::ReqwestProvider;
use adapters::kms::KmsVault;
use adapters::system::{OsRandom, SystemClock};
use admin_api::{config::Config, handler};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_support::telemetry::init();
    let config = Config::from_env()?;
    let sdk = lambda_support::aws::sdk_config().await;
    let mut store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.tables)
        .with_vault(KmsVault::new(aws_sdk_kms::Client::new(&sdk), config.credentials_key_id));
    if let Some(bucket) = config.files_bucket {
        store = store.with_files(adapters::files::S3FileObjects::new(adapters::s3::client(&sdk), bucket));
    }
    let deps = handler::Deps {
        store,
        random: OsRandom,
        clock: SystemClock,
        admin: config.admin,
        public_base_url: config.public_base_url,
        url_policy: config.url_policy,
        extension_capacity: config.extension_capacity,
        provider: ReqwestProvider::new()?,
        endpoints: config.endpoints,
        events: EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), config.event_bus_name),
        chat_log_exports: config.chat_log_exports.map(|(bucket, queue_url)| admin_api::chat_log::ChatLogExports {
            storage: adapters::s3::S3Exports::new(adapters::s3::client(&sdk), bucket),
            queue: adapters::s3::SqsExportQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
        }),
        campaigns: config.campaigns.map(|(queue_url, default_time_zone)| admin_api::campaign::Campaigns {
            queue: adapters::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), queue_url),
            default_time_zone,
        }),
    };
    lambda_http::run(service_fn(|request| handler::handle(&deps, request))).await
}

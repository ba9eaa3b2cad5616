//! Configuration from the environment template.yaml declares for this function.

use adapters::dynamodb::Tables;
use domain::channel::UrlPolicy;
use domain::provider::ProviderEndpoints;
use domain::secret::Secret;
use domain::services::tokens::AdminClient;
use lambda_support::env::{ConfigError, optional, required};

/// The plan size assumed when none is configured (the smallest tier).
const DEFAULT_EXTENSION_CAPACITY: u32 = 50;

/// This function's settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// All three tables.
    pub tables: Tables,
    /// The KMS key that seals channel credentials (`CREDENTIALS_KEY_ID`).
    pub credentials_key_id: String,
    /// The public base URL (webhook URLs are built on it), if configured.
    pub public_base_url: Option<String>,
    /// The bootstrap administrator client.
    pub admin: AdminClient,
    /// Which provider URL schemes channels may use.
    pub url_policy: UrlPolicy,
    /// Where the providers' APIs are (Meta's Graph API for template sync): the real ones, or all
    /// at `PROVIDER_API_BASE_URL` when set.
    pub endpoints: ProviderEndpoints,
    /// The event bus.
    pub event_bus_name: String,
    /// The organisation's plan size in extensions (message-queue limits).
    pub extension_capacity: u32,
    /// Chat-log exports: the bucket (`CHAT_LOG_EXPORT_BUCKET`) and the export function's queue
    /// (`CHAT_LOG_EXPORT_QUEUE_URL`); `None` when either is unset.
    pub chat_log_exports: Option<(String, String)>,
    /// Message campaigns: the worker's queue (`CAMPAIGN_QUEUE_URL`) and the organisation's time
    /// zone (`DEFAULT_TIME_ZONE`, IANA, default UTC); `None` when the queue is unset.
    pub campaigns: Option<(String, String)>,
    /// The message-files bucket (`MESSAGE_FILES_BUCKET`): CSV recipient lists and MMS files.
    pub files_bucket: Option<String>,
}

impl Config {
    /// Reads `CREDENTIALS_KEY_ID`, `DIRECTORY_TABLE_NAME`, `CONVERSATION_TABLE_NAME`, `AUTH_TABLE_NAME`,
    /// `PUBLIC_BASE_URL` (may be empty), `ADMIN_CLIENT_ID`, `ADMIN_CLIENT_SECRET`,
    /// `ALLOW_HTTP_PROVIDER_URLS`, `EVENT_BUS_NAME`, optional `PROVIDER_API_BASE_URL` and
    /// `EXTENSION_CAPACITY`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let secret = required("ADMIN_CLIENT_SECRET")?;
        if secret.len() < 16 {
            return Err(ConfigError::Invalid {
                name: "ADMIN_CLIENT_SECRET",
                reason: "must be at least 16 characters".into(),
            });
        }
        let url_policy = match optional("ALLOW_HTTP_PROVIDER_URLS").as_deref() {
            Some("true") => UrlPolicy::AllowHttp,
            None | Some("false") => UrlPolicy::HttpsOnly,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "ALLOW_HTTP_PROVIDER_URLS",
                    reason: format!("'{other}' is not true or false"),
                });
            }
        };
        Ok(Self {
            credentials_key_id: required("CREDENTIALS_KEY_ID")?,
            tables: Tables {
                directory: required("DIRECTORY_TABLE_NAME")?,
                conversation: required("CONVERSATION_TABLE_NAME")?,
                auth: required("AUTH_TABLE_NAME")?,
            },
            public_base_url: optional("PUBLIC_BASE_URL"),
            admin: AdminClient { client_id: required("ADMIN_CLIENT_ID")?, client_secret: Secret::new(secret) },
            url_policy,
            endpoints: ProviderEndpoints::configured(optional("PROVIDER_API_BASE_URL").as_deref()),
            event_bus_name: required("EVENT_BUS_NAME")?,
            chat_log_exports: optional("CHAT_LOG_EXPORT_BUCKET").zip(optional("CHAT_LOG_EXPORT_QUEUE_URL")),
            campaigns: match optional("CAMPAIGN_QUEUE_URL") {
                None => None,
                Some(queue) => {
                    let zone = optional("DEFAULT_TIME_ZONE").unwrap_or_else(|| "UTC".to_owned());
                    if !domain::campaign::valid_time_zone(&zone) {
                        return Err(ConfigError::Invalid {
                            name: "DEFAULT_TIME_ZONE",
                            reason: format!("'{zone}' is not an IANA time zone"),
                        });
                    }
                    Some((queue, zone))
                }
            },
            files_bucket: optional("MESSAGE_FILES_BUCKET"),
            extension_capacity: match optional("EXTENSION_CAPACITY") {
                None => DEFAULT_EXTENSION_CAPACITY,
                Some(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
                    name: "EXTENSION_CAPACITY",
                    reason: format!("'{v}' is not a whole number of extensions"),
                })?,
            },
        })
    }
}

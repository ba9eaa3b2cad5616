//! Use cases of Yeastar event push: turn a domain event into reports and deliver each to every
//! subscribed webhook (one attempt now; a failed attempt is queued again with a growing delay,
//! per webhook, until `webhook_event_push_retry_count` re-sends are used up, then parked), retry a
//! queued delivery, redeliver a parked one, and read and change the settings.

use futures::future::join_all;
use tracing::{info, warn};

use crate::channel::UrlPolicy;
use crate::event_push::{
    AfterFailure, Delivery, EventDetailIn, ParkedDelivery, PushTrigger, Report, WebhookSettings, WebhookTarget,
    after_failure, attempt_outcome, attempt_request, report_for, secret_from_random,
};
use crate::message::Direction;
use crate::openapi::ApiError;
use crate::openapi::webhook::{SettingsUpdate, parse_update};
use crate::ports::{
    Clock, OutboundLedger, ParkedDeliveries, ProviderHttp, PushRetries, Random, SessionStore, StoreError,
    WebhookSettingsStore,
};
use crate::secret::Secret;

/// How many of a session's latest messages are searched for the customer's last one when the
/// session is transferred to the platform.
const TRANSFER_LOOKBACK: usize = 50;

/// What the event-push use cases need.
pub struct PushPorts<'a, S, Q, H, K> {
    /// Settings, parked deliveries and the messages the reports are made of.
    pub store: &'a S,
    /// The event-push queue (retries).
    pub retries: &'a Q,
    /// HTTP to the webhooks.
    pub http: &'a H,
    /// Time.
    pub clock: &'a K,
}

/// Deployment settings of event push.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The envelope's `sn` (Yeastar: the PBX serial number; ours: the stack name).
    pub sn: String,
    /// The first retry's delay; each next one is three times longer (capped at 900 s).
    pub retry_base_secs: u32,
}

/// What became of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// The webhook answered 2xx.
    Delivered,
    /// It failed; another attempt is queued.
    RetryQueued {
        /// After this many seconds.
        delay_secs: u32,
    },
    /// It failed and the retries are used up: parked.
    Parked,
}

/// What pushing one domain event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// The event makes no report (not the platform's, or not a reported change).
    NoReport,
    /// Event push is disabled, or no webhook subscribes to the report's event.
    NotSubscribed,
    /// Attempted on each subscribed webhook.
    Attempted(Vec<AttemptResult>),
}

/// Why a push must be retried (the whole queue message comes back).
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PushError {
    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Store(e) => e.retryable,
        }
    }
}

/// The settings as stored, or the defaults.
pub async fn settings<S: WebhookSettingsStore>(store: &S) -> Result<WebhookSettings, StoreError> {
    Ok(store.webhook_settings().await?.unwrap_or_default())
}

/// Pushes the reports of one domain event.
pub async fn push_event<S, Q, H, K>(
    ports: &PushPorts<'_, S, Q, H, K>,
    config: &PushConfig,
    detail: &EventDetailIn,
) -> Result<PushOutcome, PushError>
where
    S: WebhookSettingsStore + ParkedDeliveries + OutboundLedger + SessionStore,
    Q: PushRetries,
    H: ProviderHttp,
    K: Clock,
{
    let Some(trigger) = PushTrigger::of(detail) else { return Ok(PushOutcome::NoReport) };
    let settings = settings(ports.store).await?;
    if !settings.enabled || settings.targets.is_empty() {
        return Ok(PushOutcome::NotSubscribed);
    }
    let Some(report) = report_of(ports.store, &trigger, &detail.event_id).await? else {
        return Ok(PushOutcome::NoReport);
    };
    let targets: Vec<&WebhookTarget> = settings.targets_for(report.event).collect();
    if targets.is_empty() {
        return Ok(PushOutcome::NotSubscribed);
    }
    let body = report.body(&config.sn);
    info!(report_id = report.id.as_str(), webhooks = targets.len(), "pushing report");
    let attempts =
        targets.iter().map(|t| attempt(ports, config, &settings, t, Delivery::first(&report, body.clone(), t)));
    let results = join_all(attempts).await.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(PushOutcome::Attempted(results))
}

async fn report_of<S: OutboundLedger + SessionStore>(
    store: &S,
    trigger: &PushTrigger,
    event_id: &str,
) -> Result<Option<Report>, StoreError> {
    if let PushTrigger::CampaignFailed { campaign_id, total, failed } = trigger {
        return Ok(Some(crate::event_push::bulk_sending_failed(event_id, *campaign_id, *total, *failed)));
    }
    let message = match (trigger.message(), trigger) {
        (Some((session, msg)), _) => store.message(session, msg).await?,
        (None, PushTrigger::TransferredToApi { session_id }) => store
            .messages(*session_id, None, TRANSFER_LOOKBACK)
            .await?
            .into_iter()
            .find(|m| m.direction == Direction::Inbound),
        (None, _) => None,
    };
    let Some(message) = message else {
        warn!(event_id, "the message of the event is not stored; no report");
        return Ok(None);
    };
    Ok(report_for(trigger, event_id, &message))
}

/// One attempt of `delivery` to `target`; on failure the next attempt is queued, or the
/// delivery parked when the retries are used up.
async fn attempt<S, Q, H, K>(
    ports: &PushPorts<'_, S, Q, H, K>,
    config: &PushConfig,
    settings: &WebhookSettings,
    target: &WebhookTarget,
    mut delivery: Delivery,
) -> Result<AttemptResult, StoreError>
where
    S: ParkedDeliveries,
    Q: PushRetries,
    H: ProviderHttp,
    K: Clock,
{
    let response = ports.http.execute(&attempt_request(&delivery, target, settings.timeout())).await;
    let reason = match attempt_outcome(&response) {
        Ok(()) => {
            info!(report_id = delivery.report_id.as_str(), url = delivery.url.as_str(), "report delivered");
            return Ok(AttemptResult::Delivered);
        }
        Err(reason) => reason,
    };
    delivery.failed_attempts += 1;
    delivery.last_error = reason;
    warn!(
        report_id = delivery.report_id.as_str(),
        url = delivery.url.as_str(),
        failed_attempts = delivery.failed_attempts,
        error = delivery.last_error.as_str(),
        "report delivery failed"
    );
    match after_failure(delivery.failed_attempts, settings.retry_count, config.retry_base_secs) {
        AfterFailure::RetryIn(delay_secs) => {
            ports.retries.retry_later(&delivery, delay_secs).await?;
            Ok(AttemptResult::RetryQueued { delay_secs })
        }
        AfterFailure::Park => {
            let parked = ParkedDelivery { id: delivery.parked_id(), delivery, parked_at: ports.clock.now() };
            ports.store.park_delivery(&parked).await?;
            warn!(parked_id = parked.id.as_str(), "report delivery parked after its retries");
            Ok(AttemptResult::Parked)
        }
    }
}

/// What became of a queued retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// Attempted.
    Attempted(AttemptResult),
    /// The webhook is no longer configured, or push was disabled: the delivery is dropped.
    Abandoned,
}

/// The next attempt of a queued delivery, with the webhook's current secret, method and timeout.
pub async fn retry_delivery<S, Q, H, K>(
    ports: &PushPorts<'_, S, Q, H, K>,
    config: &PushConfig,
    delivery: Delivery,
) -> Result<RetryOutcome, PushError>
where
    S: WebhookSettingsStore + ParkedDeliveries,
    Q: PushRetries,
    H: ProviderHttp,
    K: Clock,
{
    let settings = settings(ports.store).await?;
    let Some(target) = settings.target(&delivery.url) else {
        warn!(
            report_id = delivery.report_id.as_str(),
            url = delivery.url.as_str(),
            "the webhook is no longer configured (or push is disabled); retry dropped"
        );
        return Ok(RetryOutcome::Abandoned);
    };
    Ok(RetryOutcome::Attempted(attempt(ports, config, &settings, target, delivery).await?))
}

/// What redelivering a parked delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedeliverOutcome {
    /// Delivered; no longer parked.
    Delivered,
    /// Failed again (why); it stays parked with the new failure.
    Failed(String),
    /// No such parked delivery.
    NotFound,
    /// Its webhook is no longer configured or push is disabled.
    NotConfigured,
}

/// One attempt of a parked delivery now (an administrator's `webhook/redeliver`).
pub async fn redeliver<S, H, K>(store: &S, http: &H, clock: &K, id: &str) -> Result<RedeliverOutcome, StoreError>
where
    S: WebhookSettingsStore + ParkedDeliveries,
    H: ProviderHttp,
    K: Clock,
{
    let Some(mut parked) = store.parked_delivery(id).await? else { return Ok(RedeliverOutcome::NotFound) };
    let settings = settings(store).await?;
    let request = match settings.target(&parked.delivery.url) {
        Some(target) => attempt_request(&parked.delivery, target, settings.timeout()),
        None => return Ok(RedeliverOutcome::NotConfigured),
    };
    let outcome = attempt_outcome(&http.execute(&request).await);
    match outcome {
        Ok(()) => {
            store.remove_parked_delivery(id).await?;
            info!(parked_id = id, "parked report redelivered");
            Ok(RedeliverOutcome::Delivered)
        }
        Err(reason) => {
            parked.delivery.failed_attempts += 1;
            parked.delivery.last_error = reason.clone();
            parked.parked_at = clock.now();
            store.park_delivery(&parked).await?;
            Ok(RedeliverOutcome::Failed(reason))
        }
    }
}

/// Why `webhook/update` did nothing.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Bad input.
    #[error("refused: {0:?}")]
    Refused(ApiError),
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `webhook/update`: validates, fills missing secrets (the stored one of the same URL, else a
/// generated one) and stores the settings; nothing is written on any error.
pub async fn update_settings<S: WebhookSettingsStore, R: Random>(
    store: &S,
    random: &R,
    body: &serde_json::Value,
    url_policy: UrlPolicy,
) -> Result<WebhookSettings, SettingsError> {
    let update = parse_update(body, url_policy).map_err(SettingsError::Refused)?;
    let stored = settings(store).await?;
    let next = apply(stored, update, random);
    store.put_webhook_settings(&next).await?;
    Ok(next)
}

fn apply<R: Random>(stored: WebhookSettings, update: SettingsUpdate, random: &R) -> WebhookSettings {
    let targets = match update.targets {
        None => stored.targets.clone(),
        Some(drafts) => drafts
            .into_iter()
            .map(|d| {
                let secret = d
                    .secret
                    .or_else(|| stored.targets.iter().find(|t| t.url == d.url).map(|t| t.secret.clone()))
                    .unwrap_or_else(|| generate_secret(random));
                WebhookTarget { url: d.url, secret, method: d.method, events: d.events }
            })
            .collect(),
    };
    WebhookSettings {
        enabled: update.enabled.unwrap_or(stored.enabled),
        targets,
        timeout_secs: update.timeout_secs.unwrap_or(stored.timeout_secs),
        retry_count: update.retry_count.unwrap_or(stored.retry_count),
    }
}

fn generate_secret<R: Random>(random: &R) -> Secret {
    for _ in 0..8 {
        if let Some(secret) = secret_from_random(&random.bytes::<96>()) {
            return secret;
        }
    }
    // a random source that keeps drawing high bytes (a test double): fold them into range
    let bytes: Vec<u8> = random.bytes::<96>().iter().map(|b| b % 248).collect();
    secret_from_random(&bytes).unwrap_or_else(|| Secret::new(hex::encode(&bytes[..16])))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::cell::{Cell, RefCell};

    use serde_json::json;

    use super::*;
    use crate::event_push::{EventSelection, RequestMethod};

    #[derive(Default)]
    struct Store {
        settings: RefCell<Option<WebhookSettings>>,
        writes: Cell<u32>,
    }

    impl WebhookSettingsStore for Store {
        async fn webhook_settings(&self) -> Result<Option<WebhookSettings>, StoreError> {
            Ok(self.settings.borrow().clone())
        }
        async fn put_webhook_settings(&self, settings: &WebhookSettings) -> Result<(), StoreError> {
            self.writes.set(self.writes.get() + 1);
            *self.settings.borrow_mut() = Some(settings.clone());
            Ok(())
        }
    }

    struct Bytes(u8);
    impl Random for Bytes {
        fn bytes<const N: usize>(&self) -> [u8; N] {
            std::array::from_fn(|i| (i as u8).wrapping_mul(7).wrapping_add(self.0) % 200)
        }
    }

    fn body(entries: serde_json::Value) -> serde_json::Value {
        json!({"enb_webhook_event_push": 1, "webhook_event_push_list": entries})
    }

    #[tokio::test]
    async fn when_a_secret_is_left_out_should_keep_the_urls_secret_or_generate_one() {
        let store = Store::default();
        let first = body(json!([
            {"url": "https://a.example.com/", "request_method": "POST", "event_ids": [0]},
            {"url": "https://b.example.com/", "secret": "b-secret-0123456789", "request_method": "GET",
             "event_ids": [30031, 30038]}
        ]));
        let s = update_settings(&store, &Bytes(1), &first, UrlPolicy::HttpsOnly).await.unwrap();
        let generated = s.targets[0].secret.expose().to_owned();
        assert_eq!(generated.len(), 32);
        assert_eq!(s.targets[1].method, RequestMethod::Get);
        assert_eq!((s.timeout_secs, s.retry_count), (5, 3), "defaults");

        // re-sending the list without secrets keeps each URL's secret; a new URL gets a new one
        let second = json!({"webhook_event_push_list": [
            {"url": "https://b.example.com/", "request_method": "POST", "event_ids": [0]},
            {"url": "https://a.example.com/", "request_method": "POST", "event_ids": [30032]},
            {"url": "https://c.example.com/", "request_method": "POST", "event_ids": [0]}
        ], "webhook_event_push_timeout": 10});
        let s = update_settings(&store, &Bytes(2), &second, UrlPolicy::HttpsOnly).await.unwrap();
        assert_eq!(s.targets[0].secret.expose(), "b-secret-0123456789");
        assert_eq!(s.targets[1].secret.expose(), generated);
        assert_ne!(s.targets[2].secret.expose(), generated);
        assert!(s.enabled, "left-out fields keep their values");
        assert_eq!(s.timeout_secs, 10);
        assert_eq!(s.targets[0].events, EventSelection::All);
    }

    #[tokio::test]
    async fn when_the_update_is_invalid_should_write_nothing() {
        let store = Store::default();
        let bad = json!({"webhook_event_push_timeout": 30});
        assert!(matches!(
            update_settings(&store, &Bytes(1), &bad, UrlPolicy::HttpsOnly).await,
            Err(SettingsError::Refused(_))
        ));
        assert_eq!(store.writes.get(), 0);
        assert_eq!(settings(&store).await.unwrap(), WebhookSettings::default());
    }
}

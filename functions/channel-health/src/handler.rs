//! Scheduled event → `check_channels`. A store failure fails the invocation (EventBridge retries
//! it); an overlapping run is safe because a result is recorded only if no later check is.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::ports::{ChannelHealthLedger, ChannelReader, Clock, EventPublisher, ProviderHttp, Random};
use domain::provider::ProviderEndpoints;
use domain::services::channel_health::{HealthPorts, check_channels};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, H, E, R, K> {
    /// Channels and their recorded status (one DynamoDB store in production).
    pub store: S,
    /// Provider HTTP.
    pub provider: H,
    /// The event bus.
    pub events: E,
    /// Challenges.
    pub random: R,
    /// Time.
    pub clock: K,
    /// Where the providers' APIs are.
    pub endpoints: ProviderEndpoints,
}

/// Handles one scheduled run; answers what it did.
pub async fn handle<S, H, E, R, K>(
    deps: &Deps<S, H, E, R, K>,
    event: LambdaEvent<EventBridgeEvent<Value>>,
) -> Result<Value, Error>
where
    S: ChannelReader + ChannelHealthLedger,
    H: ProviderHttp,
    E: EventPublisher,
    R: Random,
    K: Clock,
{
    let span =
        info_span!("channel_health", scheduled_time = event.payload.time.map(|t| t.to_rfc3339()).unwrap_or_default());
    let ports = HealthPorts {
        channels: &deps.store,
        ledger: &deps.store,
        provider: &deps.provider,
        events: &deps.events,
        random: &deps.random,
        clock: &deps.clock,
        endpoints: &deps.endpoints,
    };
    let report = check_channels(&ports).instrument(span).await?;
    Ok(json!({
        "due": report.due,
        "checked": report.checked,
        "changed": report.changed,
        "not_checkable": report.not_checkable,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::fixtures::general_channel;
    use adapters::memory::{CountingRandom, InMemoryEvents, InMemoryStore, ManualClock, ScriptedProvider};
    use domain::channel::{ChannelStatus, ProviderUrl, UrlPolicy};
    use domain::credentials::Credentials;
    use domain::events::DomainEvent;
    use domain::health::ChannelHealth;
    use domain::ids::ChannelId;
    use domain::ports::ChannelWriter;
    use domain::provider::{HttpMethod, ProviderResponse, RequestAuth};
    use domain::secret::Secret;
    use domain::time::Timestamp;
    use domain::webhook::Headers;

    const SAMPLE: &str = include_str!("../../../events/channel-health.scheduled.json");
    type TestDeps = Deps<InMemoryStore, ScriptedProvider, InMemoryEvents, CountingRandom, ManualClock>;

    /// Channel 1: General with a verify URL.
    async fn deps() -> TestDeps {
        let deps = Deps {
            store: InMemoryStore::new(),
            provider: ScriptedProvider::new(),
            events: InMemoryEvents::new(),
            random: CountingRandom::default(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            endpoints: ProviderEndpoints::default(),
        };
        let mut channel = general_channel(1, 1, None, &[]);
        if let Credentials::General { creds, .. } = &mut channel.credentials {
            creds.verify_url = Some(ProviderUrl::parse("https://sp.example.com/verify", UrlPolicy::HttpsOnly).unwrap());
        }
        deps.store.insert_channel(&channel).await.unwrap().unwrap();
        deps
    }

    fn event() -> LambdaEvent<EventBridgeEvent<Value>> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    async fn status(deps: &TestDeps) -> ChannelStatus {
        deps.store.channel(ChannelId::new(1).unwrap()).await.unwrap().unwrap().status
    }

    fn changes(deps: &TestDeps) -> Vec<(Option<ChannelHealth>, ChannelHealth)> {
        deps.events
            .published()
            .into_iter()
            .filter_map(|e| match e {
                DomainEvent::ChannelHealthChanged { previous, current, .. } => Some((previous, current)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_new_channel_is_checked_by_the_next_run_then_every_interval_and_changes_are_announced() {
        let deps = deps().await;
        assert_eq!(status(&deps).await, ChannelStatus::NotChecked);
        deps.provider.script([http(401, r#"{"errors":[{"code":"10004","title":"Authentication failed"}]}"#)]);
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report, json!({"due": 1, "checked": 1, "changed": 1, "not_checkable": 0}));
        let call = &deps.provider.calls()[0];
        assert_eq!(call.method, HttpMethod::Get);
        assert!(call.url.starts_with("https://sp.example.com/verify?challenge="), "{}", call.url);
        assert_eq!(call.auth, RequestAuth::Bearer(Secret::new("sandbox-api-key")));
        let first = deps.clock.now();
        assert_eq!(status(&deps).await, ChannelStatus::Checked { health: ChannelHealth::Unauthorized, at: first });

        // not due again before the interval
        deps.clock.advance(Duration::from_secs(60));
        assert_eq!(handle(&deps, event()).await.unwrap()["due"], 0);
        assert_eq!(deps.provider.calls().len(), 1);

        // the same result again: recorded, not announced again
        deps.clock.advance(Duration::from_secs(4 * 60));
        deps.provider.script([http(403, "")]);
        assert_eq!(handle(&deps, event()).await.unwrap()["changed"], 0);

        // the provider's service fails: a change
        deps.clock.advance(Duration::from_secs(5 * 60));
        deps.provider.script([http(500, "oops")]);
        assert_eq!(handle(&deps, event()).await.unwrap()["changed"], 1);
        assert_eq!(
            changes(&deps),
            [
                (None, ChannelHealth::Unauthorized),
                (Some(ChannelHealth::Unauthorized), ChannelHealth::ServiceUnavailable)
            ]
        );
    }

    #[tokio::test]
    async fn a_channel_whose_provider_offers_no_check_keeps_its_status() {
        let deps = deps().await;
        let mut channel = general_channel(2, 1, None, &[]);
        channel.webhook_token = domain::ids::WebhookToken::parse("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb").unwrap();
        deps.store.insert_channel(&channel).await.unwrap().unwrap(); // no verify URL
        deps.provider.script([http(401, "")]);
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!(report["not_checkable"], 1);
        assert_eq!(report["checked"], 1);
        let second = deps.store.channel(ChannelId::new(2).unwrap()).await.unwrap().unwrap();
        assert_eq!(second.status, ChannelStatus::NotChecked);
    }

    #[tokio::test]
    async fn an_older_check_finishing_after_a_newer_one_is_not_recorded() {
        let deps = deps().await;
        let later = deps.clock.now().plus(Duration::from_secs(1));
        deps.store.record_health(ChannelId::new(1).unwrap(), ChannelHealth::Connected, later).await.unwrap();
        deps.provider.script([http(500, "")]);
        let report = handle(&deps, event()).await.unwrap();
        assert_eq!((report["checked"].as_u64(), report["changed"].as_u64()), (Some(0), Some(0)));
        assert_eq!(status(&deps).await, ChannelStatus::Checked { health: ChannelHealth::Connected, at: later });
    }
}

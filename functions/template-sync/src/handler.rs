//! Scheduled event → `sync_due`. A store failure fails the invocation (EventBridge retries it);
//! a channel whose Graph read fails is left as it was and tried again next hour. Overlapping
//! runs are safe: a sync replaces the set idempotently and keeps template ids.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use domain::ports::{ChannelReader, Clock, ProviderHttp, Sequences, TemplateStore};
use domain::provider::ProviderEndpoints;
use domain::services::templates::{TemplateSyncPorts, sync_due};
use lambda_runtime::{Error, LambdaEvent};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, H, K> {
    /// Channels, templates and id sequences (one DynamoDB store in production).
    pub store: S,
    /// Graph API HTTP.
    pub provider: H,
    /// Time.
    pub clock: K,
    /// Where Graph is.
    pub endpoints: ProviderEndpoints,
}

/// Handles one scheduled run; answers what it did.
pub async fn handle<S, H, K>(deps: &Deps<S, H, K>, event: LambdaEvent<EventBridgeEvent<Value>>) -> Result<Value, Error>
where
    S: ChannelReader + TemplateStore + Sequences,
    H: ProviderHttp,
    K: Clock,
{
    let span =
        info_span!("template_sync", scheduled_time = event.payload.time.map(|t| t.to_rfc3339()).unwrap_or_default());
    let ports = TemplateSyncPorts {
        channels: &deps.store,
        store: &deps.store,
        provider: &deps.provider,
        sequences: &deps.store,
        clock: &deps.clock,
        endpoints: &deps.endpoints,
    };
    let report = sync_due(&ports).instrument(span).await?;
    Ok(json!({"channels": report.channels, "synced": report.synced, "failed": report.failed}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::fixtures::{general_channel, whatsapp_channel};
    use adapters::memory::{InMemoryStore, ManualClock, ScriptedProvider};
    use domain::ids::ChannelId;
    use domain::ports::ChannelWriter;
    use domain::provider::ProviderResponse;
    use domain::time::Timestamp;
    use domain::webhook::Headers;

    const SAMPLE: &str = include_str!("../../../events/template-sync.scheduled.json");
    type TestDeps = Deps<InMemoryStore, ScriptedProvider, ManualClock>;

    fn template(id: &str, name: &str, status: &str) -> serde_json::Value {
        json!({"id": id, "name": name, "language": "en_US", "status": status, "category": "UTILITY",
               "parameter_format": "POSITIONAL",
               "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today."}]})
    }

    fn page(data: Vec<serde_json::Value>, after: Option<&str>) -> ProviderResponse {
        let mut body = json!({"data": data});
        if let Some(after) = after {
            body["paging"] = json!({"cursors": {"before": "b", "after": after}, "next": "https://graph.example/next"});
        }
        ProviderResponse::Http { status: 200, headers: Headers::default(), body: body.to_string().into_bytes() }
    }

    async fn deps() -> TestDeps {
        let store = InMemoryStore::new();
        store.insert_channel(&whatsapp_channel(1, &[])).await.unwrap().unwrap();
        store.insert_channel(&general_channel(2, 1, None, &[])).await.unwrap().unwrap();
        Deps {
            store,
            provider: ScriptedProvider::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            endpoints: ProviderEndpoints::default(),
        }
    }

    fn event() -> LambdaEvent<EventBridgeEvent<Value>> {
        LambdaEvent::new(serde_json::from_str(SAMPLE).unwrap(), lambda_runtime::Context::default())
    }

    #[tokio::test]
    async fn a_run_reads_every_page_keeps_approved_templates_and_keeps_their_ids_across_syncs() {
        let deps = deps().await;
        deps.provider.script([
            page(vec![template("111", "order_update", "APPROVED"), template("222", "draft", "PENDING")], Some("c1")),
            page(vec![template("333", "shipping", "APPROVED")], None),
        ]);
        let out = handle(&deps, event()).await.unwrap();
        assert_eq!(out, json!({"channels": 1, "synced": 1, "failed": 0}));
        let calls = deps.provider.calls();
        assert_eq!(calls.len(), 2, "only the WhatsApp channel, both pages");
        assert!(
            calls[0].url.starts_with("https://graph.facebook.com/v21.0/102290129340398/message_templates?"),
            "{}",
            calls[0].url
        );
        assert!(calls[1].url.ends_with("&after=c1"), "{}", calls[1].url);
        let channel = ChannelId::new(1).unwrap();
        let first = deps.store.templates(channel).await.unwrap();
        let names: Vec<&str> = first.iter().map(|t| t.template.name.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"order_update") && names.contains(&"shipping"));

        // Not due again within a day.
        deps.clock.advance(Duration::from_secs(3600));
        assert_eq!(handle(&deps, event()).await.unwrap()["synced"], 0);

        // A day later: "shipping" is gone, "order_update" keeps its id, a new one gets a new id.
        deps.clock.advance(Duration::from_secs(24 * 3600));
        deps.provider.script([page(
            vec![template("111", "order_update", "APPROVED"), template("444", "welcome", "APPROVED")],
            None,
        )]);
        assert_eq!(handle(&deps, event()).await.unwrap()["synced"], 1);
        let second = deps.store.templates(channel).await.unwrap();
        let id_of = |set: &[domain::ports::StoredTemplate], name: &str| {
            set.iter().find(|t| t.template.name == name).map(|t| t.id)
        };
        assert_eq!(id_of(&second, "order_update"), id_of(&first, "order_update"));
        assert_eq!(id_of(&second, "shipping"), None);
        assert!(id_of(&second, "welcome").is_some_and(|id| Some(id) != id_of(&first, "shipping")));
    }

    #[tokio::test]
    async fn a_failed_graph_read_changes_nothing_and_is_tried_again_next_run() {
        let deps = deps().await;
        deps.provider.script([page(vec![template("111", "order_update", "APPROVED")], None)]);
        handle(&deps, event()).await.unwrap();
        deps.clock.advance(Duration::from_secs(25 * 3600));
        deps.provider.script([ProviderResponse::Http {
            status: 400,
            headers: Headers::default(),
            body: br#"{"error":{"message":"Error validating access token","type":"OAuthException","code":190}}"#
                .to_vec(),
        }]);
        let out = handle(&deps, event()).await.unwrap();
        assert_eq!(out, json!({"channels": 1, "synced": 0, "failed": 1}));
        assert_eq!(deps.store.templates(ChannelId::new(1).unwrap()).await.unwrap().len(), 1, "kept as it was");
        deps.provider.script([page(vec![], None)]);
        assert_eq!(handle(&deps, event()).await.unwrap()["synced"], 1, "still due, so the next run syncs");
        assert!(deps.store.templates(ChannelId::new(1).unwrap()).await.unwrap().is_empty());
    }
}

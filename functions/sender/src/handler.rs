//! SQS batch → `deliver` per record. Records of a batch run concurrently, so a batch's messages
//! wait for their slots side by side. Retryable failures of our own dependencies are reported as
//! batch item failures; provider failures are handled inside `deliver` (retry jobs, final state).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::message::OutboundJob;
use domain::ports::{
    ChannelReader, Clock, EventPublisher, OutboundLedger, OutboundQueue, Pacer, ProviderHttp, ReceiptLedger,
    SessionStore,
};
use domain::provider::ProviderEndpoints;
use domain::services::sending::{DeliveryError, DeliveryPorts, RetryPolicy, deliver};
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, O, H, E, K> {
    /// Ledger, sessions, channels and pacer (one DynamoDB store in production).
    pub store: S,
    /// The sending queue.
    pub outbound: O,
    /// Provider HTTP.
    pub provider: H,
    /// The event bus.
    pub events: E,
    /// Time.
    pub clock: K,
    /// Attempts and backoff.
    pub retry: RetryPolicy,
    /// Where the providers' APIs are.
    pub endpoints: ProviderEndpoints,
    /// The public base URL of our webhooks (status callbacks are asked for under it).
    pub callback_base_url: Option<String>,
}

/// Handles one batch.
pub async fn handle<S, O, H, E, K>(
    deps: &Deps<S, O, H, E, K>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error>
where
    S: OutboundLedger + ReceiptLedger + SessionStore + ChannelReader + Pacer,
    O: OutboundQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let ports = DeliveryPorts {
        ledger: &deps.store,
        sessions: &deps.store,
        channels: &deps.store,
        pacer: &deps.store,
        outbound: &deps.outbound,
        provider: &deps.provider,
        events: &deps.events,
        clock: &deps.clock,
        endpoints: &deps.endpoints,
        callback_base: deps.callback_base_url.as_deref(),
    };
    Ok(process_batch(event.payload, |job: OutboundJob| {
        let ports = &ports;
        let span =
            info_span!("deliver", session_id = %job.session_id, msg_id = %job.msg_id, channel_id = %job.channel_id);
        async move { outcome_of(deliver(ports, deps.retry, &job).await, DeliveryError::is_retryable) }.instrument(span)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock, ScriptedProvider};
    use domain::channel::Destination;
    use domain::events::DomainEvent;
    use domain::ids::{ChannelId, ExtensionId, ExtensionNumber, SessionId};
    use domain::inbound::InboundJob;
    use domain::message::Sender;
    use domain::message::{DeliveryState, Receipt, ReportedStatus, SendErrorCode, prompts};
    use domain::ports::{ChannelWriter, Inbox, StatsReader};
    use domain::provider::{ProviderResponse, RequestAuth};
    use domain::secret::Secret;
    use domain::services::receipts::{ReportOutcome, apply_report};
    use domain::services::routing::{RoutingPorts, route_inbound};
    use domain::services::sending::{AcceptPorts, AgentMessage, MessageTarget, accept_agent_message};
    use domain::session::Actor;
    use domain::time::Timestamp;
    use domain::webhook::{Headers, StatusReport};
    use serde_json::json;

    const SAMPLE: &str = include_str!("../../../events/sender.sqs-batch.json");
    type TestDeps = Deps<InMemoryStore, InMemoryQueues, ScriptedProvider, InMemoryEvents, ManualClock>;

    async fn deps(rate: u16) -> TestDeps {
        deps_with_clock(rate, ManualClock::new(Timestamp::from_millis(1_795_000_000_000))).await
    }

    async fn deps_with_clock(rate: u16, clock: ManualClock) -> TestDeps {
        let deps = Deps {
            store: InMemoryStore::new(),
            outbound: InMemoryQueues::new(),
            provider: ScriptedProvider::new(),
            events: InMemoryEvents::new(),
            clock,
            retry: RetryPolicy { max_attempts: 3, base_delay: Duration::from_secs(2) },
            endpoints: ProviderEndpoints::default(),
            callback_base_url: Some("https://sms.example.com".into()),
        };
        {
            let channel = general_channel(
                1,
                rate,
                None,
                &[("+14102161183", Destination::Extension(ExtensionId::new(7).unwrap()))],
            );
            deps.store.insert_channel(&channel).await.unwrap().unwrap();
        }
        deps
    }

    /// A customer message opens session 1 (owned by extension 7); the agent replies `n` times.
    async fn agent_replies(deps: &TestDeps, n: usize) -> Vec<OutboundJob> {
        let record = pending_inbound("in-1", "+8618012121222", "+14102161183", "hi", deps.clock.now());
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let timers = adapters::memory::InMemoryQueues::new();
        let routing = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &deps.events,
            timers: &timers,
        };
        route_inbound(&routing, &InboundJob { key }).await.unwrap();
        let accept = AcceptPorts {
            sessions: &deps.store,
            channels: &deps.store,
            queues: &deps.store,
            sequences: &deps.store,
            outbound: &deps.outbound,
            events: &deps.events,
            clock: &deps.clock,
            templates: &deps.store,
        };
        for i in 0..n {
            accept_agent_message(
                &accept,
                AgentMessage {
                    target: MessageTarget::Session(SessionId::new(1).unwrap()),
                    actor: Actor::Extension(ExtensionId::new(7).unwrap()),
                    sender: Sender::Extension {
                        id: ExtensionId::new(7).unwrap(),
                        number: ExtensionNumber::parse("1000").unwrap(),
                    },
                    text: format!("reply {i}"),
                    template: None,
                },
            )
            .await
            .unwrap();
        }
        deps.outbound.take_outbound().into_iter().map(|(job, _)| job).collect()
    }

    fn batch(jobs: &[OutboundJob]) -> LambdaEvent<SqsEvent> {
        let records: Vec<serde_json::Value> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| json!({"messageId": format!("r{i}"), "body": serde_json::to_string(j).unwrap(), "attributes": {}}))
            .collect();
        LambdaEvent::new(
            serde_json::from_value(json!({"Records": records})).unwrap(),
            lambda_runtime::Context::default(),
        )
    }

    async fn message(deps: &TestDeps, job: &OutboundJob) -> domain::message::Message {
        OutboundLedger::message(&deps.store, job.session_id, job.msg_id).await.unwrap().unwrap()
    }

    fn http(status: u16, body: &str) -> ProviderResponse {
        ProviderResponse::Http { status, headers: Headers::default(), body: body.as_bytes().to_vec() }
    }

    #[tokio::test]
    async fn the_sample_event_parses_and_unknown_messages_are_acknowledged() {
        let deps = deps(1).await;
        let event: SqsEvent = serde_json::from_str(SAMPLE).unwrap();
        let response = handle(&deps, LambdaEvent::new(event, lambda_runtime::Context::default())).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert!(deps.provider.calls().is_empty());
    }

    #[tokio::test]
    async fn when_the_provider_accepts_should_record_sent_count_it_and_announce_it() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        handle(&deps, batch(&jobs)).await.unwrap();
        let calls = deps.provider.calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].auth, RequestAuth::Bearer(Secret::new("sandbox-api-key")));
        let body: serde_json::Value = serde_json::from_slice(&calls[0].body.as_ref().unwrap().1).unwrap();
        assert_eq!(body, json!({"from": "+14102161183", "to": "+8618012121222", "text": "reply 0"}));
        let m = message(&deps, &jobs[0]).await;
        assert!(
            matches!(m.delivery, DeliveryState::Sent { ref provider_message_id, .. } if provider_message_id == "provider-msg-1")
        );
        assert!(m.events_published);
        let stats = deps.store.number_stats(ChannelId::new(1).unwrap(), "+14102161183", None).await.unwrap();
        assert_eq!((stats.sent, stats.failed, stats.agent), (1, 0, 1));
        assert!(deps.events.published().iter().any(|e| e.event_id() == format!("message.sent:{}", jobs[0].msg_id)));
        assert_eq!(deps.store.outbound_due(jobs[0].session_id, jobs[0].msg_id), None, "left the outbox");
    }

    fn report(status: ReportedStatus, at_ms: i64) -> StatusReport {
        StatusReport { provider_message_id: "provider-msg-1".into(), status, at: Timestamp::from_millis(at_ms) }
    }

    fn receipt_events(deps: &TestDeps) -> Vec<String> {
        deps.events
            .published()
            .iter()
            .filter(|e| matches!(e, DomainEvent::MessageReceipt { .. }))
            .map(DomainEvent::event_id)
            .collect()
    }

    #[tokio::test]
    async fn when_delivery_reports_arrive_after_the_send_should_apply_them_and_never_downgrade() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        handle(&deps, batch(&jobs)).await.unwrap();
        let channel = ChannelId::new(1).unwrap();
        let msg = jobs[0].msg_id;

        let deps = &deps;
        let apply =
            |r: StatusReport| async move { apply_report(&deps.store, &deps.events, channel, &r).await.unwrap() };
        assert_eq!(apply(report(ReportedStatus::Sent, 1)).await, ReportOutcome::NotAReceipt);
        assert_eq!(apply(report(ReportedStatus::Delivered, 2)).await, ReportOutcome::Applied);
        assert_eq!(message(deps, &jobs[0]).await.receipt.unwrap().status, ReportedStatus::Delivered);
        assert_eq!(apply(report(ReportedStatus::Read, 3)).await, ReportOutcome::Applied);
        // late and repeated callbacks: a weaker one changes nothing, a repeat re-applies the same
        assert_eq!(apply(report(ReportedStatus::Delivered, 4)).await, ReportOutcome::Superseded);
        let failed = ReportedStatus::Failed { code: Some("131026".into()), reason: None };
        assert_eq!(apply(report(failed, 5)).await, ReportOutcome::Superseded);
        assert_eq!(apply(report(ReportedStatus::Read, 3)).await, ReportOutcome::Applied);

        let m = message(deps, &jobs[0]).await;
        assert_eq!(m.receipt, Some(Receipt { status: ReportedStatus::Read, at: Timestamp::from_millis(3) }));
        assert!(matches!(m.delivery, DeliveryState::Sent { .. }), "the send result stays");
        assert_eq!(m.yeastar_status(), 1);
        assert_eq!(
            receipt_events(deps),
            [
                format!("message.receipt:{msg}:delivered"),
                format!("message.receipt:{msg}:read"),
                format!("message.receipt:{msg}:read")
            ]
        );
    }

    #[tokio::test]
    async fn when_a_delivery_report_beats_the_send_result_should_apply_it_when_the_send_is_recorded() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        let channel = ChannelId::new(1).unwrap();
        let undelivered =
            ReportedStatus::Undelivered { code: Some("30003".into()), reason: Some("Unreachable".into()) };
        let early = apply_report(&deps.store, &deps.events, channel, &report(undelivered.clone(), 9)).await.unwrap();
        assert_eq!(early, ReportOutcome::AwaitingSend);
        assert_eq!(message(&deps, &jobs[0]).await.receipt, None);

        handle(&deps, batch(&jobs)).await.unwrap();
        let m = message(&deps, &jobs[0]).await;
        assert_eq!(m.receipt.clone().map(|r| r.status), Some(undelivered));
        assert_eq!(m.yeastar_status(), 2, "the carrier's failure shows as failed");
        assert_eq!(receipt_events(&deps), [format!("message.receipt:{}:undelivered", jobs[0].msg_id)]);
        assert!(m.events_published);
    }

    #[tokio::test]
    async fn when_a_report_names_a_message_of_another_channel_should_not_touch_ours() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        handle(&deps, batch(&jobs)).await.unwrap();
        let other = ChannelId::new(2).unwrap();
        let outcome = apply_report(&deps.store, &deps.events, other, &report(ReportedStatus::Read, 1)).await.unwrap();
        assert_eq!(outcome, ReportOutcome::AwaitingSend);
        assert_eq!(message(&deps, &jobs[0]).await.receipt, None);
    }

    #[tokio::test]
    async fn when_a_sent_message_is_redelivered_should_not_call_the_provider_again() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        handle(&deps, batch(&jobs)).await.unwrap();
        handle(&deps, batch(&jobs)).await.unwrap();
        handle(&deps, batch(&jobs)).await.unwrap();
        assert_eq!(deps.provider.calls().len(), 1);
    }

    #[tokio::test]
    async fn when_the_provider_refuses_should_fail_with_the_seed_prompt() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        deps.provider
            .script([http(400, r#"{"errors":[{"code":"10001","title":"Invalid 'to' address","detail":"bad"}]}"#)]);
        handle(&deps, batch(&jobs)).await.unwrap();
        let m = message(&deps, &jobs[0]).await;
        let DeliveryState::Failed { reason, .. } = m.delivery else { panic!("not failed: {m:?}") };
        assert_eq!(reason.code, SendErrorCode::InvalidPhoneNumber);
        assert_eq!(reason.prompt, prompts::INVALID_PHONE_NUMBER);
        let stats = deps.store.number_stats(ChannelId::new(1).unwrap(), "+14102161183", None).await.unwrap();
        assert_eq!((stats.sent, stats.failed), (0, 1));
        assert!(matches!(deps.events.published().last(), Some(DomainEvent::MessageFailed { .. })));
    }

    #[tokio::test]
    async fn when_failures_are_transient_should_retry_with_backoff_then_fail() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        deps.provider.script([http(503, ""), http(503, ""), http(503, "")]);
        handle(&deps, batch(&jobs)).await.unwrap();
        let retry = deps.outbound.take_outbound();
        assert_eq!(retry.len(), 1);
        assert_eq!(retry[0].1, 2, "first retry after the base delay");
        assert_eq!(message(&deps, &jobs[0]).await.delivery, DeliveryState::Queued);

        deps.clock.advance(Duration::from_secs(2));
        handle(&deps, batch(&[retry[0].0.clone()])).await.unwrap();
        let retry = deps.outbound.take_outbound();
        assert_eq!(retry[0].1, 4, "doubles");

        deps.clock.advance(Duration::from_secs(4));
        handle(&deps, batch(&[retry[0].0.clone()])).await.unwrap();
        assert!(deps.outbound.take_outbound().is_empty(), "no retry after the last attempt");
        let m = message(&deps, &jobs[0]).await;
        assert_eq!(m.attempts, 3);
        assert!(
            matches!(m.delivery, DeliveryState::Failed { ref reason, .. } if reason.prompt == prompts::FAILED_TO_SEND)
        );
        assert_eq!(deps.provider.calls().len(), 3);
    }

    #[tokio::test]
    async fn when_the_provider_says_too_many_requests_should_push_the_channel_schedule_back() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 1).await;
        let headers = Headers::from_pairs([("Retry-After", "30")]);
        deps.provider.script([ProviderResponse::Http { status: 429, headers, body: vec![] }]);
        handle(&deps, batch(&jobs)).await.unwrap();
        let paused = deps.store.paused_until(ChannelId::new(1).unwrap()).await.unwrap().unwrap();
        assert_eq!(paused, deps.clock.now().plus(Duration::from_secs(30)));
        let retry = deps.outbound.take_outbound();
        assert_eq!(retry[0].1, 30, "waits at least what the provider asked");
        // the next reservation starts after the pause
        let slot = deps
            .store
            .reserve(ChannelId::new(1).unwrap(), Duration::from_millis(1050), deps.clock.now())
            .await
            .unwrap();
        assert!(slot >= paused);
    }

    #[tokio::test]
    async fn when_slots_are_far_away_should_wait_in_the_queue_with_their_slots_then_send() {
        let deps = deps(1).await;
        let jobs = agent_replies(&deps, 3).await;
        let channel = ChannelId::new(1).unwrap();
        // a backlog: the channel's schedule is 10 s ahead
        deps.store.reserve(channel, Duration::from_secs(10), deps.clock.now()).await.unwrap();
        handle(&deps, batch(&jobs)).await.unwrap();
        assert!(deps.provider.calls().is_empty(), "nothing is sent before its slot");
        let mut requeued = deps.outbound.take_outbound();
        assert_eq!(requeued.len(), 3);
        requeued.sort_by_key(|(j, _)| j.slot);
        let slots: Vec<Timestamp> = requeued.iter().map(|(j, _)| j.slot.unwrap()).collect();
        let start = deps.clock.now();
        assert_eq!(
            slots,
            vec![
                start.plus(Duration::from_secs(10)),
                start.plus(Duration::from_millis(11_100)),
                start.plus(Duration::from_millis(12_200)),
            ]
        );
        let delays: Vec<u32> = requeued.iter().map(|(_, d)| *d).collect();
        assert_eq!(delays, vec![9, 10, 11], "each arrives about a second before its slot");
        for (job, _) in &requeued {
            assert_eq!(message(&deps, job).await.delivery, DeliveryState::Queued);
        }
        // they come back early and wait for their own slot
        for (job, delay) in &requeued {
            deps.clock.advance(Duration::from_secs(u64::from(*delay)).saturating_sub(deps.clock.now().since(start)));
            handle(&deps, batch(std::slice::from_ref(job))).await.unwrap();
            assert!(deps.clock.now() >= job.slot.unwrap());
        }
        assert_eq!(deps.provider.calls().len(), 3);
        assert!(deps.outbound.take_outbound().is_empty());
    }

    #[tokio::test]
    async fn when_every_store_round_trip_is_slow_should_reserve_further_ahead_and_still_send() {
        // Each step takes longer than the slot tolerance: reserving "now" again and again would
        // miss every slot and never send.
        let slow = Duration::from_millis(200);
        let deps = deps_with_clock(10, ManualClock::ticking(Timestamp::from_millis(1_795_000_000_000), slow)).await;
        let jobs = agent_replies(&deps, 3).await;
        for job in &jobs {
            handle(&deps, batch(std::slice::from_ref(job))).await.unwrap();
        }
        assert_eq!(deps.provider.calls().len(), 3, "each reply is sent in its own invocation");
        assert!(deps.outbound.take_outbound().is_empty(), "none had to go back to the queue");
        for job in &jobs {
            assert!(matches!(message(&deps, job).await.delivery, DeliveryState::Sent { .. }));
        }
    }

    #[tokio::test]
    async fn a_whatsapp_template_message_goes_out_as_a_cloud_api_template() {
        use domain::ports::{StoredTemplate, TemplateStore, TemplateSync};
        use domain::whatsapp_template::{TemplateMessage, parse_template_page, select_for_sync};

        let deps = deps(1).await;
        let channel_id = ChannelId::new(2).unwrap();
        let channel = adapters::memory::fixtures::whatsapp_channel(
            2,
            &[("+15550783881", Destination::Extension(ExtensionId::new(7).unwrap()))],
        );
        deps.store.insert_channel(&channel).await.unwrap().unwrap();
        let page = r#"{"data": [{"id": "1667192013751005", "name": "order_update", "language": "en_US",
            "status": "APPROVED", "category": "UTILITY",
            "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today."}]}]}"#;
        let template = select_for_sync(parse_template_page(page.as_bytes()).unwrap().templates).templates.remove(0);
        let sync = TemplateSync {
            synced_at: deps.clock.now(),
            kept: 1,
            not_approved: 0,
            catalog: 0,
            over_limit: 0,
            invalid: 0,
        };
        deps.store
            .replace_templates(channel_id, &[], &[StoredTemplate { id: 579, channel_id, template }], &sync)
            .await
            .unwrap();
        // the customer writes on WhatsApp (session 1, extension 7's)
        let mut record = pending_inbound("wamid.in", "+8618012121222", "+15550783881", "hi", deps.clock.now());
        record.key.channel_id = channel_id;
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let timers = InMemoryQueues::new();
        let routing = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &deps.events,
            timers: &timers,
        };
        route_inbound(&routing, &InboundJob { key }).await.unwrap();
        let accept = AcceptPorts {
            sessions: &deps.store,
            channels: &deps.store,
            queues: &deps.store,
            sequences: &deps.store,
            outbound: &deps.outbound,
            events: &deps.events,
            clock: &deps.clock,
            templates: &deps.store,
        };
        let param = r#"{"id": 579, "name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "BODY", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]}"#;
        let reply = AgentMessage {
            target: MessageTarget::Session(SessionId::new(1).unwrap()),
            actor: Actor::Extension(ExtensionId::new(7).unwrap()),
            sender: Sender::Extension {
                id: ExtensionId::new(7).unwrap(),
                number: ExtensionNumber::parse("1000").unwrap(),
            },
            text: String::new(),
            template: Some(TemplateMessage::parse(param).unwrap()),
        };
        accept_agent_message(&accept, reply).await.unwrap();
        let jobs: Vec<OutboundJob> = deps.outbound.take_outbound().into_iter().map(|(job, _)| job).collect();
        deps.provider.script([http(200, r#"{"messaging_product":"whatsapp","messages":[{"id":"wamid.out"}]}"#)]);
        handle(&deps, batch(&jobs)).await.unwrap();
        let calls = deps.provider.calls();
        assert_eq!(calls[0].url, "https://graph.facebook.com/v21.0/106540352242922/messages");
        let body: serde_json::Value = serde_json::from_slice(&calls[0].body.as_ref().unwrap().1).unwrap();
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "8618012121222",
                   "type": "template", "template": {"name": "order_update", "language": {"code": "en_US"},
                   "components": [{"type": "body", "parameters": [
                       {"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]}})
        );
        let m = message(&deps, &jobs[0]).await;
        assert!(
            matches!(m.delivery, DeliveryState::Sent { ref provider_message_id, .. } if provider_message_id == "wamid.out")
        );
        assert_eq!(m.text.as_deref(), Some("Hello Ann, your order 42 ships today."));
    }
}

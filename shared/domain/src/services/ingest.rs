//! Use case: accept a provider webhook. Verify it, parse it, store it durably, hand it to routing.
//!
//! Order matters (decisions.md "Webhooks in"): every check happens before anything is stored, so
//! a rejected request changes nothing; the record is stored before the webhook is acknowledged,
//! so an acknowledged message is never lost; a repeated delivery finds its record and changes
//! nothing. If handing the record to the routing queue fails, the webhook is still acknowledged:
//! the record sits in the outbox and the reconciler hands it on. Delivery reports are applied to
//! our outbound messages (see [`crate::services::receipts`]) after the messages are stored.

use tracing::{info, warn};

use crate::channel::Provider;
use crate::ids::WebhookToken;
use crate::inbound::{InboundJob, InboundKey, InboundMessage, InboundRecord, InboundState};
use crate::phone::BusinessNumber;
use crate::ports::{ChannelReader, Clock, EventPublisher, InboundQueue, Inbox, InboxInsert, ReceiptLedger, StoreError};
use crate::services::receipts::{self, ReportOutcome};
use crate::webhook::{self, Headers, WebhookEvent, WebhookInput, WebhookRejection};

/// An HTTP request to `/api/v1.0/webhook/{provider}/{token}` as the domain sees it.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRequest<'a> {
    /// `{provider}` path segment.
    pub provider: &'a str,
    /// `{token}` path segment.
    pub token: &'a str,
    /// Headers.
    pub headers: &'a Headers,
    /// Raw body bytes, exactly as received.
    pub body: &'a [u8],
    /// The URL the provider called, as it saw it (Twilio signs it).
    pub public_url: &'a str,
}

/// The ports ingest uses.
pub struct IngestPorts<'a, C, I, Q, R, E, K> {
    /// Channel lookup by webhook.
    pub channels: &'a C,
    /// The inbox.
    pub inbox: &'a I,
    /// The routing queue.
    pub queue: &'a Q,
    /// Delivery receipts.
    pub receipts: &'a R,
    /// The event bus (receipt events).
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
}

/// What happened to an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOutcome {
    /// Each message it carried.
    pub messages: Vec<StoredMessage>,
    /// What became of each delivery report it carried.
    pub reports: Vec<ReportOutcome>,
}

/// What happened to one message of an accepted webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredMessage {
    /// Stored now.
    Stored {
        /// Its key.
        key: InboundKey,
        /// Whether it reached the routing queue (else the outbox will hand it on).
        enqueued: bool,
    },
    /// Seen before; nothing changed.
    Duplicate {
        /// Its key.
        key: InboundKey,
    },
}

/// Why ingest failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request is refused (nothing stored).
    #[error(transparent)]
    Rejected(#[from] WebhookRejection),
    /// The store failed before the record was safely stored: the provider should retry.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers a provider's subscription handshake on the webhook URL (Meta's `GET` with
/// `hub.mode`, `hub.verify_token`, `hub.challenge`): the challenge to echo.
pub async fn handshake<C, I, Q, R, E, K>(
    ports: &IngestPorts<'_, C, I, Q, R, E, K>,
    provider: &str,
    token: &str,
    query: &str,
) -> Result<String, IngestError>
where
    C: ChannelReader,
{
    let provider = Provider::from_slug(provider).ok_or(WebhookRejection::UnknownChannel)?;
    let token = WebhookToken::parse(token).map_err(|_| WebhookRejection::UnknownChannel)?;
    let channel = ports
        .channels
        .channel_by_webhook(provider, &token)
        .await?
        .filter(|c| c.enabled && c.provider() == provider)
        .ok_or(WebhookRejection::UnknownChannel)?;
    let meta = channel.credentials.meta().ok_or(WebhookRejection::HandshakeRefused)?;
    Ok(webhook::meta::handshake(&meta.verify_token, query)?)
}

/// Runs the use case.
pub async fn ingest_webhook<C, I, Q, R, E, K>(
    ports: &IngestPorts<'_, C, I, Q, R, E, K>,
    max_body_bytes: usize,
    request: WebhookRequest<'_>,
) -> Result<IngestOutcome, IngestError>
where
    C: ChannelReader,
    I: Inbox,
    Q: InboundQueue,
    R: ReceiptLedger,
    E: EventPublisher,
    K: Clock,
{
    if request.body.len() > max_body_bytes {
        return Err(WebhookRejection::BodyTooLarge { limit: max_body_bytes }.into());
    }
    let provider = Provider::from_slug(request.provider).ok_or(WebhookRejection::UnknownChannel)?;
    let token = WebhookToken::parse(request.token).map_err(|_| WebhookRejection::UnknownChannel)?;
    let channel = ports
        .channels
        .channel_by_webhook(provider, &token)
        .await?
        .filter(|c| c.enabled && c.provider() == provider)
        .ok_or(WebhookRejection::UnknownChannel)?;

    let input = WebhookInput {
        public_url: request.public_url,
        headers: request.headers,
        body: request.body,
        now: ports.clock.now(),
    };
    let events = webhook::verify_and_parse(&channel.credentials, &input)?;

    // Every message of the request must belong to the channel before any is stored.
    let raw_body = String::from_utf8_lossy(request.body);
    let mut records = Vec::new();
    let mut reports = Vec::new();
    for event in events {
        match event {
            WebhookEvent::Message(parsed) => {
                let to: BusinessNumber = parsed
                    .to
                    .iter()
                    .find_map(|n| channel.rule_for(n).map(|rule| rule.number.clone()))
                    .ok_or(WebhookRejection::UnknownBusinessNumber)?;
                let key =
                    InboundKey { channel_id: channel.id, provider_message_id: parsed.provider_message_id.clone() };
                records.push(InboundRecord {
                    key,
                    message: InboundMessage {
                        provider_message_id: parsed.provider_message_id,
                        from: parsed.from,
                        to,
                        text: parsed.text,
                        media: parsed.media,
                        provider_timestamp: parsed.sent_at,
                        display_name: parsed.display_name,
                    },
                    accepted_at: input.now,
                    raw_body: raw_body.clone().into_owned(),
                    state: InboundState::Pending,
                });
            }
            WebhookEvent::Status(report) => reports.push(report),
        }
    }
    let mut outcomes = Vec::with_capacity(records.len());
    for record in &records {
        outcomes.push(store_one(ports, record).await?);
    }
    let mut applied = Vec::with_capacity(reports.len());
    for report in &reports {
        applied.push(receipts::apply_report(ports.receipts, ports.events, channel.id, report).await?);
    }
    Ok(IngestOutcome { messages: outcomes, reports: applied })
}

async fn store_one<C, I, Q, R, E, K>(
    ports: &IngestPorts<'_, C, I, Q, R, E, K>,
    record: &InboundRecord,
) -> Result<StoredMessage, IngestError>
where
    I: Inbox,
    Q: InboundQueue,
{
    let key = record.key.clone();
    let needs_routing = match ports.inbox.insert_pending(record).await? {
        InboxInsert::Stored => true,
        InboxInsert::Duplicate(state) => {
            info!(channel_id = %key.channel_id, provider_message_id = key.provider_message_id.as_str(), "duplicate delivery");
            // A copy that never got routed (or announced) is handed on again; routing is idempotent.
            let unfinished =
                matches!(state, InboundState::Pending | InboundState::Routed { events_published: false, .. });
            if unfinished {
                hand_on(ports.queue, &key).await;
            }
            return Ok(StoredMessage::Duplicate { key });
        }
    };
    let enqueued = needs_routing && hand_on(ports.queue, &key).await;
    info!(channel_id = %key.channel_id, provider_message_id = key.provider_message_id.as_str(), enqueued, "inbound message stored");
    Ok(StoredMessage::Stored { key, enqueued })
}

async fn hand_on<Q: InboundQueue>(queue: &Q, key: &InboundKey) -> bool {
    match queue.enqueue_inbound(&InboundJob { key: key.clone() }).await {
        Ok(()) => true,
        Err(error) => {
            warn!(error = %error, channel_id = %key.channel_id, provider_message_id = key.provider_message_id.as_str(),
                "routing queue unavailable; the outbox will hand the message on");
            false
        }
    }
}

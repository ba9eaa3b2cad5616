//! Yeastar event push (yeastar-openapi-messaging.md §3.9, §5): the `webhook/query|update`
//! settings, the reports 30030/30031/30032/30038 built from our domain events, their signature
//! (`X-Signature: base64(HMAC-SHA256(secret, raw body))`), the HTTP request of one delivery
//! attempt, the retry schedule and the deliveries parked when the retries run out.
//!
//! Every report has a stable id derived from the domain event it comes from
//! (`<event id>:<domain event id>`, e.g. `30031:message.received:42`), sent as `X-Event-Id`, so a
//! receiver de-duplicates retries and redeliveries. docs/api.md "Event push" describes the
//! delivery semantics.

use std::collections::BTreeSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::channel::ProviderUrl;
use crate::ids::{MessageId, SessionId};
use crate::message::{Direction, Message, Sender};
use crate::provider::{HttpMethod, ProviderRequest, ProviderResponse, RequestAuth};
use crate::secret::Secret;
use crate::time::Timestamp;

/// At most this many webhooks (Yeastar's UI limit).
pub const MAX_WEBHOOKS: usize = 5;
/// Shortest `webhook_event_push_timeout` (s).
pub const MIN_TIMEOUT_SECS: u8 = 3;
/// Longest `webhook_event_push_timeout` (s).
pub const MAX_TIMEOUT_SECS: u8 = 10;
/// `webhook_event_push_timeout` when never set (Yeastar's example value).
pub const DEFAULT_TIMEOUT_SECS: u8 = 5;
/// Fewest `webhook_event_push_retry_count`.
pub const MIN_RETRY_COUNT: u8 = 1;
/// Most `webhook_event_push_retry_count`.
pub const MAX_RETRY_COUNT: u8 = 5;
/// `webhook_event_push_retry_count` when never set (Yeastar's example value).
pub const DEFAULT_RETRY_COUNT: u8 = 3;
/// Length of a generated secret (Yeastar: "a system-generated 32-character key").
pub const SECRET_LEN: usize = 32;
/// Shortest secret an administrator may choose.
pub const MIN_SECRET_LEN: usize = 16;
/// Longest secret an administrator may choose.
pub const MAX_SECRET_LEN: usize = 128;
/// Longest wait between two attempts (the SQS delay limit).
pub const MAX_RETRY_DELAY_SECS: u32 = 900;
/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Signature";
/// Header carrying the report's stable id.
pub const EVENT_ID_HEADER: &str = "X-Event-Id";
/// Header carrying the report's event id (`type`).
pub const EVENT_TYPE_HEADER: &str = "X-Event-Type";
/// Query parameter carrying the report of a `GET` webhook.
pub const GET_PARAMETER: &str = "event";

/// The Yeastar events this build can push (`webhook_event_ids`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PushEvent {
    /// 30030 Bulk Message Sending Failed.
    BulkSendingFailed,
    /// 30031 New Message Notification.
    NewMessage,
    /// 30032 Message Sending Result.
    SendingResult,
    /// 30038 Read Receipt Event Notification.
    ReadReceipt,
}

impl PushEvent {
    /// Every event we deliver, in id order.
    pub const ALL: [PushEvent; 4] =
        [PushEvent::BulkSendingFailed, PushEvent::NewMessage, PushEvent::SendingResult, PushEvent::ReadReceipt];

    /// Yeastar's event id.
    pub fn id(self) -> u32 {
        match self {
            PushEvent::BulkSendingFailed => 30030,
            PushEvent::NewMessage => 30031,
            PushEvent::SendingResult => 30032,
            PushEvent::ReadReceipt => 30038,
        }
    }

    /// By Yeastar id.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.id() == id)
    }
}

/// How a webhook is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestMethod {
    /// The report in the `event` query parameter.
    Get,
    /// The report as the raw JSON body.
    Post,
}

impl RequestMethod {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestMethod::Get => "GET",
            RequestMethod::Post => "POST",
        }
    }

    /// Parses `GET` / `POST` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "GET" => Some(RequestMethod::Get),
            "POST" => Some(RequestMethod::Post),
            _ => None,
        }
    }
}

/// Which events a webhook gets (`event_ids`; `[0]` is all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSelection {
    /// Every event we deliver, including ones added later.
    All,
    /// These.
    Only(BTreeSet<PushEvent>),
}

impl EventSelection {
    /// Whether `event` is selected.
    pub fn includes(&self, event: PushEvent) -> bool {
        match self {
            EventSelection::All => true,
            EventSelection::Only(set) => set.contains(&event),
        }
    }

    /// `event_ids` as Yeastar shows them.
    pub fn ids(&self) -> Vec<u32> {
        match self {
            EventSelection::All => vec![0],
            EventSelection::Only(set) => set.iter().map(|e| e.id()).collect(),
        }
    }
}

/// One webhook (`Webhook_Entry`).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookTarget {
    /// Where reports go.
    pub url: ProviderUrl,
    /// HMAC key of `X-Signature`.
    pub secret: Secret,
    /// GET or POST.
    pub method: RequestMethod,
    /// The events it gets.
    pub events: EventSelection,
}

/// The organisation's event-push settings (one item).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// `enb_webhook_event_push`.
    pub enabled: bool,
    /// `webhook_event_push_list` (at most [`MAX_WEBHOOKS`], URLs distinct).
    pub targets: Vec<WebhookTarget>,
    /// `webhook_event_push_timeout` (s).
    pub timeout_secs: u8,
    /// `webhook_event_push_retry_count`: re-sends after a failed attempt.
    pub retry_count: u8,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            targets: Vec::new(),
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            retry_count: DEFAULT_RETRY_COUNT,
        }
    }
}

impl WebhookSettings {
    /// The webhooks that get `event` (none when push is disabled).
    pub fn targets_for(&self, event: PushEvent) -> impl Iterator<Item = &WebhookTarget> {
        self.targets.iter().filter(move |t| self.enabled && t.events.includes(event))
    }

    /// The webhook with this URL, when push is enabled and it is still configured.
    pub fn target(&self, url: &str) -> Option<&WebhookTarget> {
        self.targets.iter().find(|t| self.enabled && t.url.as_str() == url)
    }

    /// The wait for one attempt's response.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(u64::from(self.timeout_secs))
    }
}

/// A report ready to push: the envelope's `type` and `msg`, and its stable id.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Stable id (`X-Event-Id`).
    pub id: String,
    /// The event.
    pub event: PushEvent,
    /// `msg`.
    pub msg: Value,
}

impl Report {
    fn new(event: PushEvent, source_event_id: &str, msg: Value) -> Self {
        Self { id: format!("{}:{source_event_id}", event.id()), event, msg }
    }

    /// The raw body `{"type":…,"sn":…,"msg":…}` (in Yeastar's key order); the signature is over
    /// exactly these bytes.
    pub fn body(&self, sn: &str) -> String {
        format!(r#"{{"type":{},"sn":{},"msg":{}}}"#, self.event.id(), Value::from(sn), self.msg)
    }
}

/// `base64(HMAC-SHA256(secret, payload))`, the `X-Signature` value.
pub fn signature(secret: &Secret, payload: &[u8]) -> String {
    // HMAC accepts keys of any length; this cannot fail
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) else { return String::new() };
    mac.update(payload);
    STANDARD.encode(mac.finalize().into_bytes())
}

/// A 32-character alphanumeric secret from random bytes (rejection sampling: unbiased); `None`
/// when the bytes ran out (practically never; the caller draws again).
pub fn secret_from_random(bytes: &[u8]) -> Option<Secret> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let text: String = bytes
        .iter()
        .filter(|b| **b < 248) // 248 = 4 × 62
        .take(SECRET_LEN)
        .map(|b| char::from(ALPHABET[usize::from(*b % 62)]))
        .collect();
    (text.len() == SECRET_LEN).then(|| Secret::new(text))
}

// ---------------------------------------------------------------- what triggers a report

/// The `detail` of one of our EventBridge events (docs/events.md), as far as event push reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventDetailIn {
    /// Stable id of the domain event.
    pub event_id: String,
    /// Its type (the detail-type).
    pub event_type: String,
    /// When it happened (RFC 3339).
    #[serde(default)]
    pub occurred_at: Option<String>,
    /// Its data.
    #[serde(default)]
    pub data: Value,
}

/// A domain event that may produce reports, with what must be read to build them.
#[derive(Debug, Clone, PartialEq)]
pub enum PushTrigger {
    /// A customer's message in a session the platform owns (→ 30031).
    NewMessage {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
    },
    /// A session was transferred to the platform (→ 30031 with the customer's latest message).
    TransferredToApi {
        /// Session.
        session_id: SessionId,
    },
    /// A message the provider accepted (→ 30032 status 1 when the platform sent it).
    Sent {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
    },
    /// A message that will not be sent (→ 30032 status 2 when the platform sent it).
    Failed {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
    },
    /// The customer read a message (→ 30038 when the platform sent it).
    Read {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// When.
        at: Timestamp,
    },
    /// The carrier could not deliver an accepted message (→ 30032 status 2 when the platform
    /// sent it).
    Undelivered {
        /// Session.
        session_id: SessionId,
        /// Message.
        msg_id: MessageId,
        /// `provider_code: reason`.
        detail: String,
    },
    /// A message campaign finished a round with failures (→ 30030).
    CampaignFailed {
        /// The campaign (`task_id`).
        campaign_id: u64,
        /// Recipients.
        total: u64,
        /// Failed (and skipped) recipients.
        failed: u64,
    },
}

fn is_api(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("api")
}

fn id_of<T: std::str::FromStr>(data: &Value, field: &str) -> Option<T> {
    match data.get(field)? {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl PushTrigger {
    /// What a domain event means for event push (`None`: nothing to report).
    pub fn of(detail: &EventDetailIn) -> Option<Self> {
        let d = &detail.data;
        let ids = || Some((id_of::<SessionId>(d, "session_id")?, id_of::<MessageId>(d, "msg_id")?));
        match detail.event_type.as_str() {
            "message.received" if d.get("assignment").is_some_and(is_api) => {
                ids().map(|(session_id, msg_id)| PushTrigger::NewMessage { session_id, msg_id })
            }
            "session.transferred" if d.get("to").is_some_and(is_api) => {
                id_of(d, "session_id").map(|session_id| PushTrigger::TransferredToApi { session_id })
            }
            "message.sent" => ids().map(|(session_id, msg_id)| PushTrigger::Sent { session_id, msg_id }),
            "message.failed" => ids().map(|(session_id, msg_id)| PushTrigger::Failed { session_id, msg_id }),
            "campaign.completed" | "campaign.stopped" => {
                let count = |k: &str| d.get(k).and_then(Value::as_u64).unwrap_or(0);
                let failed = count("failed") + count("opted_out");
                let stopped = detail.event_type == "campaign.stopped";
                let unsent = if stopped { count("total").saturating_sub(count("sent") + failed) } else { 0 };
                (failed + unsent > 0).then(|| PushTrigger::CampaignFailed {
                    campaign_id: count("campaign_id"),
                    total: count("total"),
                    failed: failed + unsent,
                })
            }
            "message.receipt" => {
                let (session_id, msg_id) = ids()?;
                match d.get("status").and_then(Value::as_str)? {
                    "read" => {
                        let at = detail
                            .occurred_at
                            .as_deref()
                            .and_then(|t| Timestamp::parse_rfc3339(t).ok())
                            .unwrap_or(Timestamp::from_micros(0));
                        Some(PushTrigger::Read { session_id, msg_id, at })
                    }
                    "undelivered" | "failed" => {
                        let text = |k: &str| d.get(k).and_then(Value::as_str).map(str::to_owned);
                        let detail = match (text("provider_code"), text("reason")) {
                            (Some(code), Some(reason)) => format!("{code}: {reason}"),
                            (Some(t), None) | (None, Some(t)) => t,
                            (None, None) => String::new(),
                        };
                        Some(PushTrigger::Undelivered { session_id, msg_id, detail })
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The message to read (`None` for a transfer: the caller finds the latest customer message).
    pub fn message(&self) -> Option<(SessionId, MessageId)> {
        match self {
            PushTrigger::NewMessage { session_id, msg_id }
            | PushTrigger::Sent { session_id, msg_id }
            | PushTrigger::Failed { session_id, msg_id }
            | PushTrigger::Read { session_id, msg_id, .. }
            | PushTrigger::Undelivered { session_id, msg_id, .. } => Some((*session_id, *msg_id)),
            PushTrigger::TransferredToApi { .. } | PushTrigger::CampaignFailed { .. } => None,
        }
    }
}

// ---------------------------------------------------------------- reports (pure mapping)

/// The Yeastar `Msg_Record` / `Msg_Info` keys a report's `msg` keeps (our extras are left out).
const MSG_RECORD_KEYS: [&str; 15] = [
    "session_id",
    "msg_id",
    "delivery_status",
    "sender",
    "msg_kind",
    "msg_type",
    "msg_body",
    "msg_files",
    "send_time",
    "receive_time",
    "param",
    "send_error",
    "send_error_msg",
    "tag",
    "whatsapp_msg_param",
];

fn msg_record(m: &Message) -> serde_json::Map<String, Value> {
    let full = crate::openapi::sessions::message_record(m);
    MSG_RECORD_KEYS.iter().filter_map(|k| full.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect()
}

/// The report a trigger makes of the message it names (`None`: nothing to push, e.g. a status
/// of a message an agent sent, or a "delivered" receipt, which changes no Yeastar status).
pub fn report_for(trigger: &PushTrigger, source_event_id: &str, m: &Message) -> Option<Report> {
    let sent_by_api = m.direction == Direction::Outbound && m.sender == Sender::Api;
    match trigger {
        PushTrigger::NewMessage { .. } | PushTrigger::TransferredToApi { .. } => {
            (m.direction == Direction::Inbound).then(|| new_message(source_event_id, m))
        }
        PushTrigger::Sent { .. } if sent_by_api => Some(sending_result(source_event_id, m, 1, None)),
        PushTrigger::Failed { .. } if sent_by_api => Some(sending_result(source_event_id, m, 2, None)),
        PushTrigger::Undelivered { detail, .. } if sent_by_api => {
            Some(sending_result(source_event_id, m, 2, Some(detail.as_str())))
        }
        PushTrigger::Read { at, .. } if sent_by_api => Some(read_receipt(source_event_id, m, *at)),
        _ => None,
    }
}

/// 30031 New Message Notification: `msg` is the message as `message/get` shows it (Yeastar
/// `Msg_Record`; the payload page is not published, §5.4).
pub fn new_message(source_event_id: &str, m: &Message) -> Report {
    Report::new(PushEvent::NewMessage, source_event_id, Value::Object(msg_record(m)))
}

/// 30032 Message Sending Result (`Msg_Info`) with `delivery_status` 1 (sent) or 2 (failed);
/// `undelivered` is the carrier's word on a message the provider had accepted.
pub fn sending_result(source_event_id: &str, m: &Message, delivery_status: u8, undelivered: Option<&str>) -> Report {
    let mut msg = msg_record(m);
    msg.insert("delivery_status".into(), json!(delivery_status));
    if delivery_status == 1 {
        msg.insert("send_error".into(), json!(""));
        msg.insert("send_error_msg".into(), json!(""));
    }
    if let Some(detail) = undelivered {
        msg.insert("send_error".into(), json!(crate::message::SendErrorCode::SendFail.as_str()));
        msg.insert("send_error_msg".into(), json!(detail));
    }
    Report::new(PushEvent::SendingResult, source_event_id, Value::Object(msg))
}

/// 30038 Read Receipt: `msg` is a JSON *string* wrapping `{"data":{…}}`, as Yeastar's example.
pub fn read_receipt(source_event_id: &str, m: &Message, read_at: Timestamp) -> Report {
    let inner = json!({"data": {
        "session_id": m.session_id,
        "read_msg_id": m.msg_id,
        "user_id": 0,
        "read_time": read_at.as_unix_seconds(),
    }});
    Report::new(PushEvent::ReadReceipt, source_event_id, Value::String(inner.to_string()))
}

/// 30030 Bulk Message Sending Failed (campaigns): `{task_id, total, fail_count}`.
pub fn bulk_sending_failed(source_event_id: &str, task_id: u64, total: u64, fail_count: u64) -> Report {
    Report::new(
        PushEvent::BulkSendingFailed,
        source_event_id,
        json!({"task_id": task_id, "total": total, "fail_count": fail_count}),
    )
}

// ---------------------------------------------------------------- delivery

/// One report on its way to one webhook (also the retry job on the event-push queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The report's stable id.
    pub report_id: String,
    /// Yeastar event id.
    pub event_type: u32,
    /// The raw body (kept as sent first, so every attempt carries the same bytes).
    pub body: String,
    /// The webhook URL (its secret and method are read from the settings at each attempt).
    pub url: String,
    /// Attempts that failed so far.
    #[serde(default)]
    pub failed_attempts: u32,
    /// Why the last attempt failed.
    #[serde(default)]
    pub last_error: String,
}

impl Delivery {
    /// A first attempt of `report` to `target`.
    pub fn first(report: &Report, body: String, target: &WebhookTarget) -> Self {
        Self {
            report_id: report.id.clone(),
            event_type: report.event.id(),
            body,
            url: target.url.as_str().to_owned(),
            failed_attempts: 0,
            last_error: String::new(),
        }
    }

    /// The id a parked delivery gets: stable per (report, URL), so parking twice keeps one entry.
    pub fn parked_id(&self) -> String {
        let digest = Sha256::digest(format!("{}\n{}", self.report_id, self.url).as_bytes());
        hex::encode(&digest[..8])
    }
}

/// A message on the event-push queue: a domain event from the EventBridge rule, or one of our
/// retries.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PushQueueMessage {
    /// A retry (`{"push_retry": {...}}`).
    Retry {
        /// The delivery.
        push_retry: Delivery,
    },
    /// An EventBridge event.
    Event {
        /// EventBridge detail-type.
        #[serde(rename = "detail-type")]
        detail_type: String,
        /// Its detail.
        detail: EventDetailIn,
    },
}

/// The body of a retry job.
pub fn retry_job(delivery: &Delivery) -> Value {
    json!({ "push_retry": delivery })
}

/// The HTTP request of one attempt: POST with the raw JSON body, or GET with the body in the
/// `event` query parameter; `X-Signature` signs the raw JSON text either way.
pub fn attempt_request(delivery: &Delivery, target: &WebhookTarget, timeout: Duration) -> ProviderRequest {
    let mut headers = vec![
        (SIGNATURE_HEADER.to_owned(), signature(&target.secret, delivery.body.as_bytes())),
        (EVENT_ID_HEADER.to_owned(), delivery.report_id.clone()),
        (EVENT_TYPE_HEADER.to_owned(), delivery.event_type.to_string()),
    ];
    match target.method {
        RequestMethod::Post => ProviderRequest {
            method: HttpMethod::Post,
            url: target.url.as_str().to_owned(),
            auth: RequestAuth::None,
            headers,
            body: Some(("application/json".to_owned(), delivery.body.clone().into_bytes())),
            timeout,
        },
        RequestMethod::Get => {
            let mut url = target.url.as_url().clone();
            url.query_pairs_mut().append_pair(GET_PARAMETER, &delivery.body);
            headers.push(("Accept".to_owned(), "*/*".to_owned()));
            ProviderRequest {
                method: HttpMethod::Get,
                url: url.to_string(),
                auth: RequestAuth::None,
                headers,
                body: None,
                timeout,
            }
        }
    }
}

/// Whether an attempt succeeded (any 2xx); otherwise why not.
pub fn attempt_outcome(response: &ProviderResponse) -> Result<(), String> {
    match response {
        ProviderResponse::Http { status, .. } if (200..300).contains(status) => Ok(()),
        ProviderResponse::Http { status, .. } => Err(format!("HTTP {status}")),
        ProviderResponse::NoResponse { reason } => Err(reason.clone()),
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again after this many seconds.
    RetryIn(u32),
    /// The retries are used up: park it.
    Park,
}

/// The wait before retry `n` (1-based): `base`, `3·base`, `9·base`, … capped at 900 s.
pub fn retry_delay_secs(base_secs: u32, n: u32) -> u32 {
    let factor = 3u32.saturating_pow(n.saturating_sub(1));
    base_secs.max(1).saturating_mul(factor).min(MAX_RETRY_DELAY_SECS)
}

/// After `failed_attempts` failures (the first attempt included), with `retry_count` re-sends
/// allowed: another retry, or park.
pub fn after_failure(failed_attempts: u32, retry_count: u8, base_secs: u32) -> AfterFailure {
    if failed_attempts > u32::from(retry_count) {
        AfterFailure::Park
    } else {
        AfterFailure::RetryIn(retry_delay_secs(base_secs, failed_attempts))
    }
}

/// A delivery whose retries ran out, kept until an administrator redelivers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedDelivery {
    /// Stable id ([`Delivery::parked_id`]).
    pub id: String,
    /// The delivery (with its failure count and last error).
    pub delivery: Delivery,
    /// When it was parked (last failure).
    pub parked_at: Timestamp,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::channel::UrlPolicy;
    use crate::ids::ExtensionNumber;
    use crate::message::{DeliveryState, FailureReason, Origin, SendErrorCode};
    use crate::phone::CustomerAddress;

    fn sid() -> SessionId {
        SessionId::new(23).unwrap()
    }

    fn message(direction: Direction, sender: Sender, delivery: DeliveryState) -> Message {
        Message {
            session_id: sid(),
            msg_id: MessageId::new(142).unwrap(),
            channel_id: crate::ids::ChannelId::new(1).unwrap(),
            direction,
            sender,
            origin: Origin::Api,
            text: Some("hello".into()),
            media: vec![],
            created_at: Timestamp::from_unix_seconds(1_786_332_100),
            delivery,
            attempts: 1,
            provider_message_id: None,
            events_published: true,
            receipt: None,
            template: None,
        }
    }

    fn inbound() -> Message {
        let customer = CustomerAddress::parse("+8618012121222").unwrap();
        message(Direction::Inbound, Sender::Customer { address: customer }, DeliveryState::Received)
    }

    fn from_api(delivery: DeliveryState) -> Message {
        message(Direction::Outbound, Sender::Api, delivery)
    }

    fn target(method: RequestMethod) -> WebhookTarget {
        WebhookTarget {
            url: ProviderUrl::parse("https://hooks.example.com/in?x=1", UrlPolicy::HttpsOnly).unwrap(),
            secret: Secret::new("Pugghh14VCb05rtG7WGumbD4hwJPIvzu"),
            method,
            events: EventSelection::All,
        }
    }

    fn detail(event_type: &str, data: Value) -> EventDetailIn {
        EventDetailIn {
            event_id: format!("{event_type}:142"),
            event_type: event_type.into(),
            occurred_at: Some("2026-08-10T04:42:37Z".into()),
            data,
        }
    }

    #[test]
    fn when_signing_should_match_an_independent_hmac_sha256_base64() {
        // python3 -c 'import hmac,hashlib,base64;print(base64.b64encode(hmac.new(
        //   b"Pugghh14VCb05rtG7WGumbD4hwJPIvzu", b"{\"type\":30030,\"sn\":\"3631A2124788\",\"msg\":{\"fail_count\":2,\"task_id\":203,\"total\":2}}",
        //   hashlib.sha256).digest()).decode())'
        let body = r#"{"type":30030,"sn":"3631A2124788","msg":{"fail_count":2,"task_id":203,"total":2}}"#;
        assert_eq!(
            signature(&Secret::new("Pugghh14VCb05rtG7WGumbD4hwJPIvzu"), body.as_bytes()),
            "K3adVHAJCN5sk4N2823Ep07F6mdCAvihhjMxRgU9g2c="
        );
    }

    #[test]
    fn when_campaign_fails_should_build_the_30030_example_envelope() {
        let report = bulk_sending_failed("campaign.failed:203", 203, 2, 2);
        assert_eq!(report.id, "30030:campaign.failed:203");
        let body = report.body("3631A2124788");
        assert_eq!(body, r#"{"type":30030,"sn":"3631A2124788","msg":{"fail_count":2,"task_id":203,"total":2}}"#);
        let parsed: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["msg"], json!({"task_id": 203, "total": 2, "fail_count": 2}));
    }

    #[test]
    fn when_campaign_finishes_with_failures_should_trigger_30030_and_not_otherwise() {
        let done = |failed: u64, opted_out: u64| {
            PushTrigger::of(&detail(
                "campaign.completed",
                json!({"campaign_id": 7, "total": 10, "sent": 10 - failed - opted_out, "failed": failed, "opted_out": opted_out}),
            ))
        };
        assert_eq!(done(2, 1), Some(PushTrigger::CampaignFailed { campaign_id: 7, total: 10, failed: 3 }));
        assert_eq!(done(0, 0), None, "a clean run reports nothing");
        let stopped = PushTrigger::of(&detail(
            "campaign.stopped",
            json!({"campaign_id": 8, "total": 10, "sent": 4, "failed": 0, "opted_out": 0}),
        ));
        assert_eq!(stopped, Some(PushTrigger::CampaignFailed { campaign_id: 8, total: 10, failed: 6 }), "unsent count");
    }

    #[test]
    fn when_customer_writes_to_a_platform_session_should_report_30031_with_the_message_record() {
        let t = PushTrigger::of(&detail(
            "message.received",
            json!({"session_id": 23, "msg_id": 142, "assignment": {"type": "api"}}),
        ))
        .unwrap();
        let report = report_for(&t, "message.received:142", &inbound()).unwrap();
        assert_eq!(report.event, PushEvent::NewMessage);
        assert_eq!(report.id, "30031:message.received:142");
        assert_eq!(report.msg["session_id"], 23);
        assert_eq!(report.msg["msg_id"], 142);
        assert_eq!(report.msg["msg_body"], "hello");
        assert_eq!(report.msg["sender"]["user_no"], "+8618012121222");
        assert_eq!(report.msg["receive_time"], 1_786_332_100);
        assert!(report.msg.get("direction").is_none(), "only Yeastar keys");
        // a message to an agent's session reports nothing
        let agent = detail(
            "message.received",
            json!({"session_id": 23, "msg_id": 142, "assignment": {"type": "extension", "id": 1}}),
        );
        assert_eq!(PushTrigger::of(&agent), None);
    }

    #[test]
    fn when_a_session_is_transferred_to_the_platform_should_trigger_30031() {
        let t = PushTrigger::of(&detail(
            "session.transferred",
            json!({"session_id": 23, "from": {"type": "queue", "id": 1}, "to": {"type": "api"}}),
        ));
        assert_eq!(t, Some(PushTrigger::TransferredToApi { session_id: sid() }));
        let away = detail(
            "session.transferred",
            json!({"session_id": 23, "from": {"type": "api"},
                                                        "to": {"type": "queue", "id": 1}}),
        );
        assert_eq!(PushTrigger::of(&away), None);
    }

    #[test]
    fn when_a_platform_message_changes_status_should_report_30032() {
        let sent =
            from_api(DeliveryState::Sent { provider_message_id: "p".into(), at: Timestamp::from_unix_seconds(9) });
        let t = PushTrigger::of(&detail("message.sent", json!({"session_id": 23, "msg_id": 142}))).unwrap();
        let r = report_for(&t, "message.sent:142", &sent).unwrap();
        assert_eq!((r.event, r.msg["delivery_status"].clone()), (PushEvent::SendingResult, json!(1)));
        assert_eq!(r.msg["sender"]["user_type"], 9);
        assert_eq!(r.msg["send_time"], 9);

        let reason = FailureReason {
            code: SendErrorCode::AuthFail,
            prompt: "Authentication Failed".into(),
            provider_code: None,
            detail: Some("401".into()),
        };
        let failed = from_api(DeliveryState::Failed { reason, at: Timestamp::from_unix_seconds(9) });
        let t = PushTrigger::of(&detail("message.failed", json!({"session_id": 23, "msg_id": 142}))).unwrap();
        let r = report_for(&t, "message.failed:142", &failed).unwrap();
        assert_eq!(r.msg["delivery_status"], 2);
        assert_eq!(r.msg["send_error"], "auth_fail");

        let t = PushTrigger::of(&detail(
            "message.receipt",
            json!({"session_id": 23, "msg_id": 142, "status": "undelivered", "provider_code": "30003", "reason": "unreachable"}),
        ))
        .unwrap();
        let r = report_for(&t, "message.receipt:142:undelivered", &sent).unwrap();
        assert_eq!((r.msg["delivery_status"].clone(), r.msg["send_error"].clone()), (json!(2), json!("send_fail")));
        assert_eq!(r.msg["send_error_msg"], "30003: unreachable");

        // "delivered" changes no Yeastar status; an agent's message is not the platform's
        let delivered = detail("message.receipt", json!({"session_id": 23, "msg_id": 142, "status": "delivered"}));
        assert_eq!(PushTrigger::of(&delivered), None);
        let number = ExtensionNumber::parse("1000").unwrap();
        let by_agent = message(
            Direction::Outbound,
            Sender::Extension { id: crate::ids::ExtensionId::new(1).unwrap(), number },
            DeliveryState::Sent { provider_message_id: "p".into(), at: Timestamp::from_unix_seconds(9) },
        );
        let t = PushTrigger::of(&detail("message.sent", json!({"session_id": 23, "msg_id": 142}))).unwrap();
        assert_eq!(report_for(&t, "message.sent:142", &by_agent), None);
    }

    #[test]
    fn when_the_customer_reads_a_platform_message_should_report_30038_as_a_json_string() {
        let sent =
            from_api(DeliveryState::Sent { provider_message_id: "p".into(), at: Timestamp::from_unix_seconds(9) });
        let t = PushTrigger::of(&detail("message.receipt", json!({"session_id": 23, "msg_id": 142, "status": "read"})))
            .unwrap();
        let r = report_for(&t, "message.receipt:142:read", &sent).unwrap();
        assert_eq!(r.event, PushEvent::ReadReceipt);
        let inner: Value = serde_json::from_str(r.msg.as_str().unwrap()).unwrap();
        assert_eq!(
            inner,
            json!({"data": {"session_id": 23, "read_msg_id": 142, "user_id": 0, "read_time": 1_786_336_957}})
        );
    }

    #[test]
    fn when_an_attempt_is_built_should_sign_the_raw_body_for_post_and_get() {
        let report = bulk_sending_failed("x", 1, 1, 1);
        let body = report.body("sn1");
        let post = Delivery::first(&report, body.clone(), &target(RequestMethod::Post));
        let req = attempt_request(&post, &target(RequestMethod::Post), Duration::from_secs(5));
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.body.as_ref().unwrap().1, body.as_bytes());
        let header = |name: &str| req.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(header("X-Signature"), signature(&Secret::new("Pugghh14VCb05rtG7WGumbD4hwJPIvzu"), body.as_bytes()));
        assert_eq!(header("X-Event-Id"), "30030:x");

        let get = attempt_request(&post, &target(RequestMethod::Get), Duration::from_secs(5));
        assert_eq!(get.method, HttpMethod::Get);
        assert!(get.body.is_none());
        let url = url::Url::parse(&get.url).unwrap();
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(pairs, vec![("x".into(), "1".into()), ("event".into(), body)]);
    }

    #[test]
    fn when_attempts_fail_should_back_off_then_park() {
        assert_eq!(retry_delay_secs(10, 1), 10);
        assert_eq!(retry_delay_secs(10, 2), 30);
        assert_eq!(retry_delay_secs(10, 3), 90);
        assert_eq!(retry_delay_secs(10, 5), 810);
        assert_eq!(retry_delay_secs(10, 6), 900);
        assert_eq!(retry_delay_secs(0, 1), 1);
        // retry_count 3: the first attempt and three re-sends, then park
        assert_eq!(after_failure(1, 3, 10), AfterFailure::RetryIn(10));
        assert_eq!(after_failure(3, 3, 10), AfterFailure::RetryIn(90));
        assert_eq!(after_failure(4, 3, 10), AfterFailure::Park);
        assert_eq!(
            attempt_outcome(&ProviderResponse::Http { status: 204, headers: Default::default(), body: vec![] }),
            Ok(())
        );
        assert_eq!(
            attempt_outcome(&ProviderResponse::Http { status: 500, headers: Default::default(), body: vec![] }),
            Err("HTTP 500".into())
        );
    }

    #[test]
    fn when_queue_messages_arrive_should_tell_events_from_retries() {
        let event: PushQueueMessage = serde_json::from_value(json!({
            "version": "0", "id": "e1", "detail-type": "message.sent", "source": "switchboard",
            "detail": {"event_id": "message.sent:1", "event_type": "message.sent", "version": 1,
                       "occurred_at": "2026-01-01T00:00:00Z", "data": {"session_id": 1, "msg_id": 1}}
        }))
        .unwrap();
        assert!(matches!(event, PushQueueMessage::Event { ref detail_type, .. } if detail_type == "message.sent"));
        let d = Delivery::first(&bulk_sending_failed("x", 1, 1, 1), "{}".into(), &target(RequestMethod::Post));
        let retry: PushQueueMessage = serde_json::from_value(retry_job(&d)).unwrap();
        assert_eq!(retry, PushQueueMessage::Retry { push_retry: d.clone() });
        assert_eq!(d.parked_id().len(), 16);
    }

    #[test]
    fn when_a_secret_is_generated_should_be_32_alphanumerics() {
        let bytes: Vec<u8> = (0..=255).collect();
        let s = secret_from_random(&bytes).unwrap();
        assert_eq!(s.expose().len(), SECRET_LEN);
        assert!(s.expose().chars().all(|c| c.is_ascii_alphanumeric()));
        assert!(secret_from_random(&[250; 64]).is_none());
    }
}

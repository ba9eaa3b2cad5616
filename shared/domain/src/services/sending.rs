//! Use cases of the outbound path: accept an agent's message (API) and deliver a queued message
//! through the provider at the channel's pace (sender).
//!
//! Accepting stores the message as `queued` (with its outbox due time) in the same atomic write
//! that checks, or changes, the session's assignment, then puts a job on the outbound queue. A
//! WhatsApp template message (`msg_kind` 1) is checked against the channel's synchronised
//! templates first; it may go out after the 24-hour customer-service window and may start a
//! WhatsApp session, and it is stored with its preview as the text and the Cloud API `template`
//! object the sender sends.
//! Delivering reserves a send slot (see [`crate::pacing`]), waits for it (in SQS when far, in
//! process for the last moment), claims the message with a lease, calls the provider once, and
//! records the result with the statistic in one write. A redelivered job finds the message final
//! and does not call the provider again.

use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};

use crate::channel::{Channel, ChannelType};
use crate::events::{DomainEvent, LifecycleEvent};
use crate::ids::{ChannelId, MessageId, SessionId};
use crate::message::{
    DeliveryState, Direction, FailureReason, MAX_SMS_TEXT_CHARS, Message, Origin, OutboundJob, SendErrorCode, Sender,
    prompts,
};
use crate::pacing::{self, SlotDecision};
use crate::phone::CustomerAddress;
use crate::ports::{
    AssignmentChange, ChannelReader, Clock, DeliveryResult, EventPublisher, ExtensionGroups, Organizations,
    OutboundCommit, OutboundCommitOutcome, OutboundLedger, OutboundQueue, Pacer, ProviderHttp, QueueDirectory,
    ReceiptLedger, SendClaim, Sequences, SessionStore, StoreError, StoredTemplate, TemplateStore,
};
use crate::provider::{self, OutboundContent, ProviderEndpoints, SendOutcome};
use crate::services::receipts;
use crate::session::{
    Actor, Assignment, LastMessage, Operation, Refusal, ReplyEffect, ReplyWindow, Session, SessionKey, TimelineEntry,
    reply_window,
};
use crate::stats::{Counter, StatsDelta};
use crate::time::Timestamp;
use crate::webhook;
use crate::whatsapp_template::{TemplateError, TemplateMessage, WhatsAppTemplate};

/// How long after acceptance the outbox hands a message on if its queue message was lost.
pub const OUTBOX_GRACE: Duration = Duration::from_secs(120);
/// How long a sender's claim on a message lasts.
pub const SEND_LEASE: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------- accepting

/// How many times accepting re-reads a session that changed under it before giving up.
const MAX_ACCEPT_ATTEMPTS: usize = 4;

/// The ports accepting an agent message uses.
pub struct AcceptPorts<'a, S, C, Q, N, O, E, K, T> {
    /// Sessions.
    pub sessions: &'a S,
    /// Channels (starting a session), with the extension groups and organizations a number's
    /// members may name.
    pub channels: &'a C,
    /// Queues (for queue membership and mode).
    pub queues: &'a Q,
    /// Id sequences.
    pub sequences: &'a N,
    /// The outbound queue.
    pub outbound: &'a O,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// The channels' synchronised WhatsApp templates (template messages).
    pub templates: &'a T,
}

/// Where an agent's message goes.
#[derive(Debug, Clone)]
pub enum MessageTarget {
    /// An existing session.
    Session(SessionId),
    /// Start a session (or join the open one) with `customer` from a business number.
    Start {
        /// The channel slug the caller named (`general`, ...).
        channel: String,
        /// The business number.
        business_number: String,
        /// The customer.
        customer: CustomerAddress,
    },
}

/// An agent's (or the platform's) message.
#[derive(Debug, Clone)]
pub struct AgentMessage {
    /// Where.
    pub target: MessageTarget,
    /// Who acts (an extension or the platform).
    pub actor: Actor,
    /// How the sender appears on the message.
    pub sender: Sender,
    /// The text of a normal message; ignored when `template` is given.
    pub text: String,
    /// A WhatsApp template message (`msg_kind` 1): sent instead of `text`, on WhatsApp only.
    pub template: Option<TemplateMessage>,
}

/// The accepted message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptedMessage {
    /// Session.
    pub session_id: SessionId,
    /// Message.
    pub msg_id: MessageId,
    /// Whether the message started the session.
    pub started: bool,
}

/// Why a session cannot be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StartRefusal {
    /// No channel has the business number.
    #[error("the number is not a number of any message channel")]
    UnknownNumber,
    /// The number belongs to a channel of another type than the one named.
    #[error("the number does not belong to a channel of this type")]
    ChannelMismatch,
    /// Sessions are started on SMS channels, and on WhatsApp with a template; never on
    /// Messenger (seed 000 L3003).
    #[error("sessions can only be started on SMS channels, or on WhatsApp channels with a template")]
    SmsOnly,
    /// A WhatsApp session is started with a template message only (`msg_kind` 1): the customer
    /// has not written, so no customer-service window is open.
    #[error("a WhatsApp session can only be started with a template (msg_kind 1 with whatsapp_msg_param)")]
    TemplateRequired,
    /// The extension is not among the number's members allowed to start sessions.
    #[error("this extension is not allowed to start sessions from this number")]
    NotAllowedOnNumber,
    /// The customer has an open session on this number that the caller may not send in.
    #[error("this customer already has an open session on this number handled by someone else")]
    SessionExists,
}

impl StartRefusal {
    /// Machine-readable reason.
    pub fn reason(self) -> &'static str {
        match self {
            StartRefusal::UnknownNumber => "unknown_number",
            StartRefusal::ChannelMismatch => "channel_mismatch",
            StartRefusal::SmsOnly => "sms_only",
            StartRefusal::TemplateRequired => "template_required",
            StartRefusal::NotAllowedOnNumber => "not_allowed_on_number",
            StartRefusal::SessionExists => "session_exists",
        }
    }
}

/// Why a message was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// Not allowed (or the session does not exist; the two are not told apart).
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A session cannot be started.
    #[error(transparent)]
    StartRefused(#[from] StartRefusal),
    /// The text is empty or too long.
    #[error("{0}")]
    InvalidText(&'static str),
    /// A template message on a channel that is not WhatsApp.
    #[error(
        "msg_kind 1 (WhatsApp template message) can only be sent on WhatsApp channels; this is {} channel: send \
         msg_kind 0 with msg_body",
        channel_with_article(*.0)
    )]
    TemplateNotSupported(ChannelType),
    /// The template message names no template synchronised on the channel, or does not fill
    /// it (the message says what to change; the field is `whatsapp_msg_param`).
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The session kept changing while the message was being accepted; nothing was stored.
    #[error("the session kept changing while the message was being sent; nothing was sent")]
    SessionChanged,
    /// A dependency failed; nothing was stored.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn channel_with_article(channel_type: ChannelType) -> &'static str {
    match channel_type {
        ChannelType::Sms => "an sms",
        ChannelType::WhatsApp => "a whatsapp",
        ChannelType::Facebook => "a facebook",
    }
}

/// What an accepted message carries: the stored text and, for a template message, the Cloud
/// API `template` object.
#[derive(Debug, Clone)]
pub(crate) struct Content {
    pub(crate) text: String,
    pub(crate) template: Option<Value>,
}

/// The synchronised template a template message names among `stored` (one channel's): by our
/// `id` when given (it must be one of the channel's), else by Graph's `template_id`, else by
/// name and language.
fn find_template(
    message: &TemplateMessage,
    channel: ChannelId,
    stored: &[StoredTemplate],
) -> Result<WhatsAppTemplate, TemplateError> {
    let mut own = stored.iter().filter(|t| t.channel_id == channel);
    match message.id {
        Some(id) => own.find(|t| i64::try_from(t.id) == Ok(id)).map(|t| t.template.clone()).ok_or_else(|| {
            TemplateError::NotSynchronised { name: message.name.clone(), language: message.language.clone() }
        }),
        None => {
            let templates: Vec<WhatsAppTemplate> = own.map(|t| t.template.clone()).collect();
            message.find_in(&templates).cloned()
        }
    }
}

/// Checks a template message against the synchronised templates of `channel` (of
/// `channel_type`) and fills it.
pub(crate) async fn template_content<T: TemplateStore>(
    templates: &T,
    channel_type: ChannelType,
    channel: ChannelId,
    message: &TemplateMessage,
) -> Result<Content, AcceptError> {
    if channel_type != ChannelType::WhatsApp {
        return Err(AcceptError::TemplateNotSupported(channel_type));
    }
    let stored = templates.templates(channel).await?;
    let filled = message.check_against(&find_template(message, channel, &stored)?)?;
    Ok(Content { text: filled.preview_text(), template: Some(filled.cloud_api_template()) })
}

/// Accepts an agent's message for sending: in a session it may send in, or starting one. A
/// text message is refused on WhatsApp outside the customer-service window; a template
/// message is not (module docs).
pub async fn accept_agent_message<S, C, Q, N, O, E, K, T>(
    ports: &AcceptPorts<'_, S, C, Q, N, O, E, K, T>,
    request: AgentMessage,
) -> Result<AcceptedMessage, AcceptError>
where
    S: SessionStore,
    C: ChannelReader + ExtensionGroups + Organizations,
    Q: QueueDirectory,
    N: Sequences,
    O: OutboundQueue,
    E: EventPublisher,
    K: Clock,
    T: TemplateStore,
{
    // A text message's content is settled now; a template message's once its channel is known.
    let mut settled = match &request.template {
        Some(_) => None,
        None => {
            if request.text.trim().is_empty() {
                return Err(AcceptError::InvalidText("msg_body must not be empty"));
            }
            if request.text.chars().count() > MAX_SMS_TEXT_CHARS {
                return Err(AcceptError::InvalidText("msg_body must not exceed 1600 characters"));
            }
            Some(Content { text: request.text.clone(), template: None })
        }
    };
    let start = match &request.target {
        MessageTarget::Session(_) => None,
        MessageTarget::Start { channel, business_number, customer } => {
            let found = ports.channels.channel_by_number(business_number).await?.ok_or(StartRefusal::UnknownNumber)?;
            if found.provider().slug() != channel.as_str() {
                return Err(StartRefusal::ChannelMismatch.into());
            }
            match (found.channel_type(), &request.template) {
                (ChannelType::Sms, None) | (ChannelType::WhatsApp, Some(_)) => {}
                (ChannelType::WhatsApp, None) => return Err(StartRefusal::TemplateRequired.into()),
                (other, Some(_)) => return Err(AcceptError::TemplateNotSupported(other)),
                (ChannelType::Facebook, None) => return Err(StartRefusal::SmsOnly.into()),
            }
            let rule = found.rule_for(business_number).ok_or(StartRefusal::UnknownNumber)?;
            if let Actor::Extension(e) = request.actor
                && !super::groups::number_allows(ports.channels, &rule.members, e).await?
            {
                return Err(StartRefusal::NotAllowedOnNumber.into());
            }
            if let Some(template) = &request.template {
                settled = Some(template_content(ports.templates, found.channel_type(), found.id, template).await?);
            }
            let key =
                SessionKey { channel_id: found.id, business_number: rule.number.clone(), customer: customer.clone() };
            Some((key, found.provider()))
        }
    };

    let msg_id = super::next_message_id(ports.sequences).await?;
    let mut new_session_id: Option<SessionId> = None;
    for _ in 0..MAX_ACCEPT_ATTEMPTS {
        let now = ports.clock.now();
        let existing = match (&request.target, &start) {
            (MessageTarget::Session(id), _) => Some(ports.sessions.session(*id).await?.ok_or(Refusal::NotVisible)?),
            (_, Some((key, _))) => match ports.sessions.open_session_id(key).await? {
                Some(id) => ports.sessions.session(id).await?.filter(Session::is_open),
                None => None,
            },
            (MessageTarget::Start { .. }, None) => None,
        };
        let (session_id, channel_id, assignment, after, content) = match &existing {
            Some(session) => {
                let queue = match session.relevant_queue() {
                    Some(q) => ports.queues.queue(q).await?,
                    None => None,
                };
                let effect = match session.authorize_reply(&request.actor, queue.as_ref()) {
                    Ok(effect) => effect,
                    Err(_) if start.is_some() => return Err(StartRefusal::SessionExists.into()),
                    Err(refusal) => return Err(refusal.into()),
                };
                // Checked once: the session's channel does not change between attempts.
                let known = match (settled.take(), &request.template) {
                    (Some(known), _) => known,
                    (None, Some(template)) => {
                        template_content(ports.templates, session.channel_type, session.key.channel_id, template)
                            .await?
                    }
                    (None, None) => return Err(AcceptError::InvalidText("msg_body must not be empty")),
                };
                settled = Some(known.clone());
                // A template may go out whenever; free text only inside the channel's window.
                if known.template.is_none() {
                    reply_window(session.channel_type, session.last_customer_message_at, now)?;
                }
                let change = match effect {
                    ReplyEffect::Unchanged => AssignmentChange::Keep { expected: session.assignment },
                    ReplyEffect::TakesOwnership { queue, agent } => {
                        let entry = TimelineEntry {
                            session_id: session.id,
                            at: now,
                            operation: Operation::PickedUp { by: agent, from_queue: queue, automatic: true },
                        };
                        let event = LifecycleEvent::PickedUp {
                            session_id: session.id,
                            channel_id: session.key.channel_id,
                            version: session.version + 1,
                            by: Actor::Extension(agent),
                            from: session.assignment,
                            automatic: true,
                            at: now,
                        };
                        AssignmentChange::TakeFromQueue { queue, agent, entry, event }
                    }
                };
                let after = match &change {
                    AssignmentChange::TakeFromQueue { agent, .. } => Assignment::Extension(*agent),
                    _ => session.assignment,
                };
                (session.id, session.key.channel_id, change, after, known)
            }
            None => {
                let Some((key, provider)) = &start else { return Err(Refusal::NotVisible.into()) };
                // A start's content was settled with its channel, before the loop.
                let Some(known) = settled.clone() else { return Err(Refusal::NotVisible.into()) };
                let id = super::reserved_session_id(ports.sequences, &mut new_session_id).await?;
                let first = LastMessage::new(msg_id, Some(&known.text), false, now);
                let session =
                    Session::start_by(id, key.clone(), *provider, request.actor, first).ok_or(Refusal::NotVisible)?;
                let entry = TimelineEntry {
                    session_id: id,
                    at: now,
                    operation: Operation::Started { by: request.actor, by_message: msg_id },
                };
                let event = LifecycleEvent::Started {
                    session_id: id,
                    channel_id: key.channel_id,
                    by: request.actor,
                    business_number: key.business_number.as_str().to_owned(),
                    customer: key.customer.as_str().to_owned(),
                    at: now,
                };
                let after = session.assignment;
                (id, key.channel_id, AssignmentChange::Start { session: Box::new(session), entry, event }, after, known)
            }
        };
        let origin = if request.actor == Actor::Api { Origin::Api } else { Origin::Agent };
        let message = Message {
            session_id,
            msg_id,
            channel_id,
            direction: Direction::Outbound,
            sender: request.sender.clone(),
            origin,
            text: Some(content.text.clone()),
            media: Vec::new(),
            created_at: now,
            delivery: DeliveryState::Queued,
            attempts: 0,
            provider_message_id: None,
            events_published: false,
            receipt: None,
            template: content.template,
        };
        let accepted = LifecycleEvent::MessageAccepted {
            session_id,
            msg_id,
            channel_id,
            by: request.actor,
            text: Some(content.text),
            assignment: after,
            at: now,
        };
        let mut events = match &assignment {
            AssignmentChange::TakeFromQueue { event, .. } | AssignmentChange::Start { event, .. } => {
                vec![event.clone()]
            }
            AssignmentChange::Keep { .. } | AssignmentChange::StartDetached { .. } => Vec::new(),
        };
        events.push(accepted.clone());
        let started = matches!(assignment, AssignmentChange::Start { .. });
        // The first agent reply since the session entered its queue answers the queue's offer.
        let answers = existing.as_ref().and_then(|s| crate::sla::reply_write(s, now));
        let commit = OutboundCommit {
            message,
            outbox_due: now.plus(OUTBOX_GRACE),
            assignment,
            accepted,
            answers,
            recipient: None,
        };
        match ports.sessions.commit_outbound(&commit).await? {
            OutboundCommitOutcome::Committed => {}
            // Someone else changed the session (or opened one for this customer): decide again.
            OutboundCommitOutcome::SessionChanged
            | OutboundCommitOutcome::KeyTaken
            | OutboundCommitOutcome::RecipientTaken => continue,
        }
        let job = OutboundJob { session_id, msg_id, channel_id, slot: None };
        if let Err(error) = ports.outbound.enqueue_outbound(&job, 0).await {
            warn!(error = %error, session_id = %session_id, msg_id = %msg_id, "outbound queue unavailable; the outbox will hand the message on");
        }
        publish_lifecycle(ports.sessions, ports.events, &events).await;
        info!(session_id = %session_id, msg_id = %msg_id, started, "agent message accepted");
        return Ok(AcceptedMessage { session_id, msg_id, started });
    }
    Err(AcceptError::SessionChanged)
}

/// Publishes lifecycle events that were stored in the event outbox with their change, and
/// removes them from it. A failure is logged and left to the outbox reconciler.
pub async fn publish_lifecycle<S: SessionStore, E: EventPublisher>(store: &S, bus: &E, events: &[LifecycleEvent]) {
    if events.is_empty() {
        return;
    }
    let domain: Vec<DomainEvent> = events.iter().cloned().map(DomainEvent::Lifecycle).collect();
    if let Err(error) = bus.publish(&domain).await {
        warn!(error = %error, "event bus unavailable; the outbox will publish the events");
        return;
    }
    for event in events {
        if let Err(error) = store.mark_event_published(event.session_id(), &event.event_id()).await {
            warn!(error = %error, event_id = event.event_id(), "could not clear a published event; it will be published again");
        }
    }
}

// ---------------------------------------------------------------- delivering

/// The ports delivery uses.
pub struct DeliveryPorts<'a, L, S, C, P, O, H, E, K> {
    /// Message claims and results.
    pub ledger: &'a L,
    /// Sessions (for the numbers).
    pub sessions: &'a S,
    /// Channels (credentials and rate).
    pub channels: &'a C,
    /// Send schedules.
    pub pacer: &'a P,
    /// The outbound queue (re-delays and retries).
    pub outbound: &'a O,
    /// The provider's HTTP API.
    pub provider: &'a H,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// Where the providers' APIs are.
    pub endpoints: &'a ProviderEndpoints,
    /// The public base URL providers reach our webhooks on (`PUBLIC_BASE_URL`): status callbacks
    /// are asked for on the channel's webhook URL under it. `None`: the provider's own setting.
    pub callback_base: Option<&'a str>,
}

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Provider calls per message before a transient failure is final.
    pub max_attempts: u32,
    /// First retry delay (doubles per attempt).
    pub base_delay: Duration,
}

/// What delivery did with a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// The provider accepted the message.
    Sent,
    /// The message failed for good.
    Failed(SendErrorCode),
    /// A transient failure; the message comes back after this delay.
    RetryScheduled(u32),
    /// Its slot is far away; the job waits in the queue this long.
    Requeued(u32),
    /// Nothing to do (already final, held by another sender, or missing).
    Skipped(&'static str),
}

/// Why delivery must be retried by the queue.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeliveryError {
    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Store(e) => e.retryable,
        }
    }
}

/// Most slot decisions one job goes through before it is put back on the queue.
const MAX_SLOT_ROUNDS: usize = 8;

/// Delivers one outbound job.
pub async fn deliver<L, S, C, P, O, H, E, K>(
    ports: &DeliveryPorts<'_, L, S, C, P, O, H, E, K>,
    policy: RetryPolicy,
    job: &OutboundJob,
) -> Result<DeliveryOutcome, DeliveryError>
where
    L: OutboundLedger + ReceiptLedger,
    S: SessionStore,
    C: ChannelReader,
    P: Pacer,
    O: OutboundQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let Some(message) = ports.ledger.message(job.session_id, job.msg_id).await? else {
        warn!(session_id = %job.session_id, msg_id = %job.msg_id, "outbound message not found");
        return Ok(DeliveryOutcome::Skipped("missing"));
    };
    if message.delivery.is_final() {
        if !message.events_published {
            announce_final(ports, &message).await?;
        }
        return Ok(DeliveryOutcome::Skipped("already final"));
    }
    let Some(channel) = ports.channels.channel(job.channel_id).await? else {
        let reason = failure(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, "the channel no longer exists");
        return fail_without_call(ports, job, reason).await;
    };

    // Claim the message and read its session before waiting for the slot, so that nothing but
    // building the request stands between the slot and the provider call.
    let interval = pacing::slot_interval(channel.send_rate);
    let mut slot = job.slot;
    let mut held: Option<(Message, Option<Session>)> = None;
    // How far ahead of now to reserve: grows each time a slot is missed (slow store round trips).
    let mut lead = Duration::ZERO;
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > MAX_SLOT_ROUNDS {
            if let Some((claimed, _)) = &held {
                ports.ledger.release_claim(claimed).await?;
            }
            ports.outbound.enqueue_outbound(&OutboundJob { slot: None, ..job.clone() }, 1).await?;
            return Ok(DeliveryOutcome::Requeued(1));
        }
        let now = ports.clock.now();
        let paused = match slot {
            Some(_) => ports.pacer.paused_until(job.channel_id).await?,
            None => None,
        };
        match pacing::decide(slot, paused, now) {
            SlotDecision::Reserve => {
                if let Some(missed) = slot.filter(|s| now > s.plus(pacing::LATE_TOLERANCE)) {
                    lead = pacing::reservation_lead(lead, now.since(missed));
                }
                slot = Some(ports.pacer.reserve(job.channel_id, interval, now.plus(lead)).await?);
            }
            SlotDecision::Requeue { delay_seconds } => {
                if let Some((claimed, _)) = &held {
                    ports.ledger.release_claim(claimed).await?;
                }
                info!(session_id = %job.session_id, msg_id = %job.msg_id, delay_seconds, "send slot is far away; waiting in the queue");
                let due = slot.unwrap_or(now).plus(OUTBOX_GRACE);
                ports.ledger.set_outbox_due(job.session_id, job.msg_id, due).await?;
                ports.outbound.enqueue_outbound(&OutboundJob { slot, ..job.clone() }, delay_seconds).await?;
                return Ok(DeliveryOutcome::Requeued(delay_seconds));
            }
            SlotDecision::SendAt(at) => {
                if held.is_none() {
                    let now = ports.clock.now();
                    let claimed =
                        match ports.ledger.claim_for_send(job.session_id, job.msg_id, now, now.plus(SEND_LEASE)).await?
                        {
                            SendClaim::Claimed(m) => *m,
                            SendClaim::AlreadyFinal => return Ok(DeliveryOutcome::Skipped("already final")),
                            SendClaim::HeldElsewhere => return Ok(DeliveryOutcome::Skipped("held by another sender")),
                            SendClaim::Missing => return Ok(DeliveryOutcome::Skipped("missing")),
                        };
                    let session = ports.sessions.session(job.session_id).await?;
                    held = Some((claimed, session));
                }
                ports.clock.sleep_until(at).await;
                let woke = ports.clock.now();
                if woke > at.plus(pacing::LATE_TOLERANCE) {
                    // Too late for this slot: sending now could bunch calls. Take a new one,
                    // far enough ahead to be met.
                    lead = pacing::reservation_lead(lead, woke.since(at));
                    warn!(session_id = %job.session_id, msg_id = %job.msg_id, late_ms = woke.since(at).as_millis(), lead_ms = lead.as_millis(), "missed the send slot; taking a new one");
                    slot = None;
                    continue;
                }
                break;
            }
        }
    }
    let Some((claimed, session)) = held else {
        return Ok(DeliveryOutcome::Skipped("not claimed"));
    };
    let Some(session) = session else {
        let reason = failure(SendErrorCode::SendFail, prompts::FAILED_TO_SEND, "the session no longer exists");
        return finish(ports, &claimed, &channel, None, DeliveryResult::Failed(reason)).await;
    };
    let number = Some(session.key.business_number.as_str());

    let status_callback = ports
        .callback_base
        .map(|base| webhook::public_url(base, channel.provider().slug(), channel.webhook_token.as_str(), None));
    let content = OutboundContent {
        from: session.key.business_number.as_str(),
        to: session.key.customer.as_str(),
        text: claimed.text.as_deref(),
        media_urls: claimed.media.iter().map(|m| m.url.as_str()).collect(),
        // decided when the call is made: a reply accepted inside 24 h may go out after
        human_agent_tag: reply_window(session.channel_type, session.last_customer_message_at, ports.clock.now())
            == Ok(ReplyWindow::HumanAgentTag),
        status_callback: status_callback.as_deref(),
        template: claimed.template.as_ref(),
    };
    let response =
        ports.provider.execute(&provider::send_request(&channel.credentials, ports.endpoints, &content)).await;
    let outcome = provider::classify_send(channel.provider(), &response);

    match outcome {
        SendOutcome::Accepted { provider_message_id } => {
            finish(ports, &claimed, &channel, number, DeliveryResult::Sent { provider_message_id }).await
        }
        SendOutcome::Failed(reason) => finish(ports, &claimed, &channel, number, DeliveryResult::Failed(reason)).await,
        SendOutcome::RetryLater { reason, after, rate_limited } => {
            let now = ports.clock.now();
            if rate_limited {
                let pause = after.unwrap_or(Duration::from_secs(1));
                ports.pacer.pause_until(job.channel_id, now.plus(pause)).await?;
                warn!(channel_id = %job.channel_id, pause_ms = pause.as_millis(), "provider rate limit: channel schedule pushed back");
            }
            if claimed.attempts >= policy.max_attempts {
                return finish(ports, &claimed, &channel, number, DeliveryResult::Failed(reason)).await;
            }
            let delay = pacing::retry_delay(policy.base_delay, claimed.attempts, after);
            let delay_seconds = u32::try_from(delay.as_secs()).unwrap_or(pacing::MAX_QUEUE_DELAY_SECONDS);
            let result = DeliveryResult::Retry { last_failure: reason, outbox_due: now.plus(delay).plus(OUTBOX_GRACE) };
            if !ports.ledger.record_delivery(&claimed, claimed.attempts, &result, now, None).await? {
                return Ok(DeliveryOutcome::Skipped("claim lost"));
            }
            ports.outbound.enqueue_outbound(&OutboundJob { slot: None, ..job.clone() }, delay_seconds).await?;
            info!(session_id = %job.session_id, msg_id = %job.msg_id, attempt = claimed.attempts, delay_seconds, "send failed transiently; retry scheduled");
            Ok(DeliveryOutcome::RetryScheduled(delay_seconds))
        }
    }
}

fn failure(code: SendErrorCode, prompt: &str, detail: &str) -> FailureReason {
    FailureReason { code, prompt: prompt.to_owned(), provider_code: None, detail: Some(detail.to_owned()) }
}

/// Claims and fails a message that cannot be sent at all (its channel is gone).
async fn fail_without_call<L, S, C, P, O, H, E, K>(
    ports: &DeliveryPorts<'_, L, S, C, P, O, H, E, K>,
    job: &OutboundJob,
    reason: FailureReason,
) -> Result<DeliveryOutcome, DeliveryError>
where
    L: OutboundLedger + ReceiptLedger,
    E: EventPublisher,
    K: Clock,
{
    let now = ports.clock.now();
    let claimed = match ports.ledger.claim_for_send(job.session_id, job.msg_id, now, now.plus(SEND_LEASE)).await? {
        SendClaim::Claimed(m) => *m,
        _ => return Ok(DeliveryOutcome::Skipped("not claimable")),
    };
    let code = reason.code;
    let result = DeliveryResult::Failed(reason);
    if !ports.ledger.record_delivery(&claimed, claimed.attempts, &result, now, None).await? {
        return Ok(DeliveryOutcome::Skipped("claim lost"));
    }
    let mut recorded = claimed;
    recorded.delivery = final_state(&result, now);
    announce_final(ports, &recorded).await?;
    Ok(DeliveryOutcome::Failed(code))
}

/// Records a final result with its statistic, then announces it.
async fn finish<L, S, C, P, O, H, E, K>(
    ports: &DeliveryPorts<'_, L, S, C, P, O, H, E, K>,
    claimed: &Message,
    channel: &Channel,
    number: Option<&str>,
    result: DeliveryResult,
) -> Result<DeliveryOutcome, DeliveryError>
where
    L: OutboundLedger + ReceiptLedger,
    E: EventPublisher,
    K: Clock,
{
    let now = ports.clock.now();
    let counter = match result {
        DeliveryResult::Sent { .. } => Counter::Sent,
        _ => Counter::Failed,
    };
    let stats = number.map(|number| StatsDelta {
        channel_id: channel.id,
        number: number.to_owned(),
        at: now,
        origin: claimed.origin,
        counter,
    });
    if !ports.ledger.record_delivery(claimed, claimed.attempts, &result, now, stats.as_ref()).await? {
        return Ok(DeliveryOutcome::Skipped("claim lost"));
    }
    let mut recorded = claimed.clone();
    recorded.delivery = final_state(&result, now);
    let outcome = match &recorded.delivery {
        DeliveryState::Failed { reason, .. } => {
            info!(session_id = %claimed.session_id, msg_id = %claimed.msg_id, send_error = reason.code.as_str(), prompt = reason.prompt.as_str(), "message failed");
            DeliveryOutcome::Failed(reason.code)
        }
        _ => {
            info!(session_id = %claimed.session_id, msg_id = %claimed.msg_id, attempt = claimed.attempts, "message sent");
            DeliveryOutcome::Sent
        }
    };
    announce_final(ports, &recorded).await?;
    Ok(outcome)
}

fn final_state(result: &DeliveryResult, at: Timestamp) -> DeliveryState {
    match result {
        DeliveryResult::Sent { provider_message_id } => {
            DeliveryState::Sent { provider_message_id: provider_message_id.clone(), at }
        }
        DeliveryResult::Failed(reason) | DeliveryResult::Retry { last_failure: reason, .. } => {
            DeliveryState::Failed { reason: reason.clone(), at }
        }
    }
}

/// Publishes the `message.sent` / `message.failed` event of a final message and marks it out.
async fn announce_final<L, S, C, P, O, H, E, K>(
    ports: &DeliveryPorts<'_, L, S, C, P, O, H, E, K>,
    message: &Message,
) -> Result<(), DeliveryError>
where
    L: OutboundLedger + ReceiptLedger,
    E: EventPublisher,
{
    let event = match &message.delivery {
        DeliveryState::Sent { provider_message_id, at } => DomainEvent::MessageSent {
            session_id: message.session_id,
            msg_id: message.msg_id,
            channel_id: message.channel_id,
            provider_message_id: provider_message_id.clone(),
            at: *at,
        },
        DeliveryState::Failed { reason, at } => DomainEvent::MessageFailed {
            session_id: message.session_id,
            msg_id: message.msg_id,
            channel_id: message.channel_id,
            reason: reason.clone(),
            at: *at,
        },
        _ => return Ok(()),
    };
    ports.events.publish(&[event]).await?;
    // A delivery report that beat this write waits under the provider id: apply it before the
    // message leaves the outbox, so a crash here leaves it to the next attempt.
    receipts::settle_after_send(ports.ledger, ports.events, message).await?;
    ports.ledger.mark_events_published(message.session_id, message.msg_id).await?;
    Ok(())
}

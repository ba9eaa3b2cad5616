//! External chat logs (seed 000 §7, seed 001 §7; decisions.md "Data" and "HTTP API"): the
//! administrator's view of every session — search by time range and filters, the operation
//! timeline, the chat history, deletion, and the export of a zip holding `Session_Record.csv` and
//! `Chat_Data_Record.csv`.
//!
//! This module holds the pure parts: the filter and how a session matches it, how sessions and
//! messages are shown (sender and recipient texts, CSV rows), which sessions and messages may be
//! deleted, and the export job's state machine. `services::chat_logs` runs them against the ports.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::channel::{Channel, ChannelType};
use crate::directory::{Extension, MessageQueue};
use crate::ids::{ChannelId, ExtensionId, InvalidId, QueueId, SessionId};
use crate::message::{DeliveryState, Direction, Message, Sender};
use crate::session::{Actor, Assignment, Operation, Session, SessionOrigin, SessionStatus, TimelineEntry};
use crate::time::Timestamp;

/// How far back a search or export reaches when it gives no `start_time`: the index has one
/// partition per month, and an open-ended range reads each month's partition once.
pub const DEFAULT_LOOKBACK_MONTHS: u32 = 120;
/// The longest range a search or export may cover, in months.
pub const MAX_RANGE_MONTHS: u32 = 240;

/// A calendar month (UTC), the chat-log index's partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// 1..=12.
    pub month: u8,
}

impl Month {
    /// The month `t` falls in (UTC).
    pub fn of(t: Timestamp) -> Self {
        let dt = t.to_datetime();
        Self { year: dt.year(), month: u8::from(dt.month()) }
    }

    /// The next month.
    pub fn next(self) -> Self {
        if self.month >= 12 { Self { year: self.year + 1, month: 1 } } else { Self { month: self.month + 1, ..self } }
    }

    /// The previous month.
    pub fn previous(self) -> Self {
        if self.month <= 1 { Self { year: self.year - 1, month: 12 } } else { Self { month: self.month - 1, ..self } }
    }

    /// Months from `from` to `to` inclusive, in `order`.
    pub fn range(from: Month, to: Month, order: SortOrder) -> Vec<Month> {
        let mut months = Vec::new();
        let mut m = from;
        while m <= to {
            months.push(m);
            m = m.next();
        }
        if order == SortOrder::Desc {
            months.reverse();
        }
        months
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Open or closed sessions only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    /// Not closed.
    Open,
    /// Closed.
    Closed,
}

/// Result order (by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    /// Oldest first.
    Asc,
    /// Newest first (the default).
    #[default]
    Desc,
}

/// Which sessions a search or an export covers. Text filters match case-insensitively anywhere in
/// the text the chat log shows (a number, a name, or `Name<ext>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLogFilter {
    /// Created at or after.
    pub from: Timestamp,
    /// Created before.
    pub to: Timestamp,
    /// Part of the sender text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// Part of the recipient text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// Channel type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_type: Option<ChannelType>,
    /// The business number (exact, E.164 or page id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_number: Option<String>,
    /// Open or closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusFilter>,
    /// One session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// Order by creation time.
    #[serde(default)]
    pub order: SortOrder,
}

impl ChatLogFilter {
    /// Everything created in `[from, to)`.
    pub fn between(from: Timestamp, to: Timestamp) -> Self {
        Self {
            from,
            to,
            sender: None,
            recipient: None,
            channel_type: None,
            channel_number: None,
            status: None,
            session_id: None,
            order: SortOrder::Desc,
        }
    }

    /// The index partitions the range covers, in result order.
    pub fn months(&self) -> Vec<Month> {
        if self.to <= self.from {
            return Vec::new();
        }
        Month::range(Month::of(self.from), Month::of(Timestamp::from_micros(self.to.as_micros() - 1)), self.order)
    }

    /// Whether `session` (shown with `names`) passes every filter.
    pub fn matches(&self, session: &Session, names: &Names) -> bool {
        let contains = |text: &str, part: &Option<String>| {
            part.as_ref().is_none_or(|p| text.to_lowercase().contains(&p.to_lowercase()))
        };
        let (sender, recipient) = names.parties(session);
        session.created_at >= self.from
            && session.created_at < self.to
            && self.session_id.is_none_or(|id| id == session.id)
            && self.channel_type.is_none_or(|t| t == session.channel_type)
            && self.channel_number.as_deref().is_none_or(|n| n == session.key.business_number.as_str())
            && self.status.is_none_or(|s| (s == StatusFilter::Open) == session.is_open())
            && contains(&sender, &self.sender)
            && contains(&recipient, &self.recipient)
    }
}

/// The names the chat log shows for extensions, queues and channels.
#[derive(Debug, Clone, Default)]
pub struct Names {
    extensions: BTreeMap<ExtensionId, String>,
    queues: BTreeMap<QueueId, String>,
    channels: BTreeMap<ChannelId, String>,
}

impl Names {
    /// From the directory.
    pub fn new(extensions: &[Extension], queues: &[MessageQueue], channels: &[Channel]) -> Self {
        Self {
            extensions: extensions.iter().map(|e| (e.id, extension_text(e))).collect(),
            queues: queues.iter().map(|q| (q.id, q.name.clone())).collect(),
            channels: channels.iter().map(|c| (c.id, c.name.clone())).collect(),
        }
    }

    /// `Name<number>` of an extension (`<id>` alone once it is deleted).
    pub fn extension(&self, id: ExtensionId) -> String {
        self.extensions.get(&id).cloned().unwrap_or_else(|| format!("extension {id}"))
    }

    /// A queue's name.
    pub fn queue(&self, id: QueueId) -> String {
        self.queues.get(&id).cloned().unwrap_or_else(|| format!("queue {id}"))
    }

    /// A channel's name.
    pub fn channel(&self, id: ChannelId) -> String {
        self.channels.get(&id).cloned().unwrap_or_default()
    }

    /// Who handles (or last handled) a session.
    pub fn assignment(&self, a: Assignment) -> String {
        match a {
            Assignment::Queue(q) => self.queue(q),
            Assignment::Extension(e) => self.extension(e),
            Assignment::Api => "api".into(),
        }
    }

    /// Who performed an operation.
    pub fn actor(&self, a: &Actor) -> String {
        match a {
            Actor::Extension(e) => self.extension(*e),
            Actor::Api => "api".into(),
            Actor::Admin => "administrator".into(),
        }
    }

    /// (sender, recipient) of a session as the chat log lists it: a session a customer started
    /// goes from the customer to whoever handles it (its queue while queued, then its owner); one
    /// an agent or the platform started goes from its owner to the customer.
    pub fn parties(&self, s: &Session) -> (String, String) {
        let customer = customer_text(s);
        let handler = self.assignment(s.assignment);
        match s.origin {
            SessionOrigin::Inbound => (customer, handler),
            SessionOrigin::Agent | SessionOrigin::Api | SessionOrigin::Campaign | SessionOrigin::CampaignDirect => {
                (handler, customer)
            }
        }
    }
}

/// `Name<number>` as Linkus shows an extension.
pub fn extension_text(e: &Extension) -> String {
    let name = if e.caller_id_name.trim().is_empty() {
        format!("{} {}", e.first_name, e.last_name).trim().to_owned()
    } else {
        e.caller_id_name.clone()
    };
    format!("{name}<{}>", e.number.as_str())
}

/// The customer as the chat log shows them: `Name<address>` when a provider gave a name.
pub fn customer_text(s: &Session) -> String {
    match s.customer_name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(name) => format!("{name}<{}>", s.key.customer.as_str()),
        None => s.key.customer.as_str().to_owned(),
    }
}

// ---------------------------------------------------------------- deletion

/// Why a session or message may not be deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeleteRefusal {
    /// The session is still open (close it first: deleting it would pull it from under its agent
    /// and the customer's next message would start a new session without history).
    #[error("session {0} is still open; close it before deleting it")]
    SessionOpen(SessionId),
    /// Messages the PBX itself sent cannot be deleted (seed 000 L2665-2668).
    #[error("message {0} was sent by the system; system messages cannot be deleted")]
    SystemMessage(u64),
    /// An outbound message not yet sent or failed.
    #[error("message {0} is still being sent; delete it once it is sent or failed")]
    InFlight(u64),
}

impl DeleteRefusal {
    /// Machine-readable reason (`reason` in the reply).
    pub fn reason(self) -> &'static str {
        match self {
            DeleteRefusal::SessionOpen(_) => "session_open",
            DeleteRefusal::SystemMessage(_) => "system_message",
            DeleteRefusal::InFlight(_) => "message_in_flight",
        }
    }
}

/// Whether a session may be deleted (closed ones only).
pub fn check_session_deletable(s: &Session) -> Result<(), DeleteRefusal> {
    if s.is_open() { Err(DeleteRefusal::SessionOpen(s.id)) } else { Ok(()) }
}

/// Whether a message may be deleted: not a system message, not still on its way.
pub fn check_message_deletable(m: &Message) -> Result<(), DeleteRefusal> {
    if is_system(m) {
        return Err(DeleteRefusal::SystemMessage(m.msg_id.get()));
    }
    if !m.delivery.is_final() {
        return Err(DeleteRefusal::InFlight(m.msg_id.get()));
    }
    Ok(())
}

/// Whether the PBX sent it.
pub fn is_system(m: &Message) -> bool {
    matches!(m.sender, Sender::System)
}

// ---------------------------------------------------------------- CSV rows

/// `Session_Record.csv` columns (docs/api.md describes each).
pub const SESSION_RECORD_HEADER: [&str; 16] = [
    "Session ID",
    "Created At",
    "Last Active At",
    "Sender",
    "Recipient",
    "Channel Type",
    "Channel Name",
    "Channel Number",
    "Customer",
    "Customer Name",
    "Session Status",
    "Closed At",
    "Closed By",
    "Close Type",
    "Handled By",
    "Message Count",
];

/// `Chat_Data_Record.csv` columns.
pub const CHAT_DATA_RECORD_HEADER: [&str; 12] = [
    "Session ID",
    "Message ID",
    "Time",
    "Direction",
    "Sender Type",
    "Sender",
    "Recipient",
    "Message Type",
    "Content",
    "Media",
    "Delivery Status",
    "Failed Reason",
];

/// Times in the CSV files: UTC, `YYYY-MM-DD HH:MM:SS`.
pub fn csv_time(t: Timestamp) -> String {
    let dt = t.to_datetime();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// How a session was closed, from its timeline: (`Closed By`, `Close Type`).
pub fn closed_by(timeline: &[TimelineEntry], names: &Names) -> (String, String) {
    timeline
        .iter()
        .rev()
        .find_map(|t| match &t.operation {
            Operation::Closed { by: Some(actor) } => Some((names.actor(actor), "manual".to_owned())),
            Operation::Closed { by: None } => Some((String::new(), "automatic".to_owned())),
            _ => None,
        })
        .unwrap_or_default()
}

/// One `Session_Record.csv` row.
pub fn session_row(s: &Session, names: &Names, timeline: &[TimelineEntry], message_count: u64) -> Vec<String> {
    let (sender, recipient) = names.parties(s);
    let (closed_at, (by, how)) = match s.status {
        SessionStatus::Closed { at } => (csv_time(at), closed_by(timeline, names)),
        SessionStatus::Open => (String::new(), (String::new(), String::new())),
    };
    vec![
        s.id.to_string(),
        csv_time(s.created_at),
        csv_time(s.last_activity_at),
        sender,
        recipient,
        s.channel_type.as_str().to_owned(),
        names.channel(s.key.channel_id),
        s.key.business_number.as_str().to_owned(),
        s.key.customer.as_str().to_owned(),
        s.customer_name.clone().unwrap_or_default(),
        if s.is_open() { "open".into() } else { "closed".into() },
        closed_at,
        by,
        how,
        names.assignment(s.assignment),
        message_count.to_string(),
    ]
}

/// `customer`, `agent`, `api` or `system`.
pub fn sender_type(sender: &Sender) -> &'static str {
    match sender {
        Sender::Customer { .. } => "customer",
        Sender::Extension { .. } => "agent",
        Sender::Api => "api",
        Sender::System => "system",
    }
}

/// Who wrote a message, as the chat log shows it.
pub fn sender_text(m: &Message, session: &Session, names: &Names) -> String {
    match &m.sender {
        Sender::Customer { .. } => customer_text(session),
        Sender::Extension { id, number } => {
            names.extensions.get(id).cloned().unwrap_or_else(|| format!("<{}>", number.as_str()))
        }
        Sender::Api => "api".into(),
        Sender::System => "system".into(),
    }
}

/// `text`, `media`, `text+media` or `template`.
pub fn message_type(m: &Message) -> &'static str {
    let text = m.text.as_deref().is_some_and(|t| !t.is_empty());
    match (m.template.is_some(), text, m.media.is_empty()) {
        (true, _, _) => "template",
        (false, true, false) => "text+media",
        (false, false, false) => "media",
        _ => "text",
    }
}

/// The delivery status shown: the strongest delivery report when there is one (`delivered`,
/// `read`, `undelivered`), else the state (`received`, `queued`, `sending`, `sent`, `failed`).
pub fn delivery_status(m: &Message) -> &'static str {
    match (&m.delivery, &m.receipt) {
        (DeliveryState::Sent { .. }, Some(r)) => r.status.name(),
        (d, _) => d.name(),
    }
}

/// Why it was not delivered: the seed's prompt and the provider's words.
pub fn failed_reason(m: &Message) -> String {
    match (&m.delivery, m.receipt.as_ref().and_then(|r| r.status.failure())) {
        (DeliveryState::Failed { reason, .. }, _) => match &reason.detail {
            Some(detail) => format!("{} ({detail})", reason.prompt),
            None => reason.prompt.clone(),
        },
        (DeliveryState::Sent { .. }, Some((code, reason))) => {
            [code, reason].into_iter().flatten().collect::<Vec<_>>().join(": ")
        }
        _ => String::new(),
    }
}

/// One `Chat_Data_Record.csv` row.
pub fn message_row(m: &Message, session: &Session, names: &Names) -> Vec<String> {
    let recipient = match m.direction {
        Direction::Inbound => session.key.business_number.as_str().to_owned(),
        Direction::Outbound => session.key.customer.as_str().to_owned(),
    };
    let media: Vec<String> = m.media.iter().map(|f| f.url.clone()).collect();
    vec![
        m.session_id.to_string(),
        m.msg_id.to_string(),
        csv_time(m.created_at),
        match m.direction {
            Direction::Inbound => "inbound".into(),
            Direction::Outbound => "outbound".into(),
        },
        sender_type(&m.sender).into(),
        sender_text(m, session, names),
        recipient,
        message_type(m).into(),
        m.text.clone().unwrap_or_default(),
        media.join(" "),
        delivery_status(m).into(),
        failed_reason(m),
    ]
}

// ---------------------------------------------------------------- export jobs

/// An export job's id: 32 lowercase hex characters (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ExportId(String);

impl ExportId {
    /// Parses an id given by a client.
    pub fn parse(s: &str) -> Result<Self, InvalidId> {
        let ok = s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidId { what: "export id", reason: "must be 32 lowercase hex characters" })
        }
    }

    /// From 16 random bytes.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        Self(hex::encode(bytes))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The object key of its zip.
    pub fn object_key(&self) -> String {
        format!("chat-logs/{}/chat_logs.zip", self.0)
    }
}

impl TryFrom<String> for ExportId {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ExportId> for String {
    fn from(id: ExportId) -> Self {
        id.0
    }
}

impl fmt::Display for ExportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an export is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum ExportState {
    /// Waiting for the export function.
    Queued,
    /// Being written.
    Running,
    /// The zip is stored.
    Done {
        /// Its object key.
        object_key: String,
        /// Its size.
        bytes: u64,
    },
    /// It will not finish.
    Failed {
        /// Why.
        reason: String,
    },
}

impl ExportState {
    /// Wire name.
    pub fn name(&self) -> &'static str {
        match self {
            ExportState::Queued => "queued",
            ExportState::Running => "running",
            ExportState::Done { .. } => "done",
            ExportState::Failed { .. } => "failed",
        }
    }

    /// Whether nothing more will happen.
    pub fn is_final(&self) -> bool {
        matches!(self, ExportState::Done { .. } | ExportState::Failed { .. })
    }
}

/// How far an export got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportProgress {
    /// Session rows written (the first file).
    pub sessions_done: u64,
    /// Sessions in the export, once the first file is complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions_total: Option<u64>,
    /// Sessions whose messages are written (the second file).
    #[serde(default)]
    pub sessions_with_messages_done: u64,
    /// Message rows written.
    pub messages_done: u64,
}

/// An export job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportJob {
    /// Id.
    pub id: ExportId,
    /// What it covers.
    pub filter: ChatLogFilter,
    /// Where it is.
    pub state: ExportState,
    /// How far it got.
    pub progress: ExportProgress,
    /// When it was requested.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl ExportJob {
    /// A new job.
    pub fn new(id: ExportId, filter: ChatLogFilter, at: Timestamp) -> Self {
        Self {
            id,
            filter,
            state: ExportState::Queued,
            progress: ExportProgress::default(),
            created_at: at,
            updated_at: at,
        }
    }
}

/// The job queue's message: which export to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The job.
    pub export_id: ExportId,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::channel::Provider;
    use crate::ids::{ExtensionNumber, MessageId};
    use crate::message::{FailureReason, Origin, Receipt, ReportedStatus, SendErrorCode};
    use crate::phone::{BusinessNumber, CustomerAddress};
    use crate::session::{LastMessage, SessionKey};

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn names() -> Names {
        let ext = Extension {
            id: ExtensionId::new(7).unwrap(),
            number: ExtensionNumber::parse("3000").unwrap(),
            caller_id_name: "Leo Ball".into(),
            first_name: String::new(),
            last_name: String::new(),
            email_addr: String::new(),
            mobile_number: String::new(),
            password_hash: String::new(),
            created_at: Timestamp::from_millis(0),
        };
        let queue = MessageQueue {
            id: QueueId::new(2).unwrap(),
            name: "Tech Support".into(),
            assignment_mode: crate::directory::AssignmentMode::Manual,
            members: vec![],
            sla: Default::default(),
            managers: vec![],
            created_at: Timestamp::from_millis(0),
        };
        Names::new(&[ext], &[queue], &[])
    }

    fn session(id: u64, created: &str, origin: SessionOrigin, assignment: Assignment) -> Session {
        let key = SessionKey {
            channel_id: ChannelId::new(1).unwrap(),
            business_number: BusinessNumber::parse("+14102161183").unwrap(),
            customer: CustomerAddress::parse("+8618012121222").unwrap(),
        };
        let first = LastMessage::new(MessageId::new(id).unwrap(), Some("hi"), true, at(created));
        let mut s = Session::open_from_inbound(
            SessionId::new(id).unwrap(),
            key,
            Provider::General,
            crate::channel::Destination::Queue(QueueId::new(2).unwrap()),
            first,
            None,
        );
        s.origin = origin;
        s.assignment = assignment;
        s
    }

    #[test]
    fn months_cover_the_range_in_result_order() {
        let mut f = ChatLogFilter::between(at("2025-11-15T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        let shown: Vec<String> = f.months().iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["2026-01", "2025-12", "2025-11"], "the end is exclusive; newest first by default");
        f.order = SortOrder::Asc;
        assert_eq!(f.months().first().map(ToString::to_string).as_deref(), Some("2025-11"));
        assert!(ChatLogFilter::between(at("2026-01-02T00:00:00Z"), at("2026-01-01T00:00:00Z")).months().is_empty());
    }

    #[test]
    fn each_filter_narrows_the_match() {
        let names = names();
        let queued =
            session(1, "2026-01-05T10:00:00Z", SessionOrigin::Inbound, Assignment::Queue(QueueId::new(2).unwrap()));
        let started = session(
            2,
            "2026-01-06T10:00:00Z",
            SessionOrigin::Agent,
            Assignment::Extension(ExtensionId::new(7).unwrap()),
        );
        let all = ChatLogFilter::between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        assert!(all.matches(&queued, &names) && all.matches(&started, &names));

        let f = ChatLogFilter { sender: Some("leo ball".into()), ..all.clone() };
        assert!(!f.matches(&queued, &names) && f.matches(&started, &names), "an agent's session is sent by them");
        let f = ChatLogFilter { recipient: Some("Tech".into()), ..all.clone() };
        assert!(f.matches(&queued, &names) && !f.matches(&started, &names), "a customer's goes to its queue");
        let f = ChatLogFilter { sender: Some("+86180".into()), ..all.clone() };
        assert!(f.matches(&queued, &names) && !f.matches(&started, &names));
        let f = ChatLogFilter { channel_type: Some(ChannelType::WhatsApp), ..all.clone() };
        assert!(!f.matches(&queued, &names));
        let f = ChatLogFilter { channel_type: Some(ChannelType::Sms), ..all.clone() };
        assert!(f.matches(&queued, &names));
        let f = ChatLogFilter { channel_number: Some("+14102161183".into()), ..all.clone() };
        assert!(f.matches(&queued, &names));
        let f = ChatLogFilter { channel_number: Some("+14102161184".into()), ..all.clone() };
        assert!(!f.matches(&queued, &names));
        let f = ChatLogFilter { status: Some(StatusFilter::Closed), ..all.clone() };
        assert!(!f.matches(&queued, &names));
        let f = ChatLogFilter { session_id: Some(SessionId::new(2).unwrap()), ..all.clone() };
        assert!(!f.matches(&queued, &names) && f.matches(&started, &names));
        let f = ChatLogFilter::between(at("2026-01-06T00:00:00Z"), at("2026-01-06T10:00:00Z"));
        assert!(!f.matches(&started, &names), "the end of the range is exclusive");
    }

    fn message(id: u64, sender: Sender, delivery: DeliveryState) -> Message {
        Message {
            session_id: SessionId::new(1).unwrap(),
            msg_id: MessageId::new(id).unwrap(),
            channel_id: ChannelId::new(1).unwrap(),
            direction: if matches!(sender, Sender::Customer { .. }) { Direction::Inbound } else { Direction::Outbound },
            sender,
            origin: Origin::Agent,
            text: Some("Hello, \"world\"".into()),
            media: Vec::new(),
            created_at: at("2026-01-05T10:00:01Z"),
            delivery,
            attempts: 1,
            provider_message_id: None,
            events_published: true,
            receipt: None,
            template: None,
        }
    }

    fn agent() -> Sender {
        Sender::Extension { id: ExtensionId::new(7).unwrap(), number: ExtensionNumber::parse("3000").unwrap() }
    }

    #[test]
    fn system_and_unsent_messages_are_not_deletable_and_open_sessions_neither() {
        let sent = DeliveryState::Sent { provider_message_id: "p".into(), at: at("2026-01-05T10:00:02Z") };
        assert_eq!(check_message_deletable(&message(3, agent(), sent.clone())), Ok(()));
        assert_eq!(check_message_deletable(&message(4, Sender::System, sent)), Err(DeleteRefusal::SystemMessage(4)));
        assert_eq!(
            check_message_deletable(&message(5, agent(), DeliveryState::Queued)),
            Err(DeleteRefusal::InFlight(5))
        );
        let customer = Sender::Customer { address: CustomerAddress::parse("+8618012121222").unwrap() };
        assert_eq!(check_message_deletable(&message(6, customer, DeliveryState::Received)), Ok(()));
        let mut s = session(1, "2026-01-05T10:00:00Z", SessionOrigin::Inbound, Assignment::Api);
        assert_eq!(check_session_deletable(&s), Err(DeleteRefusal::SessionOpen(s.id)));
        s.status = SessionStatus::Closed { at: at("2026-01-05T11:00:00Z") };
        assert_eq!(check_session_deletable(&s), Ok(()));
    }

    #[test]
    fn rows_follow_their_headers() {
        let names = names();
        let mut s = session(
            1,
            "2026-01-05T10:00:00Z",
            SessionOrigin::Inbound,
            Assignment::Extension(ExtensionId::new(7).unwrap()),
        );
        s.status = SessionStatus::Closed { at: at("2026-01-05T11:00:00Z") };
        let timeline = vec![TimelineEntry {
            session_id: s.id,
            at: at("2026-01-05T11:00:00Z"),
            operation: Operation::Closed { by: Some(Actor::Extension(ExtensionId::new(7).unwrap())) },
        }];
        let row = session_row(&s, &names, &timeline, 4);
        assert_eq!(row.len(), SESSION_RECORD_HEADER.len());
        assert_eq!(
            row,
            [
                "1",
                "2026-01-05 10:00:00",
                "2026-01-05 10:00:00",
                "+8618012121222",
                "Leo Ball<3000>",
                "sms",
                "",
                "+14102161183",
                "+8618012121222",
                "",
                "closed",
                "2026-01-05 11:00:00",
                "Leo Ball<3000>",
                "manual",
                "Leo Ball<3000>",
                "4"
            ]
        );
        let auto = vec![TimelineEntry { operation: Operation::Closed { by: None }, ..timeline[0].clone() }];
        assert_eq!(closed_by(&auto, &names), (String::new(), "automatic".into()));

        let mut failed = message(
            9,
            agent(),
            DeliveryState::Failed {
                reason: FailureReason {
                    code: SendErrorCode::AuthFail,
                    prompt: "Authentication Failed".into(),
                    provider_code: None,
                    detail: Some("HTTP 401".into()),
                },
                at: at("2026-01-05T10:00:02Z"),
            },
        );
        let row = message_row(&failed, &s, &names);
        assert_eq!(row.len(), CHAT_DATA_RECORD_HEADER.len());
        assert_eq!(
            row,
            [
                "1",
                "9",
                "2026-01-05 10:00:01",
                "outbound",
                "agent",
                "Leo Ball<3000>",
                "+8618012121222",
                "text",
                "Hello, \"world\"",
                "",
                "failed",
                "Authentication Failed (HTTP 401)"
            ]
        );
        failed.delivery = DeliveryState::Sent { provider_message_id: "p".into(), at: at("2026-01-05T10:00:02Z") };
        failed.receipt = Some(Receipt {
            status: ReportedStatus::Undelivered { code: Some("30003".into()), reason: Some("unreachable".into()) },
            at: at("2026-01-05T10:00:03Z"),
        });
        let row = message_row(&failed, &s, &names);
        assert_eq!((row[10].as_str(), row[11].as_str()), ("undelivered", "30003: unreachable"));
    }

    #[test]
    fn export_ids_are_32_lowercase_hex() {
        let id = ExportId::from_random_bytes([0xab; 16]);
        assert_eq!(ExportId::parse(id.as_str()), Ok(id.clone()));
        assert!(ExportId::parse("ABABABABABABABABABABABABABABABAB").is_err());
        assert!(ExportId::parse("abc").is_err());
        assert_eq!(id.object_key(), format!("chat-logs/{id}/chat_logs.zip"));
        let job = ExportJob::new(
            id,
            ChatLogFilter::between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z")),
            at("2026-02-01T00:00:00Z"),
        );
        let json = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<ExportJob>(&json).unwrap(), job);
    }
}

//! Message campaigns (seed 001 §4, seed 002 §3, `message_campaign/*`): what a campaign is, its
//! statuses and their transitions, its per-recipient ledger, the request shapes of
//! `message_campaign/create|update` and the response shapes of `list|get|query`.
//!
//! A campaign sends one message (SMS text, an MMS file, or a WhatsApp template) to at most 1000
//! recipients through one channel and number. Each recipient is one ledger entry that moves
//! `pending → queued → sent | failed` (or `pending → opted_out`) only by conditional writes, so
//! a recipient gets exactly one message however often a worker crashes or a job is redelivered
//! (see `services::campaigns`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::channel::ChannelType;
use crate::ids::{CampaignId, ChannelId, ExtensionId, MessageId, QueueId, SessionId};
use crate::openapi::{ApiError, Fields};
use crate::phone::{BusinessNumber, E164};
use crate::time::Timestamp;

/// Campaigns that may be stored at once (seed 001 L9234).
pub const MAX_CAMPAIGNS: usize = 1000;
/// SMS text length (seed 001 L9330).
pub const MAX_CAMPAIGN_TEXT_CHARS: usize = 1600;
/// Longest campaign name.
pub const MAX_CAMPAIGN_NAME_CHARS: usize = 127;
/// A reply counts towards the response rate when it comes this soon after the recipient's
/// message (decisions.md "Campaigns").
pub const RESPONSE_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// How far ahead a campaign may be scheduled.
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(366 * 24 * 3600);

/// A campaign's status (seed 001 L9248-9259).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignStatus {
    /// Saved; nothing is sent.
    Draft,
    /// Sends at its `send_time`.
    Scheduled,
    /// Waiting: another campaign is executing on the channel.
    Pending,
    /// Sending.
    Executing,
    /// Every recipient has an outcome.
    Completed,
    /// A fault stopped it (its channel, number or template is gone); retry resumes it.
    Stop,
    /// Sending again to the recipients that failed (and any not reached before a stop).
    Retrying,
}

impl CampaignStatus {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Draft => "draft",
            CampaignStatus::Scheduled => "scheduled",
            CampaignStatus::Pending => "pending",
            CampaignStatus::Executing => "executing",
            CampaignStatus::Completed => "completed",
            CampaignStatus::Stop => "stop",
            CampaignStatus::Retrying => "retrying",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "draft" => CampaignStatus::Draft,
            "scheduled" => CampaignStatus::Scheduled,
            "pending" => CampaignStatus::Pending,
            "executing" => CampaignStatus::Executing,
            "completed" => CampaignStatus::Completed,
            "stop" => CampaignStatus::Stop,
            "retrying" => CampaignStatus::Retrying,
            _ => return None,
        })
    }

    /// Sending or about to (the channel's one running campaign, or waiting for it).
    pub fn is_running(self) -> bool {
        matches!(self, CampaignStatus::Pending | CampaignStatus::Executing | CampaignStatus::Retrying)
    }

    /// Holds the channel (sending now).
    pub fn is_sending(self) -> bool {
        matches!(self, CampaignStatus::Executing | CampaignStatus::Retrying)
    }

    /// May still be edited (nothing was sent).
    pub fn is_editable(self) -> bool {
        matches!(self, CampaignStatus::Draft | CampaignStatus::Scheduled)
    }
}

/// When to send (`send_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SendType {
    /// Right after saving.
    Immediately,
    /// At `send_time`.
    Schedule,
    /// Not yet.
    Draft,
}

impl SendType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SendType::Immediately => "immediately",
            SendType::Schedule => "schedule",
            SendType::Draft => "draft",
        }
    }
}

/// Where a "create session" campaign puts the sessions it starts (`assign_to_type`/`_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum AssignTarget {
    /// An extension.
    Extension(ExtensionId),
    /// A message queue.
    Queue(QueueId),
}

/// `send_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", content = "assign_to", rename_all = "snake_case")]
pub enum SendMode {
    /// A session per recipient, assigned to the target; a recipient with a not-closed session
    /// on the number gets the message in that session instead (seed 002 L7990).
    NewSession(AssignTarget),
    /// No session: the message is in no list and no chat log; replies route as usual.
    Direct,
}

/// Where the recipients came from (`recipient_type`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RecipientSource {
    /// Typed numbers (`number_list`) or an imported CSV file (`recipient_file_id`).
    Input {
        /// The imported file's name, when the list came from one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_name: Option<String>,
    },
    /// A phonebook's contacts, by number type.
    Phonebook {
        /// Phonebook id.
        id: u64,
        /// Its name when the campaign was saved.
        name: String,
        /// The number types taken (`recipient_num_type`, comma-separated on the wire).
        num_types: Vec<String>,
    },
}

/// What every recipient receives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum CampaignContent {
    /// SMS text (≤ 1600 characters, emojis allowed).
    Text {
        /// The text.
        text: String,
    },
    /// An MMS with one uploaded file (`message/batchupload`).
    Document {
        /// The file id.
        file_id: String,
        /// Its name.
        file_name: String,
    },
    /// A WhatsApp template, filled once for everyone.
    Template {
        /// The request's `msg_param` as given.
        msg_param: String,
        /// The preview text stored on each message.
        preview: String,
        /// The Cloud API `template` object sent.
        template: Value,
    },
}

impl CampaignContent {
    /// `content_type`.
    pub fn content_type(&self) -> &'static str {
        match self {
            CampaignContent::Text { .. } => "text",
            CampaignContent::Document { .. } => "document",
            CampaignContent::Template { .. } => "template",
        }
    }
}

/// What the administrator defines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignSpec {
    /// Name.
    pub name: String,
    /// `sms` or `whatsapp`.
    pub channel_type: ChannelType,
    /// The channel (`omnichannel_id`).
    pub channel_id: ChannelId,
    /// The business number it sends from (`sender`).
    pub sender: BusinessNumber,
    /// Where the recipients came from.
    pub recipients: RecipientSource,
    /// The message.
    pub content: CampaignContent,
    /// When.
    pub send_type: SendType,
    /// When `schedule`: the instant.
    pub send_time: Option<Timestamp>,
    /// The time zone `send_time` is shown in (IANA name).
    pub time_zone: String,
    /// Sessions or not.
    pub send_mode: SendMode,
}

/// Recipients by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignCounts {
    /// The provider accepted the message.
    pub sent: u64,
    /// Failed for good (or the outcome of an interrupted provider call is unknown).
    pub failed: u64,
    /// Skipped: the recipient opted out on the number.
    pub opted_out: u64,
    /// Sent and replied within [`RESPONSE_WINDOW`].
    pub replied: u64,
}

/// A stored campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// Definition.
    pub spec: CampaignSpec,
    /// Status.
    pub status: CampaignStatus,
    /// Recipients.
    pub total: u64,
    /// Outcomes so far (kept by atomic counters beside the recipients' ledger).
    pub counts: CampaignCounts,
    /// Execution round: 1 for the first, one more per retry. A recipient reset by a retry
    /// carries the new round, so a late worker of an older round cannot claim it.
    pub run: u32,
    /// Why it stopped (status `stop`).
    pub stop_reason: Option<String>,
    /// Created.
    pub created_at: Timestamp,
    /// Last changed by the administrator.
    pub updated_at: Timestamp,
    /// When sending began (the latest round).
    pub started_at: Option<Timestamp>,
    /// When the latest round ended.
    pub completed_at: Option<Timestamp>,
    /// Bumped by every status change; status changes are conditional on it.
    pub version: u64,
}

impl Campaign {
    /// Recipients without an outcome yet.
    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.counts.sent + self.counts.failed + self.counts.opted_out)
    }

    /// Response rate in percent (replied / sent), rounded down; `None` before anything is sent.
    pub fn response_rate(&self) -> Option<u64> {
        (self.counts.sent > 0).then(|| self.counts.replied * 100 / self.counts.sent)
    }

    /// Whether `retry` has anything to do: failed recipients, or recipients a stop left unsent.
    pub fn retryable(&self) -> bool {
        matches!(self.status, CampaignStatus::Completed | CampaignStatus::Stop)
            && (self.counts.failed > 0 || (self.status == CampaignStatus::Stop && self.remaining() > 0))
    }
}

/// A recipient's place in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientState {
    /// Not handled yet (in the current round).
    Pending,
    /// Its message exists (`session_id`/`msg_id`) and is being sent.
    Queued,
    /// The provider accepted it.
    Sent,
    /// Failed for good.
    Failed,
    /// Skipped: opted out on the number.
    OptedOut,
}

impl RecipientState {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Pending => "pending",
            RecipientState::Queued => "queued",
            RecipientState::Sent => "sent",
            RecipientState::Failed => "failed",
            RecipientState::OptedOut => "opted_out",
        }
    }

    /// From the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => RecipientState::Pending,
            "queued" => RecipientState::Queued,
            "sent" => RecipientState::Sent,
            "failed" => RecipientState::Failed,
            "opted_out" => RecipientState::OptedOut,
            _ => return None,
        })
    }

    /// Has its outcome.
    pub fn is_final(self) -> bool {
        matches!(self, RecipientState::Sent | RecipientState::Failed | RecipientState::OptedOut)
    }
}

/// One recipient's ledger entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRecipient {
    /// Its campaign.
    pub campaign: CampaignId,
    /// Position (1-based), stable.
    pub index: u32,
    /// Number.
    pub number: E164,
    /// From the phonebook or the file's `Name` column.
    pub contact_name: Option<String>,
    /// Where it is.
    pub state: RecipientState,
    /// The round that may claim it.
    pub run: u32,
    /// Its message (from `queued` on).
    pub message: Option<(SessionId, MessageId)>,
    /// When the provider accepted it.
    pub sent_at: Option<Timestamp>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When the recipient first replied within the response window.
    pub replied_at: Option<Timestamp>,
}

/// The recipients' outcome written when a recipient's message ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Sent at.
    Sent(Timestamp),
    /// Failed, with the reason shown in the details.
    Failed(String),
}

/// A recipient just sent, for the response-rate lookup by the customer's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTo {
    /// The campaign.
    pub campaign: CampaignId,
    /// The recipient.
    pub index: u32,
    /// When it was sent.
    pub sent_at: Timestamp,
}

// ---------------------------------------------------------------- opt-out keywords

/// What an inbound text says about messages from the number (the carriers' standard keywords;
/// CTIA and Twilio's defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptKeyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE.
    OptOut,
    /// START, UNSTOP, YES, OPTIN.
    OptIn,
}

/// The keyword an inbound text is, if it is exactly one (trimmed, any case, trailing
/// punctuation ignored).
pub fn opt_keyword(text: &str) -> Option<OptKeyword> {
    let word = text.trim().trim_end_matches(['.', '!']).trim().to_ascii_uppercase();
    match word.as_str() {
        "STOP" | "STOPALL" | "STOP ALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "OPTOUT" | "OPT OUT"
        | "REVOKE" => Some(OptKeyword::OptOut),
        "START" | "UNSTOP" | "YES" | "OPTIN" | "OPT IN" => Some(OptKeyword::OptIn),
        _ => None,
    }
}

// ---------------------------------------------------------------- requests

/// Recipients as the request names them (resolved by the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientsRequest {
    /// `number_list`: (contact name, number) pairs as given.
    Typed(Vec<(Option<String>, String)>),
    /// `recipient_file_id`: a CSV uploaded with `message/batchupload`.
    File(String),
    /// `recipient_id` + `recipient_num_type`.
    Phonebook {
        /// Phonebook id.
        id: u64,
        /// Number types.
        num_types: Vec<String>,
    },
}

/// The message as the request names it (resolved by the service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentRequest {
    /// SMS text.
    Text(String),
    /// A file id (`file_id`), MMS.
    Document(String),
    /// `msg_param` (a JSON string, §3.2.8).
    Template(String),
}

/// How the request names the sending number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderRequest {
    /// The number itself.
    Number(String),
    /// Yeastar's number id: its 1-based position in the channel's numbers.
    Position(u64),
}

/// A validated `message_campaign/create` (or an update overlaid on the stored request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignRequest {
    /// Name.
    pub name: String,
    /// Channel type.
    pub channel_type: ChannelType,
    /// Channel.
    pub channel_id: ChannelId,
    /// Sender.
    pub sender: SenderRequest,
    /// Recipients.
    pub recipients: RecipientsRequest,
    /// Message.
    pub content: ContentRequest,
    /// When.
    pub send_type: SendType,
    /// Schedule: the instant.
    pub send_time: Option<Timestamp>,
    /// The zone (IANA), when given.
    pub time_zone: Option<String>,
    /// Sessions or not.
    pub send_mode: SendMode,
}

/// Parses `send_time`: Unix seconds, or `YYYY-MM-DD HH:MM:SS` local time in `zone`.
pub fn parse_send_time(value: &Value, zone: &str) -> Result<Timestamp, &'static str> {
    match value {
        Value::Number(n) => {
            n.as_i64().filter(|v| *v > 0).map(Timestamp::from_unix_seconds).ok_or("must be a Unix time in seconds")
        }
        Value::String(s) if s.trim().parse::<i64>().is_ok() => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Timestamp::from_unix_seconds)
            .ok_or("must be a Unix time in seconds"),
        Value::String(s) => local_time(s.trim(), zone),
        _ => Err("must be a Unix time in seconds or YYYY-MM-DD HH:MM:SS"),
    }
}

fn local_time(text: &str, zone: &str) -> Result<Timestamp, &'static str> {
    use chrono::{NaiveDateTime, TimeZone};
    let tz: chrono_tz::Tz = zone.parse().map_err(|_| "time_zone is not an IANA time zone")?;
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y/%m/%d %H:%M:%S"))
        .map_err(|_| "must be a Unix time in seconds or YYYY-MM-DD HH:MM:SS")?;
    // A wall time skipped by a DST change does not exist; one that repeats takes the earlier.
    let at = tz.from_local_datetime(&naive).earliest().ok_or("does not exist in that time zone (DST change)")?;
    Ok(Timestamp::from_unix_seconds(at.timestamp()))
}

/// Whether `zone` is an IANA time zone name.
pub fn valid_time_zone(zone: &str) -> bool {
    zone.parse::<chrono_tz::Tz>().is_ok()
}

/// `send_time` as local wall time in `zone` (`YYYY-MM-DD HH:MM:SS`).
pub fn local_text(at: Timestamp, zone: &str) -> Option<String> {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let utc = chrono::Utc.timestamp_opt(at.as_unix_seconds(), 0).single()?;
    Some(utc.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Parses and validates a campaign request body. `default_zone` is the organisation's time
/// zone (decisions.md: schedules carry an explicit zone, default the organisation's).
pub fn parse_campaign_request(body: &Value, default_zone: &str) -> Result<CampaignRequest, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name").map(|n| n.trim().to_owned());
    if let Some(n) = &name
        && (n.is_empty() || n.chars().count() > MAX_CAMPAIGN_NAME_CHARS)
    {
        f.error("name", "length", format!("must be 1 to {MAX_CAMPAIGN_NAME_CHARS} characters"));
    }
    let channel_type = f.string("channel_type").and_then(|t| match t.as_str() {
        "sms" => Some(ChannelType::Sms),
        "whatsapp" => Some(ChannelType::WhatsApp),
        _ => {
            f.error(
                "channel_type",
                "enum",
                "must be sms or whatsapp (campaigns run on SMS and WhatsApp channels only)",
            );
            None
        }
    });
    let channel_id = f.integer("omnichannel_id").and_then(|v| {
        let id = u64::try_from(v).ok().and_then(|v| ChannelId::new(v).ok());
        if id.is_none() {
            f.error("omnichannel_id", "format", "must be a positive integer");
        }
        id
    });
    let sender = match body.get("sender") {
        None | Some(Value::Null) => {
            f.error("sender", "required", "is required");
            None
        }
        Some(Value::Number(n)) => match n.as_u64().filter(|v| *v > 0) {
            Some(v) => Some(SenderRequest::Position(v)),
            None => {
                f.error("sender", "format", "must be a number's id (its position in the channel) or the number");
                None
            }
        },
        Some(Value::String(s)) if !s.trim().is_empty() => Some(SenderRequest::Number(s.trim().to_owned())),
        Some(_) => {
            f.error("sender", "type", "must be a number's id or the number");
            None
        }
    };

    let recipients = match f.string("recipient_type").as_deref() {
        Some("input") => match (body.get("number_list").filter(|v| !v.is_null()), f.opt_string("recipient_file_id")) {
            (Some(_), Some(_)) => {
                f.error("number_list", "format", "give number_list or recipient_file_id, not both");
                None
            }
            (None, Some(file)) => Some(RecipientsRequest::File(file.trim().to_owned())),
            (Some(list), None) => typed_numbers(&mut f, list).map(RecipientsRequest::Typed),
            (None, None) => {
                f.error("number_list", "required", "is required when recipient_type is input (or recipient_file_id)");
                None
            }
        },
        Some("phonebook") => {
            let id = f.integer("recipient_id").and_then(|v| u64::try_from(v).ok().filter(|v| *v > 0));
            if id.is_none() && body.get("recipient_id").is_some() {
                f.error("recipient_id", "format", "must be a phonebook id");
            }
            let types = f
                .string("recipient_num_type")
                .map(|t| t.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect::<Vec<_>>());
            match (id, types) {
                (Some(id), Some(num_types)) if !num_types.is_empty() => {
                    Some(RecipientsRequest::Phonebook { id, num_types })
                }
                (_, Some(_)) => {
                    f.error("recipient_num_type", "required", "names at least one number type");
                    None
                }
                _ => None,
            }
        }
        Some(_) => {
            f.error("recipient_type", "enum", "must be input or phonebook");
            None
        }
        None => None,
    };

    let content = match f.string("content_type").as_deref() {
        Some("text") => f.string("content").and_then(|text| {
            let chars = text.chars().count();
            if text.trim().is_empty() {
                f.error("content", "required", "must not be empty");
                None
            } else if chars > MAX_CAMPAIGN_TEXT_CHARS {
                f.error("content", "length", format!("is {chars} characters; at most {MAX_CAMPAIGN_TEXT_CHARS}"));
                None
            } else {
                Some(ContentRequest::Text(text))
            }
        }),
        Some("document") => f.string("file_id").map(|id| ContentRequest::Document(id.trim().to_owned())),
        Some("template") => f.string("msg_param").map(ContentRequest::Template),
        Some(_) => {
            f.error("content_type", "enum", "must be text, document or template");
            None
        }
        None => None,
    };
    match (channel_type, &content) {
        (Some(ChannelType::WhatsApp), Some(ContentRequest::Text(_) | ContentRequest::Document(_))) => f.error(
            "content_type",
            "enum",
            "a WhatsApp campaign sends an approved template (content_type template): the customers have not written",
        ),
        (Some(ChannelType::Sms), Some(ContentRequest::Template(_))) => f.error(
            "content_type",
            "enum",
            "templates are for WhatsApp campaigns; an SMS campaign sends text or a file",
        ),
        _ => {}
    }

    let time_zone = f.opt_string("time_zone").map(|z| z.trim().to_owned());
    if let Some(z) = &time_zone
        && !valid_time_zone(z)
    {
        f.error("time_zone", "format", "must be an IANA time zone name, e.g. Europe/Berlin");
    }
    let zone = time_zone.clone().unwrap_or_else(|| default_zone.to_owned());
    let send_type = match f.string("send_type").as_deref() {
        Some("immediately") => Some(SendType::Immediately),
        Some("schedule") => Some(SendType::Schedule),
        Some("draft") => Some(SendType::Draft),
        Some(_) => {
            f.error("send_type", "enum", "must be immediately, schedule or draft");
            None
        }
        None => None,
    };
    let send_time = match (send_type, body.get("send_time").filter(|v| !v.is_null())) {
        (Some(SendType::Schedule), None) => {
            f.error("send_time", "required", "is required when send_type is schedule");
            None
        }
        (Some(SendType::Schedule), Some(v)) => match parse_send_time(v, &zone) {
            Ok(at) => Some(at),
            Err(why) => {
                f.error("send_time", "format", why);
                None
            }
        },
        _ => None,
    };

    let send_mode = match f.string("send_mode").as_deref() {
        Some("direct") => Some(SendMode::Direct),
        Some("new_session") => {
            let id = f.integer("assign_to_id").and_then(|v| u64::try_from(v).ok().filter(|v| *v > 0));
            match (f.string("assign_to_type").as_deref(), id) {
                (Some("extension"), Some(id)) => {
                    ExtensionId::new(id).ok().map(|e| SendMode::NewSession(AssignTarget::Extension(e)))
                }
                (Some("queue"), Some(id)) => {
                    QueueId::new(id).ok().map(|q| SendMode::NewSession(AssignTarget::Queue(q)))
                }
                (Some("extension" | "queue"), None) => {
                    if body.get("assign_to_id").is_some() {
                        f.error("assign_to_id", "format", "must be a positive integer");
                    }
                    None
                }
                (Some(_), _) => {
                    f.error("assign_to_type", "enum", "must be extension or queue");
                    None
                }
                (None, _) => None,
            }
        }
        Some(_) => {
            f.error("send_mode", "enum", "must be new_session or direct");
            None
        }
        None => None,
    };
    f.finish()?;
    match (name, channel_type, channel_id, sender, recipients, content, send_type, send_mode) {
        (
            Some(name),
            Some(channel_type),
            Some(channel_id),
            Some(sender),
            Some(recipients),
            Some(content),
            Some(send_type),
            Some(send_mode),
        ) => Ok(CampaignRequest {
            name,
            channel_type,
            channel_id,
            sender,
            recipients,
            content,
            send_type,
            send_time,
            time_zone,
            send_mode,
        }),
        _ => Err(ApiError::field("body", "required", "incomplete campaign")),
    }
}

/// `number_list`: strings, or objects with `number` (and optional `name`).
fn typed_numbers(f: &mut Fields<'_>, list: &Value) -> Option<Vec<(Option<String>, String)>> {
    let Value::Array(items) = list else {
        f.error("number_list", "type", "must be an array of numbers");
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item {
            Value::String(s) => out.push((None, s.clone())),
            Value::Object(o) => match o.get("number").and_then(Value::as_str) {
                Some(number) => out.push((
                    o.get("name").and_then(Value::as_str).map(str::to_owned).filter(|n| !n.trim().is_empty()),
                    number.to_owned(),
                )),
                None => f.error(&format!("number_list[{i}].number"), "required", "is required"),
            },
            _ => f.error(&format!("number_list[{i}]"), "type", "must be a number or {number, name}"),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- responses

/// One `MSGCampaign_Info` (`list`, `search`): with our `total`, `failed`, `sent`, `opted_out`,
/// `remaining` and `response_rate` (percent, or null before anything was sent).
pub fn campaign_info(c: &Campaign, channel_name: &str) -> Value {
    let (recipient_type, recipient_name, recipient_num_type) = recipient_parts(&c.spec.recipients);
    let (send_mode, assign_to_type, assign_to_id) = mode_parts(c.spec.send_mode);
    json!({
        "id": c.id,
        "name": c.spec.name,
        "status": c.status.as_str(),
        "channel_type": channel_type_name(c.spec.channel_type),
        "channel_name": channel_name,
        "omnichannel_id": c.spec.channel_id,
        "sender": c.spec.sender.as_str(),
        "recipient_type": recipient_type,
        "recipient_name": recipient_name,
        "recipient_num_type": recipient_num_type,
        "send_type": c.spec.send_type.as_str(),
        "send_time": c.spec.send_time.or(c.started_at).map(Timestamp::as_unix_seconds),
        "send_mode": send_mode,
        "assign_to_type": assign_to_type,
        "assign_to_id": assign_to_id,
        "total": c.total,
        "failed": c.counts.failed,
        "sent": c.counts.sent,
        "opted_out": c.counts.opted_out,
        "remaining": c.remaining(),
        "result": format!("{}/{}", c.counts.failed + c.counts.opted_out, c.total),
        "response_rate": c.response_rate(),
        "stop_reason": c.stop_reason,
    })
}

/// One `MSGCampaign_DetailInfo` (`get`, `query`).
pub fn campaign_detail(c: &Campaign, channel_name: &str) -> Value {
    let mut v = campaign_info(c, channel_name);
    if let Value::Object(map) = &mut v {
        map.insert("content_type".into(), json!(c.spec.content.content_type()));
        match &c.spec.content {
            CampaignContent::Text { text } => {
                map.insert("content".into(), json!(text));
            }
            CampaignContent::Document { file_id, file_name } => {
                map.insert("file_id".into(), json!(file_id));
                map.insert("file_name".into(), json!(file_name));
            }
            CampaignContent::Template { msg_param, preview, .. } => {
                map.insert("msg_param".into(), json!(msg_param));
                map.insert("content".into(), json!(preview));
            }
        }
        if let RecipientSource::Phonebook { id, .. } = &c.spec.recipients {
            map.insert("recipient_id".into(), json!(id));
        }
        map.insert("time_zone".into(), json!(c.spec.time_zone));
        map.insert("send_time_local".into(), json!(c.spec.send_time.and_then(|t| local_text(t, &c.spec.time_zone))));
        map.insert("replied".into(), json!(c.counts.replied));
        map.insert("run".into(), json!(c.run));
        map.insert("created_at".into(), json!(c.created_at.as_unix_seconds()));
        map.insert("started_at".into(), json!(c.started_at.map(Timestamp::as_unix_seconds)));
        map.insert("completed_at".into(), json!(c.completed_at.map(Timestamp::as_unix_seconds)));
    }
    v
}

/// One row of the details dialog: contact name, number, result, failed reason (seed 001
/// L9417-9438), with our state, send time and reply time.
pub fn recipient_row(r: &CampaignRecipient) -> Value {
    let result = match r.state {
        RecipientState::Sent => "succeeded",
        RecipientState::Failed | RecipientState::OptedOut => "failed",
        RecipientState::Pending | RecipientState::Queued => "sending",
    };
    let reason = match r.state {
        RecipientState::OptedOut => Some("the recipient opted out (STOP) on this number".to_owned()),
        RecipientState::Failed => r.failure.clone(),
        _ => None,
    };
    json!({
        "contact_name": r.contact_name.clone().unwrap_or_default(),
        "number": r.number.as_str(),
        "result": result,
        "state": r.state.as_str(),
        "failed_reason": reason,
        "sent_at": r.sent_at.map(Timestamp::as_unix_seconds),
        "replied_at": r.replied_at.map(Timestamp::as_unix_seconds),
        "session_id": r.message.map(|(s, _)| s),
        "msg_id": r.message.map(|(_, m)| m),
    })
}

fn channel_type_name(t: ChannelType) -> &'static str {
    match t {
        ChannelType::WhatsApp => "whatsapp",
        _ => "sms",
    }
}

fn recipient_parts(r: &RecipientSource) -> (&'static str, String, String) {
    match r {
        RecipientSource::Input { file_name } => ("input", file_name.clone().unwrap_or_default(), String::new()),
        RecipientSource::Phonebook { name, num_types, .. } => ("phonebook", name.clone(), num_types.join(",")),
    }
}

fn mode_parts(m: SendMode) -> (&'static str, Option<&'static str>, Option<u64>) {
    match m {
        SendMode::Direct => ("direct", None, None),
        SendMode::NewSession(AssignTarget::Extension(e)) => ("new_session", Some("extension"), Some(e.get())),
        SendMode::NewSession(AssignTarget::Queue(q)) => ("new_session", Some("queue"), Some(q.get())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn sms_body() -> Value {
        json!({
            "name": "Spring sale", "channel_type": "sms", "omnichannel_id": 3, "sender": "+15550001111",
            "recipient_type": "input", "number_list": ["+12025550101", {"number": "+12025550102", "name": "Ann"}],
            "content_type": "text", "content": "Sale starts today 🎉", "send_type": "immediately", "send_mode": "direct"
        })
    }

    #[test]
    fn when_sms_request_is_complete_should_parse_every_field() {
        let r = parse_campaign_request(&sms_body(), "UTC").unwrap();
        assert_eq!(r.channel_type, ChannelType::Sms);
        assert_eq!(r.sender, SenderRequest::Number("+15550001111".into()));
        assert_eq!(
            r.recipients,
            RecipientsRequest::Typed(vec![(None, "+12025550101".into()), (Some("Ann".into()), "+12025550102".into())])
        );
        assert_eq!(r.content, ContentRequest::Text("Sale starts today 🎉".into()));
        assert_eq!((r.send_type, r.send_mode), (SendType::Immediately, SendMode::Direct));
    }

    #[test]
    fn when_fields_are_wrong_should_name_each_one() {
        let mut body = sms_body();
        body["content"] = json!("x".repeat(1601));
        body["send_type"] = json!("schedule");
        body["send_mode"] = json!("new_session");
        body["assign_to_type"] = json!("group");
        body["assign_to_id"] = json!(1);
        let e = parse_campaign_request(&body, "UTC").unwrap_err();
        let fields: Vec<&str> = e.invalid_params.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, vec!["content", "send_time", "assign_to_type"]);
    }

    #[test]
    fn when_whatsapp_campaign_sends_text_should_refuse() {
        let mut body = sms_body();
        body["channel_type"] = json!("whatsapp");
        let e = parse_campaign_request(&body, "UTC").unwrap_err();
        assert_eq!(e.invalid_params[0].field, "content_type");
    }

    #[test]
    fn when_schedule_is_local_time_should_use_the_zone() {
        let mut body = sms_body();
        body["send_type"] = json!("schedule");
        body["send_time"] = json!("2026-07-24 08:50:00");
        body["time_zone"] = json!("America/New_York");
        let r = parse_campaign_request(&body, "UTC").unwrap();
        // 08:50 EDT = 12:50 UTC
        assert_eq!(r.send_time.unwrap().as_unix_seconds(), 1_784_897_400);
        assert_eq!(local_text(r.send_time.unwrap(), "America/New_York").unwrap(), "2026-07-24 08:50:00");
        body["time_zone"] = json!("Mars/Olympus");
        assert_eq!(parse_campaign_request(&body, "UTC").unwrap_err().invalid_params[0].field, "time_zone");
    }

    #[test]
    fn when_schedule_is_unix_seconds_should_take_it_as_is() {
        let mut body = sms_body();
        body["send_type"] = json!("schedule");
        body["send_time"] = json!(1_784_897_400);
        assert_eq!(
            parse_campaign_request(&body, "Asia/Tokyo").unwrap().send_time.unwrap().as_unix_seconds(),
            1_784_897_400
        );
    }

    #[test]
    fn when_text_is_a_keyword_should_recognise_it() {
        assert_eq!(opt_keyword(" stop "), Some(OptKeyword::OptOut));
        assert_eq!(opt_keyword("Unsubscribe."), Some(OptKeyword::OptOut));
        assert_eq!(opt_keyword("START"), Some(OptKeyword::OptIn));
        assert_eq!(opt_keyword("please stop calling"), None);
    }

    #[test]
    fn when_counts_move_should_give_remaining_rate_and_retryability() {
        let mut c = Campaign {
            id: CampaignId::new(1).unwrap(),
            spec: CampaignSpec {
                name: "n".into(),
                channel_type: ChannelType::Sms,
                channel_id: ChannelId::new(1).unwrap(),
                sender: BusinessNumber::parse("+15550001111").unwrap(),
                recipients: RecipientSource::Input { file_name: None },
                content: CampaignContent::Text { text: "t".into() },
                send_type: SendType::Immediately,
                send_time: None,
                time_zone: "UTC".into(),
                send_mode: SendMode::Direct,
            },
            status: CampaignStatus::Completed,
            total: 10,
            counts: CampaignCounts { sent: 5, failed: 2, opted_out: 1, replied: 2 },
            run: 1,
            stop_reason: None,
            created_at: Timestamp::from_unix_seconds(1),
            updated_at: Timestamp::from_unix_seconds(1),
            started_at: None,
            completed_at: None,
            version: 1,
        };
        assert_eq!((c.remaining(), c.response_rate()), (2, Some(40)));
        assert!(c.retryable());
        c.counts.failed = 0;
        assert!(!c.retryable());
        c.status = CampaignStatus::Stop;
        assert!(c.retryable(), "a stop left recipients unsent");
    }
}

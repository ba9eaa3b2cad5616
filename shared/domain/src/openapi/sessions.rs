//! `message_session/*` and `message/*` request and response shapes
//! (yeastar-openapi-messaging.md §3.5-3.6, §4.1-4.2).
//!
//! Yeastar documents `user_type` 1 (extension) and 9 (third-party platform) for operators and 5
//! for Live Chat visitors; it does not say which value an SMS customer has. We use `0` for
//! external customers (docs/api.md).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::directory::Extension;
use crate::ids::{ExtensionId, ExtensionNumber, MessageId, QueueId, SessionId};
use crate::message::{DeliveryState, Direction, Message, SendErrorCode, Sender, prompts};
use crate::openapi::{ApiError, Fields, parse_id_list};
use crate::phone::CustomerAddress;
use crate::session::{Actor, Assignment, Operation, Session, SessionStatus, TimelineEntry};
use crate::time::Timestamp;
use crate::whatsapp_template::{TemplateError, TemplateMessage};

/// `msg_kind` values of `message/send` and message records.
pub mod msg_kind {
    /// A normal message (text).
    pub const NORMAL: i64 = 0;
    /// A WhatsApp template message (`whatsapp_msg_param`).
    pub const WHATSAPP_TEMPLATE: i64 = 1;
}

/// `user_type` / `sender_type` values.
pub mod user_type {
    /// An external customer (ours; Yeastar leaves it undocumented).
    pub const CUSTOMER: i64 = 0;
    /// An extension user.
    pub const EXTENSION: i64 = 1;
    /// The third-party message analytics platform.
    pub const API: i64 = 9;
}

/// Who a session/message call acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// An extension, by number.
    Extension(ExtensionNumber),
    /// The third-party platform (`api`).
    Api,
}

/// Reads `user_type`/`user_no` (or `sender_type`/`sender_no`).
pub fn parse_operator(f: &mut Fields<'_>, type_field: &str, no_field: &str) -> Option<Operator> {
    let kind = f.integer(type_field)?;
    match kind {
        user_type::EXTENSION => {
            let no = f.string(no_field)?;
            match ExtensionNumber::parse(&no) {
                Ok(n) => Some(Operator::Extension(n)),
                Err(e) => {
                    f.error(no_field, "format", e.reason);
                    None
                }
            }
        }
        user_type::API => Some(Operator::Api),
        _ => {
            f.error(type_field, "enum", "must be 1 (extension user) or 9 (third-party platform)");
            None
        }
    }
}

/// A validated `message_session/list` (or `search`) query.
#[derive(Debug, Clone)]
pub struct SessionListQuery {
    /// Records per page (1..=100).
    pub page_size: usize,
    /// Whose list.
    pub operator: Operator,
    /// Cursor: sessions whose last message id is below this.
    pub before: Option<MessageId>,
    /// `is_archived`: `Some(false)` unarchived only, `Some(true)` archived only, `None` all.
    pub archived: Option<bool>,
    /// `is_closed`: `Some(false)` open only, `Some(true)` closed only, `None` all.
    pub closed: Option<bool>,
    /// `is_pickup`: `Some(true)` picked up (owned) only, `Some(false)` not picked up (queued) only.
    pub picked_up: Option<bool>,
    /// `collection=campaign`: sessions a message campaign started (the agent's Campaign Group).
    pub campaigns_only: bool,
    /// `search_value`, lower-cased.
    pub search: Option<String>,
}

fn tri_state(f: &mut Fields<'_>, name: &str) -> Option<bool> {
    match f.opt_integer_in(name, 0, 2) {
        Some(0) => Some(false),
        Some(1) => Some(true),
        _ => None,
    }
}

/// Parses `message_session/list` / `search` query parameters.
pub fn parse_session_list(query: &Value) -> Result<SessionListQuery, ApiError> {
    let mut f = Fields::new(query);
    let page_size = f.integer("page_size");
    if page_size.is_some_and(|p| !(1..=100).contains(&p)) {
        f.error("page_size", "range", "must be between 1 and 100");
    }
    let operator = parse_operator(&mut f, "user_type", "user_no");
    let before = optional_id(&mut f, "first_msg_id").and_then(|v| MessageId::new(v).ok());
    let archived = tri_state(&mut f, "is_archived");
    let closed = tri_state(&mut f, "is_closed");
    let picked_up = match f.opt_integer_in("is_pickup", 0, 2) {
        Some(1) => Some(true),
        Some(2) => Some(false),
        _ => None,
    };
    let collection = f.opt_string("collection").unwrap_or_default();
    if !matches!(collection.as_str(), "" | "all" | "campaign") {
        f.error("collection", "enum", "must be all or campaign (or empty)");
    }
    let search = f.opt_string("search_value").map(|v| v.trim().to_lowercase()).filter(|v| !v.is_empty());
    f.finish().and_then(|()| match (page_size.and_then(|p| usize::try_from(p).ok()), operator) {
        (Some(page_size), Some(operator)) => Ok(SessionListQuery {
            page_size,
            operator,
            before,
            archived,
            closed,
            picked_up,
            campaigns_only: collection == "campaign",
            search,
        }),
        _ => Err(ApiError::field("page_size", "required", "is required")),
    })
}

impl SessionListQuery {
    /// Whether a session passes the filters (the list it came from already decided visibility).
    pub fn matches(&self, s: &Session) -> bool {
        let archived = s.view.archived && s.assignment.owner().is_some();
        self.archived.is_none_or(|a| a == archived)
            && (!self.campaigns_only || s.origin == crate::session::SessionOrigin::Campaign)
            && self.closed.is_none_or(|c| c != s.is_open())
            && self.search.as_ref().is_none_or(|needle| {
                s.key.customer.as_str().to_lowercase().contains(needle)
                    || s.key.business_number.as_str().to_lowercase().contains(needle)
                    || s.customer_name.as_ref().is_some_and(|n| n.to_lowercase().contains(needle))
            })
    }
}

fn optional_id(f: &mut Fields<'_>, name: &str) -> Option<u64> {
    let v = f.opt_integer(name)?;
    match u64::try_from(v).ok().filter(|v| *v > 0) {
        Some(v) => Some(v),
        None => {
            f.error(name, "format", "must be a positive integer");
            None
        }
    }
}

fn required_session(f: &mut Fields<'_>, name: &str) -> Option<SessionId> {
    let v = f.integer(name)?;
    match u64::try_from(v).ok().and_then(|v| SessionId::new(v).ok()) {
        Some(id) => Some(id),
        None => {
            f.error(name, "format", "must be a positive integer");
            None
        }
    }
}

/// A session operation with a mandatory operator (`archive`, `unarchive`, `delete`, `pickup`).
#[derive(Debug, Clone)]
pub struct SessionOpQuery {
    /// The session.
    pub session_id: SessionId,
    /// Who acts.
    pub operator: Operator,
}

/// Parses `{session_id, user_type, user_no}`.
pub fn parse_session_op(input: &Value) -> Result<SessionOpQuery, ApiError> {
    let mut f = Fields::new(input);
    let session_id = required_session(&mut f, "session_id");
    let operator = parse_operator(&mut f, "user_type", "user_no");
    f.finish().and_then(|()| match (session_id, operator) {
        (Some(session_id), Some(operator)) => Ok(SessionOpQuery { session_id, operator }),
        _ => Err(ApiError::field("session_id", "required", "is required")),
    })
}

/// Where a transfer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferTarget {
    /// An extension, by id.
    Extension(ExtensionId),
    /// A message queue, by id.
    Queue(QueueId),
    /// The third-party platform.
    Api,
}

/// A validated `message_session/transfer` or `close` request.
#[derive(Debug, Clone)]
pub struct SessionChangeQuery {
    /// The session.
    pub session_id: SessionId,
    /// Who acts; `None`: the caller itself (an agent as its extension, an API client as the
    /// administrator).
    pub operator: Option<Operator>,
    /// For transfers.
    pub target: Option<TransferTarget>,
}

fn optional_operator(f: &mut Fields<'_>) -> Option<Operator> {
    f.opt_integer("user_type")?;
    parse_operator(f, "user_type", "user_no")
}

/// Parses `message_session/close`.
pub fn parse_close(input: &Value) -> Result<SessionChangeQuery, ApiError> {
    let mut f = Fields::new(input);
    let session_id = required_session(&mut f, "session_id");
    let operator = optional_operator(&mut f);
    f.finish().and_then(|()| match session_id {
        Some(session_id) => Ok(SessionChangeQuery { session_id, operator, target: None }),
        None => Err(ApiError::field("session_id", "required", "is required")),
    })
}

/// Parses `message_session/transfer` (`from_member_id`, sent by some integrations, is ignored).
pub fn parse_transfer(input: &Value) -> Result<SessionChangeQuery, ApiError> {
    let mut f = Fields::new(input);
    let session_id = required_session(&mut f, "session_id");
    let operator = optional_operator(&mut f);
    let kind = f.string("destination_type");
    let id = f.opt_integer("destination_id");
    let target = match kind.as_deref() {
        Some("extension") => match id.and_then(|v| u64::try_from(v).ok()).and_then(|v| ExtensionId::new(v).ok()) {
            Some(e) => Some(TransferTarget::Extension(e)),
            None => {
                f.error("destination_id", "required", "the extension id is required for destination_type extension");
                None
            }
        },
        Some("queue") => match id.and_then(|v| u64::try_from(v).ok()).and_then(|v| QueueId::new(v).ok()) {
            Some(q) => Some(TransferTarget::Queue(q)),
            None => {
                f.error("destination_id", "required", "the queue id is required for destination_type queue");
                None
            }
        },
        Some("api") => Some(TransferTarget::Api),
        Some(_) => {
            f.error("destination_type", "enum", "must be extension, queue or api");
            None
        }
        None => None,
    };
    f.finish().and_then(|()| match (session_id, target) {
        (Some(session_id), Some(target)) => Ok(SessionChangeQuery { session_id, operator, target: Some(target) }),
        _ => Err(ApiError::field("destination_type", "required", "is required")),
    })
}

/// A validated `message_session/changes` query.
#[derive(Debug, Clone)]
pub struct ChangesQuery {
    /// Whose view.
    pub operator: Operator,
    /// Changes after this time (µs); `None`: start now.
    pub cursor: Option<Timestamp>,
}

/// Parses `message_session/changes`.
pub fn parse_changes(query: &Value) -> Result<ChangesQuery, ApiError> {
    let mut f = Fields::new(query);
    let operator = parse_operator(&mut f, "user_type", "user_no");
    let cursor = match f.opt_string("cursor") {
        None => None,
        Some(c) => match c.parse::<i64>().ok().filter(|v| *v >= 0) {
            Some(us) => Some(Timestamp::from_micros(us)),
            None => {
                f.error("cursor", "format", "must be a cursor returned by a previous call");
                None
            }
        },
    };
    f.finish().and_then(|()| match operator {
        Some(operator) => Ok(ChangesQuery { operator, cursor }),
        None => Err(ApiError::field("user_type", "required", "is required")),
    })
}

/// Parses an `ids` list of sessions (at most 100).
pub fn parse_session_ids(f: &mut Fields<'_>) -> Option<Vec<SessionId>> {
    let text = f.string("ids")?;
    match parse_id_list(&text).filter(|v| !v.is_empty() && v.len() <= 100) {
        Some(ids) => ids.into_iter().map(|v| SessionId::new(v).ok()).collect(),
        None => {
            f.error("ids", "format", "must be 1 to 100 comma-separated positive integers");
            None
        }
    }
}

fn status_name(s: &Session) -> &'static str {
    match (s.status, s.assignment) {
        (SessionStatus::Closed { .. }, _) => "closed",
        (SessionStatus::Open, Assignment::Queue(_)) => "queued",
        (SessionStatus::Open, Assignment::Extension(_)) => "assigned",
        (SessionStatus::Open, Assignment::Api) => "api",
    }
}

fn assignment_json(a: Assignment) -> Value {
    match a {
        Assignment::Queue(q) => json!({"type": "queue", "id": q}),
        Assignment::Extension(e) => json!({"type": "extension", "id": e}),
        Assignment::Api => json!({"type": "api", "id": 0}),
    }
}

/// One `message_session/list` item (Yeastar's fields, then ours).
pub fn session_list_item(s: &Session) -> Value {
    json!({
        "id": s.id,
        "type": s.channel_type.as_str(),
        "is_close": u8::from(!s.is_open()),
        "is_archived": u8::from(s.view.archived && s.assignment.owner().is_some()),
        "to": {"user_no": s.key.customer.as_str(), "user_type": user_type::CUSTOMER,
               "username": s.customer_name.clone().unwrap_or_default()},
        "expire": -1,
        "did_number": s.key.business_number.as_str(),
        "channel_id": s.key.channel_id,
        "channel": s.provider.slug(),
        "status": status_name(s),
        "assignment": assignment_json(s.assignment),
        "last_msg_id": s.last_message.as_ref().map(|m| m.msg_id),
        "last_msg": s.last_message.as_ref().map(|m| json!({
            "msg_id": m.msg_id, "preview": m.preview, "inbound": m.inbound, "time": m.at.as_unix_seconds()})),
        "unread_count": s.unread,
        "origin": s.origin.as_str(),
        "create_time": s.created_at.as_unix_seconds(),
        "last_active_time": s.last_activity_at.as_unix_seconds(),
    })
}

/// `message_session/get` (the single session object Yeastar puts under `list`).
pub fn session_detail(
    s: &Session,
    channel_name: &str,
    participants: &[Extension],
    timeline: &[TimelineEntry],
    numbers: &BTreeMap<ExtensionId, String>,
) -> Value {
    let participants: Vec<Value> = participants
        .iter()
        .map(|e| json!({"id": e.id, "ext_num": e.number.as_str(), "caller_id_name": e.caller_id_name}))
        .collect();
    let timeline: Vec<Value> = timeline.iter().map(|t| timeline_entry(t, numbers)).collect();
    json!({
        "id": s.id,
        "channel_type": s.channel_type.as_str(),
        "channel_name": channel_name,
        "channel_id": s.key.channel_id,
        "did_number": s.key.business_number.as_str(),
        "to_number": s.key.customer.as_str(),
        "origin": "",
        "started_by": s.origin.as_str(),
        "user_info": {"user_no": s.key.customer.as_str(), "user_type": user_type::CUSTOMER,
                      "username": s.customer_name.clone().unwrap_or_default()},
        "participants": participants,
        "status": status_name(s),
        "is_close": u8::from(!s.is_open()),
        "is_archived": u8::from(s.view.archived && s.assignment.owner().is_some()),
        "assignment": assignment_json(s.assignment),
        "last_msg_id": s.last_message.as_ref().map(|m| m.msg_id),
        "unread_count": s.unread,
        "timeline": timeline,
        "create_time": s.created_at.as_unix_seconds(),
        "last_active_time": s.last_activity_at.as_unix_seconds(),
    })
}

fn actor_json(a: &Actor, numbers: &BTreeMap<ExtensionId, String>) -> Value {
    match a {
        Actor::Extension(e) => json!({"user_type": user_type::EXTENSION, "user_id": e,
                                      "user_no": numbers.get(e).cloned().unwrap_or_default()}),
        Actor::Api => json!({"user_type": user_type::API, "user_no": "api"}),
        Actor::Admin => json!({"user_type": "admin"}),
    }
}

/// Extensions a timeline names (to show their numbers).
pub fn timeline_extensions(timeline: &[TimelineEntry]) -> Vec<ExtensionId> {
    let actor = |a: &Actor| match a {
        Actor::Extension(e) => Some(*e),
        Actor::Api | Actor::Admin => None,
    };
    let mut ids: Vec<ExtensionId> = timeline
        .iter()
        .filter_map(|t| match &t.operation {
            Operation::Created { .. } | Operation::CampaignStarted { .. } => None,
            Operation::Started { by, .. } | Operation::Transferred { by, .. } => actor(by),
            Operation::PickedUp { by, .. } => Some(*by),
            Operation::Closed { by } => by.as_ref().and_then(actor),
        })
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// One timeline entry: `operation`, `time`, `by` and the operation's details; `numbers` maps the
/// extensions it names to their numbers.
pub fn timeline_entry(t: &TimelineEntry, numbers: &BTreeMap<ExtensionId, String>) -> Value {
    let actor_json = |a: &Actor| actor_json(a, numbers);
    let mut v = match &t.operation {
        Operation::Created { assignment, by_message } => {
            json!({"to": assignment_json(*assignment), "by": null, "msg_id": by_message})
        }
        Operation::Started { by, by_message } => json!({"by": actor_json(by), "msg_id": by_message}),
        Operation::CampaignStarted { campaign, assignment, by_message } => {
            json!({"to": assignment_json(*assignment), "by": null, "campaign_id": campaign, "msg_id": by_message})
        }
        Operation::PickedUp { by, from_queue, automatic } => json!({
            "by": actor_json(&Actor::Extension(*by)), "from": assignment_json(Assignment::Queue(*from_queue)),
            "automatic": automatic}),
        Operation::Transferred { by, from, to } => {
            json!({"by": actor_json(by), "from": assignment_json(*from), "to": assignment_json(*to)})
        }
        Operation::Closed { by } => {
            json!({"by": by.as_ref().map(actor_json), "automatic": by.is_none()})
        }
    };
    if let Value::Object(map) = &mut v {
        map.insert("operation".into(), json!(t.operation.name()));
        map.insert("time".into(), json!(t.at.as_unix_seconds()));
    }
    v
}

/// One `Msg_Record` (`message/get`), with our `direction`, `state` and `send_error_prompt`. A
/// template message has `msg_kind` 1, its preview as `msg_body` and, as `whatsapp_msg_param`,
/// the Cloud API `template` object that was sent (a JSON string).
pub fn message_record(m: &Message) -> Value {
    let sender = match &m.sender {
        Sender::Customer { address } => {
            json!({"user_id": 0, "user_no": address.as_str(), "user_type": user_type::CUSTOMER, "avatar": "", "username": ""})
        }
        Sender::Extension { id, number } => {
            json!({"user_id": id, "user_no": number.as_str(), "user_type": user_type::EXTENSION, "avatar": "", "username": ""})
        }
        Sender::Api => {
            json!({"user_id": 0, "user_no": "api", "user_type": user_type::API, "avatar": "", "username": ""})
        }
        Sender::System => {
            json!({"user_id": 0, "user_no": "system", "user_type": 0, "avatar": "", "username": "System"})
        }
    };
    let (send_error, send_error_msg, prompt) = match (&m.delivery, m.receipt.as_ref().and_then(|r| r.status.failure()))
    {
        (DeliveryState::Failed { reason, .. }, _) => {
            (reason.code.as_str(), reason.detail.clone().unwrap_or_default(), reason.prompt.clone())
        }
        // accepted, then the carrier reported it undelivered or failed
        (DeliveryState::Sent { .. }, Some((code, reason))) => {
            let detail = match (code, reason) {
                (Some(code), Some(reason)) => format!("{code}: {reason}"),
                (Some(text), None) | (None, Some(text)) => text.to_owned(),
                (None, None) => String::new(),
            };
            (SendErrorCode::SendFail.as_str(), detail, prompts::FAILED_TO_SEND.to_owned())
        }
        _ => ("", String::new(), String::new()),
    };
    let files = if m.media.is_empty() {
        String::new()
    } else {
        let list: Vec<Value> =
            m.media.iter().map(|f| json!({"uri": f.url, "type": f.content_type, "size": f.size})).collect();
        Value::Array(list).to_string()
    };
    let sent_at = match &m.delivery {
        DeliveryState::Sent { at, .. } | DeliveryState::Failed { at, .. } => at.as_unix_seconds(),
        _ => m.created_at.as_unix_seconds(),
    };
    json!({
        "session_id": m.session_id,
        "msg_id": m.msg_id,
        "delivery_status": m.yeastar_status(),
        "sender": sender,
        "msg_kind": if m.template.is_some() { msg_kind::WHATSAPP_TEMPLATE } else { msg_kind::NORMAL },
        "msg_type": 0,
        "msg_body": m.text.clone().unwrap_or_default(),
        "msg_files": files,
        "send_time": if m.direction == Direction::Outbound { sent_at } else { m.created_at.as_unix_seconds() },
        "receive_time": m.created_at.as_unix_seconds(),
        "param": "",
        "send_error": send_error,
        "send_error_msg": send_error_msg,
        "send_error_prompt": prompt,
        "tag": "",
        "whatsapp_msg_param": m.template.as_ref().map(Value::to_string).unwrap_or_default(),
        "direction": m.direction,
        "state": m.delivery.name(),
        "attempts": m.attempts,
        "receipt": m.receipt.as_ref().map(|r| r.status.name()),
        "receipt_time": m.receipt.as_ref().map(|r| r.at.as_unix_seconds()),
    })
}

/// Where `message/send` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendTarget {
    /// In a session.
    Session(SessionId),
    /// Starting a session (or joining the open one): channel slug, business number, customer.
    Start {
        /// `channel` (`general`, ...).
        channel: String,
        /// `did_number`.
        did_number: String,
        /// `to`, normalised to E.164.
        to: CustomerAddress,
    },
}

/// A validated `message/send` request.
#[derive(Debug, Clone)]
pub struct SendQuery {
    /// Who sends.
    pub operator: Operator,
    /// Where.
    pub target: SendTarget,
    /// Text (`msg_kind` 0); empty for a template message, whose text is the template's.
    pub msg_body: String,
    /// `msg_kind` 1: the WhatsApp template message of `whatsapp_msg_param`, parsed (checked
    /// against the channel's synchronised templates when the message is accepted).
    pub template: Option<TemplateMessage>,
    /// The caller's correlation id, echoed back.
    pub request_id: Option<String>,
}

/// A template message error as a `whatsapp_msg_param` parameter error (40002) carrying the
/// error's own message.
pub fn template_error(error: &TemplateError) -> ApiError {
    ApiError::field(error.field(), template_validation_type(error), error.to_string())
}

fn template_validation_type(error: &TemplateError) -> &'static str {
    match error {
        TemplateError::NotSynchronised { .. } => "not_found",
        TemplateError::MissingValue { .. }
        | TemplateError::MissingParameterName { .. }
        | TemplateError::MissingHeaderMedia { .. } => "required",
        TemplateError::WrongParameterType { .. } => "type",
        _ => "format",
    }
}

/// Reads `whatsapp_msg_param`: Yeastar's JSON string (a JSON object is taken as well).
fn parse_template_param(body: &Value, f: &mut Fields<'_>) -> Option<TemplateMessage> {
    const FIELD: &str = "whatsapp_msg_param";
    let text = match body.get(FIELD) {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(object @ Value::Object(_)) => object.to_string(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            f.error(FIELD, "required", "is required with msg_kind 1: the template message object as a JSON string");
            return None;
        }
        Some(_) => {
            f.error(FIELD, "type", "must be the template message object as a JSON string");
            return None;
        }
    };
    match TemplateMessage::parse(&text) {
        Ok(message) => Some(message),
        Err(e) => {
            f.error(e.field(), template_validation_type(&e), e.to_string());
            None
        }
    }
}

/// Yeastar's `to` "can start with `+`, and may contain digits, the symbols `().-*#` and
/// spaces": the separators are dropped and the rest must be E.164.
fn normalise_to(raw: &str) -> Option<CustomerAddress> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '(' | ')' | '.' | '-')).collect();
    CustomerAddress::parse(&digits).ok().filter(|a| a.as_str().starts_with('+'))
}

/// Parses `message/send`.
pub fn parse_send(body: &Value) -> Result<SendQuery, ApiError> {
    let mut f = Fields::new(body);
    let operator = parse_operator(&mut f, "sender_type", "sender_no");
    let target = match f.opt_integer("session_id") {
        Some(id) => match u64::try_from(id).ok().and_then(|v| SessionId::new(v).ok()) {
            Some(id) => Some(SendTarget::Session(id)),
            None => {
                f.error("session_id", "format", "must be a positive integer");
                None
            }
        },
        None => {
            let channel = f.string("channel");
            let did_number = f.string("did_number");
            let to = f.string("to");
            let parsed = to.as_deref().and_then(normalise_to);
            if to.is_some() && parsed.is_none() {
                f.error("to", "format", "must be a phone number in E.164 format, e.g. +18003275906");
            }
            match (channel, did_number, parsed) {
                (Some(channel), Some(did_number), Some(to)) => {
                    Some(SendTarget::Start { channel: channel.to_lowercase(), did_number, to })
                }
                _ => None,
            }
        }
    };
    let kind = match f.opt_integer("msg_kind") {
        None | Some(msg_kind::NORMAL) => msg_kind::NORMAL,
        Some(msg_kind::WHATSAPP_TEMPLATE) => msg_kind::WHATSAPP_TEMPLATE,
        Some(_) => {
            f.error("msg_kind", "enum", "must be 0 (normal message) or 1 (WhatsApp template message)");
            -1
        }
    };
    if f.opt_integer("msg_type").is_some_and(|k| k != 0) {
        f.error("msg_type", "enum", "must be 0 (user message)");
    }
    if f.opt_array("files").is_some_and(|a| !a.is_empty()) {
        f.error("files", "unsupported", "sending files is not supported by this version yet");
    }
    let msg_body = f.opt_string("msg_body").unwrap_or_default();
    let template = match kind {
        msg_kind::NORMAL => {
            if msg_body.trim().is_empty() {
                f.error("msg_body", "required", "is required with msg_kind 0 (files are not supported yet)");
            }
            None
        }
        msg_kind::WHATSAPP_TEMPLATE => parse_template_param(body, &mut f),
        _ => None,
    };
    let request_id = f.opt_string("request_id");
    if request_id.as_ref().is_some_and(|r| r.chars().count() > 127) {
        f.error("request_id", "length", "must not exceed 127 characters");
    }
    f.finish().and_then(|()| match (operator, target) {
        (Some(operator), Some(target)) => Ok(SendQuery {
            operator,
            target,
            msg_body: if template.is_some() { String::new() } else { msg_body },
            template,
            request_id,
        }),
        _ => Err(ApiError::field("sender_type", "required", "is required")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_send_is_an_agent_reply_should_parse() {
        let q = parse_send(
            &json!({"sender_type": 1, "sender_no": "1000", "session_id": 3073, "msg_kind": 0, "msg_type": 0,
                                   "msg_body": "Hello", "request_id": "r-1"}),
        )
        .unwrap();
        assert_eq!(q.operator, Operator::Extension(ExtensionNumber::parse("1000").unwrap()));
        assert_eq!(q.target, SendTarget::Session(SessionId::new(3073).unwrap()));
        assert_eq!(q.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn when_send_is_incomplete_should_say_what_is_missing() {
        let err = parse_send(&json!({"sender_type": 1, "files": [{"id": "x"}]})).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["sender_no", "channel", "did_number", "to", "files", "msg_body"]);
        let err = parse_send(&json!({"sender_type": 4, "session_id": 1, "msg_body": "x"})).unwrap_err();
        assert_eq!(err.invalid_params[0].field, "sender_type");
    }

    const ORDER_UPDATE: &str = r#"{"id":579,"template_id":"1667192013751005","name":"order_update","language":{"code":"en_US"},"components":[{"type":"BODY","parameters":[{"type":"text","text":"Ann"},{"type":"text","text":"42"}]}]}"#;

    #[test]
    fn when_send_is_a_whatsapp_template_should_parse_it_without_msg_body() {
        let q = parse_send(&json!({"sender_type": 9, "session_id": 3073, "msg_kind": 1,
                                    "whatsapp_msg_param": ORDER_UPDATE}))
        .unwrap();
        let template = q.template.unwrap();
        assert_eq!(
            (template.id, template.name.as_str(), template.language.as_str()),
            (Some(579), "order_update", "en_US")
        );
        assert_eq!(q.msg_body, "");
        // as a JSON object too, and a msg_body given alongside is not the text sent
        let q = parse_send(&json!({"sender_type": 9, "session_id": 3073, "msg_kind": "1", "msg_body": "ignored",
                                    "whatsapp_msg_param": serde_json::from_str::<Value>(ORDER_UPDATE).unwrap()}))
        .unwrap();
        assert_eq!(q.template.unwrap().template_id.as_deref(), Some("1667192013751005"));
        assert_eq!(q.msg_body, "");
        // msg_kind 0 carries no template
        let q = parse_send(&json!({"sender_type": 9, "session_id": 1, "msg_kind": 0, "msg_body": "Hi",
                                    "whatsapp_msg_param": ORDER_UPDATE}))
        .unwrap();
        assert!(q.template.is_none());
    }

    #[test]
    fn when_a_template_message_is_missing_or_malformed_should_name_whatsapp_msg_param() {
        let fields = |body: Value| {
            let err = parse_send(&body).unwrap_err();
            assert_eq!(err.code, crate::openapi::ErrCode::Parameter);
            err.invalid_params.into_iter().map(|e| (e.field, e.validation_type, e.message)).collect::<Vec<_>>()
        };
        let base = json!({"sender_type": 9, "session_id": 1, "msg_kind": 1});
        let with = |param: Value| {
            let mut body = base.clone();
            body["whatsapp_msg_param"] = param;
            body
        };
        let required = vec![(
            "whatsapp_msg_param".to_owned(),
            "required",
            "is required with msg_kind 1: the template message object as a JSON string".to_owned(),
        )];
        assert_eq!(fields(base.clone()), required);
        assert_eq!(fields(with(json!(" "))), required);
        assert_eq!(fields(with(json!(5)))[0].1, "type");
        let invalid = fields(with(json!("{\"name\": ")));
        assert_eq!((invalid[0].0.as_str(), invalid[0].1), ("whatsapp_msg_param", "format"));
        assert!(invalid[0].2.starts_with("whatsapp_msg_param is not valid JSON: "), "{invalid:?}");
        assert_eq!(
            fields(with(json!(r#"{"language":{"code":"en"}}"#))),
            vec![(
                "whatsapp_msg_param".to_owned(),
                "format",
                "whatsapp_msg_param is not a valid template message: `name` (the template name) is missing".to_owned()
            )]
        );
        let unknown = fields(json!({"sender_type": 9, "session_id": 1, "msg_kind": 2, "msg_body": "x"}));
        assert_eq!(
            unknown,
            vec![(
                "msg_kind".to_owned(),
                "enum",
                "must be 0 (normal message) or 1 (WhatsApp template message)".to_owned()
            )]
        );
    }

    #[test]
    fn template_errors_become_whatsapp_msg_param_parameter_errors() {
        let err =
            template_error(&TemplateError::NotSynchronised { name: "order_update".into(), language: "fr".into() });
        assert_eq!(err.code.code(), 40002);
        assert_eq!(err.invalid_params[0].field, "whatsapp_msg_param");
        assert_eq!(err.invalid_params[0].validation_type, "not_found");
        assert_eq!(
            err.invalid_params[0].message,
            "template order_update (fr) is not synchronised on this channel: pick one listed by \
             message_channel/whatsapp_template, or refresh the channel's templates"
        );
        let missing = template_error(&TemplateError::MissingValue {
            component: crate::whatsapp_template::VariableComponent::Body,
            placeholder: "{{2}}".into(),
        });
        assert_eq!(missing.invalid_params[0].validation_type, "required");
        assert_eq!(missing.submsg.as_deref(), Some("whatsapp_msg_param: variable {{2}} of the body has no value"));
    }

    #[test]
    fn a_template_message_record_has_msg_kind_1_and_the_template_sent() {
        use crate::ids::ChannelId;
        use crate::message::{DeliveryState, Origin};
        let template = json!({"name": "order_update", "language": {"code": "en_US"}});
        let mut m = Message {
            session_id: SessionId::new(1).unwrap(),
            msg_id: MessageId::new(2).unwrap(),
            channel_id: ChannelId::new(3).unwrap(),
            direction: Direction::Outbound,
            sender: Sender::Api,
            origin: Origin::Api,
            text: Some("Hello Ann, your order 42 ships today.".into()),
            media: Vec::new(),
            created_at: Timestamp::from_millis(1_000),
            delivery: DeliveryState::Queued,
            attempts: 0,
            provider_message_id: None,
            events_published: false,
            receipt: None,
            template: Some(template.clone()),
        };
        let record = message_record(&m);
        assert_eq!(record["msg_kind"], 1);
        assert_eq!(record["msg_body"], "Hello Ann, your order 42 ships today.");
        assert_eq!(serde_json::from_str::<Value>(record["whatsapp_msg_param"].as_str().unwrap()).unwrap(), template);
        m.template = None;
        let record = message_record(&m);
        assert_eq!((record["msg_kind"].clone(), record["whatsapp_msg_param"].clone()), (json!(0), json!("")));
    }

    #[test]
    fn when_list_query_comes_as_strings_should_parse() {
        let q = parse_session_list(&json!({"page_size": "20", "user_type": "1", "user_no": "1000", "is_closed": "0"}))
            .unwrap();
        assert_eq!(q.page_size, 20);
        assert_eq!(q.closed, Some(false));
        assert_eq!((q.archived, q.picked_up, q.before), (None, None, None));
        assert!(parse_session_list(&json!({"user_type": "1", "user_no": "1000"})).is_err());
        let q = parse_session_list(&json!({"page_size": "2", "user_type": "9", "first_msg_id": "77",
                                           "is_archived": "1", "is_pickup": "2", "search_value": " 8618 "}))
        .unwrap();
        assert_eq!(q.operator, Operator::Api);
        assert_eq!(q.before, MessageId::new(77).ok());
        assert_eq!((q.archived, q.picked_up), (Some(true), Some(false)));
        assert_eq!(q.search.as_deref(), Some("8618"));
        assert!(
            parse_session_list(&json!({"page_size": "2", "user_type": "1", "user_no": "1000", "is_pickup": "3"}))
                .is_err()
        );
    }

    #[test]
    fn when_a_session_is_started_should_normalise_the_customer_number() {
        let q = parse_send(&json!({"sender_type": 1, "sender_no": "1000", "channel": "General",
                                    "did_number": "+14102161183", "to": "+1 (800) 327-5906", "msg_body": "Hi"}))
        .unwrap();
        assert_eq!(
            q.target,
            SendTarget::Start {
                channel: "general".into(),
                did_number: "+14102161183".into(),
                to: CustomerAddress::parse("+18003275906").unwrap()
            }
        );
        let err = parse_send(&json!({"sender_type": 1, "sender_no": "1000", "channel": "general",
                                      "did_number": "+14102161183", "to": "call me", "msg_body": "Hi"}))
        .unwrap_err();
        assert_eq!(err.invalid_params[0].field, "to");
    }

    #[test]
    fn when_a_transfer_is_parsed_should_require_the_destination_id_where_it_applies() {
        let q = parse_transfer(&json!({"session_id": 3073, "destination_type": "extension", "destination_id": 138,
                                        "from_member_id": 5}))
        .unwrap();
        assert_eq!(q.target, Some(TransferTarget::Extension(ExtensionId::new(138).unwrap())));
        assert_eq!(q.operator, None);
        let q = parse_transfer(&json!({"session_id": 1, "destination_type": "api", "destination_id": 0,
                                        "user_type": 9}))
        .unwrap();
        assert_eq!((q.target, q.operator), (Some(TransferTarget::Api), Some(Operator::Api)));
        let err = parse_transfer(&json!({"session_id": 1, "destination_type": "queue"})).unwrap_err();
        assert_eq!(err.invalid_params[0].field, "destination_id");
        let err =
            parse_transfer(&json!({"session_id": 1, "destination_type": "ivr", "destination_id": 3})).unwrap_err();
        assert_eq!(err.invalid_params[0].field, "destination_type");
    }

    #[test]
    fn when_a_changes_cursor_is_not_ours_should_refuse_it() {
        let q = parse_changes(&json!({"user_type": "1", "user_no": "1000", "cursor": "1795000000000000"})).unwrap();
        assert_eq!(q.cursor, Some(Timestamp::from_micros(1_795_000_000_000_000)));
        assert!(parse_changes(&json!({"user_type": "1", "user_no": "1000", "cursor": "abc"})).is_err());
    }
}

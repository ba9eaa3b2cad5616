//! `message_session/*` and `message/*` request and response shapes
//! (yeastar-openapi-messaging.md §3.5-3.6, §4.1-4.2).
//!
//! Yeastar documents `user_type` 1 (extension) and 9 (third-party platform) for operators and 5
//! for Live Chat visitors; it does not say which value an SMS customer has. We use `0` for
//! external customers (docs/api.md).

use serde_json::{Value, json};

use crate::ids::{ExtensionNumber, SessionId};
use crate::message::{DeliveryState, Direction, Message, Sender};
use crate::openapi::{ApiError, Fields};
use crate::session::{Assignment, Session, SessionStatus};

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

/// A validated `message_session/list` query.
#[derive(Debug, Clone)]
pub struct SessionListQuery {
    /// Records per page (1..=100).
    pub page_size: usize,
    /// Whose list.
    pub operator: Operator,
    /// `is_closed`: `Some(false)` open only, `Some(true)` closed only, `None` all.
    pub closed: Option<bool>,
}

/// Parses `message_session/list` query parameters.
pub fn parse_session_list(query: &Value) -> Result<SessionListQuery, ApiError> {
    let mut f = Fields::new(query);
    let page_size = f.integer("page_size");
    if page_size.is_some_and(|p| !(1..=100).contains(&p)) {
        f.error("page_size", "range", "must be between 1 and 100");
    }
    let operator = parse_operator(&mut f, "user_type", "user_no");
    let closed = match f.opt_integer_in("is_closed", 0, 2) {
        Some(0) => Some(false),
        Some(1) => Some(true),
        _ => None,
    };
    f.finish().and_then(|()| match (page_size.and_then(|p| usize::try_from(p).ok()), operator) {
        (Some(page_size), Some(operator)) => Ok(SessionListQuery { page_size, operator, closed }),
        _ => Err(ApiError::field("page_size", "required", "is required")),
    })
}

fn status_name(s: &Session) -> &'static str {
    match (s.status, s.assignment) {
        (SessionStatus::Closed { .. }, _) => "closed",
        (SessionStatus::Open, Assignment::Queue(_)) => "queued",
        (SessionStatus::Open, Assignment::Extension(_)) => "assigned",
    }
}

fn assignment_json(a: Assignment) -> Value {
    match a {
        Assignment::Queue(q) => json!({"type": "queue", "id": q}),
        Assignment::Extension(e) => json!({"type": "extension", "id": e}),
    }
}

/// One `message_session/list` item (Yeastar's fields, then ours).
pub fn session_list_item(s: &Session) -> Value {
    json!({
        "id": s.id,
        "type": s.channel_type.as_str(),
        "is_close": u8::from(!s.is_open()),
        "is_archived": 0,
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
        "create_time": s.created_at.as_unix_seconds(),
        "last_active_time": s.last_activity_at.as_unix_seconds(),
    })
}

/// `message_session/get` (the single session object Yeastar puts under `list`).
pub fn session_detail(s: &Session, channel_name: &str) -> Value {
    json!({
        "id": s.id,
        "channel_type": s.channel_type.as_str(),
        "channel_name": channel_name,
        "channel_id": s.key.channel_id,
        "did_number": s.key.business_number.as_str(),
        "to_number": s.key.customer.as_str(),
        "origin": "",
        "user_info": {"user_no": s.key.customer.as_str(), "user_type": user_type::CUSTOMER,
                      "username": s.customer_name.clone().unwrap_or_default()},
        "participants": [],
        "status": status_name(s),
        "is_close": u8::from(!s.is_open()),
        "assignment": assignment_json(s.assignment),
        "create_time": s.created_at.as_unix_seconds(),
        "last_active_time": s.last_activity_at.as_unix_seconds(),
    })
}

/// One `Msg_Record` (`message/get`), with our `direction`, `state` and `send_error_prompt`.
pub fn message_record(m: &Message) -> Value {
    let sender = match &m.sender {
        Sender::Customer { address } => {
            json!({"user_id": 0, "user_no": address.as_str(), "user_type": user_type::CUSTOMER, "avatar": "", "username": ""})
        }
        Sender::Extension { id, number } => {
            json!({"user_id": id, "user_no": number.as_str(), "user_type": user_type::EXTENSION, "avatar": "", "username": ""})
        }
    };
    let (send_error, send_error_msg, prompt) = match &m.delivery {
        DeliveryState::Failed { reason, .. } => {
            (reason.code.as_str(), reason.detail.clone().unwrap_or_default(), reason.prompt.clone())
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
        "delivery_status": m.delivery.yeastar_status(),
        "sender": sender,
        "msg_kind": 0,
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
        "whatsapp_msg_param": "",
        "direction": m.direction,
        "state": m.delivery.name(),
        "attempts": m.attempts,
    })
}

/// A validated `message/send` request.
#[derive(Debug, Clone)]
pub struct SendQuery {
    /// Who sends.
    pub operator: Operator,
    /// In which session.
    pub session_id: SessionId,
    /// Text.
    pub msg_body: String,
    /// The caller's correlation id, echoed back.
    pub request_id: Option<String>,
}

/// Parses `message/send`.
pub fn parse_send(body: &Value) -> Result<SendQuery, ApiError> {
    let mut f = Fields::new(body);
    let operator = parse_operator(&mut f, "sender_type", "sender_no");
    let session_id = match f.opt_integer("session_id") {
        Some(id) => match u64::try_from(id).ok().and_then(|v| SessionId::new(v).ok()) {
            Some(id) => Some(id),
            None => {
                f.error("session_id", "format", "must be a positive integer");
                None
            }
        },
        None => {
            f.error(
                "session_id",
                "unsupported",
                "starting a session without session_id is not supported by this version yet",
            );
            None
        }
    };
    if f.opt_integer("msg_kind").is_some_and(|k| k != 0) {
        f.error("msg_kind", "unsupported", "only 0 (normal message) is supported by this version");
    }
    if f.opt_integer("msg_type").is_some_and(|k| k != 0) {
        f.error("msg_type", "enum", "must be 0 (user message)");
    }
    if f.opt_array("files").is_some_and(|a| !a.is_empty()) {
        f.error("files", "unsupported", "sending files is not supported by this version yet");
    }
    let msg_body = f.opt_string("msg_body").unwrap_or_default();
    if msg_body.trim().is_empty() {
        f.error("msg_body", "required", "is required (text messages only in this version)");
    }
    let request_id = f.opt_string("request_id");
    if request_id.as_ref().is_some_and(|r| r.chars().count() > 127) {
        f.error("request_id", "length", "must not exceed 127 characters");
    }
    f.finish().and_then(|()| match (operator, session_id) {
        (Some(operator), Some(session_id)) => Ok(SendQuery { operator, session_id, msg_body, request_id }),
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
        assert_eq!(q.session_id.get(), 3073);
        assert_eq!(q.request_id.as_deref(), Some("r-1"));
    }

    #[test]
    fn when_send_is_incomplete_should_say_what_is_missing() {
        let err = parse_send(&json!({"sender_type": 1, "files": [{"id": "x"}]})).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["sender_no", "session_id", "files", "msg_body"]);
        let err = parse_send(&json!({"sender_type": 4, "session_id": 1, "msg_body": "x"})).unwrap_err();
        assert_eq!(err.invalid_params[0].field, "sender_type");
    }

    #[test]
    fn when_list_query_comes_as_strings_should_parse() {
        let q = parse_session_list(&json!({"page_size": "20", "user_type": "1", "user_no": "1000", "is_closed": "0"}))
            .unwrap();
        assert_eq!(q.page_size, 20);
        assert_eq!(q.closed, Some(false));
        assert!(parse_session_list(&json!({"user_type": "1", "user_no": "1000"})).is_err());
    }
}

//! `chat_log/*` request and response shapes (ours, in Yeastar's style; docs/api.md). Times are
//! Unix seconds, as everywhere in the API.

use serde_json::{Value, json};

use crate::channel::ChannelType;
use crate::chat_log::{
    ChatLogFilter, DEFAULT_LOOKBACK_MONTHS, ExportJob, ExportState, MAX_RANGE_MONTHS, Names, SortOrder, StatusFilter,
    customer_text, is_system, sender_text, sender_type,
};
use crate::ids::{MessageId, SessionId};
use crate::message::Message;
use crate::openapi::sessions::message_record;
use crate::openapi::{ApiError, Fields, parse_id_list};
use crate::session::{Actor, Assignment, Operation, Session, SessionStatus, TimelineEntry};
use crate::time::Timestamp;

/// Default `page_size` (the seed's chat-log page holds 20).
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest `page_size`.
pub const MAX_PAGE_SIZE: i64 = 100;
/// Most ids in one delete.
pub const MAX_DELETE_IDS: usize = 100;

const DAY_SECS: i64 = 86_400;

/// A validated `chat_log/search` (or the filter of `chat_log/export`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// The filter.
    pub filter: ChatLogFilter,
    /// Page, from 1.
    pub page: usize,
    /// Page size.
    pub page_size: usize,
}

fn text(f: &mut Fields<'_>, name: &str) -> Option<String> {
    f.opt_string(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Parses the filter fields (query parameters or a JSON body); `now` bounds an open end.
pub fn parse_search(value: &Value, now: Timestamp) -> Result<SearchQuery, ApiError> {
    let mut f = Fields::new(value);
    let start = f.opt_integer("start_time");
    let end = f.opt_integer("end_time");
    let sender = text(&mut f, "sender");
    let recipient = text(&mut f, "recipient");
    let channel_type = match text(&mut f, "channel_type").map(|s| s.to_lowercase()).as_deref() {
        None | Some("all") => None,
        Some("sms") => Some(ChannelType::Sms),
        Some("whatsapp") => Some(ChannelType::WhatsApp),
        Some("facebook") => Some(ChannelType::Facebook),
        Some(_) => {
            f.error("channel_type", "enum", "must be sms, whatsapp, facebook or all");
            None
        }
    };
    let channel_number = text(&mut f, "channel_number").or_else(|| text(&mut f, "did_number"));
    let status = match text(&mut f, "status").map(|s| s.to_lowercase()).as_deref() {
        None | Some("all") => None,
        Some("open") => Some(StatusFilter::Open),
        Some("closed") => Some(StatusFilter::Closed),
        Some(_) => {
            f.error("status", "enum", "must be open, closed or all");
            None
        }
    };
    let session_id = match f.opt_integer("session_id") {
        None => None,
        Some(v) => match u64::try_from(v).ok().and_then(|v| SessionId::new(v).ok()) {
            Some(id) => Some(id),
            None => {
                f.error("session_id", "format", "must be a positive integer");
                None
            }
        },
    };
    let page = f.opt_integer("page").unwrap_or(1);
    if page < 1 {
        f.error("page", "range", "must be 1 or more");
    }
    let page_size = f.opt_integer_in("page_size", 1, MAX_PAGE_SIZE).unwrap_or(DEFAULT_PAGE_SIZE);
    match text(&mut f, "sort_by").as_deref() {
        None | Some("create_time" | "id") => {}
        Some(_) => f.error("sort_by", "enum", "must be create_time (sessions are ordered by creation time)"),
    }
    let order = match text(&mut f, "order_by").map(|s| s.to_lowercase()).as_deref() {
        None | Some("desc") => SortOrder::Desc,
        Some("asc") => SortOrder::Asc,
        Some(_) => {
            f.error("order_by", "enum", "must be asc or desc");
            SortOrder::Desc
        }
    };
    if start.is_some_and(|s| s < 0) {
        f.error("start_time", "range", "must be Unix seconds");
    }
    if end.is_some_and(|e| e < 0) {
        f.error("end_time", "range", "must be Unix seconds");
    }
    // `end_time` is inclusive to the second.
    let to = end.map_or(now.plus(std::time::Duration::from_secs(1)), |e| Timestamp::from_unix_seconds(e + 1));
    let from = start.map_or_else(
        || {
            Timestamp::from_unix_seconds(
                (to.as_unix_seconds() - i64::from(DEFAULT_LOOKBACK_MONTHS) * 31 * DAY_SECS).max(0),
            )
        },
        Timestamp::from_unix_seconds,
    );
    if start.is_some() && end.is_some() && from >= to {
        f.error("end_time", "range", "must not be before start_time");
    }
    if to.as_unix_seconds() - from.as_unix_seconds() > i64::from(MAX_RANGE_MONTHS) * 31 * DAY_SECS {
        f.error("start_time", "range", format!("the time range may cover at most {MAX_RANGE_MONTHS} months"));
    }
    f.finish()?;
    Ok(SearchQuery {
        filter: ChatLogFilter { from, to, sender, recipient, channel_type, channel_number, status, session_id, order },
        page: usize::try_from(page).unwrap_or(1),
        page_size: usize::try_from(page_size).unwrap_or(20),
    })
}

/// Reads `ids`: a JSON array of positive integers or a comma-separated string.
fn id_list(f: &mut Fields<'_>, value: &Value) -> Option<Vec<u64>> {
    let ids = match value.get("ids") {
        None => {
            f.error("ids", "required", "is required");
            return None;
        }
        Some(Value::Array(items)) => items.iter().map(|v| v.as_u64().filter(|v| *v > 0)).collect::<Option<Vec<_>>>(),
        Some(Value::String(s)) => parse_id_list(s),
        Some(_) => None,
    };
    match ids {
        Some(ids) if !ids.is_empty() && ids.len() <= MAX_DELETE_IDS => Some(ids),
        Some(ids) if ids.is_empty() => {
            f.error("ids", "required", "must name at least one id");
            None
        }
        Some(_) => {
            f.error("ids", "length", format!("at most {MAX_DELETE_IDS} ids per request"));
            None
        }
        None => {
            f.error("ids", "format", "must be an array of positive integers (or \"1,2,3\")");
            None
        }
    }
}

/// `chat_log/delete`: `{"ids": [...]}`.
pub fn parse_delete(body: &Value) -> Result<Vec<SessionId>, ApiError> {
    let mut f = Fields::new(body);
    let ids = id_list(&mut f, body);
    f.finish()?;
    Ok(ids.unwrap_or_default().into_iter().filter_map(|id| SessionId::new(id).ok()).collect())
}

/// `chat_log/delete_messages`: `{"session_id": n, "ids": [...]}`.
pub fn parse_delete_messages(body: &Value) -> Result<(SessionId, Vec<MessageId>), ApiError> {
    let mut f = Fields::new(body);
    let session = f.integer("session_id");
    let ids = id_list(&mut f, body);
    let session = session.and_then(|v| u64::try_from(v).ok()).and_then(|v| SessionId::new(v).ok());
    if session.is_none() && body.get("session_id").is_some() {
        f.error("session_id", "format", "must be a positive integer");
    }
    f.finish()?;
    match session {
        Some(session) => {
            Ok((session, ids.unwrap_or_default().into_iter().filter_map(|id| MessageId::new(id).ok()).collect()))
        }
        None => Err(ApiError::field("session_id", "required", "is required")),
    }
}

/// `page`/`page_size` of `chat_log/messages`.
pub fn parse_paging(value: &Value) -> Result<(usize, usize), ApiError> {
    let mut f = Fields::new(value);
    let page = f.opt_integer("page").unwrap_or(1);
    if page < 1 {
        f.error("page", "range", "must be 1 or more");
    }
    let page_size = f.opt_integer_in("page_size", 1, MAX_PAGE_SIZE).unwrap_or(DEFAULT_PAGE_SIZE);
    f.finish()?;
    Ok((usize::try_from(page).unwrap_or(1), usize::try_from(page_size).unwrap_or(20)))
}

/// One session of `chat_log/search`.
pub fn session_json(s: &Session, names: &Names) -> Value {
    let (sender, recipient) = names.parties(s);
    json!({
        "id": s.id,
        "create_time": s.created_at.as_unix_seconds(),
        "last_active_time": s.last_activity_at.as_unix_seconds(),
        "sender": sender,
        "recipient": recipient,
        "channel_type": s.channel_type.as_str(),
        "channel_id": s.key.channel_id,
        "channel_name": names.channel(s.key.channel_id),
        "channel_number": s.key.business_number.as_str(),
        "customer": s.key.customer.as_str(),
        "customer_name": s.customer_name.clone().unwrap_or_default(),
        "status": if s.is_open() { "open" } else { "closed" },
        "close_time": match s.status {
            SessionStatus::Closed { at } => Some(at.as_unix_seconds()),
            SessionStatus::Open => None,
        },
        "handled_by": names.assignment(s.assignment),
    })
}

fn actor_json(a: &Actor, names: &Names) -> Value {
    let kind = match a {
        Actor::Extension(_) => "extension",
        Actor::Api => "api",
        Actor::Admin => "administrator",
    };
    json!({"type": kind, "name": names.actor(a)})
}

fn assignment_json(a: Assignment, names: &Names) -> Value {
    let kind = match a {
        Assignment::Queue(_) => "queue",
        Assignment::Extension(_) => "extension",
        Assignment::Api => "api",
    };
    json!({"type": kind, "name": names.assignment(a)})
}

/// One operation record of `chat_log/timeline`, with the seed's sentence (seed 001 L9674-9687).
pub fn timeline_json(t: &TimelineEntry, session: &Session, names: &Names) -> Value {
    let customer = customer_text(session);
    let (by, automatic, from, to, description) = match &t.operation {
        Operation::Created { assignment, .. } => (
            None,
            true,
            None,
            Some(*assignment),
            format!(
                "Received a message from {customer}, and the session has been routed to {}.",
                names.assignment(*assignment)
            ),
        ),
        Operation::Started { by, .. } => {
            (Some(*by), false, None, None, format!("{} started the session with {customer}.", names.actor(by)))
        }
        Operation::CampaignStarted { campaign, assignment, .. } => (
            None,
            true,
            None,
            Some(*assignment),
            format!(
                "Message campaign {campaign} sent a message to {customer}, and the session has been assigned to {}.",
                names.assignment(*assignment)
            ),
        ),
        Operation::PickedUp { by, from_queue, automatic } => (
            Some(Actor::Extension(*by)),
            *automatic,
            Some(Assignment::Queue(*from_queue)),
            Some(Assignment::Extension(*by)),
            format!(
                "{} picked up the session from message queue {}{}.",
                names.extension(*by),
                names.queue(*from_queue),
                if *automatic { " by replying" } else { "" }
            ),
        ),
        Operation::Transferred { by, from, to } => (
            Some(*by),
            false,
            Some(*from),
            Some(*to),
            format!(
                "{} transferred the session from {} to {}.",
                names.actor(by),
                names.assignment(*from),
                names.assignment(*to)
            ),
        ),
        Operation::Closed { by: Some(by) } => {
            (Some(*by), false, None, None, format!("{} closed the session.", names.actor(by)))
        }
        Operation::Closed { by: None } => {
            (None, true, None, None, "The session was closed automatically after inactivity.".to_owned())
        }
    };
    json!({
        "operation": t.operation.name(),
        "time": t.at.as_unix_seconds(),
        "by": by.map(|a| actor_json(&a, names)),
        "automatic": automatic,
        "from": from.map(|a| assignment_json(a, names)),
        "to": to.map(|a| assignment_json(a, names)),
        "description": description,
    })
}

/// One message of `chat_log/messages`: the `message/get` record plus who wrote it as the chat log
/// shows it and whether the system sent it (system messages cannot be deleted).
pub fn message_json(m: &Message, session: &Session, names: &Names) -> Value {
    let mut v = message_record(m);
    if let Value::Object(map) = &mut v {
        map.insert("sender_type".into(), json!(sender_type(&m.sender)));
        map.insert("sender_name".into(), json!(sender_text(m, session, names)));
        map.insert("system".into(), json!(is_system(m)));
    }
    v
}

/// `chat_log/export_status`.
pub fn export_json(job: &ExportJob, download_url: Option<&str>, url_ttl_secs: u64) -> Value {
    let mut v = json!({
        "id": job.id.as_str(),
        "state": job.state.name(),
        "sessions_done": job.progress.sessions_done,
        "sessions_total": job.progress.sessions_total,
        "sessions_with_messages_done": job.progress.sessions_with_messages_done,
        "messages_done": job.progress.messages_done,
        "create_time": job.created_at.as_unix_seconds(),
        "update_time": job.updated_at.as_unix_seconds(),
    });
    if let Value::Object(map) = &mut v {
        match &job.state {
            ExportState::Done { bytes, .. } => {
                map.insert("size".into(), json!(bytes));
                map.insert("download_url".into(), json!(download_url));
                map.insert("download_url_expire_time".into(), json!(url_ttl_secs));
            }
            ExportState::Failed { reason } => {
                map.insert("reason".into(), json!(reason));
            }
            ExportState::Queued | ExportState::Running => {}
        }
    }
    v
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_unix_seconds(1_800_000_000)
    }

    #[test]
    fn a_search_reads_every_filter_and_defaults_the_rest() {
        let q = parse_search(
            &json!({"start_time": "1700000000", "end_time": "1700086399", "sender": " Leo ", "recipient": "",
                    "channel_type": "WhatsApp", "channel_number": "+14102161183", "status": "closed",
                    "session_id": "12", "page": "2", "page_size": "50", "sort_by": "create_time", "order_by": "asc"}),
            now(),
        )
        .unwrap();
        let f = &q.filter;
        assert_eq!((f.from.as_unix_seconds(), f.to.as_unix_seconds()), (1_700_000_000, 1_700_086_400));
        assert_eq!(f.sender.as_deref(), Some("Leo"));
        assert_eq!(f.recipient, None);
        assert_eq!(f.channel_type, Some(ChannelType::WhatsApp));
        assert_eq!(f.channel_number.as_deref(), Some("+14102161183"));
        assert_eq!(f.status, Some(StatusFilter::Closed));
        assert_eq!(f.session_id, Some(SessionId::new(12).unwrap()));
        assert_eq!(f.order, SortOrder::Asc);
        assert_eq!((q.page, q.page_size), (2, 50));

        let q = parse_search(&json!({}), now()).unwrap();
        assert_eq!((q.page, q.page_size, q.filter.order), (1, 20, SortOrder::Desc));
        assert!(q.filter.to > now());
        assert!(q.filter.months().len() >= 120);
    }

    #[test]
    fn bad_search_fields_are_listed() {
        let err = parse_search(
            &json!({"channel_type": "telegram", "status": "maybe", "page_size": 500, "sort_by": "sender",
                    "order_by": "up", "session_id": 0, "start_time": 10, "end_time": 5}),
            now(),
        )
        .unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        for f in ["channel_type", "status", "page_size", "sort_by", "order_by", "session_id", "end_time"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }

    #[test]
    fn deletes_take_id_arrays_or_lists() {
        assert_eq!(
            parse_delete(&json!({"ids": [3, 4]})).unwrap(),
            vec![SessionId::new(3).unwrap(), SessionId::new(4).unwrap()]
        );
        assert_eq!(parse_delete(&json!({"ids": "5,6"})).unwrap().len(), 2);
        assert!(parse_delete(&json!({"ids": []})).is_err());
        assert!(parse_delete(&json!({"ids": [0]})).is_err());
        assert!(parse_delete(&json!({})).is_err());
        let (s, ids) = parse_delete_messages(&json!({"session_id": 9, "ids": [1]})).unwrap();
        assert_eq!((s.get(), ids[0].get()), (9, 1));
        assert!(parse_delete_messages(&json!({"ids": [1]})).is_err());
    }
}

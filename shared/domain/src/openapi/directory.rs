//! `extension/*` and `message_queue/*` request and response shapes
//! (yeastar-openapi-messaging.md §3.4, §3.8; decisions.md: our `extension/create` uses Yeastar's
//! extension fields, `user_password` being the agent's login).

use serde_json::{Value, json};

use crate::directory::{AssignmentMode, Extension, MessageQueue};
use crate::ids::{ExtensionId, ExtensionNumber};
use crate::openapi::{ApiError, Fields};
use crate::secret::Secret;

/// A validated `extension/create` request.
#[derive(Debug, Clone)]
pub struct ExtensionDraft {
    /// Number.
    pub number: ExtensionNumber,
    /// Caller ID name.
    pub caller_id_name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail.
    pub email_addr: String,
    /// Mobile.
    pub mobile_number: String,
    /// The agent's password.
    pub user_password: Secret,
}

fn optional_text(f: &mut Fields<'_>, name: &str, max: usize) -> String {
    let value = f.opt_string(name).map(|s| s.trim().to_owned()).unwrap_or_default();
    if value.chars().count() > max {
        f.error(name, "length", format!("must not exceed {max} characters"));
    }
    value
}

/// Parses and validates `extension/create`.
pub fn parse_extension_create(body: &Value) -> Result<ExtensionDraft, ApiError> {
    let mut f = Fields::new(body);
    let number = f.string("number").and_then(|n| match ExtensionNumber::parse(&n) {
        Ok(n) => Some(n),
        Err(e) => {
            f.error("number", "format", e.reason);
            None
        }
    });
    let caller_id_name = optional_text(&mut f, "caller_id_name", 127);
    let first_name = optional_text(&mut f, "first_name", 63);
    let last_name = optional_text(&mut f, "last_name", 63);
    let email_addr = optional_text(&mut f, "email_addr", 254);
    if !email_addr.is_empty() && !looks_like_email(&email_addr) {
        f.error("email_addr", "format", "must be an e-mail address");
    }
    let mobile_number = optional_text(&mut f, "mobile_number", 32);
    let password = f.string("user_password");
    if let Some(p) = &password {
        let len = p.chars().count();
        if !(8..=64).contains(&len) || !p.chars().any(char::is_alphabetic) || !p.chars().any(|c| c.is_ascii_digit()) {
            f.error("user_password", "format", "must be 8 to 64 characters with at least one letter and one digit");
        }
    }
    f.finish().and_then(|()| match (number, password) {
        (Some(number), Some(password)) => Ok(ExtensionDraft {
            number,
            caller_id_name,
            first_name,
            last_name,
            email_addr,
            mobile_number,
            user_password: Secret::new(password),
        }),
        _ => Err(ApiError::field("number", "required", "is required")),
    })
}

fn looks_like_email(s: &str) -> bool {
    let mut parts = s.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(l), Some(d), None) if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.'))
}

/// `extension/get` `data`.
pub fn extension_json(e: &Extension) -> Value {
    json!({
        "id": e.id,
        "number": e.number.as_str(),
        "caller_id_name": e.caller_id_name,
        "first_name": e.first_name,
        "last_name": e.last_name,
        "email_addr": e.email_addr,
        "mobile_number": e.mobile_number,
    })
}

/// A validated `message_queue/create` request.
#[derive(Debug, Clone)]
pub struct QueueDraft {
    /// Name.
    pub name: String,
    /// Chat assignment mode.
    pub assignment_mode: AssignmentMode,
    /// Agents (existence not yet checked).
    pub members: Vec<ExtensionId>,
}

/// Parses and validates `message_queue/create`.
pub fn parse_queue_create(body: &Value) -> Result<QueueDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name").map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        if n.is_empty() {
            f.error("name", "required", "must not be empty");
        } else if n.chars().count() > 127 {
            f.error("name", "length", "must not exceed 127 characters");
        }
    }
    let mode = f.string("assignment_mode").and_then(|m| match AssignmentMode::parse(&m) {
        Some(mode) => Some(mode),
        None => {
            f.error("assignment_mode", "enum", "must be 'manual', 'auto' or 'none'");
            None
        }
    });
    let mut members = Vec::new();
    if let Some(items) = f.array("members") {
        for (i, item) in items.iter().enumerate() {
            let mut m = Fields::nested(item, format!("members[{i}]"));
            if let Some(id) = m.integer("extension_id") {
                match u64::try_from(id).ok().and_then(|v| ExtensionId::new(v).ok()) {
                    Some(ext) if members.contains(&ext) => {
                        m.error("extension_id", "duplicate", format!("{ext} is listed twice"))
                    }
                    Some(ext) => members.push(ext),
                    None => m.error("extension_id", "format", "must be a positive integer extension id"),
                }
            }
            f.errors.append(&mut m.errors);
        }
    }
    f.finish().and_then(|()| match (name, mode) {
        (Some(name), Some(assignment_mode)) => Ok(QueueDraft { name, assignment_mode, members }),
        _ => Err(ApiError::field("name", "required", "is required")),
    })
}

/// `message_queue/get` `data`: members carry the extension's number and caller ID name.
pub fn queue_json(q: &MessageQueue, members: &[Extension]) -> Value {
    let members: Vec<Value> = q
        .members
        .iter()
        .map(|id| {
            let ext = members.iter().find(|e| e.id == *id);
            json!({
                "id": id,
                "extension_id": id,
                "ext_num": ext.map(|e| e.number.as_str()).unwrap_or_default(),
                "caller_id_name": ext.map(|e| e.caller_id_name.as_str()).unwrap_or_default(),
            })
        })
        .collect();
    json!({"id": q.id, "name": q.name, "members": members, "assignment_mode": q.assignment_mode.as_str()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_extension_request_is_valid_should_parse() {
        let d = parse_extension_create(
            &json!({"number": "1000", "caller_id_name": "Leo Ball", "user_password": "Secret123",
                                               "email_addr": "leo@example.com"}),
        )
        .unwrap();
        assert_eq!(d.number.as_str(), "1000");
        assert_eq!(d.user_password.expose(), "Secret123");
    }

    #[test]
    fn when_extension_request_is_bad_should_list_fields() {
        let err = parse_extension_create(&json!({"number": "10a", "user_password": "short", "email_addr": "nope"}))
            .unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["number", "email_addr", "user_password"]);
    }

    #[test]
    fn when_queue_request_is_the_docs_example_should_parse() {
        // yeastar-openapi-messaging.md §3.4.5
        let d = parse_queue_create(&json!({"name": "docs-message-queue", "assignment_mode": "auto",
                                           "members": [{"extension_id": 137}, {"extension_id": 138}]}))
        .unwrap();
        assert_eq!(d.assignment_mode, AssignmentMode::Auto);
        assert_eq!(d.members.len(), 2);
        let err = parse_queue_create(&json!({"name": "", "assignment_mode": "round_robin",
                                             "members": [{"extension_id": 1}, {"extension_id": 1}]}))
        .unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "assignment_mode", "members[1].extension_id"]);
    }
}

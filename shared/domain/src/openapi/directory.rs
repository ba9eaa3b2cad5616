//! `extension/*` and `message_queue/*` request and response shapes
//! (yeastar-openapi-messaging.md §3.4, §3.8; decisions.md: our `extension/create` uses Yeastar's
//! extension fields, `user_password` being the agent's login).

use serde_json::{Value, json};

use crate::directory::{AssignmentMode, Extension, MessageQueue, QueueManager, SlaSettings};
use crate::ids::{ExtensionId, ExtensionNumber};
use crate::openapi::{ApiError, Fields, overlay_update};
use crate::secret::Secret;
use crate::services::sla::SlaReport;
use crate::sla::{AlarmChange, SlaFigure};

/// An extension's profile fields as validated from a request.
#[derive(Debug, Clone)]
pub struct ExtensionProfile {
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
}

/// A validated `extension/create` request.
#[derive(Debug, Clone)]
pub struct ExtensionDraft {
    /// The profile.
    pub profile: ExtensionProfile,
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

/// A validated `extension/update`: the profile as it will be (left-out fields filled from the
/// stored one) and a new password if one was given.
#[derive(Debug, Clone)]
pub struct ExtensionUpdate {
    /// The profile.
    pub profile: ExtensionProfile,
    /// A new password, if given.
    pub user_password: Option<Secret>,
}

/// Parses the extension fields; the password is required on create only.
fn parse_extension(body: &Value, password_required: bool) -> Result<ExtensionUpdate, ApiError> {
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
    let password = if password_required { f.string("user_password") } else { f.opt_string("user_password") };
    if let Some(p) = &password {
        let len = p.chars().count();
        if !(8..=64).contains(&len) || !p.chars().any(char::is_alphabetic) || !p.chars().any(|c| c.is_ascii_digit()) {
            f.error("user_password", "format", "must be 8 to 64 characters with at least one letter and one digit");
        }
    }
    f.finish().and_then(|()| match number {
        Some(number) => Ok(ExtensionUpdate {
            profile: ExtensionProfile { number, caller_id_name, first_name, last_name, email_addr, mobile_number },
            user_password: password.map(Secret::new),
        }),
        None => Err(ApiError::field("number", "required", "is required")),
    })
}

/// Parses and validates `extension/create`.
pub fn parse_extension_create(body: &Value) -> Result<ExtensionDraft, ApiError> {
    let e = parse_extension(body, true)?;
    let user_password = e.user_password.ok_or_else(|| ApiError::field("user_password", "required", "is required"))?;
    Ok(ExtensionDraft { profile: e.profile, user_password })
}

/// Parses and validates our `extension/update`: `id` plus any field of create; left-out fields
/// keep their values, `user_password` changes the agent's login when given.
pub fn parse_extension_update(body: &Value, before: &Extension) -> Result<ExtensionUpdate, ApiError> {
    let stored = json!({
        "number": before.number.as_str(),
        "caller_id_name": before.caller_id_name,
        "first_name": before.first_name,
        "last_name": before.last_name,
        "email_addr": before.email_addr,
        "mobile_number": before.mobile_number,
    });
    parse_extension(&overlay_update(stored, body), false)
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
    /// Service level settings (defaults where left out).
    pub sla: SlaSettings,
    /// Managers (extensions not yet checked).
    pub managers: Vec<QueueManager>,
}

fn in_range(f: &mut Fields<'_>, name: &str, range: std::ops::RangeInclusive<u32>, default: u32) -> u32 {
    let (min, max) = (i64::from(*range.start()), i64::from(*range.end()));
    f.opt_integer_in(name, min, max).and_then(|v| u32::try_from(v).ok()).unwrap_or(default)
}

/// The SLA settings of a queue request; left-out fields take `base`'s values.
fn parse_sla(f: &mut Fields<'_>, base: SlaSettings) -> SlaSettings {
    let sla_time_secs = in_range(f, "sla_time", SlaSettings::SLA_TIME_RANGE, base.sla_time_secs);
    let evaluation_interval_mins =
        in_range(f, "evaluation_interval", SlaSettings::EVALUATION_INTERVAL_RANGE, base.evaluation_interval_mins);
    let alarm_threshold_percent =
        u8::try_from(in_range(f, "alarm_threshold", 0..=100, base.alarm_threshold_percent.into()))
            .unwrap_or(base.alarm_threshold_percent);
    SlaSettings { sla_time_secs, evaluation_interval_mins, alarm_threshold_percent }
}

/// `managers`: `[{"extension_id": 12}, {"email": "lead@example.com"}]`, at most 50, no repeats.
fn parse_managers(f: &mut Fields<'_>) -> Vec<QueueManager> {
    const MAX_MANAGERS: usize = 50;
    let mut managers = Vec::new();
    let Some(items) = f.opt_array("managers") else { return managers };
    if items.len() > MAX_MANAGERS {
        f.error("managers", "length", format!("must not list more than {MAX_MANAGERS} managers"));
        return managers;
    }
    for (i, item) in items.iter().enumerate() {
        let mut m = Fields::nested(item, format!("managers[{i}]"));
        let manager = match (item.get("extension_id"), item.get("email")) {
            (Some(_), None) => m.integer("extension_id").and_then(|id| {
                match u64::try_from(id).ok().and_then(|v| ExtensionId::new(v).ok()) {
                    Some(ext) => Some(QueueManager::Extension(ext)),
                    None => {
                        m.error("extension_id", "format", "must be a positive integer extension id");
                        None
                    }
                }
            }),
            (None, Some(_)) => m.string("email").and_then(|e| {
                let e = e.trim().to_owned();
                if e.chars().count() <= 254 && looks_like_email(&e) {
                    Some(QueueManager::Email(e))
                } else {
                    m.error("email", "format", "must be an e-mail address");
                    None
                }
            }),
            _ => {
                m.error("extension_id", "required", "give either extension_id or email");
                None
            }
        };
        if let Some(manager) = manager {
            if managers.contains(&manager) {
                f.error(&format!("managers[{i}]"), "duplicate", "is listed twice");
            } else {
                managers.push(manager);
            }
        }
        f.errors.append(&mut m.errors);
    }
    managers
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
    let sla = parse_sla(&mut f, SlaSettings::default());
    let managers = parse_managers(&mut f);
    f.finish().and_then(|()| match (name, mode) {
        (Some(name), Some(assignment_mode)) => Ok(QueueDraft { name, assignment_mode, members, sla, managers }),
        _ => Err(ApiError::field("name", "required", "is required")),
    })
}

/// `message_queue/update` (yeastar-openapi-messaging.md §3.4.6): `id` plus any field of create.
/// Left-out fields keep the stored values; `members` (as Yeastar: "all original entries you wish
/// to retain must be submitted") and `managers` replace the lists. Validated as a create.
pub fn parse_queue_update(body: &Value, before: &MessageQueue) -> Result<QueueDraft, ApiError> {
    let managers: Vec<Value> = before
        .managers
        .iter()
        .map(|m| match m {
            QueueManager::Extension(id) => json!({"extension_id": id}),
            QueueManager::Email(e) => json!({"email": e}),
        })
        .collect();
    let stored = json!({
        "name": before.name,
        "assignment_mode": before.assignment_mode.as_str(),
        "members": before.members.iter().map(|m| json!({"extension_id": m})).collect::<Vec<_>>(),
        "sla_time": before.sla.sla_time_secs,
        "evaluation_interval": before.sla.evaluation_interval_mins,
        "alarm_threshold": before.sla.alarm_threshold_percent,
        "managers": managers,
    });
    parse_queue_create(&overlay_update(stored, body))
}

/// `message_queue/get` `data`: members carry the extension's number and caller ID name, managers
/// that are extensions their number and e-mail; plus the SLA settings.
pub fn queue_json(q: &MessageQueue, members_and_managers: &[Extension]) -> Value {
    let members = members_and_managers;
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
    let managers: Vec<Value> = q
        .managers
        .iter()
        .map(|m| match m {
            QueueManager::Extension(id) => {
                let ext = members_and_managers.iter().find(|e| e.id == *id);
                json!({"extension_id": id, "ext_num": ext.map(|e| e.number.as_str()).unwrap_or_default(),
                       "email": ext.map(|e| e.email_addr.as_str()).unwrap_or_default()})
            }
            QueueManager::Email(e) => json!({"email": e}),
        })
        .collect();
    json!({
        "id": q.id,
        "name": q.name,
        "members": members,
        "assignment_mode": q.assignment_mode.as_str(),
        "sla_time": q.sla.sla_time_secs,
        "evaluation_interval": q.sla.evaluation_interval_mins,
        "alarm_threshold": q.sla.alarm_threshold_percent,
        "managers": managers,
    })
}

fn figure_json(figure: Option<SlaFigure>) -> Value {
    match figure {
        Some(f) => json!({"sla": f.percent(), "answered_in_time": f.met, "counted": f.counted}),
        None => json!({"sla": null, "answered_in_time": 0, "counted": 0}),
    }
}

/// `message_queue/sla` `data`: the figure over the last evaluation interval, the alarm state and
/// the stored evaluations, newest first. `sla` is `null` without traffic.
pub fn sla_report_json(q: &MessageQueue, report: &SlaReport) -> Value {
    let history: Vec<Value> = report
        .history
        .iter()
        .map(|e| {
            let mut v = figure_json(e.figure);
            v["window_start"] = json!(e.window.start.to_rfc3339());
            v["window_end"] = json!(e.window.end.to_rfc3339());
            v["alarm_threshold"] = json!(e.threshold_percent);
            v["sla_time"] = json!(e.sla_time_secs);
            v["below_threshold"] = json!(e.alarm_up);
            v["notice"] = json!(e.change.map(|c| match c {
                AlarmChange::Raised => "alarm",
                AlarmChange::Recovered => "recovery",
            }));
            v["evaluated_at"] = json!(e.evaluated_at.to_rfc3339());
            v
        })
        .collect();
    let mut current = figure_json(report.current);
    current["window_start"] = json!(report.current_window.start.to_rfc3339());
    current["window_end"] = json!(report.current_window.end.to_rfc3339());
    json!({
        "id": q.id,
        "sla_time": q.sla.sla_time_secs,
        "evaluation_interval": q.sla.evaluation_interval_mins,
        "alarm_threshold": q.sla.alarm_threshold_percent,
        "current": current,
        "alarm": report.state.alarm_up,
        "last_evaluated_window_end": report.state.last_window_end.map(|t| t.to_rfc3339()),
        "history": history,
    })
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
        assert_eq!(d.profile.number.as_str(), "1000");
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
    fn when_queue_sla_fields_are_given_should_parse_them_and_default_the_rest() {
        let d = parse_queue_create(&json!({"name": "q", "assignment_mode": "manual", "members": [], "sla_time": 120,
            "alarm_threshold": 90, "managers": [{"extension_id": 3}, {"email": "lead@example.com"}]}))
        .unwrap();
        assert_eq!(
            d.sla,
            SlaSettings { sla_time_secs: 120, evaluation_interval_mins: 15, alarm_threshold_percent: 90 }
        );
        assert_eq!(
            d.managers,
            vec![QueueManager::Extension(ExtensionId::new(3).unwrap()), QueueManager::Email("lead@example.com".into())]
        );
        let d = parse_queue_create(&json!({"name": "q", "assignment_mode": "manual", "members": []})).unwrap();
        assert_eq!(d.sla, SlaSettings::default());
        assert!(d.managers.is_empty());
    }

    #[test]
    fn when_queue_sla_fields_are_bad_should_name_each() {
        let err = parse_queue_create(&json!({"name": "q", "assignment_mode": "manual", "members": [], "sla_time": 0,
            "evaluation_interval": 1441, "alarm_threshold": 101,
            "managers": [{"email": "nope"}, {"extension_id": 3, "email": "a@b.co"}, {"email": "x@y.io"}, {"email": "x@y.io"}]}))
        .unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "sla_time",
                "evaluation_interval",
                "alarm_threshold",
                "managers[0].email",
                "managers[1].extension_id",
                "managers[3]"
            ]
        );
    }

    #[test]
    fn when_a_queue_update_leaves_fields_out_should_keep_them_and_replace_the_lists_given() {
        let before = MessageQueue {
            id: crate::ids::QueueId::new(20).unwrap(),
            name: "docs-message-queue".into(),
            assignment_mode: AssignmentMode::Auto,
            members: vec![ExtensionId::new(137).unwrap(), ExtensionId::new(138).unwrap()],
            sla: SlaSettings { sla_time_secs: 120, evaluation_interval_mins: 5, alarm_threshold_percent: 90 },
            managers: vec![QueueManager::Email("lead@example.com".into())],
            created_at: crate::time::Timestamp::from_millis(0),
        };
        // yeastar-openapi-messaging.md §3.4.6
        let d = parse_queue_update(
            &json!({"id": 20, "members": [{"extension_id": 137}, {"extension_id": 138}, {"extension_id": 26}]}),
            &before,
        )
        .unwrap();
        assert_eq!(d.name, "docs-message-queue");
        assert_eq!(d.assignment_mode, AssignmentMode::Auto);
        assert_eq!(d.members.len(), 3);
        assert_eq!(d.sla, before.sla);
        assert_eq!(d.managers, before.managers);
        let d = parse_queue_update(&json!({"id": 20, "alarm_threshold": 50, "managers": []}), &before).unwrap();
        assert_eq!(d.sla.alarm_threshold_percent, 50);
        assert_eq!(d.sla.sla_time_secs, 120);
        assert!(d.managers.is_empty());
        let err = parse_queue_update(&json!({"id": 20, "name": "", "sla_time": -1}), &before).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["name", "sla_time"]);
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

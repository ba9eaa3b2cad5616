//! `webhook/*` request and response shapes (yeastar-openapi-messaging.md §3.9): the event-push
//! settings exactly as Yeastar's `webhook/query` / `webhook/update`, and ours for the deliveries
//! parked after their retries ran out (`webhook/failed_deliveries`, `webhook/redeliver`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::channel::{ProviderUrl, UrlPolicy};
use crate::event_push::{
    EventSelection, MAX_RETRY_COUNT, MAX_SECRET_LEN, MAX_TIMEOUT_SECS, MAX_WEBHOOKS, MIN_RETRY_COUNT, MIN_SECRET_LEN,
    MIN_TIMEOUT_SECS, ParkedDelivery, PushEvent, RequestMethod, WebhookSettings,
};
use crate::openapi::{ApiError, Fields};
use crate::secret::Secret;

/// One `webhook_event_push_list` entry as given (the secret may be left out).
#[derive(Debug, Clone)]
pub struct TargetDraft {
    /// URL.
    pub url: ProviderUrl,
    /// Secret, when given.
    pub secret: Option<Secret>,
    /// Method.
    pub method: RequestMethod,
    /// Events.
    pub events: EventSelection,
}

/// A validated `webhook/update`: `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct SettingsUpdate {
    /// `enb_webhook_event_push`.
    pub enabled: Option<bool>,
    /// `webhook_event_push_list` (replaces the list).
    pub targets: Option<Vec<TargetDraft>>,
    /// `webhook_event_push_timeout`.
    pub timeout_secs: Option<u8>,
    /// `webhook_event_push_retry_count`.
    pub retry_count: Option<u8>,
}

fn supported_ids() -> String {
    PushEvent::ALL.iter().map(|e| e.id().to_string()).collect::<Vec<_>>().join(", ")
}

/// Parses a `webhook/update` body; every problem is listed, nothing is changed on any.
pub fn parse_update(body: &Value, url_policy: UrlPolicy) -> Result<SettingsUpdate, ApiError> {
    let mut f = Fields::new(body);
    let enabled = f.opt_integer_in("enb_webhook_event_push", 0, 1).map(|v| v == 1);
    let timeout_secs = f
        .opt_integer_in("webhook_event_push_timeout", i64::from(MIN_TIMEOUT_SECS), i64::from(MAX_TIMEOUT_SECS))
        .and_then(|v| u8::try_from(v).ok());
    let retry_count = f
        .opt_integer_in("webhook_event_push_retry_count", i64::from(MIN_RETRY_COUNT), i64::from(MAX_RETRY_COUNT))
        .and_then(|v| u8::try_from(v).ok());
    let targets = f.opt_array("webhook_event_push_list").map(|items| {
        if items.len() > MAX_WEBHOOKS {
            f.error("webhook_event_push_list", "length", format!("at most {MAX_WEBHOOKS} webhooks"));
        }
        let mut drafts: Vec<TargetDraft> = Vec::new();
        let mut seen: Vec<ProviderUrl> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut e = Fields::nested(item, format!("webhook_event_push_list[{i}]"));
            if !item.is_object() {
                e.errors.push(crate::openapi::FieldError::new(
                    format!("webhook_event_push_list[{i}]"),
                    "type",
                    "must be an object {url, secret, request_method, event_ids}",
                ));
            }
            let url = e.string("url").and_then(|u| match ProviderUrl::parse(&u, url_policy) {
                Ok(url) => Some(url),
                Err(m) => {
                    e.error("url", "format", m);
                    None
                }
            });
            if let Some(u) = &url {
                if seen.contains(u) {
                    e.error("url", "duplicate", format!("{} is listed twice", u.as_str()));
                }
                seen.push(u.clone());
            }
            let secret = e.opt_string("secret").and_then(|s| {
                let ok =
                    (MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&s.len()) && s.chars().all(|c| c.is_ascii_graphic());
                if ok {
                    Some(Secret::new(s))
                } else {
                    e.error(
                        "secret",
                        "format",
                        format!(
                            "must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} printable ASCII characters without spaces \
                             (leave it out to have one generated)"
                        ),
                    );
                    None
                }
            });
            let method = e.string("request_method").and_then(|m| match RequestMethod::parse(&m) {
                Some(m) => Some(m),
                None => {
                    e.error("request_method", "enum", "must be 'GET' or 'POST'");
                    None
                }
            });
            let events = parse_event_ids(&mut e);
            f.errors.append(&mut e.errors);
            if let (Some(url), Some(method), Some(events)) = (url, method, events) {
                drafts.push(TargetDraft { url, secret, method, events });
            }
        }
        drafts
    });
    f.finish()?;
    Ok(SettingsUpdate { enabled, targets, timeout_secs, retry_count })
}

fn parse_event_ids(e: &mut Fields<'_>) -> Option<EventSelection> {
    let list = e.array("event_ids")?;
    if list.is_empty() {
        e.error("event_ids", "required", format!("must list event ids ({}) or be [0] for all", supported_ids()));
        return None;
    }
    let mut all = false;
    let mut set = BTreeSet::new();
    for v in list {
        match v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())) {
            Some(0) => all = true,
            Some(id) => match u32::try_from(id).ok().and_then(PushEvent::from_id) {
                Some(event) => {
                    set.insert(event);
                }
                None => {
                    e.error(
                        "event_ids",
                        "enum",
                        format!("{id} cannot be pushed; use {} or 0 for all", supported_ids()),
                    );
                    return None;
                }
            },
            None => {
                e.error("event_ids", "type", "must be an array of integers");
                return None;
            }
        }
    }
    match (all, set.is_empty()) {
        (true, true) => Some(EventSelection::All),
        (true, false) => {
            e.error("event_ids", "format", "0 (all events) cannot be combined with other ids");
            None
        }
        (false, _) => Some(EventSelection::Only(set)),
    }
}

/// `webhook/query` `data`. Secrets are shown, as Yeastar shows them (the receiver needs them).
pub fn settings_json(s: &WebhookSettings) -> Value {
    let list: Vec<Value> = s
        .targets
        .iter()
        .map(|t| {
            json!({
                "url": t.url.as_str(),
                "secret": t.secret.expose(),
                "request_method": t.method.as_str(),
                "event_ids": t.events.ids(),
            })
        })
        .collect();
    json!({
        "enb_webhook_event_push": u8::from(s.enabled),
        "webhook_event_push_list": list,
        "webhook_event_push_timeout": s.timeout_secs,
        "webhook_event_push_retry_count": s.retry_count,
        "webhook_event_ids": PushEvent::ALL.iter().map(|e| e.id()).collect::<Vec<_>>(),
    })
}

/// One `webhook/failed_deliveries` item: the report as it was sent, where, how often it failed
/// and why.
pub fn parked_json(p: &ParkedDelivery) -> Value {
    json!({
        "id": p.id,
        "event_id": p.delivery.report_id,
        "type": p.delivery.event_type,
        "url": p.delivery.url,
        "attempts": p.delivery.failed_attempts,
        "last_error": p.delivery.last_error,
        "failed_time": p.parked_at.as_unix_seconds(),
        "body": p.delivery.body,
    })
}

/// Reads the `id` of a parked delivery (16 lowercase hex characters).
pub fn parse_parked_id(value: &Value) -> Result<String, ApiError> {
    let mut f = Fields::new(value);
    let id = f.string("id");
    f.finish()?;
    match id {
        Some(id) if id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()) => Ok(id),
        _ => Err(ApiError::field("id", "format", "must be the id of a failed delivery (16 hex characters)")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn fields(err: &ApiError) -> Vec<(&str, &str)> {
        err.invalid_params.iter().map(|e| (e.field.as_str(), e.validation_type)).collect()
    }

    #[test]
    fn when_yeastar_example_is_posted_should_parse() {
        let body = json!({"webhook_event_push_list": [
            {"event_ids": [30031, 30032], "request_method": "POST", "secret": "mvM5JZeCqxDCMUdpgGzCTPGGbOcOouDr",
             "url": "https://webhook.site/070cb947"},
            {"event_ids": [0], "request_method": "get", "url": "https://example.com/hook"}],
            "webhook_event_push_timeout": 3, "webhook_event_push_retry_count": 5, "enb_webhook_event_push": 1});
        let u = parse_update(&body, UrlPolicy::HttpsOnly).unwrap();
        let targets = u.targets.unwrap();
        assert_eq!(targets.len(), 2);
        assert_eq!(targets[0].events.ids(), vec![30031, 30032]);
        assert_eq!(targets[1].events, EventSelection::All);
        assert_eq!(targets[1].method, RequestMethod::Get);
        assert!(targets[1].secret.is_none());
        assert_eq!((u.enabled, u.timeout_secs, u.retry_count), (Some(true), Some(3), Some(5)));
    }

    #[test]
    fn when_fields_are_bad_should_list_each() {
        let entry = json!({"url": "https://a.example.com", "request_method": "POST", "event_ids": [0]});
        let body = json!({
            "webhook_event_push_list": [
                {"url": "http://insecure.example.com", "request_method": "PUT", "event_ids": [30011], "secret": "short"},
                {"url": "https://a.example.com", "request_method": "POST", "event_ids": [0, 30031]},
                {"url": "https://a.example.com", "request_method": "POST", "event_ids": []},
                entry.clone(), entry.clone(), entry],
            "webhook_event_push_timeout": 11, "webhook_event_push_retry_count": 0, "enb_webhook_event_push": 2});
        let err = parse_update(&body, UrlPolicy::HttpsOnly).unwrap_err();
        let got = fields(&err);
        for expected in [
            ("enb_webhook_event_push", "range"),
            ("webhook_event_push_timeout", "range"),
            ("webhook_event_push_retry_count", "range"),
            ("webhook_event_push_list", "length"),
            ("webhook_event_push_list[0].url", "format"),
            ("webhook_event_push_list[0].secret", "format"),
            ("webhook_event_push_list[0].request_method", "enum"),
            ("webhook_event_push_list[0].event_ids", "enum"),
            ("webhook_event_push_list[1].event_ids", "format"),
            ("webhook_event_push_list[2].url", "duplicate"),
            ("webhook_event_push_list[2].event_ids", "required"),
        ] {
            assert!(got.contains(&expected), "{expected:?} missing from {got:?}");
        }
        // http is fine where the deployment allows it
        let local = json!({"webhook_event_push_list": [{"url": "http://127.0.0.1:9/x", "request_method": "POST", "event_ids": [0]}]});
        assert!(parse_update(&local, UrlPolicy::AllowHttp).is_ok());
    }

    #[test]
    fn when_settings_are_shown_should_use_yeastar_keys() {
        let v = settings_json(&WebhookSettings::default());
        assert_eq!(v["enb_webhook_event_push"], 0);
        assert_eq!(v["webhook_event_push_timeout"], 5);
        assert_eq!(v["webhook_event_push_retry_count"], 3);
        assert_eq!(v["webhook_event_ids"], json!([30030, 30031, 30032, 30038]));
        assert_eq!(parse_parked_id(&json!({"id": "0123456789abcdef"})).unwrap(), "0123456789abcdef");
        assert!(parse_parked_id(&json!({"id": "xyz"})).is_err());
    }
}

//! `message_channel/*` request and response shapes (seed 004; yeastar-openapi-messaging.md §3.2).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::channel::{
    Channel, ChannelStatus, ChannelType, Credentials, Destination, Member, NumberRule, Provider, ProviderUrl, SendRate,
    SessionTimeoutDays, UrlPolicy, WebhookUrlType,
};
use crate::credentials::{KeyKind, KeyValues, account_keys, decode_base64_text};
use crate::health::ChannelHealth;
use crate::ids::{ExtGroupId, ExtensionId, OrganizationId, QueueId};
use crate::openapi::{ApiError, FieldError, Fields};
use crate::phone::BusinessNumber;
use crate::stats::Counters;

/// Longest channel name (seed 004 L17).
pub const MAX_NAME_CHARS: usize = 127;
/// Text shown instead of a stored credential.
pub const MASK: &str = "******";

/// A validated `message_channel/create` request.
#[derive(Debug, Clone)]
pub struct ChannelDraft {
    /// Name.
    pub name: String,
    /// `fqdn` / `nat`.
    pub webhook_url_type: WebhookUrlType,
    /// Credentials (and so the provider).
    pub credentials: Credentials,
    /// Send rate.
    pub send_rate: SendRate,
    /// Auto-close on/off.
    pub auto_close_session: bool,
    /// Auto-close inactivity in days.
    pub session_expired_days: SessionTimeoutDays,
    /// Numbers and rules (destinations and members not yet checked for existence).
    pub numbers: Vec<NumberRule>,
}

/// Parses and validates a `message_channel/create` body.
pub fn parse_create(body: &Value, url_policy: UrlPolicy) -> Result<ChannelDraft, ApiError> {
    let mut f = Fields::new(body);
    let name = f.string("name").map(|n| n.trim().to_owned());
    if let Some(n) = &name {
        if n.is_empty() {
            f.error("name", "required", "must not be empty");
        } else if n.chars().count() > MAX_NAME_CHARS {
            f.error("name", "length", "must not exceed 127 characters");
        }
    }
    let webhook_url_type = match f.string("webhook_url_type").as_deref() {
        Some("fqdn") => Some(WebhookUrlType::Fqdn),
        Some("nat") => Some(WebhookUrlType::Nat),
        Some(_) => {
            f.error("webhook_url_type", "enum", "must be 'fqdn' or 'nat'");
            None
        }
        None => None,
    };
    let provider = match f.string("channel") {
        Some(slug) => match Provider::from_slug(&slug) {
            Some(p) => Some(p),
            None => {
                f.error("channel", "enum", format!("'{slug}' is not a provider; supported: {}", supported_list()));
                None
            }
        },
        None => None,
    };
    let account_data = f.array("account_data");
    let credentials = match (provider, account_data) {
        (Some(provider), Some(items)) => parse_account_data(&mut f, provider, items, url_policy),
        _ => None,
    };
    let fixed_rate = provider.and_then(Provider::fixed_send_rate);
    if let (Some(rate), Some(given)) = (fixed_rate, body.get("send_rate"))
        && given.as_u64() != Some(u64::from(rate.per_second()))
    {
        f.error(
            "send_rate",
            "fixed",
            format!(
                "this channel type sends at a fixed {} messages per second; leave send_rate out",
                rate.per_second()
            ),
        );
    }
    let send_rate = match fixed_rate {
        Some(rate) => rate,
        None => f
            .opt_integer_in("send_rate", i64::from(SendRate::MIN), i64::from(SendRate::MAX))
            .and_then(|r| u16::try_from(r).ok())
            .and_then(|r| SendRate::new(r).ok())
            .unwrap_or(SendRate::DEFAULT),
    };
    let auto_close_session = f.opt_integer_in("auto_close_session", 0, 1).unwrap_or(0) == 1;
    let session_expired_days = f
        .opt_integer_in("session_expired_time", 1, 365)
        .and_then(|d| u16::try_from(d).ok())
        .and_then(|d| SessionTimeoutDays::new(d).ok())
        .unwrap_or(SessionTimeoutDays::DEFAULT);
    let numbers = match f.opt_array("dids") {
        Some(items) => parse_dids(&mut f, items, provider.map(Provider::channel_type)),
        None => Vec::new(),
    };
    let errors = std::mem::take(&mut f.errors);
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    match (name, webhook_url_type, credentials) {
        (Some(name), Some(webhook_url_type), Some(credentials)) => Ok(ChannelDraft {
            name,
            webhook_url_type,
            credentials,
            send_rate,
            auto_close_session,
            session_expired_days,
            numbers,
        }),
        _ => Err(ApiError::field("account_data", "required", "is required")),
    }
}

/// A validated `message_channel/update`.
#[derive(Debug, Clone)]
pub struct ChannelUpdate {
    /// The channel as it will be (destinations and members not yet checked for existence).
    pub draft: ChannelDraft,
    /// Ours: `regenerate_webhook` 1 draws a new webhook URL (the old one stops working).
    pub regenerate_webhook: bool,
}

/// Parses a `message_channel/update` body against the stored channel. Every field of create is
/// optional and keeps its stored value when left out; `dids`, when given, replaces the list. An
/// `account_data` entry whose value is the mask reads show (`******`) keeps the stored value, so
/// a client may send back what it read. The provider (`channel`) cannot change.
pub fn parse_update(body: &Value, stored: &Channel, url_policy: UrlPolicy) -> Result<ChannelUpdate, ApiError> {
    let provider = stored.provider();
    if let Some(given) = body.get("channel")
        && given.as_str() != Some(provider.slug())
    {
        return Err(ApiError::field(
            "channel",
            "immutable",
            format!("a channel's provider cannot change (it is {}); create a new channel", provider.slug()),
        ));
    }
    let mut merged = create_body_of(stored);
    let (Some(target), Some(changes)) = (merged.as_object_mut(), body.as_object()) else {
        return Err(ApiError::field("body", "type", "must be a JSON object"));
    };
    for (key, value) in changes {
        match key.as_str() {
            "id" | "regenerate_webhook" | "channel" => {}
            "account_data" => {
                let Some(items) = value.as_array() else {
                    return Err(ApiError::field("account_data", "type", "must be an array of {k, v}"));
                };
                let mut pairs: Vec<Value> =
                    target.get("account_data").and_then(Value::as_array).cloned().unwrap_or_default();
                for item in items {
                    let (Some(k), Some(v)) = (item.get("k").and_then(Value::as_str), item.get("v")) else {
                        return Err(ApiError::field("account_data", "format", "every entry needs string k and v"));
                    };
                    if v.as_str() == Some(MASK) {
                        continue;
                    }
                    pairs.retain(|p| p.get("k").and_then(Value::as_str) != Some(k));
                    pairs.push(json!({"k": k, "v": v}));
                }
                target.insert("account_data".into(), Value::Array(pairs));
            }
            _ => {
                target.insert(key.clone(), value.clone());
            }
        }
    }
    let regenerate_webhook = match body.get("regenerate_webhook") {
        None => false,
        Some(v) if v.as_i64() == Some(1) || v.as_bool() == Some(true) => true,
        Some(v) if v.as_i64() == Some(0) || v.as_bool() == Some(false) => false,
        Some(_) => return Err(ApiError::field("regenerate_webhook", "enum", "must be 0 or 1")),
    };
    let mut draft = parse_create(&merged, url_policy)?;
    // the verify token Meta was given stays (parse_create leaves a placeholder)
    if let (Some(token), Some(kept)) = (draft.credentials.verify_token_mut(), stored.credentials.meta()) {
        *token = kept.verify_token.clone();
    }
    Ok(ChannelUpdate { draft, regenerate_webhook })
}

/// A stored channel as the `message_channel/create` body that would make it, credentials in
/// their wire form (Base64 where the API takes Base64).
fn create_body_of(channel: &Channel) -> Value {
    let provider = channel.provider();
    let values = channel.credentials.to_values();
    let wire = |kind: KeyKind, v: &str| match kind {
        KeyKind::Secret | KeyKind::EncodedId => STANDARD.encode(v),
        KeyKind::Url | KeyKind::Text => v.to_owned(),
    };
    let account_data: Vec<Value> = account_keys(provider)
        .iter()
        .filter_map(|spec| values.get(spec.name).map(|v| json!({"k": spec.name, "v": wire(spec.kind, v)})))
        .collect();
    let mut body = json!({
        "name": channel.name,
        "webhook_url_type": channel.webhook_url_type.as_str(),
        "channel": provider.slug(),
        "account_data": account_data,
        "auto_close_session": u8::from(channel.auto_close_session),
        "session_expired_time": channel.session_expired_days.days(),
        "dids": dids_json(&channel.numbers),
    });
    if let Some(body) = body.as_object_mut() {
        if provider.fixed_send_rate().is_none() {
            body.insert("send_rate".into(), json!(channel.send_rate.per_second()));
        }
        if let Some(v) = values.get("phone_number_id") {
            body.insert("phone_number_id".into(), json!(v));
        }
        if let Some(v) = values.get("business_account_id") {
            body.insert("business_account_id".into(), json!(STANDARD.encode(v)));
        }
        if let Some(v) = values.get("accompanying_msg") {
            body.insert("accompanying_msg".into(), json!(v));
        }
    }
    body
}

fn supported_list() -> String {
    Provider::ALL.iter().map(|p| p.slug()).collect::<Vec<_>>().join(", ")
}

/// Reads `account_data` (and, for WhatsApp, the top-level `phone_number_id` and
/// `business_account_id`) into the provider's credentials, reporting every bad key.
fn parse_account_data(
    f: &mut Fields<'_>,
    provider: Provider,
    items: &[Value],
    policy: UrlPolicy,
) -> Option<Credentials> {
    let specs = account_keys(provider);
    let mut values = KeyValues::new();
    let before = f.errors.len();
    for (i, item) in items.iter().enumerate() {
        let mut entry = Fields::nested(item, format!("account_data[{i}]"));
        let (Some(k), Some(v)) = (entry.string("k"), entry.string("v")) else {
            f.errors.append(&mut entry.errors);
            continue;
        };
        let field = format!("account_data[{i}].v");
        let Some(spec) = specs.iter().find(|s| s.name == k) else {
            let names: Vec<&str> = specs.iter().map(|s| s.name).collect();
            f.errors.push(FieldError::new(
                format!("account_data[{i}].k"),
                "enum",
                format!("'{k}' is not a {} key; use {}", provider.slug(), names.join(", ")),
            ));
            continue;
        };
        if values.contains_key(&k) {
            f.errors.push(FieldError::new(
                format!("account_data[{i}].k"),
                "duplicate",
                format!("'{k}' is given twice"),
            ));
            continue;
        }
        let decoded = match spec.kind {
            KeyKind::Secret | KeyKind::EncodedId => decode_base64_text(&v).map_err(|m| format!("{k} {m}")),
            KeyKind::Url => {
                ProviderUrl::parse(&v, policy).map(|u| u.as_str().to_owned()).map_err(|m| format!("{k} {m}"))
            }
            KeyKind::Text => Ok(v.trim().to_owned()),
        };
        match decoded {
            Ok(text) => {
                values.insert(k, text);
            }
            Err(msg) => f.errors.push(FieldError::new(field, "format", msg)),
        }
    }
    if provider == Provider::Apidaze
        && let Some(text) = f.opt_string("accompanying_msg")
    {
        values.insert("accompanying_msg".into(), text);
    }
    if provider == Provider::WhatsApp {
        if let Some(id) = f.string("phone_number_id") {
            values.insert("phone_number_id".into(), id);
        }
        if let Some(encoded) = f.string("business_account_id") {
            match decode_base64_text(&encoded) {
                Ok(id) => {
                    values.insert("business_account_id".into(), id);
                }
                Err(m) => f.error("business_account_id", "format", format!("business_account_id {m}")),
            }
        }
    }
    if provider.channel_type() != ChannelType::Sms {
        // generated by the admin service when the channel is stored
        values.insert("verify_token".into(), "pending".into());
    }
    let had_errors = f.errors.len() > before;
    match Credentials::from_values(provider, &values) {
        Ok(c) if !had_errors => Some(c),
        Ok(_) => None,
        Err(problems) => {
            for p in problems {
                // keys already reported as malformed are not reported again as missing
                let reported = f.errors[before..].iter().any(|e| e.message.starts_with(&format!("{} ", p.key)));
                if !reported {
                    let field = match p.key.as_str() {
                        "phone_number_id" | "business_account_id" | "accompanying_msg" => p.key.clone(),
                        _ => "account_data".to_owned(),
                    };
                    f.errors.push(FieldError::new(field, p.code, p.message));
                }
            }
            None
        }
    }
}

fn parse_dids(f: &mut Fields<'_>, items: &[Value], channel_type: Option<ChannelType>) -> Vec<NumberRule> {
    let mut rules: Vec<NumberRule> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let mut d = Fields::nested(item, format!("dids[{i}]"));
        let number = d.string("did_number").and_then(|n| match (BusinessNumber::parse(n.trim()), channel_type) {
            (Ok(BusinessNumber::Page(_)), Some(ChannelType::Sms | ChannelType::WhatsApp))
            | (Ok(BusinessNumber::Alphanumeric(_)), Some(ChannelType::WhatsApp)) => {
                d.error("did_number", "format", "must be an E.164 number, e.g. +14102161183");
                None
            }
            (Ok(BusinessNumber::Phone(_) | BusinessNumber::Alphanumeric(_)), Some(ChannelType::Facebook)) => {
                d.error("did_number", "format", "must be the Facebook page id (digits)");
                None
            }
            (Ok(b), _) => Some(b),
            (Err(e), _) => {
                d.error("did_number", "format", e.0);
                None
            }
        });
        if let Some(n) = &number
            && rules.iter().any(|r| &r.number == n)
        {
            d.error("did_number", "duplicate", format!("{n} is listed twice"));
        }
        let destination_type = d.string("destination_type");
        let destination_id = d.opt_string("destination_id");
        let destination = match destination_type.as_deref() {
            Some(kind @ ("extension" | "queue")) => match destination_id.as_deref().map(str::trim) {
                None | Some("") => {
                    d.error("destination_id", "required", format!("is required when destination_type is '{kind}'"));
                    None
                }
                Some(id) => match id.parse::<u64>().ok().filter(|v| *v > 0) {
                    None => {
                        d.error("destination_id", "format", "must be a positive integer id");
                        None
                    }
                    Some(v) if kind == "extension" => ExtensionId::new(v).ok().map(Destination::Extension),
                    Some(v) => QueueId::new(v).ok().map(Destination::Queue),
                },
            },
            // the third-party platform has no id: leave destination_id out (empty, 0 and `api` are
            // accepted as "none")
            Some("api") => match destination_id.as_deref().map(str::trim) {
                None | Some("" | "0" | "api") => Some(Destination::Api),
                Some(_) => {
                    d.error("destination_id", "format", "must be left out when destination_type is 'api'");
                    None
                }
            },
            Some(_) => {
                d.error("destination_type", "enum", "must be 'extension', 'queue' or 'api'");
                None
            }
            None => None,
        };
        let mut members = Vec::new();
        if let Some(list) = d.opt_array("members") {
            for (j, m) in list.iter().enumerate() {
                let mut mf = Fields::nested(m, format!("dids[{i}].members[{j}]"));
                let kind = mf.string("type");
                let value = mf.string("value");
                match (kind.as_deref(), value) {
                    (Some("extension"), Some(v)) => {
                        match v.trim().parse::<u64>().ok().and_then(|v| ExtensionId::new(v).ok()) {
                            Some(id) => members.push(Member::Extension(id)),
                            None => mf.error("value", "format", "must be a positive integer extension id"),
                        }
                    }
                    (Some("ext_group"), Some(v)) => {
                        match v.trim().parse::<u64>().ok().and_then(|v| ExtGroupId::new(v).ok()) {
                            Some(id) => members.push(Member::ExtGroup(id)),
                            None => mf.error("value", "format", "must be a positive integer extension group id"),
                        }
                    }
                    (Some("organization"), Some(v)) => {
                        match v.trim().parse::<u64>().ok().and_then(|v| OrganizationId::new(v).ok()) {
                            Some(id) => members.push(Member::Organization(id)),
                            None => mf.error("value", "format", "must be a positive integer organization id"),
                        }
                    }
                    (Some(_), _) => mf.error("type", "enum", "must be 'extension', 'ext_group' or 'organization'"),
                    _ => {}
                }
                d.errors.append(&mut mf.errors);
            }
        }
        f.errors.append(&mut d.errors);
        if let (Some(number), Some(destination)) = (number, destination) {
            rules.push(NumberRule { number, destination, members });
        }
    }
    rules
}

fn status_json(status: ChannelStatus) -> (&'static str, &'static str) {
    match status {
        ChannelStatus::Checked { health: ChannelHealth::Connected, .. } => ("status_connect_succ", ""),
        ChannelStatus::Checked { health, .. } => ("status_connect_fail", health.label()),
        ChannelStatus::NotChecked => ("status_unknown", "the connection has not been checked yet"),
    }
}

fn account_data_json(credentials: &Credentials) -> Value {
    credentials.masked_account_data(MASK).into_iter().map(|(k, v)| json!({"k": k, "v": v})).collect()
}

fn dids_json(numbers: &[NumberRule]) -> Value {
    numbers
        .iter()
        .map(|r| {
            let (kind, id) = match r.destination {
                Destination::Extension(e) => ("extension", e.to_string()),
                Destination::Queue(q) => ("queue", q.to_string()),
                Destination::Api => ("api", String::new()),
            };
            let members: Vec<Value> = r
                .members
                .iter()
                .map(|m| match m {
                    Member::Extension(e) => json!({"type": "extension", "value": e.to_string()}),
                    Member::ExtGroup(g) => json!({"type": "ext_group", "value": g.to_string()}),
                    Member::Organization(o) => json!({"type": "organization", "value": o.to_string()}),
                })
                .collect();
            json!({"did_number": r.number.as_str(), "destination_type": kind, "destination_id": id, "members": members})
        })
        .collect()
}

/// `message_channel/get` `data` (detail form). Credentials are masked; URLs are shown; WhatsApp
/// and Messenger channels show the verify token we generated (pasted into Meta's dashboard).
/// `statistics` (ours) lists per-number counters (seed 000 §8).
pub fn detail_json(channel: &Channel, base_url: &str, per_number: &[(String, Counters)]) -> Value {
    let (status, reason) = status_json(channel.status);
    let statistics: Vec<Value> = per_number.iter().map(|(n, c)| counters_json(n, c)).collect();
    json!({
        "id": channel.id,
        "name": channel.name,
        "status": status,
        "reason": reason,
        "health": channel.status.health().map(ChannelHealth::as_str),
        "health_checked_at": match channel.status {
            ChannelStatus::Checked { at, .. } => Some(at.as_unix_seconds()),
            ChannelStatus::NotChecked => None,
        },
        "domain_type": channel.webhook_url_type.as_str(),
        "webhook_gid": channel.webhook_token.as_str(),
        "webhook_url": channel.webhook_url(base_url),
        "type": channel.channel_type().as_str(),
        "channel": channel.provider().slug(),
        "account_data": account_data_json(&channel.credentials),
        "verify_token": channel.credentials.meta().map(|m| m.verify_token.expose()),
        "send_rate": channel.send_rate.per_second(),
        "auto_close_session": u8::from(channel.auto_close_session),
        "session_expired_time": channel.session_expired_days.days(),
        "dids": dids_json(&channel.numbers),
        "statistics": statistics,
    })
}

fn counters_json(number: &str, c: &Counters) -> Value {
    json!({
        "number": number,
        "total": c.total(),
        "sent": c.sent,
        "failed": c.failed,
        "received": c.received,
        // Of total, by where the messages came from.
        "by_origin": {"agent": c.agent, "api": c.api, "campaign": c.campaign},
    })
}

/// One `message_channel/list` item: Yeastar's `sent` is every outbound attempt (Total),
/// `delivered` the ones the provider accepted, `failed`, `received`.
pub fn list_item_json(channel: &Channel, totals: &Counters) -> Value {
    let (status, reason) = status_json(channel.status);
    let numbers: Vec<&str> = channel.numbers.iter().map(|r| r.number.as_str()).collect();
    json!({
        "id": channel.id,
        "status": status,
        "reason": reason,
        "health": channel.status.health().map(ChannelHealth::as_str),
        "name": channel.name,
        "channel": channel.provider().slug(),
        "type": channel.channel_type().as_str(),
        "number": numbers,
        "sent": totals.total(),
        "delivered": totals.sent,
        "failed": totals.failed,
        "received": totals.received,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 004's "Add an general SMS channel" request (L221-258).
    fn seed_request() -> Value {
        json!({
            "name": "Docs-General SMS Channel",
            "webhook_url_type": "nat",
            "channel": "general",
            "account_data": [
                {"k": "api_secret", "v": "bXlTdXBlclNlY3JldDEyMw=="},
                {"k": "api_key", "v": "bXlBUElLZXk0NTY="},
                {"k": "api_verify_url", "v": "https://api.example.com/auth/verify"},
                {"k": "api_send_url", "v": "https://api.example.com/message/send"}
            ],
            "send_rate": 2,
            "auto_close_session": 1,
            "session_expired_time": 5,
            "dids": [{"did_number": "+1234567890", "destination_type": "extension", "destination_id": "137",
                      "members": [{"type": "extension", "value": "137"}]}]
        })
    }

    #[test]
    fn when_seed_request_is_parsed_should_decode_base64_credentials() {
        let draft = parse_create(&seed_request(), UrlPolicy::HttpsOnly).unwrap();
        assert_eq!(draft.name, "Docs-General SMS Channel");
        let Credentials::General { creds: c, .. } = &draft.credentials else { panic!("general") };
        assert_eq!(c.api_key.expose(), "myAPIKey456");
        assert_eq!(c.api_secret.as_ref().unwrap().expose(), "mySuperSecret123");
        assert_eq!(c.send_url.as_str(), "https://api.example.com/message/send");
        assert_eq!(draft.send_rate.per_second(), 2);
        assert!(draft.auto_close_session);
        assert_eq!(draft.session_expired_days.days(), 5);
        assert_eq!(draft.numbers.len(), 1);
        assert_eq!(draft.numbers[0].destination, Destination::Extension(ExtensionId::new(137).unwrap()));
        assert_eq!(draft.numbers[0].members, vec![Member::Extension(ExtensionId::new(137).unwrap())]);
    }

    #[test]
    fn when_request_is_bad_should_list_every_field() {
        let body = json!({
            "name": "x".repeat(128),
            "webhook_url_type": "lan",
            "channel": "general",
            "account_data": [{"k": "api_key", "v": "not base64!"}, {"k": "api_send_url", "v": "http://insecure.example.com"},
                             {"k": "region", "v": "eu"}],
            "send_rate": 500,
            "session_expired_time": 0,
            "dids": [{"did_number": "12345", "destination_type": "queue"},
                     {"did_number": "+14102161183", "destination_type": "fax"}]
        });
        let err = parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err();
        let fields: Vec<&str> = err.invalid_params.iter().map(|e| e.field.as_str()).collect();
        for expected in [
            "name",
            "webhook_url_type",
            "account_data[0].v",
            "account_data[1].v",
            "account_data[2].k",
            "send_rate",
            "session_expired_time",
            "dids[0].did_number",
            "dids[0].destination_id",
            "dids[1].destination_type",
        ] {
            assert!(fields.contains(&expected), "{expected} missing from {fields:?}");
        }
    }

    #[test]
    fn when_provider_is_unknown_should_list_the_supported_ones() {
        let mut body = seed_request();
        body["channel"] = json!("pigeon");
        assert!(parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err().invalid_params[0].message.contains("twilio"));
        assert_eq!(parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err().invalid_params[0].validation_type, "enum");
    }

    #[test]
    fn when_required_credentials_are_missing_should_name_them() {
        let mut body = seed_request();
        body["account_data"] = json!([{"k": "api_secret", "v": "c2VjcmV0"}]);
        let err = parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err();
        let messages: Vec<&str> = err.invalid_params.iter().map(|e| e.message.as_str()).collect();
        assert!(messages.contains(&"api_key is required"), "{messages:?}");
        assert!(messages.contains(&"api_send_url is required"), "{messages:?}");
    }

    #[test]
    fn when_duplicate_numbers_are_given_should_refuse() {
        let mut body = seed_request();
        body["dids"] = json!([
            {"did_number": "+14102161183", "destination_type": "extension", "destination_id": "1"},
            {"did_number": "+14102161183", "destination_type": "extension", "destination_id": "2"}
        ]);
        let err = parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err();
        assert_eq!(err.invalid_params[0].validation_type, "duplicate");
    }
    #[test]
    fn when_destination_is_api_should_store_it_without_an_id_and_read_it_back() {
        let mut body = seed_request();
        body["dids"] = json!([
            {"did_number": "+14102161183", "destination_type": "api"},
            {"did_number": "+14102161184", "destination_type": "api", "destination_id": "0"},
            {"did_number": "+14102161185", "destination_type": "api", "destination_id": "7"}
        ]);
        let err = parse_create(&body, UrlPolicy::HttpsOnly).unwrap_err();
        assert_eq!(err.invalid_params.len(), 1);
        assert_eq!(err.invalid_params[0].field, "dids[2].destination_id");
        body["dids"].as_array_mut().unwrap().pop();
        let draft = parse_create(&body, UrlPolicy::HttpsOnly).unwrap();
        assert!(draft.numbers.iter().all(|r| r.destination == Destination::Api));
        assert_eq!(
            dids_json(&draft.numbers)[0],
            json!({"did_number": "+14102161183", "destination_type": "api", "destination_id": "", "members": []})
        );
    }
}

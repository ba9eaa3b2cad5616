//! Bandwidth Messaging v2 send API (../shared/research/provider-contracts.md §4; seed 000 §1.1;
//! seed 001 §1.3.2).
//!
//! Request: `POST {endpoints.bandwidth}/api/v2/users/{account_id}/messages`, HTTP Basic
//! `username:password` (the API user the seed's channel form collects; Bandwidth's newer OAuth 2.0
//! bearer flow is not used because the channel has no client id/secret), JSON
//! `{"applicationId","to":[to],"from","text"?,"media":[…]?}` with E.164 numbers (with `+`).
//! Success: `202 Accepted` with the Message object; its id is `id`
//! [SDK Bandwidth/python-sdk messages_api.py, `'202': "Message"`].
//!
//! | answer | outcome |
//! |---|---|
//! | no HTTP response | retry, `request_fail` |
//! | 2xx with `id` | accepted |
//! | 2xx without `id` | failed, `send_fail` (delivery callbacks could not be matched) |
//! | 400 naming `to`/`from` in `fieldErrors` | failed, Invalid Phone Number |
//! | other 400 / 422 | failed, Invalid Parameter |
//! | 401 / 403 | failed, Authentication Failed (403: "the user does not have access to this API") |
//! | 404 | failed, `resource_not_found` (wrong account id) |
//! | 415 | failed, unsupported media prompt |
//! | 429 | retry, channel schedule pushed back (`Retry-After` honoured when present; Bandwidth does not document one) |
//! | 408 / 5xx | retry |
//! | anything else | failed, Failed to send |
//!
//! Errors are `{"type","description","fieldErrors"?:[{"fieldName","description"}]}`
//! [SDK models create_message_request_error.py, messaging_request_error.py]: `type` becomes the
//! provider code, `description` (and the field errors) the detail.

use serde_json::{Map, Value, json};

use crate::credentials::BandwidthCredentials;
use crate::message::{SendErrorCode, prompts};
use crate::provider::flowroute::{SEND_TIMEOUT, by_status, id_at, scalar, with_plus};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response, path_segment, reason,
};

/// The send call for `content`.
pub fn send_request(
    credentials: &BandwidthCredentials,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let mut body = Map::new();
    body.insert("applicationId".into(), Value::from(credentials.application_id.as_str()));
    body.insert("to".into(), json!([with_plus(content.to)]));
    body.insert("from".into(), Value::from(with_plus(content.from)));
    if let Some(text) = content.text {
        body.insert("text".into(), Value::from(text));
    }
    if !content.media_urls.is_empty() {
        body.insert("media".into(), json!(content.media_urls));
    }
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!(
            "{}/api/v2/users/{}/messages",
            endpoints.bandwidth.trim_end_matches('/'),
            path_segment(&credentials.account_id)
        ),
        auth: RequestAuth::Basic { user: credentials.username.clone(), password: credentials.password.clone() },
        headers: vec![("Accept".into(), "application/json".into())],
        body: Some(("application/json".into(), Value::Object(body).to_string().into_bytes())),
        timeout: SEND_TIMEOUT,
    }
}

/// What a send response means.
pub fn classify_send(response: &ProviderResponse) -> SendOutcome {
    let (status, headers, body) = match response {
        ProviderResponse::NoResponse { reason: why } => return no_response(why),
        ProviderResponse::Http { status, headers, body } => (*status, headers, body),
    };
    let parsed = serde_json::from_slice::<Value>(body).ok();
    if (200..300).contains(&status) {
        // Final: without the id, message-delivered / message-failed callbacks cannot be matched,
        // and a retry could send the message twice.
        return match parsed.as_ref().and_then(|v| id_at(v, &["id"])) {
            Some(provider_message_id) => SendOutcome::Accepted { provider_message_id },
            None => SendOutcome::Failed(reason(
                SendErrorCode::SendFail,
                prompts::FAILED_TO_SEND,
                None,
                Some(format!("HTTP {status} without id")),
            )),
        };
    }
    let code = parsed.as_ref().and_then(|v| v.get("type")).and_then(scalar);
    let field_errors: Vec<(String, String)> = parsed
        .as_ref()
        .and_then(|v| v.get("fieldErrors"))
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|f| {
                    let name = f.get("fieldName").and_then(scalar).unwrap_or_default();
                    let what = f.get("description").and_then(scalar).unwrap_or_default();
                    (name, what)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = parsed.as_ref().and_then(|v| v.get("description")).and_then(scalar);
    if !field_errors.is_empty() {
        let listed: Vec<String> = field_errors.iter().map(|(n, d)| format!("{n}: {d}")).collect();
        text = Some(match text {
            Some(t) => format!("{t} ({})", listed.join("; ")),
            None => listed.join("; "),
        });
    }
    if status == 400 && field_errors.iter().any(|(n, _)| n == "to" || n == "from") {
        return SendOutcome::Failed(reason(
            SendErrorCode::InvalidPhoneNumber,
            prompts::INVALID_PHONE_NUMBER,
            code,
            text.map(|t| format!("HTTP {status}: {t}")),
        ));
    }
    by_status(status, headers, code, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::provider::flowroute::tests::{assert_common_statuses, failed_code, http};
    use crate::secret::Secret;

    fn creds() -> BandwidthCredentials {
        BandwidthCredentials {
            application_id: "93de2206-9669-4e07-948d-329f4b722ee2".into(),
            account_id: "9900000".into(),
            username: "api-user".into(),
            password: Secret::new("api-pass"),
        }
    }

    #[test]
    fn when_building_an_sms_should_match_the_v2_contract() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::default(),
            &OutboundContent {
                from: "+19195551212",
                to: "+15554443333",
                text: Some("Hello world"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://messaging.bandwidth.com/api/v2/users/9900000/messages");
        assert_eq!(req.auth, RequestAuth::Basic { user: "api-user".into(), password: Secret::new("api-pass") });
        assert_eq!(req.headers, vec![("Accept".to_owned(), "application/json".to_owned())]);
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"applicationId":"93de2206-9669-4e07-948d-329f4b722ee2","from":"+19195551212","text":"Hello world","to":["+15554443333"]}"#
        );
    }

    #[test]
    fn when_building_an_mms_should_list_media_and_leave_text_out() {
        let mut c = creds();
        c.account_id = "99 00/0".into();
        let req = send_request(
            &c,
            &ProviderEndpoints::all_at("http://127.0.0.1:9"),
            &OutboundContent {
                from: "+19195551212",
                to: "+15554443333",
                text: None,
                media_urls: vec!["https://pbx.example.com/a.png"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9/api/v2/users/99%2000%2F0/messages");
        let v: Value = serde_json::from_slice(&req.body.unwrap().1).unwrap();
        assert_eq!(v.get("text"), None);
        assert_eq!(v["media"], json!(["https://pbx.example.com/a.png"]));
    }

    #[test]
    fn when_bandwidth_accepts_should_capture_id() {
        let body = r#"{"id":"1589228074636lm4k2je7j7jklbn2","owner":"+19195551212","applicationId":"93de2206-9669-4e07-948d-329f4b722ee2","time":"2020-05-11T20:14:34.636Z","segmentCount":1,"direction":"out","to":["+15554443333"],"from":"+19195551212","text":"Hello world"}"#;
        assert_eq!(
            classify_send(&http(202, body)),
            SendOutcome::Accepted { provider_message_id: "1589228074636lm4k2je7j7jklbn2".into() }
        );
        let SendOutcome::Failed(r) = classify_send(&http(202, "{}")) else { panic!("not failed") };
        assert_eq!(r.detail.as_deref(), Some("HTTP 202 without id"));
    }

    #[test]
    fn when_bandwidth_refuses_should_map_its_error() {
        let bad_to = r#"{"type":"request-validation","description":"Your request could not be accepted","fieldErrors":[{"fieldName":"to","description":"'+1invalid' must be replaced with a valid E164 formatted telephone number"}]}"#;
        let SendOutcome::Failed(r) = classify_send(&http(400, bad_to)) else { panic!("not failed") };
        assert_eq!(r.code, SendErrorCode::InvalidPhoneNumber);
        assert_eq!(r.provider_code.as_deref(), Some("request-validation"));
        assert!(r.detail.as_deref().unwrap().contains("to: '+1invalid'"));
        let bad_app = r#"{"type":"request-validation","description":"bad","fieldErrors":[{"fieldName":"applicationId","description":"unknown"}]}"#;
        assert_eq!(failed_code(&classify_send(&http(400, bad_app))), SendErrorCode::InvalidParam);
        let forbidden = r#"{"type":"authorization-error","description":"Access is denied"}"#;
        let SendOutcome::Failed(r) = classify_send(&http(403, forbidden)) else { panic!("not failed") };
        assert_eq!(r.code, SendErrorCode::AuthFail);
        assert_eq!(r.detail.as_deref(), Some("HTTP 403: Access is denied"));
        assert_eq!(failed_code(&classify_send(&http(415, "{}"))), SendErrorCode::UnsupportMediaType);
        assert_common_statuses(classify_send);
    }
}

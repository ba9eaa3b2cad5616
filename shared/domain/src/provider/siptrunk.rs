//! SIPTRUNK messaging send API. **UNVERIFIED**: SIPTRUNK publishes no messaging API reference
//! that could be found (searched: docs/pages/code corpora for "siptrunk.com sms api", "SIPTRUNK
//! messaging API messaging.siptrunk.com"; seed 000 §1.5 notes "No public spec was found").
//!
//! The contract implemented is the one the FreePBX SMS Connector module uses in production
//! [code simontelephonics/smsconnector providers/provider-Siptrunk.php]: a copy of Flowroute's
//! JSON:API —
//! `POST {endpoints.siptrunk}/` (the module posts to the root of `https://messaging.siptrunk.com`),
//! HTTP Basic `access_key:secret_key`, `Content-Type: application/vnd.api+json`, body
//! `{"data":{"type":"message","attributes":{"to":"+1…","from":"+1…","body":"…","is_mms":"true"?,"media_urls":[…]?}}}`
//! with E.164 numbers **with** `+` and `body` always present (empty for a file without text, as
//! the module sends it).
//!
//! The answer is not documented: the id is read from `data.id` (Flowroute's shape), then `id`,
//! `message_id`, `data.message_id`. A 2xx without any of them is still **accepted** (the module
//! treats any 2xx as sent, and failing a message SIPTRUNK took would make the agent send it
//! twice), under an `siptrunk-untracked-…` id no delivery report will name. Non-2xx answers map
//! like Flowroute's (see [`crate::provider::flowroute`]): 400/422 Invalid Parameter, 401/403
//! Authentication Failed, 404, 429 retry with the schedule pushed back, 408/5xx retry.

use serde_json::{Map, Value, json};

use crate::credentials::KeyPair;
use crate::provider::flowroute::{
    JSON_API, SEND_TIMEOUT, by_status, id_at, jsonapi_error, scalar, untracked_id, with_plus,
};
use crate::provider::{
    HttpMethod, OutboundContent, ProviderEndpoints, ProviderRequest, ProviderResponse, RequestAuth, SendOutcome,
    no_response,
};

/// The send call for `content`.
pub fn send_request(
    credentials: &KeyPair,
    endpoints: &ProviderEndpoints,
    content: &OutboundContent<'_>,
) -> ProviderRequest {
    let mut attributes = Map::new();
    attributes.insert("to".into(), Value::from(with_plus(content.to)));
    attributes.insert("from".into(), Value::from(with_plus(content.from)));
    attributes.insert("body".into(), Value::from(content.text.unwrap_or_default()));
    if !content.media_urls.is_empty() {
        attributes.insert("is_mms".into(), Value::from("true"));
        attributes.insert("media_urls".into(), json!(content.media_urls));
    }
    let body = json!({"data": {"type": "message", "attributes": Value::Object(attributes)}}).to_string();
    ProviderRequest {
        method: HttpMethod::Post,
        url: format!("{}/", endpoints.siptrunk.trim_end_matches('/')),
        auth: RequestAuth::Basic { user: credentials.id.clone(), password: credentials.secret.clone() },
        headers: vec![("Accept".into(), format!("{JSON_API}, application/json"))],
        body: Some((JSON_API.into(), body.into_bytes())),
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
        let id = parsed.as_ref().and_then(|v| {
            [&["data", "id"][..], &["id"], &["message_id"], &["data", "message_id"]].iter().find_map(|p| id_at(v, p))
        });
        let provider_message_id = id.unwrap_or_else(|| untracked_id("siptrunk", headers, body));
        return SendOutcome::Accepted { provider_message_id };
    }
    let (mut code, mut text) = parsed.as_ref().map(jsonapi_error).unwrap_or((None, None));
    if text.is_none() {
        text = parsed.as_ref().and_then(|v| v.get("message").or_else(|| v.get("error"))).and_then(scalar);
    }
    if code.is_none() {
        code = parsed.as_ref().and_then(|v| v.get("code")).and_then(scalar);
    }
    by_status(status, headers, code, text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::message::SendErrorCode;
    use crate::provider::flowroute::tests::{assert_common_statuses, failed_code, http};
    use crate::secret::Secret;

    fn creds() -> KeyPair {
        KeyPair { id: "access-1".into(), secret: Secret::new("secret-1") }
    }

    #[test]
    fn when_building_a_message_should_copy_the_flowroute_jsonapi_with_plus() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints { siptrunk: "https://messaging.siptrunk.com".into(), ..ProviderEndpoints::default() },
            &OutboundContent {
                from: "+14102161183",
                to: "+14105550100",
                text: Some("Hi"),
                media_urls: vec![],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.method, HttpMethod::Post);
        assert_eq!(req.url, "https://messaging.siptrunk.com/");
        assert_eq!(req.auth, RequestAuth::Basic { user: "access-1".into(), password: Secret::new("secret-1") });
        let (ct, body) = req.body.unwrap();
        assert_eq!(ct, "application/vnd.api+json");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"data":{"attributes":{"body":"Hi","from":"+14102161183","to":"+14105550100"},"type":"message"}}"#
        );
    }

    #[test]
    fn when_building_an_mms_without_text_should_send_an_empty_body() {
        let req = send_request(
            &creds(),
            &ProviderEndpoints::all_at("http://127.0.0.1:9/"),
            &OutboundContent {
                from: "14102161183",
                to: "+14105550100",
                text: None,
                media_urls: vec!["https://pbx.example.com/f.png"],
                human_agent_tag: false,
                status_callback: None,
                template: None,
            },
        );
        assert_eq!(req.url, "http://127.0.0.1:9/");
        let v: Value = serde_json::from_slice(&req.body.unwrap().1).unwrap();
        assert_eq!(
            v,
            json!({"data": {"type": "message", "attributes": {"to": "+14105550100", "from": "+14102161183", "body": "", "is_mms": "true", "media_urls": ["https://pbx.example.com/f.png"]}}})
        );
    }

    #[test]
    fn when_siptrunk_answers_should_classify_tolerantly() {
        assert_eq!(
            classify_send(&http(202, r#"{"data":{"id":"mdr2-abc","type":"message"}}"#)),
            SendOutcome::Accepted { provider_message_id: "mdr2-abc".into() }
        );
        assert_eq!(
            classify_send(&http(200, r#"{"message_id":"m-1"}"#)),
            SendOutcome::Accepted { provider_message_id: "m-1".into() }
        );
        let SendOutcome::Accepted { provider_message_id } = classify_send(&http(200, "")) else {
            panic!("not accepted")
        };
        assert!(provider_message_id.starts_with("siptrunk-untracked-"));
        let SendOutcome::Failed(r) =
            classify_send(&http(400, r#"{"errors":[{"title":"Bad Request","detail":"to is invalid"}]}"#))
        else {
            panic!()
        };
        assert_eq!(r.code, SendErrorCode::InvalidParam);
        assert_eq!(r.detail.as_deref(), Some("HTTP 400: Bad Request: to is invalid"));
        assert_eq!(failed_code(&classify_send(&http(403, r#"{"message":"forbidden"}"#))), SendErrorCode::AuthFail);
        assert_common_statuses(classify_send);
    }
}

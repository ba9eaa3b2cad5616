//! One end-to-end test per provider family through the local stack: the channel is created
//! through the admin API exactly as seed 004 shows, a customer's message arrives signed the
//! provider's way (and is refused when the signature is wrong), an agent replies, and the
//! sandbox records the provider call on the provider's wire format.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use system_tests::{EXTENSION, SETTLE, TestStack, eventually};

const TWILIO_SID: &str = "AC0123456789abcdef0123456789abcdef";
const TWILIO_TOKEN: &str = "twilio-auth-token-for-tests";
pub(crate) const META_ACCESS_TOKEN: &str = "EAAG-meta-access-token";
pub(crate) const META_APP_SECRET: &str = "meta-app-secret-for-tests";

pub(crate) fn b64(s: &str) -> String {
    STANDARD.encode(s)
}

/// Creates a channel; returns (id, detail).
pub(crate) async fn create_channel(t: &TestStack, admin: &str, body: Value) -> (u64, Value) {
    let reply = t.post("message_channel/create", Some(admin), &body).await;
    assert_eq!(reply["errcode"], 0, "message_channel/create: {reply}");
    let id = reply["id"].as_u64().unwrap();
    let detail = t.get("message_channel/get", admin, &[("id", &id.to_string())]).await;
    assert_eq!(detail["errcode"], 0, "{detail}");
    (id, detail["data"].clone())
}

fn shown(detail: &Value, key: &str) -> Value {
    detail["account_data"].as_array().unwrap().iter().find(|kv| kv["k"] == key).map(|kv| kv["v"].clone()).unwrap()
}

/// The provider calls that send (the health check's credential reads are GETs).
pub(crate) fn sends(t: &TestStack) -> Vec<sandbox_provider::providers::ProviderCall> {
    t.sandbox.provider_calls().into_iter().filter(|c| c.method == "POST").collect()
}

/// Waits for the sandbox to record a provider call whose path ends with `path_suffix`.
pub(crate) async fn wait_provider_call(t: &TestStack, path_suffix: &str) -> sandbox_provider::providers::ProviderCall {
    eventually(SETTLE, &format!("a provider call to …{path_suffix}"), || async {
        t.sandbox.provider_calls().into_iter().find(|c| c.path.ends_with(path_suffix))
    })
    .await
}

#[tokio::test]
async fn twilio_sms_is_verified_routed_and_answered_on_twilios_wire_format() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let agent = t.token("1000", system_tests::AGENT_PASSWORD).await;
    let (_, detail) = create_channel(
        &t,
        &admin,
        json!({
            "name": "Twilio SMS", "webhook_url_type": "fqdn", "channel": "twilio",
            "account_data": [{"k": "account_sid", "v": b64(TWILIO_SID)}, {"k": "auth_token", "v": b64(TWILIO_TOKEN)}],
            "send_rate": 5,
            "dids": [{"did_number": "+14155550100", "destination_type": "extension", "destination_id": ext.to_string()}]
        }),
    )
    .await;
    assert_eq!(detail["channel"], "twilio");
    assert_eq!(shown(&detail, "auth_token"), "******", "credentials are never shown");
    assert_eq!(shown(&detail, "account_sid"), "******");
    let webhook = detail["webhook_url"].as_str().unwrap().to_owned();
    assert!(webhook.contains("/api/v1.0/webhook/twilio/"), "{webhook}");

    let params: Vec<(String, String)> = [
        ("MessageSid", "SM11111111111111111111111111111111"),
        ("SmsSid", "SM11111111111111111111111111111111"),
        ("AccountSid", TWILIO_SID),
        ("From", "+15005550006"),
        ("To", "+14155550100"),
        ("Body", "Hello from Twilio & friends"),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let form = form_body(&params);
    let post = |signature: String| {
        t.http
            .post(&webhook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(form.clone())
            .send()
    };
    // a signature made with another token is refused, and nothing is stored
    let forged = domain::webhook::twilio::sign("not-the-token", &webhook, &params);
    assert_eq!(post(forged).await.unwrap().status().as_u16(), 400);
    assert_eq!(t.items_with_prefix("ConversationTable", "INBOUND#").await, 0);

    let signature = domain::webhook::twilio::sign(TWILIO_TOKEN, &webhook, &params);
    assert_eq!(post(signature.clone()).await.unwrap().status().as_u16(), 204);
    let session = t.wait_for_session(&agent, "1000", "+14155550100", "+15005550006").await;
    let history = t.history(&agent, session).await;
    assert_eq!(history[0]["msg_body"], "Hello from Twilio & friends", "{history:?}");
    // Twilio retries: the same message again changes nothing
    assert_eq!(post(signature).await.unwrap().status().as_u16(), 204);

    let reply = t.send_text(&agent, EXTENSION, "1000", session, "Hi! How can we help?").await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let call = wait_provider_call(&t, &format!("/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")).await;
    assert_eq!(call.method, "POST");
    assert_eq!(
        call.authorization.as_deref(),
        Some(format!("Basic {}", b64(&format!("{TWILIO_SID}:{TWILIO_TOKEN}"))).as_str())
    );
    assert!(call.content_type.as_deref().unwrap_or_default().starts_with("application/x-www-form-urlencoded"));
    let sent: Vec<(String, String)> = form_pairs(&call.body);
    assert!(sent.contains(&("To".into(), "+15005550006".into())), "{sent:?}");
    assert!(sent.contains(&("From".into(), "+14155550100".into())), "{sent:?}");
    assert!(sent.contains(&("Body".into(), "Hi! How can we help?".into())), "{sent:?}");
    // Twilio is asked to report the message's status on the channel's webhook URL (under the
    // deployment's public base URL; here the API's default execute-api address)
    let webhook_path = &webhook[webhook.find("/api/v1.0/webhook/").unwrap()..];
    let callback = sent.iter().find(|(k, _)| k == "StatusCallback").map(|(_, v)| v.clone()).unwrap_or_default();
    assert!(callback.starts_with("https://") && callback.ends_with(webhook_path), "{callback} vs {webhook_path}");
    assert_eq!(sends(&t).len(), 1, "one call per reply");
    eventually(SETTLE, "the reply recorded as sent", || async {
        let history = t.history(&agent, session).await;
        history.iter().any(|m| m["msg_body"] == "Hi! How can we help?" && m["delivery_status"] == 1).then_some(())
    })
    .await;

    // Twilio's status callbacks for the reply: "delivered", then a late "sent" that changes nothing
    let callback = |status: &str| -> Vec<(String, String)> {
        [
            ("MessageSid", call.provider_message_id.as_str()),
            ("SmsSid", call.provider_message_id.as_str()),
            ("AccountSid", TWILIO_SID),
            ("From", "+14155550100"),
            ("To", "+15005550006"),
            ("MessageStatus", status),
            ("SmsStatus", status),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    };
    for status in ["delivered", "sent"] {
        let params = callback(status);
        let response = t
            .http
            .post(&webhook)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", domain::webhook::twilio::sign(TWILIO_TOKEN, &webhook, &params))
            .body(form_body(&params))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 204, "status callback {status}");
    }
    let history = t.history(&agent, session).await;
    let reply = history.iter().find(|m| m["msg_body"] == "Hi! How can we help?").unwrap();
    assert_eq!(reply["receipt"], "delivered", "{reply}");
    assert_eq!(reply["delivery_status"], 1);
}

#[tokio::test]
async fn whatsapp_handshake_message_and_reply_follow_the_cloud_api() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let agent = t.token("1000", system_tests::AGENT_PASSWORD).await;
    let (_, detail) = create_channel(
        &t,
        &admin,
        json!({
            "name": "WhatsApp", "webhook_url_type": "fqdn", "channel": "whatsapp",
            "account_data": [{"k": "access_token", "v": b64(META_ACCESS_TOKEN)}, {"k": "app_secret", "v": b64(META_APP_SECRET)}],
            "phone_number_id": "106540352242922",
            "business_account_id": b64("102290129340398"),
            "dids": [{"did_number": "+16505553333", "destination_type": "extension", "destination_id": ext.to_string(),
                      "members": [{"type": "extension", "value": ext.to_string()}]}]
        }),
    )
    .await;
    assert_eq!(detail["type"], "whatsapp");
    assert_eq!(detail["send_rate"], 80, "WhatsApp's fixed rate");
    assert_eq!(shown(&detail, "access_token"), "******");
    let verify_token = detail["verify_token"].as_str().unwrap().to_owned();
    assert_eq!(verify_token.len(), 16, "{detail}");
    let webhook = detail["webhook_url"].as_str().unwrap().to_owned();

    // Meta's "Verify and save"
    let handshake = |token: &str| {
        t.http
            .get(&webhook)
            .query(&[("hub.mode", "subscribe"), ("hub.verify_token", token), ("hub.challenge", "1158201444")])
            .send()
    };
    let ok = handshake(&verify_token).await.unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    assert_eq!(handshake("wrong-token").await.unwrap().status().as_u16(), 403);

    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "16505553333", "phone_number_id": "106540352242922"},
            "contacts": [{"profile": {"name": "Kerry Fisher"}, "wa_id": "16315551181"}],
            "messages": [{"from": "16315551181", "id": "wamid.ABGGFlA5FpafAgo6EHiE", "timestamp": "1795000000",
                          "type": "text", "text": {"body": "Does it come in another color?"}}]
        }}]}]
    })
    .to_string();
    let post = |signature: String| {
        t.http
            .post(&webhook)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body.clone())
            .send()
    };
    assert_eq!(
        post(domain::webhook::meta::sign("other-secret", body.as_bytes())).await.unwrap().status().as_u16(),
        400
    );
    assert_eq!(
        post(domain::webhook::meta::sign(META_APP_SECRET, body.as_bytes())).await.unwrap().status().as_u16(),
        204
    );
    let session = t.wait_for_session(&agent, "1000", "+16505553333", "+16315551181").await;
    let detail = t.session_get(&agent, session).await;
    assert!(detail.to_string().contains("Kerry Fisher"), "the WhatsApp profile name is kept: {detail}");

    let reply = t.send_text(&agent, EXTENSION, "1000", session, "Yes: blue and red.").await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let call = wait_provider_call(&t, "/106540352242922/messages").await;
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {META_ACCESS_TOKEN}").as_str()));
    let sent: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(sent["messaging_product"], "whatsapp");
    assert_eq!(sent["to"], "16315551181");
    assert_eq!(sent["type"], "text");
    assert_eq!(sent["text"]["body"], "Yes: blue and red.");

    // Meta's status webhook for the reply: read by the customer
    eventually(SETTLE, "the reply recorded as sent", || async {
        let history = t.history(&agent, session).await;
        history.iter().any(|m| m["msg_body"] == "Yes: blue and red." && m["delivery_status"] == 1).then_some(())
    })
    .await;
    let statuses = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "16505553333", "phone_number_id": "106540352242922"},
            "statuses": [{"id": call.provider_message_id, "status": "read", "timestamp": "1795000100",
                          "recipient_id": "16315551181"}]
        }}]}]
    })
    .to_string();
    let response = t
        .http
        .post(&webhook)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", domain::webhook::meta::sign(META_APP_SECRET, statuses.as_bytes()))
        .body(statuses)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let history = t.history(&agent, session).await;
    let reply = history.iter().find(|m| m["msg_body"] == "Yes: blue and red.").unwrap();
    assert_eq!(reply["receipt"], "read", "{reply}");

    // agents start WhatsApp sessions only with templates (not in this version): refused, nothing sent
    let start = t
        .post(
            "message/send",
            Some(&agent),
            &json!({"channel": "whatsapp", "sender_type": 1, "sender_no": "1000", "did_number": "+16505553333",
                    "to": "+16315550000", "msg_body": "Hello"}),
        )
        .await;
    assert_ne!(start["errcode"], 0, "{start}");
    assert_eq!(sends(&t).len(), 1);
}

#[tokio::test]
async fn messenger_message_from_a_page_is_answered_through_the_send_api() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let agent = t.token("1000", system_tests::AGENT_PASSWORD).await;
    let page = "107215158921633";
    let (_, detail) = create_channel(
        &t,
        &admin,
        json!({
            "name": "Facebook", "webhook_url_type": "fqdn", "channel": "facebook",
            "account_data": [{"k": "access_token", "v": b64(META_ACCESS_TOKEN)}, {"k": "app_secret", "v": b64(META_APP_SECRET)},
                             {"k": "page_name", "v": "Acme Support"}],
            "dids": [{"did_number": page, "destination_type": "extension", "destination_id": ext.to_string()}]
        }),
    )
    .await;
    assert_eq!(detail["type"], "facebook");
    assert_eq!(detail["send_rate"], 40, "Messenger's fixed rate");
    assert_eq!(shown(&detail, "page_name"), "Acme Support");
    let webhook = detail["webhook_url"].as_str().unwrap().to_owned();

    let psid = "6783458325238910";
    let body = json!({
        "object": "page",
        "entry": [{"id": page, "time": 1_795_000_000_000_i64, "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": page}, "timestamp": 1_795_000_000_000_i64,
            "message": {"mid": "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P", "text": "Is my order shipped?"}
        }]}]
    })
    .to_string();
    let status = t
        .http
        .post(&webhook)
        .header("content-type", "application/json")
        .header("x-hub-signature-256", domain::webhook::meta::sign(META_APP_SECRET, body.as_bytes()))
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 204);
    let session = t.wait_for_session(&agent, "1000", page, psid).await;

    let reply = t.send_text(&agent, EXTENSION, "1000", session, "It left yesterday.").await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let call = wait_provider_call(&t, &format!("/{page}/messages")).await;
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {META_ACCESS_TOKEN}").as_str()));
    let sent: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(sent["recipient"]["id"], psid);
    assert_eq!(sent["messaging_type"], "RESPONSE", "inside 24 h: a plain response, no tag");
    assert_eq!(sent["message"]["text"], "It left yesterday.");
}

fn form_body(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish()
}

fn form_pairs(body: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

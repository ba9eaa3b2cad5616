//! WhatsApp templates through the local stack: on-demand and scheduled sync from the sandbox's
//! Graph listing, the Yeastar listing endpoint with its filters, and agents sending a template in
//! a session and starting a WhatsApp session with one.

use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, EXTENSION, TestStack};

use crate::providers::{META_ACCESS_TOKEN, META_APP_SECRET, b64, create_channel, wait_provider_call};

const NUMBER: &str = "+16505553333";
const WABA: &str = "102290129340398";

pub(crate) async fn whatsapp_channel(t: &TestStack, admin: &str, ext: u64) -> u64 {
    let (id, _) = create_channel(
        t,
        admin,
        json!({
            "name": "WhatsApp", "webhook_url_type": "fqdn", "channel": "whatsapp",
            "account_data": [{"k": "access_token", "v": b64(META_ACCESS_TOKEN)}, {"k": "app_secret", "v": b64(META_APP_SECRET)}],
            "phone_number_id": "106540352242922",
            "business_account_id": b64(WABA),
            "dids": [{"did_number": NUMBER, "destination_type": "extension", "destination_id": ext.to_string(),
                      "members": [{"type": "extension", "value": ext.to_string()}]}]
        }),
    )
    .await;
    id
}

async fn templates(t: &TestStack, admin: &str, channel: u64, extra: &[(&str, &str)]) -> Value {
    let id = channel.to_string();
    let mut query = vec![("omnichannel_id", id.as_str())];
    query.extend_from_slice(extra);
    let reply = t.get("message_channel/whatsapp_template", admin, &query).await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    reply
}

fn names(reply: &Value) -> Vec<String> {
    reply["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn templates_sync_on_demand_and_on_schedule_and_are_listed_as_yeastar_does() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let channel = whatsapp_channel(&t, &admin, ext).await;

    // Nothing before the first sync.
    assert_eq!(templates(&t, &admin, channel, &[]).await["total_number"], 0);

    let sync =
        t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": channel})).await;
    assert_eq!(sync["errcode"], 0, "{sync}");
    assert_eq!(sync["total_number"], 2, "{sync}");
    assert_eq!(sync["skipped"], json!({"not_approved": 2, "catalog": 1, "over_limit": 0, "invalid": 0}));
    let call = t
        .sandbox
        .provider_calls()
        .into_iter()
        .find(|c| c.path.contains("/message_templates"))
        .expect("the sync read Graph's listing");
    assert!(call.path.starts_with(&format!("/v21.0/{WABA}/message_templates?")), "{}", call.path);
    assert_eq!(call.authorization.as_deref(), Some(format!("Bearer {META_ACCESS_TOKEN}").as_str()));

    let all = templates(&t, &admin, channel, &[]).await;
    assert_eq!(all["total_number"], 2, "{all}");
    assert_eq!(names(&all), vec!["order_update", "spring_sale"]);
    let order = &all["data"][0];
    assert_eq!(order["language"], "en_US");
    assert_eq!(order["category"], "UTILITY");
    assert_eq!(order["parameter_format"], "POSITIONAL");
    assert_eq!(order["omnichannel_id"], channel);
    let components: Value = serde_json::from_str(order["components_data"].as_str().unwrap()).unwrap();
    assert_eq!(components[0]["text"], "Hello {{1}}, your order {{2}} ships today.");
    let order_id = order["id"].as_u64().unwrap();

    assert_eq!(names(&templates(&t, &admin, channel, &[("category", "MARKETING")]).await), vec!["spring_sale"]);
    assert_eq!(names(&templates(&t, &admin, channel, &[("search_value", "ORDER")]).await), vec!["order_update"]);
    assert_eq!(names(&templates(&t, &admin, channel, &[("language", "en")]).await), vec!["spring_sale"]);
    let paged = templates(&t, &admin, channel, &[("page", "2"), ("page_size", "1")]).await;
    assert_eq!((paged["total_number"].clone(), names(&paged)), (json!(2), vec!["spring_sale".to_owned()]));

    // The schedule leaves a channel synchronised today alone.
    let run = t.stack.fire_schedule("TemplateSyncFunction", "Hourly").await.unwrap();
    assert_eq!(run, json!({"channels": 1, "synced": 0, "failed": 0}));

    // Meta's set changes; a sync on demand follows it and keeps order_update's id.
    let mut order_update = serde_json::from_str::<Value>(&components.to_string())
        .map(|c| {
            json!({"id": "1667192013751005", "name": "order_update", "language": "en_US", "status": "APPROVED",
               "category": "UTILITY", "parameter_format": "POSITIONAL", "components": c})
        })
        .unwrap();
    order_update["components"][1] = json!({"type": "FOOTER", "text": "Thanks!"});
    t.sandbox.set_whatsapp_templates(vec![
        order_update,
        json!({"id": "9000", "name": "welcome", "language": "en", "status": "APPROVED", "category": "MARKETING",
               "components": [{"type": "BODY", "text": "Welcome aboard!"}]}),
    ]);
    let sync =
        t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": channel})).await;
    assert_eq!(sync["total_number"], 2, "{sync}");
    let all = templates(&t, &admin, channel, &[]).await;
    assert_eq!(names(&all), vec!["order_update", "welcome"]);
    assert_eq!(all["data"][0]["id"].as_u64(), Some(order_id), "a template keeps its id across syncs");

    // Bad requests: missing channel, unknown channel, not a WhatsApp channel; nothing changes.
    let missing = t.get("message_channel/whatsapp_template", &admin, &[]).await;
    assert_ne!(missing["errcode"], 0, "{missing}");
    assert!(missing.to_string().contains("omnichannel_id"), "{missing}");
    let unknown = t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": 999})).await;
    assert_ne!(unknown["errcode"], 0, "{unknown}");
    let (sms, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;
    let not_whatsapp =
        t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": sms})).await;
    assert_ne!(not_whatsapp["errcode"], 0, "{not_whatsapp}");
    assert!(not_whatsapp.to_string().contains("not a WhatsApp channel"), "{not_whatsapp}");
    assert_eq!(templates(&t, &admin, channel, &[]).await["total_number"], 2);

    // An agent's token may not sync.
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let refused =
        t.post("message_channel/sync_whatsapp_template", Some(&agent), &json!({"omnichannel_id": channel})).await;
    assert_ne!(refused["errcode"], 0, "{refused}");
}

#[tokio::test]
async fn an_agent_starts_a_whatsapp_session_with_a_template_and_the_cloud_api_gets_it() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let channel = whatsapp_channel(&t, &admin, ext).await;
    let sync =
        t.post("message_channel/sync_whatsapp_template", Some(&admin), &json!({"omnichannel_id": channel})).await;
    assert_eq!(sync["errcode"], 0, "{sync}");
    let listed = templates(&t, &admin, channel, &[("search_value", "order_update")]).await;
    let template = &listed["data"][0];
    let agent = t.token("1000", AGENT_PASSWORD).await;

    let param = json!({
        "id": template["id"], "template_id": template["template_id"], "name": "order_update",
        "language": {"code": "en_US"}, "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]
    });
    // A variable left out is refused, and nothing is sent.
    let short = json!({
        "id": template["id"], "name": "order_update", "language": {"code": "en_US"},
        "components": [{"type": "BODY", "parameters": [{"type": "text", "text": "Ann"}]}]
    });
    let refused = t
        .post(
            "message/send",
            Some(&agent),
            &json!({"channel": "whatsapp", "sender_type": 1, "sender_no": "1000", "did_number": NUMBER,
                    "to": "+16315550000", "msg_kind": 1, "whatsapp_msg_param": short.to_string()}),
        )
        .await;
    assert_ne!(refused["errcode"], 0, "{refused}");
    assert!(refused.to_string().contains("whatsapp_msg_param"), "{refused}");

    let started = t
        .post(
            "message/send",
            Some(&agent),
            &json!({"channel": "whatsapp", "sender_type": 1, "sender_no": "1000", "did_number": NUMBER,
                    "to": "+16315550000", "msg_kind": 1, "whatsapp_msg_param": param.to_string()}),
        )
        .await;
    assert_eq!(started["errcode"], 0, "{started}");
    let call = wait_provider_call(&t, "/106540352242922/messages").await;
    let sent: Value = serde_json::from_str(&call.body).unwrap();
    assert_eq!(sent["type"], "template", "{sent}");
    assert_eq!(sent["to"], "16315550000");
    assert_eq!(sent["template"]["name"], "order_update");
    assert_eq!(sent["template"]["language"]["code"], "en_US");
    assert_eq!(
        sent["template"]["components"],
        json!([{"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}])
    );

    // The session is the agent's, and its history shows the filled-in text.
    let session = t.wait_for_session(&agent, "1000", NUMBER, "+16315550000").await;
    let history = t.history(&agent, session).await;
    assert!(
        history
            .iter()
            .any(|m| m["msg_body"].as_str().is_some_and(|b| b.contains("Hello Ann, your order 42 ships today."))),
        "{history:?}"
    );
    // A template reply inside the session goes out as a template too.
    let again = t
        .post(
            "message/send",
            Some(&agent),
            &json!({"sender_type": EXTENSION, "sender_no": "1000", "session_id": session, "msg_kind": 1,
                    "whatsapp_msg_param": param.to_string()}),
        )
        .await;
    assert_eq!(again["errcode"], 0, "{again}");
}

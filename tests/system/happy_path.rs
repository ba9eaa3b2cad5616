//! The whole path: a signed inbound message → session → the agent's reply → the provider
//! received it with the right body and key → `sent`, statistics and events.

use std::time::Duration;

use sandbox_provider::InboundSpec;
use serde_json::{Value, json};
use system_tests::{AGENT_PASSWORD, SANDBOX_KEY, TestStack, eventually};

#[tokio::test]
async fn inbound_message_becomes_a_session_the_agent_replies_and_the_provider_receives_it() {
    let t = TestStack::start().await;
    let tap = t.stack.event_tap("EventBus").await.unwrap();
    let admin = t.admin_token().await;
    let agent_id = t.extension(&admin, "1000").await;
    let (channel_id, webhook_url) = t.general_channel(&admin, 5, &[("+14102161183", "extension", agent_id)]).await;
    assert!(webhook_url.starts_with(&format!("{}/api/v1.0/webhook/general/", t.base_url())), "{webhook_url}");

    // the customer writes
    let delivery = t
        .sandbox
        .deliver_inbound(InboundSpec {
            from: "+8618012121222".into(),
            to: "+14102161183".into(),
            text: Some("Where is my order?".into()),
            ..InboundSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(delivery.status, 204, "{}", delivery.response_body);

    // the agent sees the session
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let session = eventually(Duration::from_secs(15), "the session in the agent's list", || async {
        let list = t
            .get("message_session/list", &agent, &[("page_size", "20"), ("user_type", "1"), ("user_no", "1000")])
            .await;
        list["list"].as_array().and_then(|l| l.first()).cloned()
    })
    .await;
    assert_eq!(session["did_number"], "+14102161183");
    assert_eq!(session["to"]["user_no"], "+8618012121222");
    assert_eq!(session["status"], "assigned");
    assert_eq!(session["last_msg"]["preview"], "Where is my order?");
    let session_id = session["id"].as_u64().unwrap();

    // and replies
    let reply = t
        .post(
            "message/send",
            Some(&agent),
            &json!({"sender_type": 1, "sender_no": "1000", "session_id": session_id, "msg_body": "It ships today."}),
        )
        .await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let msg_id = reply["msg_id"].as_u64().unwrap();

    // the provider receives exactly that
    let sent =
        eventually(Duration::from_secs(15), "the provider call", || async { t.sandbox.sent().first().cloned() }).await;
    assert_eq!(sent.authorization.as_deref(), Some(format!("Bearer {SANDBOX_KEY}").as_str()));
    assert_eq!(sent.content_type.as_deref(), Some("application/json"));
    assert_eq!(sent.body, json!({"from": "+14102161183", "to": "+8618012121222", "text": "It ships today."}));

    // the message ends sent
    let record = eventually(Duration::from_secs(15), "the message to be sent", || async {
        let history = t.get("message/get", &agent, &[("id", &session_id.to_string()), ("page_size", "10")]).await;
        history["data"]["records"]
            .as_array()
            .and_then(|r| r.iter().find(|m| m["msg_id"] == msg_id && m["state"] == "sent").cloned())
    })
    .await;
    assert_eq!(record["delivery_status"], 1);
    assert_eq!(record["send_error"], "");

    // the number's statistics moved
    let list =
        t.get("message_channel/list", &admin, &[("page", "1"), ("page_size", "10"), ("time_range", "today")]).await;
    let channel: &Value = &list["list"][0];
    assert_eq!(channel["id"], channel_id);
    assert_eq!(
        (channel["sent"].clone(), channel["delivered"].clone(), channel["failed"].clone(), channel["received"].clone()),
        (json!(1), json!(1), json!(0), json!(1))
    );

    // and the facts were published on the bus, with stable ids
    let events = tap.drain_until(3, Duration::from_secs(15)).await;
    let ids: Vec<String> =
        events.iter().map(|e| e["detail"]["event_id"].as_str().unwrap_or_default().to_owned()).collect();
    assert!(ids.contains(&format!("session.created:{session_id}")), "{ids:?}");
    assert!(ids.contains(&format!("message.sent:{msg_id}")), "{ids:?}");
    assert!(events.iter().all(|e| e["source"] == "switchboard" && e["detail"]["version"] == 1));
}

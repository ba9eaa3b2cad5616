//! The channel's send rate holds across concurrent senders, in every one-second window.

use std::time::Duration;

use domain::pacing::max_calls_in_any_second;
use domain::time::Timestamp;
use sandbox_provider::InboundSpec;
use serde_json::json;
use system_tests::{AGENT_PASSWORD, TestStack, eventually};

#[tokio::test]
async fn thirty_messages_at_five_per_second_never_exceed_five_in_any_second() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    t.general_channel(&admin, 5, &[("+14102161183", "extension", ext)]).await;
    let d = t
        .sandbox
        .deliver_inbound(InboundSpec {
            from: "+8618012121222".into(),
            to: "+14102161183".into(),
            text: Some("hi".into()),
            ..InboundSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(d.status, 204);
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let session_id = eventually(Duration::from_secs(15), "the session", || async {
        let list =
            t.get("message_session/list", &agent, &[("page_size", "5"), ("user_type", "1"), ("user_no", "1000")]).await;
        list["list"][0]["id"].as_u64()
    })
    .await;

    // 30 replies as fast as the API takes them
    let sends = (0..30).map(|i| {
        let agent = agent.clone();
        let t = &t;
        async move {
            let r = t.post("message/send", Some(&agent), &json!({"sender_type": 1, "sender_no": "1000", "session_id": session_id, "msg_body": format!("message {i}")})).await;
            assert_eq!(r["errcode"], 0, "{r}");
        }
    });
    futures::future::join_all(sends).await;

    let calls = eventually(Duration::from_secs(40), "30 provider calls", || async {
        let sent = t.sandbox.sent();
        (sent.len() >= 30).then_some(sent)
    })
    .await;
    assert_eq!(calls.len(), 30, "each message is sent exactly once");
    let times: Vec<Timestamp> = calls.iter().map(|c| Timestamp::from_datetime(c.received_at)).collect();
    let worst = max_calls_in_any_second(&times);
    let span = times.iter().max().unwrap().since(*times.iter().min().unwrap());
    eprintln!("pacing: max {worst} calls in any one-second window; 30 calls over {span:?}");
    assert!(worst <= 5, "{worst} calls in one second at send_rate 5");
    // 29 gaps of 220 ms = 6.38 s at best; allow slack for queue polling
    assert!(span >= Duration::from_millis(6_200), "too fast: {span:?}");
    assert!(span <= Duration::from_secs(12), "too slow: {span:?}");
}

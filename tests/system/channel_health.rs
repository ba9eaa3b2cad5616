//! Channel health through the local stack: the scheduled function checks new channels with the
//! General contract's challenge against the sandbox provider and the admin API shows the result.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use system_tests::TestStack;

#[tokio::test]
async fn new_channels_are_checked_by_the_next_run_and_show_connected_or_unauthorized() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (good, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;
    let created = t
        .post(
            "message_channel/create",
            Some(&admin),
            &json!({
                "name": "Wrong key", "webhook_url_type": "nat", "channel": "general",
                "account_data": [
                    {"k": "api_key", "v": STANDARD.encode("not-the-sandbox-key")},
                    {"k": "api_verify_url", "v": t.sandbox.verify_url()},
                    {"k": "api_send_url", "v": t.sandbox.send_url()}
                ],
                "send_rate": 1,
                "dids": [{"did_number": "+14102161184", "destination_type": "extension", "destination_id": ext.to_string()}]
            }),
        )
        .await;
    assert_eq!(created["errcode"], 0, "{created}");
    let bad = created["id"].as_u64().unwrap();
    let get = |id: u64| {
        let (t, admin) = (&t, &admin);
        async move { t.get("message_channel/get", admin, &[("id", &id.to_string())]).await["data"].clone() }
    };
    assert_eq!(get(good).await["status"], "status_unknown");

    let report = t.stack.fire_schedule("ChannelHealthFunction", "EveryMinute").await.unwrap();
    assert_eq!(report, json!({"due": 2, "checked": 2, "changed": 2, "not_checkable": 0}));
    let connected = get(good).await;
    assert_eq!(connected["status"], "status_connect_succ", "{connected}");
    assert_eq!(connected["health"], "connected");
    assert!(connected["health_checked_at"].as_i64().unwrap() > 0);
    let refused = get(bad).await;
    assert_eq!(refused["status"], "status_connect_fail", "{refused}");
    assert_eq!(refused["reason"], "Unauthorized");
    assert_eq!(refused["health"], "unauthorized");
    let calls = t.sandbox.verify_calls();
    assert_eq!(calls.len(), 2, "one challenge per channel");
    assert!(calls.iter().all(|c| c.challenge.as_deref().is_some_and(|ch| ch.len() == 32)), "{calls:?}");

    // checked channels are not due again for 5 minutes
    let again = t.stack.fire_schedule("ChannelHealthFunction", "EveryMinute").await.unwrap();
    assert_eq!(again["due"], 0, "{again}");
    assert_eq!(t.sandbox.verify_calls().len(), 2);
}

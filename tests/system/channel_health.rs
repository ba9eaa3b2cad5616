//! Channel health through the local stack: a new channel is checked right after it is created
//! (the General contract's challenge against the sandbox provider), the scheduled function checks
//! it again when due, and the admin API shows the result.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use system_tests::TestStack;

#[tokio::test]
async fn new_channels_are_checked_at_creation_and_when_due_and_show_connected_or_unauthorized() {
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
    // Checked right after creation.
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

    // The key is fixed: the new credentials are checked at once.
    let fixed = t
        .post(
            "message_channel/update",
            Some(&admin),
            &json!({"id": bad, "account_data": [{"k": "api_key", "v": STANDARD.encode(system_tests::SANDBOX_KEY)}]}),
        )
        .await;
    assert_eq!(fixed["errcode"], 0, "{fixed}");
    assert_eq!(get(bad).await["health"], "connected");
    assert_eq!(t.sandbox.verify_calls().len(), 3);

    // checked channels are not due again for 5 minutes
    let again = t.stack.fire_schedule("ChannelHealthFunction", "EveryMinute").await.unwrap();
    assert_eq!(again, json!({"due": 0, "checked": 0, "changed": 0, "not_checkable": 0}));
    assert_eq!(t.sandbox.verify_calls().len(), 3);

    // Six minutes later (the stored check time moved back), the schedule checks it again.
    let checked_at = get(good).await["health_checked_at"].as_i64().unwrap();
    t.dynamodb
        .update_item()
        .table_name(t.stack.table_name("DirectoryTable").unwrap())
        .key("pk", AttributeValue::S(format!("CHANNEL#{good}")))
        .key("sk", AttributeValue::S("CHANNEL".into()))
        .update_expression("SET health_checked_at = :old")
        .expression_attribute_values(":old", AttributeValue::N(((checked_at - 360) * 1_000_000).to_string()))
        .send()
        .await
        .unwrap();
    let due = t.stack.fire_schedule("ChannelHealthFunction", "EveryMinute").await.unwrap();
    assert_eq!(due, json!({"due": 1, "checked": 1, "changed": 0, "not_checkable": 0}));
    assert_eq!(t.sandbox.verify_calls().len(), 4);
    assert!(get(good).await["health_checked_at"].as_i64().unwrap() >= checked_at);
}

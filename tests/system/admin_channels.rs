//! `message_channel/update` and `message_channel/delete` through the local stack (DynamoDB's
//! claim moves happen in one transaction).

use serde_json::json;
use system_tests::{AGENT_PASSWORD, TestStack};

#[tokio::test]
async fn a_channel_moves_its_number_and_webhook_and_an_unused_channel_is_deleted_with_its_claims() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (id, old_webhook) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;
    let shown = t.get("message_channel/get", &admin, &[("id", &id.to_string())]).await["data"].clone();

    let reply = t
        .post(
            "message_channel/update",
            Some(&admin),
            &json!({"id": id, "name": "Moved", "account_data": shown["account_data"], "regenerate_webhook": 1,
                    "dids": [{"did_number": "+14102161199", "destination_type": "extension", "destination_id": ext.to_string()}]}),
        )
        .await;
    assert_eq!(reply["errcode"], 0, "{reply}");
    let detail = t.get("message_channel/get", &admin, &[("id", &id.to_string())]).await["data"].clone();
    assert_eq!(detail["name"], "Moved");
    assert_eq!(detail["dids"][0]["did_number"], "+14102161199");
    let new_webhook = detail["webhook_url"].as_str().unwrap().to_owned();
    assert_ne!(new_webhook, old_webhook);

    // the old URL is dead; the new one routes the new number (same credentials: the masks kept them)
    let old = t.http.post(&old_webhook).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert_eq!(old.status().as_u16(), 404);
    t.sandbox.configure_webhook(new_webhook, Some(system_tests::WEBHOOK_SECRET.into()));
    t.deliver("+8618012121222", "+14102161199", "on the new number").await;
    let agent = t.token("1000", AGENT_PASSWORD).await;
    t.wait_for_session(&agent, "1000", "+14102161199", "+8618012121222").await;

    // the old number is free for another channel; that channel, unused, can be deleted
    let (spare, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;
    let in_use = t.get("message_channel/delete", &admin, &[("id", &id.to_string())]).await;
    assert_eq!(in_use["errcode"], 70084, "open sessions: {in_use}");
    let deleted = t.get("message_channel/delete", &admin, &[("id", &spare.to_string())]).await;
    assert_eq!(deleted["errcode"], 0, "{deleted}");
    assert_eq!(t.get("message_channel/get", &admin, &[("id", &spare.to_string())]).await["errcode"], 60001);
    let (_, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", ext)]).await;
}

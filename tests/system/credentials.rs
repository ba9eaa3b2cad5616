//! Channel credentials at rest: sealed with KMS envelope encryption in the Directory table,
//! opened by every function that uses them, bound to their channel, and readable from items
//! written before encryption (which the next write seals).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use system_tests::{AGENT_PASSWORD, SANDBOX_KEY, TestStack, WEBHOOK_SECRET};

type Item = HashMap<String, AttributeValue>;

async fn channel_item(t: &TestStack, id: u64) -> Item {
    let table = t.stack.table_name("DirectoryTable").unwrap();
    t.dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("CHANNEL#{id}")))
        .key("sk", AttributeValue::S("CHANNEL".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

async fn put_item(t: &TestStack, item: Item) {
    let table = t.stack.table_name("DirectoryTable").unwrap();
    t.dynamodb.put_item().table_name(table).set_item(Some(item)).send().await.unwrap();
}

fn sealed_suite(item: &Item) -> Option<String> {
    let sealed = item.get("sealed_credentials")?.as_m().ok()?.get("sealed")?.as_m().ok()?;
    sealed.get("suite")?.as_s().ok().cloned()
}

#[tokio::test]
async fn credentials_are_sealed_at_rest_opened_where_used_and_bound_to_their_channel() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ext = t.extension(&admin, "1000").await;
    let (a, _) = t.general_channel(&admin, 5, &[("+14102161183", "extension", ext)]).await;

    // At rest: no plain credentials, no secret in any form, an envelope naming its cipher suite.
    let item = channel_item(&t, a).await;
    let dump = format!("{item:?}");
    for secret in [SANDBOX_KEY, WEBHOOK_SECRET] {
        assert!(!dump.contains(secret), "plaintext secret stored: {dump}");
        assert!(!dump.contains(&STANDARD.encode(secret)), "base64 secret stored: {dump}");
    }
    assert!(!item.contains_key("credentials"), "{dump}");
    assert_eq!(sealed_suite(&item).as_deref(), Some("kms-aes256gcm-v1"), "{dump}");

    // In use: the ingest verifies the provider's signature with the sealed webhook secret, the
    // router reads the channel, the sender authenticates to the provider with the sealed key.
    t.deliver("+8618012121222", "+14102161183", "hello").await;
    let agent = t.token("1000", AGENT_PASSWORD).await;
    let session = t.wait_for_session(&agent, "1000", "+14102161183", "+8618012121222").await;
    let sent = t.send_text(&agent, 1, "1000", session, "hi, how can I help?").await;
    assert_eq!(sent["errcode"], 0, "{sent}");
    t.wait_sent("hi, how can I help?").await;

    // A sealed blob copied onto another channel does not open there (it is bound to channel a).
    let (b, _) = t.general_channel(&admin, 5, &[("+14102161184", "extension", ext)]).await;
    let original_b = channel_item(&t, b).await;
    let mut forged = original_b.clone();
    forged.insert("sealed_credentials".into(), item["sealed_credentials"].clone());
    put_item(&t, forged).await;
    let forged_read = t
        .http
        .get(format!("{}/openapi/v1.0/message_channel/get", t.base_url()))
        .query(&[("access_token", admin.as_str()), ("id", &b.to_string())])
        .send()
        .await
        .unwrap();
    let status = forged_read.status();
    let body = forged_read.text().await.unwrap();
    assert!(!status.is_success() || !body.contains(r#""errcode":0"#), "a foreign blob opened: {status} {body}");
    assert!(!body.contains(SANDBOX_KEY) && !body.contains(WEBHOOK_SECRET), "{body}");

    // An item written before encryption (plain values) still reads, and the next write seals it.
    let mut legacy = original_b.clone();
    legacy.remove("sealed_credentials");
    let values = HashMap::from([
        ("api_key".to_owned(), AttributeValue::S(SANDBOX_KEY.into())),
        ("api_secret".to_owned(), AttributeValue::S(WEBHOOK_SECRET.into())),
        ("api_verify_url".to_owned(), AttributeValue::S(t.sandbox.verify_url())),
        ("api_send_url".to_owned(), AttributeValue::S(t.sandbox.send_url())),
    ]);
    legacy.insert(
        "credentials".into(),
        AttributeValue::M(HashMap::from([
            ("provider".to_owned(), AttributeValue::S("general".into())),
            ("values".to_owned(), AttributeValue::M(values)),
        ])),
    );
    put_item(&t, legacy).await;
    let read = t.get("message_channel/get", &admin, &[("id", &b.to_string())]).await;
    assert_eq!(read["errcode"], 0, "{read}");
    assert!(!read.to_string().contains(SANDBOX_KEY), "{read}");
    let updated = t.post("message_channel/update", Some(&admin), &json!({"id": b, "name": "Renamed"})).await;
    assert_eq!(updated["errcode"], 0, "{updated}");
    let resealed = channel_item(&t, b).await;
    assert!(!resealed.contains_key("credentials"), "{resealed:?}");
    assert_eq!(sealed_suite(&resealed).as_deref(), Some("kms-aes256gcm-v1"));
    assert!(!format!("{resealed:?}").contains(SANDBOX_KEY));
    let read = t.get("message_channel/get", &admin, &[("id", &b.to_string())]).await;
    assert_eq!(read["data"]["name"], "Renamed", "{read}");
}

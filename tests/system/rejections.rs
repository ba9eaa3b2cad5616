//! Every refused webhook: the right status, and nothing stored anywhere.

use sandbox_provider::InboundSpec;
use system_tests::TestStack;

fn spec() -> InboundSpec {
    InboundSpec {
        from: "+8618012121222".into(),
        to: "+14102161183".into(),
        text: Some("hello".into()),
        ..InboundSpec::default()
    }
}

/// Posts `body` to `url` with an optional signature header; returns the status.
async fn post(t: &TestStack, url: &str, body: &[u8], signature: Option<&str>) -> u16 {
    let mut req = t.http.post(url).header("content-type", "application/json").body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("X-Signature-256", s);
    }
    req.send().await.unwrap().status().as_u16()
}

async fn nothing_stored(t: &TestStack) {
    assert_eq!(t.items_with_prefix("ConversationTable", "INBOUND#").await, 0, "no inbound record");
    assert_eq!(t.items_with_prefix("ConversationTable", "SESSION#").await, 0, "no session");
    assert_eq!(t.items_with_prefix("ConversationTable", "STATS#").await, 0, "no statistics");
}

#[tokio::test]
async fn bad_missing_or_uppercase_signatures_are_400_and_store_nothing() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let agent = t.extension(&admin, "1000").await;
    t.general_channel(&admin, 1, &[("+14102161183", "extension", agent)]).await;

    let wrong = t
        .sandbox
        .deliver_inbound(InboundSpec { signature_override: Some(format!("sha256={}", "0".repeat(64))), ..spec() })
        .await
        .unwrap();
    assert_eq!(wrong.status, 400);
    let missing = t.sandbox.deliver_inbound(InboundSpec { omit_signature: true, ..spec() }).await.unwrap();
    assert_eq!(missing.status, 400);
    let good = t.sandbox.deliver_inbound(InboundSpec { omit_signature: true, ..spec() }).await.unwrap();
    let real = sandbox_provider::inbound::signature(system_tests::WEBHOOK_SECRET, &good.body);
    let upper = format!("sha256={}", real.trim_start_matches("sha256=").to_uppercase());
    let upper_case =
        t.sandbox.deliver_inbound(InboundSpec { signature_override: Some(upper), ..spec() }).await.unwrap();
    assert_eq!(upper_case.status, 400);
    nothing_stored(&t).await;
}

#[tokio::test]
async fn unknown_token_malformed_json_oversized_body_and_unknown_number_are_refused() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let agent = t.extension(&admin, "1000").await;
    let (_, webhook) = t.general_channel(&admin, 1, &[("+14102161183", "extension", agent)]).await;
    let secret = system_tests::WEBHOOK_SECRET;

    // unknown token: a well-formed URL no channel has
    let unknown = format!("{}/api/v1.0/webhook/general/{}", t.base_url(), "0".repeat(32));
    let body = br#"{"data":{}}"#;
    assert_eq!(post(&t, &unknown, body, Some(&sandbox_provider::inbound::signature(secret, body))).await, 404);
    // unknown provider slug
    let other_provider = webhook.replace("/general/", "/pigeon/");
    assert_eq!(post(&t, &other_provider, body, None).await, 404);

    // malformed JSON, correctly signed
    let broken = br#"{"data": {"event_type": "message.received""#;
    assert_eq!(post(&t, &webhook, broken, Some(&sandbox_provider::inbound::signature(secret, broken))).await, 400);

    // over the documented limit (MaxWebhookBodyBytes, 256 KiB by default)
    let huge = format!(r#"{{"pad":"{}"}}"#, "x".repeat(300 * 1024));
    assert_eq!(
        post(&t, &webhook, huge.as_bytes(), Some(&sandbox_provider::inbound::signature(secret, huge.as_bytes()))).await,
        413
    );

    // a number the channel does not have
    let elsewhere = t.sandbox.deliver_inbound(InboundSpec { to: "+14105550000".into(), ..spec() }).await.unwrap();
    assert_eq!(elsewhere.status, 404);

    // valid JSON that breaks the contract
    let no_text = t.sandbox.deliver_inbound(InboundSpec { text: None, ..spec() }).await.unwrap();
    assert_eq!(no_text.status, 400, "{}", no_text.response_body);

    nothing_stored(&t).await;
}

#[tokio::test]
async fn a_repeated_delivery_is_acknowledged_and_changes_nothing() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let agent_id = t.extension(&admin, "1000").await;
    let (channel, _) = t.general_channel(&admin, 1, &[("+14102161183", "extension", agent_id)]).await;
    let first = t.sandbox.deliver_inbound(InboundSpec { payload_id: Some("dup-1".into()), ..spec() }).await.unwrap();
    assert_eq!(first.status, 204);
    let agent = t.token("1000", system_tests::AGENT_PASSWORD).await;
    let session_id = system_tests::eventually(std::time::Duration::from_secs(15), "the session", || async {
        let list = t
            .get("message_session/list", &agent, &[("page_size", "20"), ("user_type", "1"), ("user_no", "1000")])
            .await;
        list["list"][0]["id"].as_u64()
    })
    .await;
    for _ in 0..3 {
        let again =
            t.sandbox.deliver_inbound(InboundSpec { payload_id: Some("dup-1".into()), ..spec() }).await.unwrap();
        assert_eq!(again.status, 204);
    }
    // give the router time to (not) do anything
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let history = t.get("message/get", &agent, &[("id", &session_id.to_string()), ("page_size", "50")]).await;
    assert_eq!(history["data"]["records"].as_array().unwrap().len(), 1);
    assert_eq!(t.items_with_prefix("ConversationTable", "INBOUND#").await, 1);
    let detail = t.get("message_channel/get", &admin, &[("id", &channel.to_string())]).await;
    assert_eq!(detail["data"]["statistics"][0]["received"], 1);
}

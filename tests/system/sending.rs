//! Provider answers mapped to the seed's prompts and codes; transient failures retried with
//! backoff; every message ends `sent` or `failed` with a reason, and the statistics agree.

use std::time::Duration;

use sandbox_provider::ScriptedResponse;
use serde_json::{Value, json};
use system_tests::{Conversation, eventually};

/// Waits for a message to reach `sent` or `failed`.
async fn final_record(c: &Conversation, msg_id: u64, timeout: Duration) -> Value {
    eventually(timeout, "a final delivery state", || async {
        let h = c.t.get("message/get", &c.agent, &[("id", &c.session_id.to_string()), ("page_size", "100")]).await;
        h["data"]["records"].as_array().and_then(|r| {
            r.iter().find(|m| m["msg_id"] == msg_id && (m["state"] == "sent" || m["state"] == "failed")).cloned()
        })
    })
    .await
}

fn error(status: u16, code: &str) -> ScriptedResponse {
    ScriptedResponse::Error {
        status,
        code: code.into(),
        title: "Provider error".into(),
        detail: format!("code {code}"),
    }
}

#[tokio::test]
async fn provider_failures_end_failed_with_the_seed_prompt_and_code() {
    let c = Conversation::start(10).await;
    let cases: Vec<(ScriptedResponse, &str, &str)> = vec![
        (ScriptedResponse::Status { status: 401, body: None, retry_after: None }, "auth_fail", "Authentication Failed"),
        (
            ScriptedResponse::Status { status: 403, body: None, retry_after: None },
            "service_unavailable",
            "Recipient Platform Service Unavailable",
        ),
        (
            ScriptedResponse::Status { status: 404, body: None, retry_after: None },
            "resource_not_found",
            "Failed to send",
        ),
        (ScriptedResponse::AcceptWithoutId, "send_fail", "Failed to send"),
        (error(400, "10001"), "invalid_phone_number", "Invalid Phone Number"),
        (error(400, "10002"), "invalid_param", "Invalid Parameter"),
        (
            error(400, "10003"),
            "unsupport_media_type",
            "This type of message is not supported due to the restriction of the recipient platform.",
        ),
        (error(401, "10004"), "auth_fail", "Authentication Failed"),
        (error(403, "10005"), "auth_fail", "Authentication Failed"),
        (error(400, "10008"), "exceeds_size_limit", "The file size exceeds the limit of the recipient's platform."),
    ];
    let expected_failures = cases.len();
    for (response, send_error, prompt) in cases {
        c.t.sandbox.script_send_responses([response]);
        let msg = c.reply("please").await;
        let record = final_record(&c, msg, Duration::from_secs(15)).await;
        assert_eq!(record["delivery_status"], 2, "{record}");
        assert_eq!(record["send_error"], send_error, "{record}");
        assert_eq!(record["send_error_prompt"], prompt, "{record}");
        assert_eq!(record["attempts"], 1, "permanent failures are not retried: {record}");
    }
    assert_eq!(c.t.sandbox.sent().len(), expected_failures, "one provider call per message");
    let detail = c.t.get("message_channel/get", &c.admin, &[("id", &c.channel_id.to_string())]).await;
    let stats = &detail["data"]["statistics"][0];
    assert_eq!(
        (stats["total"].clone(), stats["sent"].clone(), stats["failed"].clone()),
        (json!(expected_failures), json!(0), json!(expected_failures))
    );
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff_until_sent_or_out_of_attempts() {
    let c = Conversation::start(10).await;
    // 500, then a rate limit (10006), then accepted: sent on the third attempt
    c.t.sandbox.script_send_responses([
        ScriptedResponse::Status { status: 500, body: None, retry_after: None },
        error(400, "10006"),
        ScriptedResponse::Accept,
    ]);
    let msg = c.reply("eventually").await;
    let record = final_record(&c, msg, Duration::from_secs(30)).await;
    assert_eq!(record["state"], "sent", "{record}");
    assert_eq!(record["attempts"], 3);
    let calls = c.t.sandbox.sent();
    assert_eq!(calls.len(), 3);
    let first_gap = calls[1].received_at - calls[0].received_at;
    assert!(first_gap >= time::Duration::milliseconds(900), "backoff before the retry: {first_gap}");

    // the sandbox drops the connection three times: out of attempts (SenderMaxAttempts=3)
    c.t.sandbox.script_send_responses([ScriptedResponse::Drop, ScriptedResponse::Drop, ScriptedResponse::Drop]);
    let msg = c.reply("never").await;
    let record = final_record(&c, msg, Duration::from_secs(30)).await;
    assert_eq!(record["state"], "failed");
    assert_eq!(record["send_error"], "request_fail");
    assert_eq!(record["send_error_prompt"], "Failed to send");
    assert_eq!(record["attempts"], 3);
    assert_eq!(c.t.sandbox.sent().len(), 6);
}

#[tokio::test]
async fn a_redelivered_job_never_calls_the_provider_twice() {
    let c = Conversation::start(10).await;
    let msg = c.reply("once").await;
    final_record(&c, msg, Duration::from_secs(15)).await;
    // put the same job on the queue again, as SQS may
    let body = json!({"session_id": c.session_id, "msg_id": msg, "channel_id": c.channel_id}).to_string();
    for _ in 0..3 {
        c.t.sqs
            .send_message()
            .queue_url(c.t.stack.queue_url("OutboundQueue").unwrap())
            .message_body(&body)
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(c.t.sandbox.sent().len(), 1);
}

//! The sandbox provider through real HTTP: the Yeastar General SMS API contract, scripted
//! answers, dropped connections, recorded calls, signed inbound webhooks and control endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::HeaderMap;
use sandbox_provider::{InboundSpec, Sandbox, SandboxConfig, SandboxError, ScriptedResponse};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const KEY: &str = "test-key";

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        api_keys: vec![KEY.to_owned(), "second-key".to_owned()],
    })
    .await
    .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn send(sandbox: &Sandbox, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut request =
        client().post(sandbox.send_url()).header("content-type", "application/json").body(body.to_owned());
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    request.send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let error = &body["errors"][0];
    assert!(error["title"].is_string() && error["detail"].is_string(), "{body}");
    (status, error["code"].as_str().unwrap().to_owned())
}

/// HMAC-SHA256 written out from RFC 2104, independent of the `hmac` crate the sandbox uses.
fn reference_hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block_key = [0u8; BLOCK];
    if key.len() > BLOCK {
        block_key[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block_key[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block_key.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block_key.map(|b| b ^ 0x5c));
    outer.update(inner);
    outer.finalize().into()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(HeaderMap, Bytes)>>>);

/// A webhook receiver answering `202 thanks`.
async fn receiver() -> (String, Captured) {
    let captured = Captured::default();
    let c = captured.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let c = c.clone();
            async move {
                c.0.lock().unwrap().push((headers, body));
                (axum::http::StatusCode::ACCEPTED, "thanks")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), captured)
}

#[test]
fn when_checking_the_reference_hmac_should_match_rfc_4231() {
    // RFC 4231 test case 2.
    let mac = reference_hmac_sha256(b"Jefe", b"what do ya want for nothing?");
    assert_eq!(hex::encode(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

#[tokio::test]
async fn when_verify_has_a_valid_key_should_echo_the_challenge_as_text() {
    let sandbox = sandbox().await;
    let response = client()
        .get(format!("{}?challenge=abc123", sandbox.verify_url()))
        .header("authorization", format!("Bearer {KEY}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "abc123");
    let calls = sandbox.verify_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].challenge.as_deref(), Some("abc123"));
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(calls[0].status, 200);
}

#[tokio::test]
async fn when_verify_has_a_wrong_or_missing_key_should_answer_401_with_code_10004() {
    let sandbox = sandbox().await;
    let wrong = client()
        .get(format!("{}?challenge=x", sandbox.verify_url()))
        .header("authorization", "Bearer nope")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong).await, (401, "10004".to_owned()));
    let missing = client().get(format!("{}?challenge=x", sandbox.verify_url())).send().await.unwrap();
    let status = missing.status();
    let body: Value = missing.json().await.unwrap();
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["code"], "10004");
    assert_eq!(body["errors"][0]["title"], "Authentication failed");
    assert_eq!(sandbox.verify_calls().iter().map(|c| c.status).collect::<Vec<_>>(), vec![401, 401]);
}

#[tokio::test]
async fn when_a_valid_message_is_sent_should_queue_it_and_record_it() {
    let sandbox = sandbox().await;
    let body = r#"{"from":"+15550001111","to":"+447700900123","text":"hello","media_urls":["https://x.test/a.png"]}"#;
    let response = send(&sandbox, Some(KEY), body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    let data = &answer["data"];
    let id = data["id"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(data["from"], json!({"phone_number": "+15550001111", "carrier": "Sandbox", "line_type": "VoIP"}));
    assert_eq!(data["to"], json!([{"phone_number": "+447700900123", "status": "queued"}]));
    assert_eq!(data["text"], "hello");
    assert_eq!(data["media"], json!([{"url": "https://x.test/a.png"}]));

    // Media only and text only are both fine; ids are fresh.
    let media_only = send(
        &sandbox,
        Some("second-key"),
        r#"{"from":"+15550001111","to":"+15550002222","media_urls":["https://x.test/b.jpg"]}"#,
    )
    .await;
    assert_eq!(media_only.status(), 200);
    let text_only = send(&sandbox, Some(KEY), r#"{"from":"+15550001111","to":"+15550002222","text":"t"}"#).await;
    let text_only: Value = text_only.json().await.unwrap();
    assert_eq!(text_only["data"]["media"], json!([]));
    assert_ne!(text_only["data"]["id"], json!(id));

    let sent = sandbox.sent();
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer test-key"));
    assert_eq!(sent[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(sent[0].raw_body, body.as_bytes());
    assert_eq!(sent[0].body["text"], "hello");
    assert_eq!(sent[0].status, 200);
    assert_eq!(sent[0].message_id.as_deref(), Some(id));
    assert!(sent[0].received_at <= sent[1].received_at);
}

#[tokio::test]
async fn when_the_key_is_wrong_should_answer_401_and_still_record_the_call() {
    let sandbox = sandbox().await;
    let body = r#"{"from":"+15550001111","to":"+15550002222","text":"x"}"#;
    assert_eq!(error_code(send(&sandbox, Some("bad"), body).await).await, (401, "10004".to_owned()));
    assert_eq!(error_code(send(&sandbox, None, body).await).await, (401, "10004".to_owned()));
    let sent = sandbox.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].status, 401);
    assert_eq!(sent[0].message_id, None);
    assert_eq!(sent[1].authorization, None);
}

#[tokio::test]
async fn when_the_body_is_not_json_or_has_no_content_should_answer_400_with_code_10002() {
    let sandbox = sandbox().await;
    for body in [
        "not json",
        "[1,2]",
        r#"{"from":"+15550001111","to":"+15550002222"}"#,
        r#"{"from":"+15550001111","to":"+15550002222","text":""}"#,
        r#"{"from":"+15550001111","to":"+15550002222","media_urls":[]}"#,
        r#"{"from":"+15550001111","to":"+15550002222","media_urls":"https://x"}"#,
    ] {
        assert_eq!(error_code(send(&sandbox, Some(KEY), body).await).await, (400, "10002".to_owned()), "{body}");
    }
    let sent = sandbox.sent();
    assert_eq!(sent[0].body, Value::Null, "non-JSON bodies are recorded as Null");
    assert_eq!(sent[0].raw_body, b"not json");
    assert!(sent.iter().all(|s| s.status == 400));
}

#[tokio::test]
async fn when_a_number_is_not_e164_should_answer_400_with_code_10001() {
    let sandbox = sandbox().await;
    for (from, to) in [
        ("15550001111", "+15550002222"),
        ("+15550001111", "+05550002222"),
        ("+1555", "+15550002222"),
        ("+15550001111", "+1234567890123456"),
        ("+1555000111a", "+15550002222"),
        ("+15550001111", ""),
    ] {
        let body = json!({"from": from, "to": to, "text": "x"}).to_string();
        assert_eq!(
            error_code(send(&sandbox, Some(KEY), &body).await).await,
            (400, "10001".to_owned()),
            "{from} -> {to}"
        );
    }
    // The boundaries: 8 and 15 digits are fine.
    let body = json!({"from": "+12345678", "to": "+123456789012345", "text": "x"}).to_string();
    assert_eq!(send(&sandbox, Some(KEY), &body).await.status(), 200);
}

#[tokio::test]
async fn when_responses_are_scripted_should_answer_with_them_in_order_then_normally() {
    let sandbox = sandbox().await;
    sandbox.script_send_responses([
        ScriptedResponse::Status { status: 429, body: Some("slow down".to_owned()), retry_after: Some(7) },
        ScriptedResponse::Error {
            status: 503,
            code: "20001".to_owned(),
            title: "Unavailable".to_owned(),
            detail: "try later".to_owned(),
        },
        ScriptedResponse::AcceptWithoutId,
        ScriptedResponse::Status { status: 500, body: None, retry_after: None },
        ScriptedResponse::Accept,
    ]);
    // Even an invalid request gets the scripted answer.
    let invalid = "{}";
    let valid = r#"{"from":"+15550001111","to":"+15550002222","text":"x"}"#;

    let r = send(&sandbox, Some(KEY), invalid).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert_eq!(r.text().await.unwrap(), "slow down");

    let r = send(&sandbox, Some(KEY), valid).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"errors": [{"code": "20001", "title": "Unavailable", "detail": "try later"}]})
    );

    let r = send(&sandbox, Some(KEY), valid).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"data": {}}));

    let r = send(&sandbox, Some(KEY), valid).await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap(), "");

    let r = send(&sandbox, Some("bad-key"), valid).await;
    assert_eq!(r.status(), 200, "scripted Accept overrides validation");
    let accepted: Value = r.json().await.unwrap();
    assert!(accepted["data"]["id"].is_string());

    // Script exhausted: normal behaviour again.
    assert_eq!(send(&sandbox, Some("bad-key"), valid).await.status(), 401);
    let statuses: Vec<u16> = sandbox.sent().iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![429, 503, 200, 500, 200, 401]);
    let ids: Vec<bool> = sandbox.sent().iter().map(|s| s.message_id.is_some()).collect();
    assert_eq!(ids, vec![false, false, false, false, true, false]);
}

#[tokio::test]
async fn when_drop_is_scripted_should_close_the_connection_without_answering() {
    let sandbox = sandbox().await;
    sandbox.script_send_responses([ScriptedResponse::Drop]);
    let body = r#"{"from":"+15550001111","to":"+15550002222","text":"x"}"#;
    let dropped = client()
        .post(sandbox.send_url())
        .header("authorization", format!("Bearer {KEY}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    let err = dropped.expect_err("a dropped connection gives no response");
    assert!(!err.is_timeout(), "{err}");
    // The next call is answered normally.
    assert_eq!(send(&sandbox, Some(KEY), body).await.status(), 200);
    let statuses: Vec<u16> = sandbox.sent().iter().map(|s| s.status).collect();
    assert_eq!(statuses, vec![0, 200]);
}

#[tokio::test]
async fn when_reset_should_forget_calls_and_script() {
    let sandbox = sandbox().await;
    sandbox.script_send_responses([ScriptedResponse::Drop]);
    let _ = client().get(format!("{}?challenge=a", sandbox.verify_url())).send().await.unwrap();
    let body = r#"{"from":"+15550001111","to":"+15550002222","text":"x"}"#;
    sandbox.reset();
    assert!(sandbox.verify_calls().is_empty());
    assert_eq!(send(&sandbox, Some(KEY), body).await.status(), 200);
    sandbox.reset();
    assert!(sandbox.sent().is_empty());
}

#[tokio::test]
async fn when_delivering_inbound_should_post_the_signed_envelope_to_the_webhook() {
    let sandbox = sandbox().await;
    let (url, captured) = receiver().await;
    let secret = "webhook-secret";
    sandbox.configure_webhook(url.clone(), Some(secret.to_owned()));
    let delivery = sandbox
        .deliver_inbound(InboundSpec {
            from: "+15550001111".to_owned(),
            to: "+15550002222".to_owned(),
            text: Some("hi there".to_owned()),
            media_urls: vec!["https://x.test/p.png".to_owned()],
            payload_id: Some("payload-1".to_owned()),
            ..InboundSpec::default()
        })
        .await
        .unwrap();
    assert_eq!(delivery.status, 202);
    assert_eq!(delivery.response_body, "thanks");
    assert_eq!(delivery.payload_id, "payload-1");

    let requests = captured.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(body.as_ref(), delivery.body.as_slice(), "the exact bytes are reported");
    assert_eq!(headers["content-type"], "application/json");
    let expected = format!("sha256={}", hex::encode(reference_hmac_sha256(secret.as_bytes(), body)));
    assert_eq!(headers["x-signature-256"].to_str().unwrap(), expected);
    assert_eq!(delivery.signature.as_deref(), Some(expected.as_str()));

    let document: Value = serde_json::from_slice(body).unwrap();
    let data = &document["data"];
    assert_eq!(data["event_type"], "message.received");
    assert_eq!(data["record_type"], "event");
    assert!(uuid::Uuid::parse_str(data["id"].as_str().unwrap()).is_ok());
    assert!(
        time::OffsetDateTime::parse(
            data["occurred_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .is_ok()
    );
    let payload = &data["payload"];
    assert_eq!(payload["id"], "payload-1");
    assert_eq!(payload["direction"], "inbound");
    assert_eq!(
        payload["from"],
        json!({"phone_number": "+15550001111", "carrier": "Sandbox", "line_type": "long_code"})
    );
    assert_eq!(payload["to"], json!([{"phone_number": "+15550002222", "status": "webhook_delivered"}]));
    assert_eq!(payload["text"], "hi there");
    assert_eq!(
        payload["media"],
        json!([{"url": "https://x.test/p.png", "content_type": null, "sha256": null, "size": null}])
    );
    let received_at = payload["received_at"].as_str().unwrap();
    assert_eq!(received_at.len(), "2024-01-02T03:04:05.678+00:00".len(), "{received_at}");
    assert!(received_at.ends_with("+00:00") && received_at.as_bytes()[19] == b'.');
    assert_eq!(payload["record_type"], "message");
    assert_eq!(payload["type"], "SMS");
    assert_eq!(document["meta"], json!({"attempt": 1, "delivered_to": url}));
}

#[tokio::test]
async fn when_delivering_inbound_variants_should_shape_and_sign_as_asked() {
    let sandbox = sandbox().await;
    let (url, captured) = receiver().await;
    let base = InboundSpec { from: "+15550001111".to_owned(), to: "+15550002222".to_owned(), ..InboundSpec::default() };

    // No secret: no signature; no text and no media: both omitted; `to` as an object.
    sandbox.configure_webhook(url.clone(), None);
    let unsigned = sandbox.deliver_inbound(InboundSpec { to_as_object: true, ..base.clone() }).await.unwrap();
    assert!(uuid::Uuid::parse_str(&unsigned.payload_id).is_ok());
    assert_eq!(unsigned.signature, None);

    sandbox.configure_webhook(url.clone(), Some("s".to_owned()));
    sandbox
        .deliver_inbound(InboundSpec {
            text: Some("t".to_owned()),
            signature_override: Some("sha256=forged".to_owned()),
            ..base.clone()
        })
        .await
        .unwrap();
    sandbox
        .deliver_inbound(InboundSpec { text: Some("t".to_owned()), omit_signature: true, ..base.clone() })
        .await
        .unwrap();

    let requests = captured.0.lock().unwrap().clone();
    assert_eq!(requests.len(), 3);
    let first: Value = serde_json::from_slice(&requests[0].1).unwrap();
    let payload = &first["data"]["payload"];
    assert_eq!(payload["to"], json!({"phone_number": "+15550002222"}));
    assert!(payload.get("text").is_none(), "{payload}");
    assert!(payload.get("media").is_none(), "{payload}");
    assert!(!requests[0].0.contains_key("x-signature-256"));
    assert_eq!(requests[1].0["x-signature-256"], "sha256=forged");
    assert!(!requests[2].0.contains_key("x-signature-256"));
}

#[tokio::test]
async fn when_no_webhook_is_configured_should_fail_delivery() {
    let sandbox = sandbox().await;
    let err = sandbox.deliver_inbound(InboundSpec::default()).await.unwrap_err();
    assert!(matches!(err, SandboxError::NoWebhook), "{err}");
}

#[tokio::test]
async fn when_using_the_control_endpoints_should_drive_the_sandbox_over_http() {
    let sandbox = sandbox().await;
    let (url, captured) = receiver().await;
    let base = sandbox.base_url();
    let http = client();

    let r = http
        .post(format!("{base}/_sandbox/inbound"))
        .json(&json!({"from": "+15550001111", "to": "+15550002222", "text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "no webhook yet");

    let r =
        http.post(format!("{base}/_sandbox/webhook")).json(&json!({"url": url, "secret": "k"})).send().await.unwrap();
    assert!(r.status().is_success());
    let r = http
        .post(format!("{base}/_sandbox/inbound"))
        .json(&json!({"from": "+15550001111", "to": "+15550002222", "text": "via http", "media_urls": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let result: Value = r.json().await.unwrap();
    assert_eq!(result["status"], 202);
    assert_eq!(result["response_body"], "thanks");
    {
        let requests = captured.0.lock().unwrap();
        assert_eq!(requests.len(), 1);
        let sent: Value = serde_json::from_slice(&requests[0].1).unwrap();
        assert_eq!(sent["data"]["payload"]["text"], "via http");
        assert_eq!(result["payload_id"], sent["data"]["payload"]["id"]);
        let expected = format!("sha256={}", hex::encode(reference_hmac_sha256(b"k", &requests[0].1)));
        assert_eq!(requests[0].0["x-signature-256"].to_str().unwrap(), expected);
    }

    let r = http
        .post(format!("{base}/_sandbox/script"))
        .json(&json!([{"type": "status", "status": 502}, {"type": "drop"}]))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let valid = r#"{"from":"+15550001111","to":"+15550002222","text":"x"}"#;
    assert_eq!(send(&sandbox, Some(KEY), valid).await.status(), 502);
    assert!(http.post(sandbox.send_url()).body(valid).send().await.is_err(), "scripted drop over HTTP");

    let sent: Value = http.get(format!("{base}/_sandbox/sent")).send().await.unwrap().json().await.unwrap();
    let sent = sent.as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0]["status"], 502);
    assert_eq!(sent[0]["raw_body"], valid);
    assert_eq!(sent[0]["body"]["text"], "x");
    assert!(sent[0]["received_at"].is_string());
    assert_eq!(sent[1]["status"], 0);

    let r = http.post(format!("{base}/_sandbox/reset")).send().await.unwrap();
    assert!(r.status().is_success());
    let sent: Value = http.get(format!("{base}/_sandbox/sent")).send().await.unwrap().json().await.unwrap();
    assert_eq!(sent, json!([]));
}

#[tokio::test]
async fn when_shut_down_should_stop_answering() {
    let sandbox = sandbox().await;
    let url = sandbox.verify_url();
    assert!(client().get(&url).send().await.is_ok());
    sandbox.shutdown().await;
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(client().get(&url).send().await.is_err());
}

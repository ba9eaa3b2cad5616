//! `make dev`'s demo: starts the sandbox General-SMS provider, creates (or finds, on a restarted
//! emulator) a demo agent and a General channel on the sandbox through the real HTTP API, points
//! the sandbox's webhook at the channel, prints a copy-paste walk-through, and prints every
//! domain event as it is published.

use std::io::Write;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use local_stack::LocalStack;
use sandbox_provider::{Sandbox, SandboxConfig};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::dev::{DevError, DevSettings};

/// The demo agent's extension number and password.
const AGENT_NUMBER: &str = "1000";
const AGENT_PASSWORD: &str = "Agent1234";
/// The demo business number (a fictional NANP number).
const BUSINESS_NUMBER: &str = "+15550100001";
/// The demo customer.
const CUSTOMER_NUMBER: &str = "+15005550006";
/// The sandbox's API key and webhook secret (dev only).
const SANDBOX_KEY: &str = "sandbox-api-key";
const WEBHOOK_SECRET: &str = "sandbox-webhook-secret";

/// What runs while `dev` is up.
pub struct Demo {
    sandbox: Sandbox,
    events: JoinHandle<()>,
}

impl Demo {
    /// Stops the sandbox and the event printer.
    pub async fn stop(self) {
        self.events.abort();
        self.sandbox.shutdown().await;
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, DevError> {
        let mut url = format!("{}/openapi/v1.0/{path}", self.base);
        let mut params: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        if let Some(t) = token {
            params.push(format!("access_token={t}"));
        }
        if !params.is_empty() {
            url = format!("{url}?{}", params.join("&"));
        }
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let response = req.send().await.map_err(|e| DevError::Demo(format!("{path}: {e}")))?;
        response.json().await.map_err(|e| DevError::Demo(format!("{path}: {e}")))
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Result<Value, DevError> {
        self.call(reqwest::Method::POST, path, token, &[], Some(body)).await
    }

    async fn get(&self, path: &str, token: &str, query: &[(&str, &str)]) -> Result<Value, DevError> {
        self.call(reqwest::Method::GET, path, Some(token), query, None).await
    }
}

fn ok(reply: &Value, what: &str) -> Result<(), DevError> {
    if reply["errcode"] == 0 { Ok(()) } else { Err(DevError::Demo(format!("{what}: {reply}"))) }
}

/// Starts the demo.
pub async fn start(stack: &LocalStack, settings: &DevSettings) -> Result<Demo, DevError> {
    let sandbox =
        Sandbox::start(SandboxConfig { bind: settings.sandbox_bind, api_keys: vec![SANDBOX_KEY.to_owned()] }).await?;
    let api = Api { http: reqwest::Client::new(), base: stack.http_base_url() };

    let token = api
        .post(
            "get_token",
            None,
            &json!({"username": settings.admin_client_id, "password": settings.admin_client_secret}),
        )
        .await?;
    ok(&token, "get_token")?;
    let admin = token["access_token"].as_str().unwrap_or_default().to_owned();

    // the agent (or the one a previous run created)
    let created = api
        .post(
            "extension/create",
            Some(&admin),
            &json!({"number": AGENT_NUMBER, "caller_id_name": "Demo Agent", "user_password": AGENT_PASSWORD}),
        )
        .await?;
    let agent_id = match created["id"].as_u64() {
        Some(id) => id,
        None => {
            let list = api.get("extension/list", &admin, &[]).await?;
            list["data"]
                .as_array()
                .and_then(|l| l.iter().find(|e| e["number"] == AGENT_NUMBER))
                .and_then(|e| e["id"].as_u64())
                .ok_or_else(|| DevError::Demo(format!("extension/create: {created}")))?
        }
    };

    // the channel (or the one that already has the demo number)
    let channel = json!({
        "name": "Sandbox SMS",
        "webhook_url_type": "nat",
        "channel": "general",
        "account_data": [
            {"k": "api_key", "v": STANDARD.encode(SANDBOX_KEY)},
            {"k": "api_secret", "v": STANDARD.encode(WEBHOOK_SECRET)},
            {"k": "api_verify_url", "v": sandbox.verify_url()},
            {"k": "api_send_url", "v": sandbox.send_url()}
        ],
        "send_rate": 5,
        "dids": [{"did_number": BUSINESS_NUMBER, "destination_type": "extension", "destination_id": agent_id.to_string()}]
    });
    let created = api.post("message_channel/create", Some(&admin), &channel).await?;
    let channel_id = match created["id"].as_u64() {
        Some(id) => id,
        None => {
            let list = api
                .get("message_channel/list", &admin, &[("page", "1"), ("page_size", "1000"), ("time_range", "all")])
                .await?;
            list["list"]
                .as_array()
                .and_then(|l| {
                    l.iter().find(|c| c["number"].as_array().is_some_and(|n| n.iter().any(|x| x == BUSINESS_NUMBER)))
                })
                .and_then(|c| c["id"].as_u64())
                .ok_or_else(|| DevError::Demo(format!("message_channel/create: {created}")))?
        }
    };
    let detail = api.get("message_channel/get", &admin, &[("id", &channel_id.to_string())]).await?;
    ok(&detail, "message_channel/get")?;
    let webhook_url = detail["data"]["webhook_url"].as_str().unwrap_or_default().to_owned();
    sandbox.configure_webhook(webhook_url.clone(), Some(WEBHOOK_SECRET.to_owned()));

    let agent = api.post("get_token", None, &json!({"username": AGENT_NUMBER, "password": AGENT_PASSWORD})).await?;
    ok(&agent, "agent get_token")?;
    let agent = agent["access_token"].as_str().unwrap_or_default().to_owned();

    print_walkthrough(&Walkthrough {
        api: &api.base,
        sandbox: &sandbox.base_url(),
        admin_id: &settings.admin_client_id,
        admin: &admin,
        agent: &agent,
        channel_id,
        webhook_url: &webhook_url,
    })?;

    let tap = stack.event_tap("EventBus").await?;
    #[allow(clippy::print_stdout)] // the event feed is this command's output
    let events = tokio::spawn(async move {
        loop {
            for event in tap.drain().await {
                let detail = &event["detail"];
                println!(
                    "event  {:<18} {}  {}",
                    detail["event_type"].as_str().unwrap_or("?"),
                    detail["event_id"].as_str().unwrap_or("?"),
                    detail["data"]
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Ok(Demo { sandbox, events })
}

struct Walkthrough<'a> {
    api: &'a str,
    sandbox: &'a str,
    admin_id: &'a str,
    admin: &'a str,
    agent: &'a str,
    channel_id: u64,
    webhook_url: &'a str,
}

fn print_walkthrough(w: &Walkthrough<'_>) -> std::io::Result<()> {
    let Walkthrough { api, sandbox, admin_id, admin, agent, channel_id, webhook_url } = w;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        r#"
Demo data (created through the API):
  admin token   {admin}            (client {admin_id}; tokens last 30 minutes)
  agent 1000    token {agent}   (password {pw})
  channel {channel_id}     General SMS on the sandbox provider, number {biz} -> extension 1000, 5 msg/s
  webhook URL   {webhook_url}
  sandbox       {sandbox}  (General SMS API provider: /verify, /sendmessage; it records what it receives)

Walk-through (copy and paste):
  export API={api} AGENT={agent}

  # 1. A customer texts the business number: the sandbox signs and posts the webhook.
  curl -s -X POST {sandbox}/_sandbox/inbound -H 'content-type: application/json' \
       -d '{{"from":"{customer}","to":"{biz}","text":"Hi, where is my order?"}}'

  # 2. The agent sees the session.
  curl -s "$API/openapi/v1.0/message_session/list?access_token=$AGENT&page_size=20&user_type=1&user_no=1000"

  # 3. The agent replies (session id from step 2, usually 1).
  curl -s -X POST "$API/openapi/v1.0/message/send?access_token=$AGENT" -H 'content-type: application/json' \
       -d '{{"sender_type":1,"sender_no":"1000","session_id":1,"msg_body":"It ships today."}}'

  # 4. The provider received it (Bearer key, from/to/text).
  curl -s {sandbox}/_sandbox/sent

  # 5. The message is sent; the number's statistics moved.
  curl -s "$API/openapi/v1.0/message/get?access_token=$AGENT&id=1&page_size=10"
  curl -s "$API/openapi/v1.0/message_channel/get?access_token={admin}&id={channel_id}"

  # New tokens:
  curl -s -X POST $API/openapi/v1.0/get_token -H 'content-type: application/json' -d '{{"username":"1000","password":"{pw}"}}'

Events appear below as they are published."#,
        pw = AGENT_PASSWORD,
        biz = BUSINESS_NUMBER,
        customer = CUSTOMER_NUMBER,
    )?;
    out.flush()
}

//! The system-test harness: every test starts its own emulator (moto server), its own copy of the
//! whole stack from template.yaml (every function's real binary, the HTTP API on a free port, the
//! SQS pollers) and its own sandbox provider, then drives it only through its public interfaces:
//! the HTTP routes, the sandbox provider's record of what it received, and the tables (read
//! directly only to assert "nothing stored").
//!
//! Function binaries must be built first (`make test` does: `cargo build --workspace --bins`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test harness

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use local_stack::{LocalStack, LocalStackConfig, MotoServer};
use sandbox_provider::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

/// Client id of the administrator in tests.
pub const ADMIN_ID: &str = "switchboard-admin";
/// Client secret of the administrator in tests.
pub const ADMIN_SECRET: &str = "system-test-admin-secret";
/// The sandbox provider's API key.
pub const SANDBOX_KEY: &str = "sandbox-api-key";
/// The webhook secret shared with the sandbox provider.
pub const WEBHOOK_SECRET: &str = "sandbox-webhook-secret";
/// Every agent's password in tests.
pub const AGENT_PASSWORD: &str = "Agent1234";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// A running system.
pub struct TestStack {
    /// The emulator (dropped last).
    pub moto: MotoServer,
    /// The stack.
    pub stack: LocalStack,
    /// The sandbox provider.
    pub sandbox: Sandbox,
    /// HTTP client for the API.
    pub http: reqwest::Client,
    /// DynamoDB client on the emulator (assertions only).
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// SQS client on the emulator (to play a redelivering queue).
    pub sqs: aws_sdk_sqs::Client,
}

/// Options for [`TestStack::start_with`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Template parameter overrides on top of the harness defaults.
    pub parameters: Vec<(&'static str, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Self { parameters: vec![("SenderRetryBaseSeconds", "1".into()), ("SenderMaxAttempts", "3".into())] }
    }
}

impl TestStack {
    /// Starts everything with the default options.
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    /// Starts everything.
    pub async fn start_with(options: Options) -> Self {
        let root = workspace_root();
        let moto_bin = std::env::var("SWITCHBOARD_MOTO_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root.join(".venv/bin/moto-server-serialized"));
        assert!(moto_bin.exists(), "{} is missing: run `make test` (it installs moto into .venv)", moto_bin.display());
        let moto = MotoServer::start(&moto_bin, SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("moto starts");
        let sandbox = Sandbox::start(SandboxConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_keys: vec![SANDBOX_KEY.into()],
        })
        .await
        .expect("sandbox provider starts");

        let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut config = LocalStackConfig::for_workspace(&root, &moto.endpoint_url());
        config.resource_prefix = prefix.clone();
        config.http_bind = SocketAddr::from(([127, 0, 0, 1], 0));
        config.schedules_enabled = false;
        config.log_dir = Some(root.join("target/system-test-logs").join(&prefix));
        config.parameter_overrides.insert("AdminClientId".into(), ADMIN_ID.into());
        config.parameter_overrides.insert("AdminClientSecret".into(), ADMIN_SECRET.into());
        config.parameter_overrides.insert("AllowHttpProviderUrls".into(), "true".into());
        // every named provider's send API is the sandbox's (it records the calls)
        config.parameter_overrides.insert("ProviderApiBaseUrl".into(), sandbox.base_url());
        config.parameter_overrides.insert("SlaMailFrom".into(), SLA_MAIL_FROM.into());
        for (k, v) in options.parameters {
            config.parameter_overrides.insert(k.into(), v);
        }
        // PublicBaseUrl must name the port the gateway gets, which is only known once it binds:
        // webhook URLs are then built from the Host the client used (API Gateway's domainName).
        let stack = LocalStack::start(config).await.expect("local stack starts");

        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(moto.endpoint_url())
            .region("us-east-1")
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "test"))
            .load()
            .await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            moto,
            stack,
            sandbox,
            http: reqwest::Client::new(),
        }
    }

    /// The API base URL.
    pub fn base_url(&self) -> String {
        self.stack.http_base_url()
    }

    /// `GET /openapi/v1.0/{path}` with query parameters.
    pub async fn get(&self, path: &str, token: &str, query: &[(&str, &str)]) -> Value {
        let mut q: Vec<(&str, &str)> = vec![("access_token", token)];
        q.extend_from_slice(query);
        let r = self.http.get(format!("{}/openapi/v1.0/{path}", self.base_url())).query(&q).send().await.unwrap();
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.unwrap()
    }

    /// `POST /openapi/v1.0/{path}` with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> Value {
        self.post_with(path, token, body, &[]).await
    }

    /// `POST` with extra headers.
    pub async fn post_with(&self, path: &str, token: Option<&str>, body: &Value, headers: &[(&str, &str)]) -> Value {
        let mut req = self.http.post(format!("{}/openapi/v1.0/{path}", self.base_url())).json(body);
        if let Some(t) = token {
            req = req.query(&[("access_token", t)]);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "POST {path}");
        r.json().await.unwrap()
    }

    /// An administrator token.
    pub async fn admin_token(&self) -> String {
        self.token(ADMIN_ID, ADMIN_SECRET).await
    }

    /// A token for `username` / `password`.
    pub async fn token(&self, username: &str, password: &str) -> String {
        let reply = self.post("get_token", None, &json!({"username": username, "password": password})).await;
        assert_eq!(reply["errcode"], 0, "get_token: {reply}");
        reply["access_token"].as_str().unwrap().to_owned()
    }

    /// Creates an extension; returns its id.
    pub async fn extension(&self, admin: &str, number: &str) -> u64 {
        let reply = self
            .post("extension/create", Some(admin), &json!({"number": number, "caller_id_name": format!("Agent {number}"), "user_password": AGENT_PASSWORD}))
            .await;
        assert_eq!(reply["errcode"], 0, "extension/create: {reply}");
        reply["id"].as_u64().unwrap()
    }

    /// Every e-mail the emulator's SES accepted: `{source, destinations, subject, body}`.
    pub async fn sent_emails(&self) -> Vec<Value> {
        let url = format!("{}/moto-api/data.json", self.moto.endpoint_url());
        let data: Value = self.http.get(url).send().await.unwrap().json().await.unwrap();
        data["ses"]["Message"].as_array().cloned().unwrap_or_default()
    }

    /// Creates a message queue with extra fields (SLA settings, managers); returns its id.
    pub async fn queue_with(&self, admin: &str, name: &str, mode: &str, members: &[u64], extra: Value) -> u64 {
        let members: Vec<Value> = members.iter().map(|m| json!({"extension_id": m})).collect();
        let mut body = json!({"name": name, "assignment_mode": mode, "members": members});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let reply = self.post("message_queue/create", Some(admin), &body).await;
        assert_eq!(reply["errcode"], 0, "message_queue/create: {reply}");
        reply["id"].as_u64().unwrap()
    }

    /// Creates a message queue; returns its id.
    pub async fn queue(&self, admin: &str, name: &str, mode: &str, members: &[u64]) -> u64 {
        let members: Vec<Value> = members.iter().map(|m| json!({"extension_id": m})).collect();
        let reply = self
            .post(
                "message_queue/create",
                Some(admin),
                &json!({"name": name, "assignment_mode": mode, "members": members}),
            )
            .await;
        assert_eq!(reply["errcode"], 0, "message_queue/create: {reply}");
        reply["id"].as_u64().unwrap()
    }

    /// Creates a General channel on the sandbox provider with `dids` = (number, "extension"|"queue", id);
    /// configures the sandbox's webhook to it; returns (channel id, webhook URL).
    pub async fn general_channel(&self, admin: &str, send_rate: u16, dids: &[(&str, &str, u64)]) -> (u64, String) {
        let dids: Vec<Value> = dids
            .iter()
            .map(|(number, kind, id)| json!({"did_number": number, "destination_type": kind, "destination_id": id.to_string()}))
            .collect();
        self.create_general_channel(admin, send_rate, dids).await
    }

    /// Like [`TestStack::general_channel`], with each number's `members` (the extensions allowed to
    /// start sessions from it): `dids` = (number, "extension"|"queue", destination id, member ids).
    pub async fn general_channel_with_members(
        &self,
        admin: &str,
        send_rate: u16,
        dids: &[(&str, &str, u64, &[u64])],
    ) -> (u64, String) {
        let dids: Vec<Value> = dids
            .iter()
            .map(|(number, kind, id, members)| {
                let members: Vec<Value> =
                    members.iter().map(|m| json!({"type": "extension", "value": m.to_string()})).collect();
                json!({"did_number": number, "destination_type": kind, "destination_id": id.to_string(), "members": members})
            })
            .collect();
        self.create_general_channel(admin, send_rate, dids).await
    }

    /// Like [`TestStack::general_channel`], with more `message_channel/create` fields (e.g.
    /// `auto_close_session`).
    pub async fn general_channel_with(
        &self,
        admin: &str,
        send_rate: u16,
        dids: &[(&str, &str, u64)],
        extra: Value,
    ) -> (u64, String) {
        let dids: Vec<Value> = dids
            .iter()
            .map(|(number, kind, id)| json!({"did_number": number, "destination_type": kind, "destination_id": id.to_string()}))
            .collect();
        self.create_general_channel_with(admin, send_rate, dids, extra).await
    }

    async fn create_general_channel(&self, admin: &str, send_rate: u16, dids: Vec<Value>) -> (u64, String) {
        self.create_general_channel_with(admin, send_rate, dids, json!({})).await
    }

    async fn create_general_channel_with(
        &self,
        admin: &str,
        send_rate: u16,
        dids: Vec<Value>,
        extra: Value,
    ) -> (u64, String) {
        let mut body = json!({
            "name": "Sandbox General",
            "webhook_url_type": "nat",
            "channel": "general",
            "account_data": [
                {"k": "api_key", "v": STANDARD.encode(SANDBOX_KEY)},
                {"k": "api_secret", "v": STANDARD.encode(WEBHOOK_SECRET)},
                {"k": "api_verify_url", "v": self.sandbox.verify_url()},
                {"k": "api_send_url", "v": self.sandbox.send_url()}
            ],
            "send_rate": send_rate,
            "dids": dids
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let reply = self.post("message_channel/create", Some(admin), &body).await;
        assert_eq!(reply["errcode"], 0, "message_channel/create: {reply}");
        let id = reply["id"].as_u64().unwrap();
        let detail = self.get("message_channel/get", admin, &[("id", &id.to_string())]).await;
        let webhook = detail["data"]["webhook_url"].as_str().unwrap().to_owned();
        self.sandbox.configure_webhook(webhook.clone(), Some(WEBHOOK_SECRET.into()));
        (id, webhook)
    }

    /// Items of a table whose partition key starts with `prefix` (a Scan: assertions only).
    pub async fn items_with_prefix(&self, logical_table: &str, prefix: &str) -> usize {
        let table = self.stack.table_name(logical_table).unwrap();
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self.dynamodb.scan().table_name(&table).set_exclusive_start_key(start).send().await.unwrap();
            count += out
                .items()
                .iter()
                .filter(|i| i.get("pk").and_then(|v| v.as_s().ok()).is_some_and(|pk| pk.starts_with(prefix)))
                .count();
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return count,
            }
        }
    }

    /// Prints every function's log (call when a test fails).
    pub fn dump_logs(&self) {
        for f in &self.stack.plan().functions {
            for line in self.stack.function_logs(&f.logical_id) {
                eprintln!("[{}] {line}", f.logical_id);
            }
        }
    }
}

/// `user_type` of an extension user.
pub const EXTENSION: u8 = 1;
/// The SES sender of SLA e-mail in the local stack (the `SlaMailFrom` parameter).
pub const SLA_MAIL_FROM: &str = "sla-alerts@switchboard.local";

/// `user_type` of the third-party platform (`api`).
pub const PLATFORM: u8 = 9;
/// How long the asynchronous path (webhook → router → session, or send → provider) may take.
pub const SETTLE: Duration = Duration::from_secs(20);

/// Session and message calls of the agent API (issue 5), each returning the whole reply.
impl TestStack {
    /// A customer's SMS `from` → `to` through the sandbox's signed webhook; asserts it was accepted.
    pub async fn deliver(&self, from: &str, to: &str, text: &str) {
        let spec = sandbox_provider::InboundSpec {
            from: from.into(),
            to: to.into(),
            text: Some(text.into()),
            ..sandbox_provider::InboundSpec::default()
        };
        let delivery = self.sandbox.deliver_inbound(spec).await.unwrap();
        assert_eq!(delivery.status, 204, "inbound {from} -> {to}: {}", delivery.response_body);
    }

    /// `message_session/list` as (`user_type`, `user_no`) with `extra` parameters (`page_size`
    /// 100 unless given).
    pub async fn list_sessions(&self, token: &str, user_type: u8, user_no: &str, extra: &[(&str, &str)]) -> Value {
        let user_type = user_type.to_string();
        let mut q: Vec<(&str, &str)> = vec![("user_type", &user_type), ("user_no", user_no)];
        if !extra.iter().any(|(k, _)| *k == "page_size") {
            q.push(("page_size", "100"));
        }
        q.extend_from_slice(extra);
        self.get("message_session/list", token, &q).await
    }

    /// The ids in a `message_session/list` (asserts success).
    pub async fn session_ids(&self, token: &str, user_type: u8, user_no: &str, extra: &[(&str, &str)]) -> Vec<u64> {
        let reply = self.list_sessions(token, user_type, user_no, extra).await;
        assert_eq!(reply["errcode"], 0, "message_session/list: {reply}");
        reply["list"].as_array().map(|l| l.iter().filter_map(|s| s["id"].as_u64()).collect()).unwrap_or_default()
    }

    /// Waits until extension `user_no` sees an open session of `customer` on `did`; returns its id.
    pub async fn wait_for_session(&self, token: &str, user_no: &str, did: &str, customer: &str) -> u64 {
        eventually(SETTLE, &format!("{customer}'s session on {did} in {user_no}'s list"), || async {
            let reply = self.list_sessions(token, EXTENSION, user_no, &[("is_closed", "0")]).await;
            reply["list"].as_array()?.iter().find(|s| s["did_number"] == did && s["to"]["user_no"] == customer)?["id"]
                .as_u64()
        })
        .await
    }

    /// `message_session/get` (the whole reply; the session is under `list`).
    pub async fn session_get(&self, token: &str, id: u64) -> Value {
        self.get("message_session/get", token, &[("id", &id.to_string())]).await
    }

    /// The records of `message/get` (newest first, up to 100; asserts success).
    pub async fn history(&self, token: &str, id: u64) -> Vec<Value> {
        let reply = self.get("message/get", token, &[("id", &id.to_string()), ("page_size", "100")]).await;
        assert_eq!(reply["errcode"], 0, "message/get {id}: {reply}");
        reply["data"]["records"].as_array().cloned().unwrap_or_default()
    }

    /// `message/send` of `text` in session `id` as (`sender_type`, `sender_no`).
    pub async fn send_text(&self, token: &str, sender_type: u8, sender_no: &str, id: u64, text: &str) -> Value {
        let body = json!({"sender_type": sender_type, "sender_no": sender_no, "session_id": id, "msg_body": text});
        self.post("message/send", Some(token), &body).await
    }

    /// `message_session/pickup` by extension `user_no`.
    pub async fn pickup(&self, token: &str, user_no: &str, id: u64) -> Value {
        self.post("message_session/pickup", Some(token), &json!({"session_id": id, "user_type": 1, "user_no": user_no}))
            .await
    }

    /// `message_session/transfer` to (`destination_type`, `destination_id`), acting as `operator`
    /// (`user_type`, `user_no`) or, when `None`, without operator fields.
    pub async fn transfer(
        &self,
        token: &str,
        operator: Option<(u8, &str)>,
        id: u64,
        destination_type: &str,
        destination_id: u64,
    ) -> Value {
        let mut body =
            json!({"session_id": id, "destination_type": destination_type, "destination_id": destination_id});
        if let Some((user_type, user_no)) = operator {
            body["user_type"] = json!(user_type);
            body["user_no"] = json!(user_no);
        }
        self.post("message_session/transfer", Some(token), &body).await
    }

    /// `message_session/close`, acting as `operator` or, when `None`, without operator fields.
    pub async fn close_session(&self, token: &str, operator: Option<(u8, &str)>, id: u64) -> Value {
        let mut body = json!({"session_id": id});
        if let Some((user_type, user_no)) = operator {
            body["user_type"] = json!(user_type);
            body["user_no"] = json!(user_no);
        }
        self.post("message_session/close", Some(token), &body).await
    }

    /// The `text` of every send the sandbox provider received, in order.
    pub fn sent_texts(&self) -> Vec<String> {
        self.sandbox.sent().iter().filter_map(|s| s.body["text"].as_str().map(str::to_owned)).collect()
    }

    /// Waits until the sandbox provider received a send with `text`; returns its body.
    pub async fn wait_sent(&self, text: &str) -> Value {
        eventually(SETTLE, &format!("the provider to receive {text:?}"), || async {
            self.sandbox.sent().into_iter().find(|s| s.body["text"] == text).map(|s| s.body)
        })
        .await
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A running system in which agent 1000 owns one open session with customer `+8618012121222` on
/// a General channel (number `+14102161183`) on the sandbox provider.
pub struct Conversation {
    /// The system.
    pub t: TestStack,
    /// An administrator token.
    pub admin: String,
    /// Agent 1000's token.
    pub agent: String,
    /// The session.
    pub session_id: u64,
    /// The channel.
    pub channel_id: u64,
}

impl Conversation {
    /// Starts a system, creates agent and channel at `send_rate`, and lets the customer write first.
    pub async fn start(send_rate: u16) -> Self {
        let t = TestStack::start().await;
        let admin = t.admin_token().await;
        let ext = t.extension(&admin, "1000").await;
        let (channel_id, _) = t.general_channel(&admin, send_rate, &[("+14102161183", "extension", ext)]).await;
        let spec = sandbox_provider::InboundSpec {
            from: "+8618012121222".into(),
            to: "+14102161183".into(),
            text: Some("hi".into()),
            ..sandbox_provider::InboundSpec::default()
        };
        assert_eq!(t.sandbox.deliver_inbound(spec).await.unwrap().status, 204);
        let agent = t.token("1000", AGENT_PASSWORD).await;
        let session_id = eventually(Duration::from_secs(15), "the session", || async {
            let list = t
                .get("message_session/list", &agent, &[("page_size", "5"), ("user_type", "1"), ("user_no", "1000")])
                .await;
            list["list"][0]["id"].as_u64()
        })
        .await;
        Self { t, admin, agent, session_id, channel_id }
    }

    /// The agent replies `text`; returns the message id.
    pub async fn reply(&self, text: &str) -> u64 {
        let body = json!({"sender_type": 1, "sender_no": "1000", "session_id": self.session_id, "msg_body": text});
        let r = self.t.post("message/send", Some(&self.agent), &body).await;
        assert_eq!(r["errcode"], 0, "{r}");
        r["msg_id"].as_u64().unwrap()
    }
}

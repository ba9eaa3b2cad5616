//! The [`Sandbox`] handle and its server: an HTTP/1.1 accept loop whose connections can be
//! closed without an answer (for [`ScriptedResponse::Drop`]); all connections end with the
//! server. Holds the recorded calls, the script, the webhook setting and the WhatsApp templates
//! served.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use crate::inbound::{SIGNATURE_HEADER, inbound_body, signature};
use crate::model::{
    InboundDelivery, InboundSpec, RecordedSend, RecordedVerify, SandboxConfig, SandboxError, ScriptedResponse,
};
use crate::{contract, control, whatsapp_templates};

/// Lets a handler close its own connection without answering.
#[derive(Debug, Clone)]
pub struct ConnectionKill(Arc<Notify>);

impl ConnectionKill {
    /// Closes the connection the current request arrived on.
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

#[derive(Debug, Default)]
struct State {
    sent: Vec<RecordedSend>,
    verifies: Vec<RecordedVerify>,
    script: VecDeque<ScriptedResponse>,
    webhook: Option<(String, Option<String>)>,
    provider_calls: Vec<crate::providers::ProviderCall>,
    whatsapp_templates: Vec<serde_json::Value>,
}

/// State shared by the handlers and the [`Sandbox`] handle.
#[derive(Debug)]
pub struct Shared {
    pub(crate) api_keys: Vec<String>,
    /// `http://<addr>`, for absolute URLs when a request has no `Host`.
    pub(crate) base_url: String,
    state: Mutex<State>,
    http: reqwest::Client,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn record_send(&self, send: RecordedSend) {
        self.state().sent.push(send);
    }

    pub(crate) fn record_verify(&self, verify: RecordedVerify) {
        self.state().verifies.push(verify);
    }

    pub(crate) fn next_scripted(&self) -> Option<ScriptedResponse> {
        self.state().script.pop_front()
    }

    pub(crate) fn record_provider_call(&self, call: crate::providers::ProviderCall) {
        self.state().provider_calls.push(call);
    }

    pub(crate) fn provider_call_count(&self) -> usize {
        self.state().provider_calls.len()
    }

    pub(crate) fn provider_calls(&self) -> Vec<crate::providers::ProviderCall> {
        self.state().provider_calls.clone()
    }

    pub(crate) fn sent(&self) -> Vec<RecordedSend> {
        self.state().sent.clone()
    }

    pub(crate) fn verify_calls(&self) -> Vec<RecordedVerify> {
        self.state().verifies.clone()
    }

    pub(crate) fn script(&self, responses: impl IntoIterator<Item = ScriptedResponse>) {
        self.state().script.extend(responses);
    }

    pub(crate) fn whatsapp_templates(&self) -> Vec<serde_json::Value> {
        self.state().whatsapp_templates.clone()
    }

    pub(crate) fn set_whatsapp_templates(&self, templates: Vec<serde_json::Value>) {
        self.state().whatsapp_templates = templates;
    }

    pub(crate) fn reset(&self) {
        let mut state = self.state();
        state.sent.clear();
        state.provider_calls.clear();
        state.verifies.clear();
        state.script.clear();
        state.whatsapp_templates = whatsapp_templates::default_templates();
    }

    pub(crate) fn configure_webhook(&self, url: String, secret: Option<String>) {
        self.state().webhook = Some((url, secret));
    }

    pub(crate) async fn deliver_inbound(&self, spec: InboundSpec) -> Result<InboundDelivery, SandboxError> {
        let (url, secret) = self.state().webhook.clone().ok_or(SandboxError::NoWebhook)?;
        let payload_id = spec.payload_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let document = inbound_body(&spec, &payload_id, &url, time::OffsetDateTime::now_utc());
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let signature = if spec.omit_signature {
            None
        } else if let Some(value) = spec.signature_override.clone() {
            Some(value)
        } else {
            secret.as_deref().map(|s| signature(s, &body))
        };
        let mut request =
            self.http.post(&url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.clone());
        if let Some(value) = &signature {
            request = request.header(SIGNATURE_HEADER, value);
        }
        let deliver_error = |source| SandboxError::Deliver { url: url.clone(), source };
        let response = request.send().await.map_err(deliver_error)?;
        let status = response.status().as_u16();
        let response_body = response.text().await.map_err(deliver_error)?;
        tracing::info!(%url, status, %payload_id, "inbound message delivered");
        Ok(InboundDelivery { status, response_body, payload_id, body, signature })
    }
}

#[derive(Debug)]
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running sandbox provider. Clones share everything; the server stops when the last clone
/// is dropped or on [`Sandbox::shutdown`].
#[derive(Debug, Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    server: Arc<ServerTask>,
    addr: SocketAddr,
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/verify", get(contract::verify))
        .route("/sendmessage", post(contract::send_message))
        .route("/_sandbox/sent", get(control::sent))
        .route("/_sandbox/verify_calls", get(control::verify_calls))
        .route("/_sandbox/inbound", post(control::inbound))
        .route("/_sandbox/webhook", post(control::webhook))
        .route("/_sandbox/script", post(control::script))
        .route("/_sandbox/provider_calls", get(control::provider_calls))
        .route("/_sandbox/whatsapp_templates", post(control::whatsapp_templates))
        .route("/_sandbox/reset", post(control::reset))
        .route(
            "/{version}/{waba_id}/message_templates",
            get(whatsapp_templates::message_templates).fallback(crate::providers::any),
        )
        .fallback(crate::providers::any)
        .with_state(shared)
}

async fn serve(listener: TcpListener, router: Router) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let kill = Arc::new(Notify::new());
                let service = TowerToHyperService::new(
                    router.clone().layer(axum::Extension(ConnectionKill(kill.clone()))),
                );
                connections.spawn(async move {
                    let connection = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = kill.notified() => {}
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

impl Sandbox {
    /// Starts a sandbox on `cfg.bind`.
    pub async fn start(cfg: SandboxConfig) -> Result<Sandbox, SandboxError> {
        let listener =
            TcpListener::bind(cfg.bind).await.map_err(|source| SandboxError::Bind { addr: cfg.bind, source })?;
        let addr = listener.local_addr().map_err(|source| SandboxError::Bind { addr: cfg.bind, source })?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(SandboxError::Client)?;
        let state = State { whatsapp_templates: whatsapp_templates::default_templates(), ..State::default() };
        let shared = Arc::new(Shared {
            api_keys: cfg.api_keys,
            base_url: format!("http://{addr}"),
            state: Mutex::new(state),
            http,
        });
        let task = tokio::spawn(serve(listener, router(shared.clone())));
        tracing::info!(%addr, "sandbox provider listening");
        Ok(Sandbox { shared, server: Arc::new(ServerTask(task)), addr })
    }

    /// `http://<addr>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `<base>/sendmessage`.
    pub fn send_url(&self) -> String {
        format!("{}/sendmessage", self.base_url())
    }

    /// `<base>/verify`.
    pub fn verify_url(&self) -> String {
        format!("{}/verify", self.base_url())
    }

    /// Every `POST /sendmessage`, in arrival order, including rejected ones.
    pub fn sent(&self) -> Vec<RecordedSend> {
        self.shared.sent()
    }

    /// Every call to a named provider's send API (Twilio, Meta, ...), in arrival order.
    pub fn provider_calls(&self) -> Vec<crate::providers::ProviderCall> {
        self.shared.provider_calls()
    }

    /// Every `GET /verify`, in arrival order.
    pub fn verify_calls(&self) -> Vec<RecordedVerify> {
        self.shared.verify_calls()
    }

    /// The next sends are answered with these, in order; then normal behaviour resumes.
    pub fn script_send_responses(&self, r: impl IntoIterator<Item = ScriptedResponse>) {
        self.shared.script(r);
    }

    /// Forgets recorded calls and scripted responses and serves the default WhatsApp templates
    /// again (the webhook setting stays).
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Replaces the WhatsApp templates `GET /{version}/{waba_id}/message_templates` serves
    /// (template objects in Graph's shape, served in this order).
    pub fn set_whatsapp_templates(&self, templates: Vec<serde_json::Value>) {
        self.shared.set_whatsapp_templates(templates);
    }

    /// Sets where inbound messages are delivered and the signing secret.
    pub fn configure_webhook(&self, url: String, secret: Option<String>) {
        self.shared.configure_webhook(url, secret);
    }

    /// Posts an inbound message to the configured webhook.
    pub async fn deliver_inbound(&self, spec: InboundSpec) -> Result<InboundDelivery, SandboxError> {
        self.shared.deliver_inbound(spec).await
    }

    /// Stops the server and closes every connection.
    pub async fn shutdown(self) {
        self.server.0.abort();
        tracing::info!(addr = %self.addr, "sandbox provider stopped");
    }
}

//! The `/_sandbox/*` control endpoints for humans (`make dev`, curl): recorded sends, inbound
//! delivery, webhook configuration, scripted answers, the WhatsApp templates served and reset.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::model::{InboundSpec, SandboxError, ScriptedResponse};
use crate::server::Shared;

/// `GET /_sandbox/sent`: every recorded send, in arrival order.
pub async fn sent(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.sent()).into_response()
}

/// `GET /_sandbox/provider_calls`: every recorded call to a named provider's send API.
pub async fn provider_calls(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.provider_calls()).into_response()
}

/// `GET /_sandbox/verify_calls`: every recorded verify call.
pub async fn verify_calls(State(shared): State<Arc<Shared>>) -> Response {
    axum::Json(shared.verify_calls()).into_response()
}

/// `POST /_sandbox/inbound` with `{from, to, text, media_urls, ...}`: delivers it.
pub async fn inbound(State(shared): State<Arc<Shared>>, axum::Json(spec): axum::Json<InboundSpec>) -> Response {
    match shared.deliver_inbound(spec).await {
        Ok(delivery) => axum::Json(delivery).into_response(),
        Err(e @ SandboxError::NoWebhook) => {
            (StatusCode::CONFLICT, axum::Json(json!({"error": e.to_string()}))).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, axum::Json(json!({"error": e.to_string()}))).into_response(),
    }
}

/// The body of `POST /_sandbox/webhook`.
#[derive(Debug, Deserialize)]
pub struct WebhookSetting {
    /// Where inbound messages go.
    pub url: String,
    /// The signing secret (none: unsigned).
    #[serde(default)]
    pub secret: Option<String>,
}

/// `POST /_sandbox/webhook` with `{url, secret}`.
pub async fn webhook(State(shared): State<Arc<Shared>>, axum::Json(setting): axum::Json<WebhookSetting>) -> Response {
    tracing::info!(url = %setting.url, signed = setting.secret.is_some(), "webhook configured");
    shared.configure_webhook(setting.url, setting.secret);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/script` with a JSON array of scripted responses.
pub async fn script(
    State(shared): State<Arc<Shared>>,
    axum::Json(responses): axum::Json<Vec<ScriptedResponse>>,
) -> Response {
    tracing::info!(count = responses.len(), "send responses scripted");
    shared.script(responses);
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/whatsapp_templates` with a JSON array of template objects (Graph's shape):
/// replaces the templates `GET /{version}/{waba_id}/message_templates` serves.
pub async fn whatsapp_templates(
    State(shared): State<Arc<Shared>>,
    axum::Json(templates): axum::Json<Vec<serde_json::Map<String, serde_json::Value>>>,
) -> Response {
    tracing::info!(count = templates.len(), "WhatsApp templates replaced");
    shared.set_whatsapp_templates(templates.into_iter().map(serde_json::Value::Object).collect());
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /_sandbox/reset`: forgets recorded calls and scripted responses, and serves the default
/// WhatsApp templates again.
pub async fn reset(State(shared): State<Arc<Shared>>) -> Response {
    tracing::info!("reset");
    shared.reset();
    StatusCode::NO_CONTENT.into_response()
}

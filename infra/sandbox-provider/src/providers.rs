//! The send APIs of the named providers, as far as tests need them: every call to a path that is
//! not the General contract is recorded as a [`ProviderCall`] and answered with the provider's
//! documented success shape (Twilio `201 {"sid"}`, Graph `{"messages":[{"id"}]}` or
//! `{"message_id"}`, Telnyx `{"data":{"id"}}`, Bandwidth `202 {"id"}`, Flowroute
//! `202 {"data":{"id"}}`); anything else gets `200 {"id"}`. Authentication is recorded, not
//! checked: the contract tests in the domain crate check the exact request. Graph's template
//! listing ([`crate::whatsapp_templates`]) is recorded here too.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::server::Shared;

/// One call to a provider API (a send, or Graph's template listing).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProviderCall {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// `Content-Type` header.
    pub content_type: Option<String>,
    /// The body as text.
    pub body: String,
    /// The id we answered with (empty for a template listing).
    pub provider_message_id: String,
}

/// Handles any request no other route matched.
pub async fn any(
    State(shared): State<std::sync::Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let header_text =
        |name: header::HeaderName| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let n = shared.provider_call_count() + 1;
    let (status, id, reply) = if path.starts_with("/2010-04-01/Accounts/") && path.ends_with("/Messages.json") {
        let sid = format!("SM{n:032x}");
        (StatusCode::CREATED, sid.clone(), json!({"sid": sid, "status": "queued"}))
    } else if path.ends_with("/messages") && path.starts_with("/v") && text.contains("\"messaging_product\"") {
        let id = format!("wamid.sandbox{n}");
        (StatusCode::OK, id.clone(), json!({"messaging_product": "whatsapp", "contacts": [], "messages": [{"id": id}]}))
    } else if path.ends_with("/messages") && path.starts_with("/v") && text.contains("\"recipient\"") {
        let id = format!("m_sandbox{n}");
        let recipient =
            serde_json::from_str::<Value>(&text).ok().and_then(|v| v["recipient"]["id"].as_str().map(str::to_owned));
        (StatusCode::OK, id.clone(), json!({"recipient_id": recipient, "message_id": id}))
    } else if path == "/v2/messages" {
        let id = uuid::Uuid::new_v4().to_string();
        (StatusCode::OK, id.clone(), json!({"data": {"record_type": "message", "id": id}}))
    } else if path.starts_with("/api/v2/users/") && path.ends_with("/messages") {
        let id = format!("sandbox-bw-{n}");
        (StatusCode::ACCEPTED, id.clone(), json!({"id": id}))
    } else if path == "/v2.1/messages" {
        let id = format!("mdr2-sandbox{n:024x}");
        (StatusCode::ACCEPTED, id.clone(), json!({"data": {"type": "message", "id": id}}))
    } else {
        let id = format!("sandbox-{n}");
        (StatusCode::OK, id.clone(), json!({"id": id}))
    };
    tracing::info!(%method, %path, status = status.as_u16(), "provider API call");
    shared.record_provider_call(ProviderCall {
        method: method.to_string(),
        path: uri.to_string(),
        authorization: header_text(header::AUTHORIZATION),
        content_type: header_text(header::CONTENT_TYPE),
        body: text,
        provider_message_id: id,
    });
    (status, axum::Json(reply)).into_response()
}

//! Graph's listing of a WhatsApp Business Account's message templates, as template sync needs
//! it: `GET /{version}/{waba_id}/message_templates` with `Authorization: Bearer <token>` (any
//! non-empty token; none gives Graph's `401 {"error":{"type":"OAuthException","code":190}}`),
//! answered with `{"data":[..]}` one page at a time: `limit` (default [`DEFAULT_LIMIT`]) and the
//! opaque `after` cursor. While more templates remain, `paging` carries `cursors.after` and `next`
//! (an absolute URL back to the sandbox); the last page has only `cursors.before`. Every call is
//! recorded as a [`ProviderCall`]. The served set is [`default_templates`] until replaced with
//! `POST /_sandbox/whatsapp_templates` or `Sandbox::set_whatsapp_templates`; a reset restores it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::providers::ProviderCall;
use crate::server::Shared;

/// Templates per page when the request gives no `limit` (Graph's default).
pub const DEFAULT_LIMIT: usize = 25;

/// What the sandbox serves until told otherwise: an APPROVED positional UTILITY template, an
/// APPROVED named MARKETING template with an image header and a URL button, a PENDING and a
/// REJECTED one, and an APPROVED MARKETING catalog template.
pub fn default_templates() -> Vec<Value> {
    vec![
        json!({
            "name": "order_update",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today.",
                 "example": {"body_text": [["Ann", "42"]]}},
                {"type": "FOOTER", "text": "Thanks for shopping with Acme"}
            ],
            "language": "en_US",
            "status": "APPROVED",
            "category": "UTILITY",
            "id": "1667192013751005"
        }),
        json!({
            "name": "spring_sale",
            "parameter_format": "NAMED",
            "components": [
                {"type": "HEADER", "format": "IMAGE",
                 "example": {"header_handle": ["https://scontent.whatsapp.net/v/t61.29466-34/spring_sale.jpg"]}},
                {"type": "BODY", "text": "Hi {{first_name}}, our spring sale is on: 25% off everything!",
                 "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Pablo"}]}},
                {"type": "FOOTER", "text": "Reply STOP to opt out"},
                {"type": "BUTTONS", "buttons": [
                    {"type": "URL", "text": "Shop now", "url": "https://shop.example.com/sale/{{1}}",
                     "example": ["https://shop.example.com/sale/spring25"]}
                ]}
            ],
            "language": "en",
            "status": "APPROVED",
            "category": "MARKETING",
            "id": "2017410385331820"
        }),
        json!({
            "name": "new_arrivals",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY", "text": "New in store this week, {{1}}: come and have a look!",
                 "example": {"body_text": [["Ann"]]}}
            ],
            "language": "en_US",
            "status": "PENDING",
            "category": "MARKETING",
            "id": "1301870520933310"
        }),
        json!({
            "name": "win_big",
            "parameter_format": "POSITIONAL",
            "components": [{"type": "BODY", "text": "You have won a prize! Reply now to claim it."}],
            "language": "en_US",
            "status": "REJECTED",
            "rejected_reason": "PROMOTIONAL",
            "category": "MARKETING",
            "id": "1404325817391143"
        }),
        json!({
            "name": "intro_catalog_offer",
            "parameter_format": "POSITIONAL",
            "components": [
                {"type": "BODY",
                 "text": "Now shop for your favourite products right here on WhatsApp! Get {{1}} off your first order.",
                 "example": {"body_text": [["10%"]]}},
                {"type": "FOOTER", "text": "Best deals on WhatsApp!"},
                {"type": "BUTTONS", "buttons": [{"type": "CATALOG", "text": "View catalog"}]}
            ],
            "language": "en_US",
            "status": "APPROVED",
            "category": "MARKETING",
            "id": "1539267410862954"
        }),
    ]
}

/// A Graph `{"error":{..}}` answer.
fn graph_error(status: StatusCode, code: u32, message: &str) -> Response {
    let body =
        json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "ASandboxTrace"}});
    (status, axum::Json(body)).into_response()
}

/// The opaque cursor of the template at `offset`.
fn cursor(offset: usize) -> String {
    hex::encode(format!("sandbox:{offset}"))
}

fn offset_of(cursor: &str) -> Option<usize> {
    let text = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    text.strip_prefix("sandbox:")?.parse().ok()
}

/// `GET /{version}/{waba_id}/message_templates`.
pub async fn message_templates(
    State(shared): State<Arc<Shared>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let header_text =
        |name: header::HeaderName| headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let authorization = header_text(header::AUTHORIZATION);
    shared.record_provider_call(ProviderCall {
        method: "GET".to_owned(),
        path: uri.to_string(),
        authorization: authorization.clone(),
        content_type: header_text(header::CONTENT_TYPE),
        body: String::new(),
        provider_message_id: String::new(),
    });
    let token = authorization.as_deref().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    if token.is_none_or(str::is_empty) {
        tracing::info!(%version, %waba_id, status = 401, "message templates: no access token");
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token - Cannot parse access token");
    }
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(limit)) if limit > 0 => limit,
        Some(_) => return graph_error(StatusCode::BAD_REQUEST, 100, "(#100) Param limit must be a positive integer"),
    };
    let offset = match query.get("after").map(|c| offset_of(c)) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => return graph_error(StatusCode::BAD_REQUEST, 100, "(#100) The after cursor is not valid"),
    };
    let templates = shared.whatsapp_templates();
    let page: Vec<Value> = templates.iter().skip(offset).take(limit).cloned().collect();
    let end = offset + page.len();
    let mut body = json!({"data": page});
    if !page.is_empty() {
        let mut paging = json!({"cursors": {"before": cursor(offset)}});
        if end < templates.len() {
            let base =
                header_text(header::HOST).map_or_else(|| shared.base_url.clone(), |host| format!("http://{host}"));
            paging["cursors"]["after"] = json!(cursor(end));
            paging["next"] = json!(format!("{base}{}?limit={limit}&after={}", uri.path(), cursor(end)));
        }
        body["paging"] = paging;
    }
    let (count, total) = (end - offset, templates.len());
    tracing::info!(%version, %waba_id, offset, count, total, "message templates listed");
    (StatusCode::OK, axum::Json(body)).into_response()
}

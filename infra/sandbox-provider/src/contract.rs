//! The provider API of the Yeastar "General SMS API" contract: `GET /verify` (echoes the
//! challenge for a valid key) and `POST /sendmessage` (validates key, JSON, E.164 numbers and
//! content; answers with the queued message), both recording every call, and scripted answers
//! that override the normal behaviour for the next sends.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::{RecordedSend, RecordedVerify, ScriptedResponse};
use crate::server::{ConnectionKill, Shared};

/// Error code: a phone number is not E.164.
pub const CODE_INVALID_NUMBER: &str = "10001";
/// Error code: the body is not valid (not JSON, no content).
pub const CODE_INVALID_REQUEST: &str = "10002";
/// Error code: authentication failed.
pub const CODE_AUTHENTICATION: &str = "10004";

/// Whether `number` is E.164: `+`, then 8 to 15 digits, the first 1-9.
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// A `{"errors":[{code,title,detail}]}` response.
pub fn error_response(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    (status, axum::Json(json!({"errors": [{"code": code, "title": title, "detail": detail}]}))).into_response()
}

fn header_string(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    header_string(headers, header::AUTHORIZATION)
        .and_then(|v| v.strip_prefix("Bearer ").map(|k| k.trim().to_owned()))
        .is_some_and(|key| shared.api_keys.contains(&key))
}

const UNAUTHORIZED_DETAIL: &str = "The API key in the Authorization header is missing or invalid.";

fn unauthorized() -> Response {
    error_response(StatusCode::UNAUTHORIZED, CODE_AUTHENTICATION, "Authentication failed", UNAUTHORIZED_DETAIL)
}

/// `GET /verify?challenge=...`.
pub async fn verify(
    State(shared): State<std::sync::Arc<Shared>>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let challenge = query.get("challenge").cloned();
    let ok = authorized(&shared, &headers);
    let response = if ok {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge.clone().unwrap_or_default())
            .into_response()
    } else {
        unauthorized()
    };
    let status = response.status().as_u16();
    tracing::info!(status, "GET /verify");
    shared.record_verify(RecordedVerify {
        received_at: time::OffsetDateTime::now_utc(),
        authorization: header_string(&headers, header::AUTHORIZATION),
        challenge,
        status,
    });
    response
}

/// The normal 200 answer for a (parsed) send request.
fn accepted(body: &Value, id: &str) -> Response {
    let mut data = serde_json::Map::new();
    data.insert("id".into(), json!(id));
    data.insert("from".into(), json!({"phone_number": body.get("from"), "carrier": "Sandbox", "line_type": "VoIP"}));
    data.insert("to".into(), json!([{"phone_number": body.get("to"), "status": "queued"}]));
    if let Some(text) = body.get("text").filter(|t| !t.is_null()) {
        data.insert("text".into(), text.clone());
    }
    let media: Vec<Value> = body
        .get("media_urls")
        .and_then(Value::as_array)
        .map(|urls| urls.iter().map(|u| json!({"url": u})).collect())
        .unwrap_or_default();
    data.insert("media".into(), Value::Array(media));
    (StatusCode::OK, axum::Json(json!({ "data": data }))).into_response()
}

/// Why a send request is rejected.
#[derive(Debug)]
struct Rejection {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
}

impl Rejection {
    fn invalid(detail: &str) -> Rejection {
        Rejection {
            status: StatusCode::BAD_REQUEST,
            code: CODE_INVALID_REQUEST,
            title: "Invalid request",
            detail: detail.to_owned(),
        }
    }

    fn into_response(self) -> Response {
        error_response(self.status, self.code, self.title, &self.detail)
    }
}

/// Validates a send request: key (10004), JSON object (10002), E.164 numbers (10001), then text
/// or media (10002).
fn validate(shared: &Shared, headers: &HeaderMap, body: &Value) -> Result<(), Rejection> {
    if !authorized(shared, headers) {
        return Err(Rejection {
            status: StatusCode::UNAUTHORIZED,
            code: CODE_AUTHENTICATION,
            title: "Authentication failed",
            detail: UNAUTHORIZED_DETAIL.to_owned(),
        });
    }
    if !body.is_object() {
        return Err(Rejection::invalid("The body must be a JSON object."));
    }
    for field in ["from", "to"] {
        let number = body.get(field).and_then(Value::as_str).unwrap_or_default();
        if !is_e164(number) {
            return Err(Rejection {
                status: StatusCode::BAD_REQUEST,
                code: CODE_INVALID_NUMBER,
                title: "Invalid phone number",
                detail: format!("`{field}` must be an E.164 number, got {:?}.", body.get(field)),
            });
        }
    }
    if body.get("text").is_some_and(|t| !t.is_null() && !t.is_string()) {
        return Err(Rejection::invalid("`text` must be a string."));
    }
    let text = body.get("text").and_then(Value::as_str).is_some_and(|t| !t.is_empty());
    let media = match body.get("media_urls") {
        None | Some(Value::Null) => false,
        Some(Value::Array(urls)) if urls.iter().all(Value::is_string) => !urls.is_empty(),
        Some(_) => return Err(Rejection::invalid("`media_urls` must be an array of strings.")),
    };
    if !text && !media {
        return Err(Rejection::invalid("Either `text` or `media_urls` is required."));
    }
    Ok(())
}

fn message_id_of(response_body: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(response_body).ok()?.get("data")?.get("id")?.as_str().map(str::to_owned)
}

/// `POST /sendmessage`.
pub async fn send_message(
    State(shared): State<std::sync::Arc<Shared>>,
    kill: Option<axum::Extension<ConnectionKill>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let scripted = shared.next_scripted();
    let mut record = RecordedSend {
        received_at: time::OffsetDateTime::now_utc(),
        authorization: header_string(&headers, header::AUTHORIZATION),
        content_type: header_string(&headers, header::CONTENT_TYPE),
        body: body.clone(),
        raw_body: raw.to_vec(),
        status: 0,
        message_id: None,
    };
    let response = match scripted {
        Some(ScriptedResponse::Drop) => {
            tracing::info!("POST /sendmessage: dropping the connection (scripted)");
            shared.record_send(record);
            if let Some(axum::Extension(kill)) = kill {
                kill.kill();
            }
            return std::future::pending().await;
        }
        Some(ScriptedResponse::Accept) => accepted(&body, &uuid::Uuid::new_v4().to_string()),
        Some(ScriptedResponse::AcceptWithoutId) => (StatusCode::OK, axum::Json(json!({"data": {}}))).into_response(),
        Some(ScriptedResponse::Status { status, body, retry_after }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body.unwrap_or_default()).into_response();
            if let Some(seconds) = retry_after
                && let Ok(v) = HeaderValue::from_str(&seconds.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
            response
        }
        Some(ScriptedResponse::Error { status, code, title, detail }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            error_response(status, &code, &title, &detail)
        }
        None => match validate(&shared, &headers, &body) {
            Ok(()) => accepted(&body, &uuid::Uuid::new_v4().to_string()),
            Err(rejection) => rejection.into_response(),
        },
    };
    let (parts, response_body) = response.into_parts();
    let bytes = axum::body::to_bytes(response_body, usize::MAX).await.unwrap_or_default();
    record.status = parts.status.as_u16();
    record.message_id = message_id_of(&bytes);
    tracing::info!(status = record.status, message_id = ?record.message_id, "POST /sendmessage");
    shared.record_send(record);
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_checking_e164_should_accept_plus_and_8_to_15_digits_not_starting_with_zero() {
        for ok in ["+12345678", "+123456789012345", "+447700900123"] {
            assert!(is_e164(ok), "{ok}");
        }
        for bad in ["12345678", "+1234567", "+1234567890123456", "+0123456789", "+1234 5678", "+", "", "++12345678"] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}

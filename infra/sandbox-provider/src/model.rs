//! The sandbox's data: configuration, errors, what it recorded, scripted answers and inbound
//! message specs.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize, Serializer};

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Where to listen (port 0: any free port).
    pub bind: SocketAddr,
    /// Accepted `Authorization: Bearer <key>` values.
    pub api_keys: Vec<String>,
}

/// Why a sandbox operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `deliver_inbound` was called before `configure_webhook`.
    #[error("no webhook is configured (POST /_sandbox/webhook or Sandbox::configure_webhook)")]
    NoWebhook,
    /// The webhook could not be reached.
    #[error("cannot deliver to {url}: {source}")]
    Deliver {
        /// The webhook URL.
        url: String,
        /// The HTTP client's error.
        source: reqwest::Error,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(reqwest::Error),
}

fn lossy<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// One `POST /sendmessage` as received, with the status it was answered with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedSend {
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: time::OffsetDateTime,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body as JSON (`Null` if it is not JSON).
    pub body: serde_json::Value,
    /// The body as received.
    #[serde(serialize_with = "lossy")]
    pub raw_body: Vec<u8>,
    /// The status answered; `0` when the connection was dropped without an answer.
    pub status: u16,
    /// `data.id` of the answer, if it had one.
    pub message_id: Option<String>,
}

/// One `GET /verify` as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedVerify {
    /// When it arrived.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: time::OffsetDateTime,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `challenge` query parameter.
    pub challenge: Option<String>,
    /// The status answered.
    pub status: u16,
}

/// How the next `POST /sendmessage` is answered (overrides validation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScriptedResponse {
    /// The normal 200 with a new `data.id`.
    Accept,
    /// `200 {"data":{}}`.
    AcceptWithoutId,
    /// A raw status and body (`None`: empty body), with an optional `Retry-After`.
    Status {
        /// The status.
        status: u16,
        /// The body.
        #[serde(default)]
        body: Option<String>,
        /// `Retry-After` in seconds.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// A `{"errors":[{code,title,detail}]}` body with this status.
    Error {
        /// The status.
        status: u16,
        /// `code`.
        code: String,
        /// `title`.
        title: String,
        /// `detail`.
        detail: String,
    },
    /// Close the connection without answering.
    Drop,
}

/// An inbound message to deliver to the configured webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct InboundSpec {
    /// Sender (E.164).
    pub from: String,
    /// Recipient (E.164).
    pub to: String,
    /// Text, omitted from the body when `None`.
    pub text: Option<String>,
    /// Media URLs, `media` omitted from the body when empty.
    pub media_urls: Vec<String>,
    /// `data.payload.id` (default: a new UUID).
    pub payload_id: Option<String>,
    /// Send `to` as an object `{"phone_number":..}` instead of an array.
    pub to_as_object: bool,
    /// Send this `X-Signature-256` value instead of the computed one.
    pub signature_override: Option<String>,
    /// Send no signature header at all.
    pub omit_signature: bool,
}

/// The result of delivering an inbound webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundDelivery {
    /// The webhook's status.
    pub status: u16,
    /// The webhook's response body.
    pub response_body: String,
    /// `data.payload.id` of the message sent.
    pub payload_id: String,
    /// The exact body bytes sent.
    #[serde(serialize_with = "lossy")]
    pub body: Vec<u8>,
    /// The `X-Signature-256` header sent, if any.
    pub signature: Option<String>,
}

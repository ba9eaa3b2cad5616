//! A fake SMS provider implementing the Yeastar "General SMS API" contract (what a real provider
//! exposes to the PBX: `GET /verify`, `POST /sendmessage`, and signed inbound webhooks), so the
//! whole message path runs offline and tests can assert exactly what a provider received.
//! Tests run it in-process through [`Sandbox`]; humans use the `sandbox-provider` binary and the
//! `/_sandbox/*` control endpoints.
//!
//! # Layout
//! - [`model`]: configuration, errors, recorded calls, scripted responses, inbound specs.
//! - [`contract`]: the provider API (`/verify`, `/sendmessage`) and its validation rules.
//! - [`inbound`]: building and signing inbound webhook bodies.
//! - [`providers`]: the send APIs of the named providers (Twilio, Meta, Telnyx, ...).
//! - [`whatsapp_templates`]: Graph's `message_templates` listing of a WhatsApp Business Account.
//! - [`control`]: the `/_sandbox/*` endpoints.
//! - [`server`]: the [`Sandbox`] handle and the connection loop (which can drop a connection
//!   without answering).

pub mod contract;
pub mod control;
pub mod inbound;
pub mod model;
pub mod providers;
pub mod server;
pub mod whatsapp_templates;

pub use model::{
    InboundDelivery, InboundSpec, RecordedSend, RecordedVerify, SandboxConfig, SandboxError, ScriptedResponse,
};
pub use server::Sandbox;

//! Use cases, one module each: they take their ports as references, make the decisions, and
//! return an outcome or a use-case error classified as retryable or permanent.

use crate::ids::{MessageId, Sequence, SessionId};
use crate::ports::{Sequences, StoreError};

pub mod admin;
pub mod auto_close;
pub mod campaigns;
pub mod channel_health;
pub mod chat_logs;
pub mod event_push;
pub mod files;
pub mod groups;
pub mod idempotency;
pub mod ingest;
pub mod outbox;
pub mod phonebooks;
pub mod receipts;
pub mod routing;
pub mod sending;
pub mod sessions;
pub mod sla;
pub mod templates;
pub mod tokens;

/// Allocates the next message id.
pub(crate) async fn next_message_id<N: Sequences>(sequences: &N) -> Result<MessageId, StoreError> {
    MessageId::new(sequences.next_id(Sequence::Message).await?)
        .map_err(|e| StoreError::permanent("allocate message id", e))
}

/// The id a new session gets: allocated on first need and kept in `reserved`, so retries of a
/// lost race reuse it instead of burning ids.
pub(crate) async fn reserved_session_id<N: Sequences>(
    sequences: &N,
    reserved: &mut Option<SessionId>,
) -> Result<SessionId, StoreError> {
    if let Some(id) = *reserved {
        return Ok(id);
    }
    let id = SessionId::new(sequences.next_id(Sequence::Session).await?)
        .map_err(|e| StoreError::permanent("allocate session id", e))?;
    *reserved = Some(id);
    Ok(id)
}

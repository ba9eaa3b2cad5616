//! `Idempotency-Key` for mutating API calls (decisions.md "HTTP API"): a retry with the same key
//! returns the first result and does nothing twice; the same key with a different request is
//! refused; a retry while the first is still running is told so (Yeastar errcode 2 PROCESSING).
//!
//! Keys are scoped to the caller (two clients may use the same key) and remembered for 24 hours.
//! A request that failed on our side (HTTP 5xx) releases its key so the client can retry it.

use std::future::Future;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::ids::IdempotencyKey;
use crate::ports::{Clock, IdempotencyStart, IdempotencyStore, StoreError};

/// How long a key is remembered.
pub const KEY_TTL: Duration = Duration::from_secs(86_400);
/// How long a started request holds its key before another attempt may take over.
pub const IN_PROGRESS_LEASE: Duration = Duration::from_secs(60);

/// An HTTP reply as remembered: status and JSON body text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
}

impl StoredReply {
    fn encode(&self) -> String {
        format!("{}\n{}", self.status, self.body)
    }

    fn decode(s: &str) -> Option<Self> {
        let (status, body) = s.split_once('\n')?;
        Some(Self { status: status.parse().ok()?, body: body.to_owned() })
    }
}

/// What an idempotent call ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Idempotent {
    /// Run now (or the key was absent): this reply.
    Fresh(StoredReply),
    /// A replay of the first request's reply.
    Replayed(StoredReply),
    /// The key belongs to a different request.
    KeyReused,
    /// The first request with this key is still running.
    InProgress,
}

/// A request's fingerprint: what must match for a key to be replayed.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Runs `op` at most once per (caller, key).
pub async fn run_idempotent<S, K, F, Fut>(
    store: &S,
    clock: &K,
    caller: &Principal,
    key: Option<&IdempotencyKey>,
    fingerprint: &str,
    op: F,
) -> Result<Idempotent, StoreError>
where
    S: IdempotencyStore,
    K: Clock,
    F: FnOnce() -> Fut,
    Fut: Future<Output = StoredReply>,
{
    let Some(key) = key else {
        return Ok(Idempotent::Fresh(op().await));
    };
    let scope_key = format!("{}#{}", caller.scope(), key.as_str());
    match store.start(&scope_key, fingerprint, clock.now()).await? {
        IdempotencyStart::Replay(stored) => {
            Ok(StoredReply::decode(&stored).map_or(Idempotent::InProgress, Idempotent::Replayed))
        }
        IdempotencyStart::Mismatch => Ok(Idempotent::KeyReused),
        IdempotencyStart::InProgress => Ok(Idempotent::InProgress),
        IdempotencyStart::Fresh => {
            let reply = op().await;
            if reply.status >= 500 {
                store.release(&scope_key).await?;
            } else {
                store.complete(&scope_key, &reply.encode(), clock.now()).await?;
            }
            Ok(Idempotent::Fresh(reply))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_reply_round_trips() {
        let r = StoredReply { status: 200, body: "{\"a\":\n1}".into() };
        assert_eq!(StoredReply::decode(&r.encode()), Some(r));
        assert_eq!(StoredReply::decode("nonsense"), None);
    }

    #[test]
    fn fingerprint_depends_on_every_part() {
        let a = fingerprint("POST", "/x", b"{}");
        assert_ne!(a, fingerprint("GET", "/x", b"{}"));
        assert_ne!(a, fingerprint("POST", "/y", b"{}"));
        assert_ne!(a, fingerprint("POST", "/x", b"{ }"));
        assert_eq!(a, fingerprint("POST", "/x", b"{}"));
    }
}

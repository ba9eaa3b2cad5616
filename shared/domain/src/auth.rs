//! Who is calling: API clients and agents, their tokens, and password hashing
//! (decisions.md "HTTP API": tokens as Yeastar's, stored hashed).
//!
//! Access tokens live 1800 s and refresh tokens 86400 s (Yeastar `get_token`). A token is 32
//! random alphanumeric characters (~190 bits); only its SHA-256 is stored, which is enough for a
//! high-entropy secret. Agent passwords are low-entropy and are hashed with Argon2id.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ids::{ExtensionId, ExtensionNumber};
use crate::secret::Secret;
use crate::time::Timestamp;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(1800);
/// Lifetime of a refresh token.
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(86_400);
/// Characters in a token.
pub const TOKEN_LEN: usize = 32;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// An API client (administrator integration); may act as any extension or as `api`.
    ApiClient {
        /// Its client id.
        client_id: String,
    },
    /// An agent; may act only as its own extension and may not call admin endpoints.
    Agent {
        /// Its extension id.
        extension_id: ExtensionId,
        /// Its extension number.
        number: ExtensionNumber,
    },
}

impl Principal {
    /// A stable text for idempotency scopes and logs (never secret).
    pub fn scope(&self) -> String {
        match self {
            Principal::ApiClient { client_id } => format!("client:{client_id}"),
            Principal::Agent { extension_id, .. } => format!("ext:{extension_id}"),
        }
    }

    /// Whether the caller may use administrator endpoints.
    pub fn is_admin(&self) -> bool {
        matches!(self, Principal::ApiClient { .. })
    }
}

/// Access or refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Authorises API calls.
    Access,
    /// Obtains new tokens.
    Refresh,
}

/// What a stored token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenGrant {
    /// To whom.
    pub principal: Principal,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Issued at.
    pub issued_at: Timestamp,
    /// Expires at.
    pub expires_at: Timestamp,
}

impl TokenGrant {
    /// Whether the grant is still valid at `now`.
    pub fn is_valid_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}

/// Builds a token from random bytes: each byte picks one of 62 alphanumeric characters
/// (rejection sampling keeps the distribution uniform: bytes ≥ 248 are skipped).
pub fn token_from_random(bytes: &[u8]) -> Option<String> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let token: String = bytes
        .iter()
        .filter(|b| **b < 248)
        .take(TOKEN_LEN)
        .map(|b| char::from(ALPHABET[usize::from(*b % 62)]))
        .collect();
    (token.len() == TOKEN_LEN).then_some(token)
}

/// The stored form of a token: lowercase hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordHashError(String);

/// Hashes a password with Argon2id (default parameters) and the given 16-byte salt.
pub fn hash_password(password: &Secret, salt: [u8; 16]) -> Result<String, PasswordHashError> {
    Argon2::default()
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordHashError(e.to_string()))
}

/// Whether `password` matches a stored Argon2 PHC string.
pub fn verify_password(password: &Secret, phc: &str) -> bool {
    Argon2::default().verify_password(password.expose().as_bytes(), phc).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_token_is_built_from_random_bytes_should_be_32_alphanumerics() {
        let bytes: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37)).collect();
        let t = token_from_random(&bytes).unwrap();
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(token_from_random(&[255u8; 64]).is_none(), "all-rejected bytes give no token");
    }

    #[test]
    fn when_token_is_hashed_should_be_stable_hex() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn when_password_is_hashed_should_verify_only_itself() {
        let phc = hash_password(&Secret::new("correct horse"), [7u8; 16]).unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password(&Secret::new("correct horse"), &phc));
        assert!(!verify_password(&Secret::new("wrong horse"), &phc));
        assert!(!verify_password(&Secret::new("correct horse"), "not a hash"));
    }

    #[test]
    fn when_grant_expires_should_be_invalid_from_that_instant() {
        let grant = TokenGrant {
            principal: Principal::ApiClient { client_id: "c".into() },
            kind: TokenKind::Access,
            issued_at: Timestamp::from_millis(0),
            expires_at: Timestamp::from_millis(1_000),
        };
        assert!(grant.is_valid_at(Timestamp::from_millis(999)));
        assert!(!grant.is_valid_at(Timestamp::from_millis(1_000)));
    }
}

/// Consecutive failed logins (`get_token`, `refresh_token`) from one source address after which
/// it is refused for [`AUTH_BLOCK`] (Yeastar blocks the address after 5, seed: "API Authentication
/// Blocked Out").
pub const MAX_AUTH_FAILURES: u32 = 5;
/// How long a source address stays refused, and how long a failure is remembered.
pub const AUTH_BLOCK: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Failed logins from one source address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthFailures {
    /// Consecutive failures (a success clears them).
    pub count: u32,
    /// The last one.
    pub last_at: Timestamp,
}

impl AuthFailures {
    /// Until when the address is refused, if it is now.
    pub fn blocked_until(&self, now: Timestamp) -> Option<Timestamp> {
        let until = self.last_at.plus(AUTH_BLOCK);
        (self.count >= MAX_AUTH_FAILURES && now < until).then_some(until)
    }

    /// The record after one more failure at `now` (failures older than [`AUTH_BLOCK`] are
    /// forgotten).
    pub fn after_failure(previous: Option<AuthFailures>, now: Timestamp) -> AuthFailures {
        let count = match previous {
            Some(p) if now.since(p.last_at) < AUTH_BLOCK => p.count.saturating_add(1),
            _ => 1,
        };
        AuthFailures { count, last_at: now }
    }
}

#[cfg(test)]
mod throttle_tests {
    use super::*;

    #[test]
    fn five_failures_in_a_row_block_for_fifteen_minutes_and_old_ones_are_forgotten() {
        let t0 = Timestamp::from_unix_seconds(1_800_000_000);
        let mut f = None;
        for i in 1..=5u64 {
            let next = AuthFailures::after_failure(f, t0.plus(std::time::Duration::from_secs(i)));
            f = Some(next);
        }
        let f = f.unwrap_or(AuthFailures { count: 0, last_at: t0 });
        assert_eq!(f.count, 5);
        assert!(f.blocked_until(t0.plus(std::time::Duration::from_secs(60))).is_some());
        assert_eq!(f.blocked_until(t0.plus(std::time::Duration::from_secs(5 + 15 * 60))), None);
        let four = AuthFailures { count: 4, last_at: t0 };
        assert_eq!(four.blocked_until(t0), None);
        let later = AuthFailures::after_failure(Some(four), t0.plus(AUTH_BLOCK));
        assert_eq!(later.count, 1, "a failure after a quiet quarter hour starts again");
    }
}

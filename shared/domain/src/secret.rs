//! Secrets: credentials and keys in a type that cannot be printed, logged or serialized.
//!
//! [`Secret`] wraps `secrecy::SecretString`: `Debug` prints `[REDACTED]`, there is no `Display`
//! and no `Serialize`, and the memory is zeroed on drop. The only way to the text is the explicit
//! [`Secret::expose`], which adapters call at the moment they sign, send or store.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// A secret string (API key, webhook secret, client secret, password).
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret text. Call only where the secret is used, never to log it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl PartialEq for Secret {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.expose().as_bytes(), other.expose().as_bytes())
    }
}

/// Compares two byte strings in time that depends on neither content nor length: both are hashed
/// first, then the digests are compared with `subtle`.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let ha = Sha256::digest(a);
    let hb = Sha256::digest(b);
    ha.as_slice().ct_eq(hb.as_slice()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn when_secret_is_debug_printed_should_not_reveal_it() {
        let s = Secret::new("hunter2-very-secret");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn when_secrets_are_compared_should_match_on_content() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }
}

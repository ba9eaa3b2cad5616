//! Envelope encryption of channel credentials with AWS KMS (decisions.md "Data": credentials are
//! stored encrypted and never returned).
//!
//! Each seal asks KMS for a fresh 256-bit data key (`GenerateDataKey` under the stack's
//! `CredentialsKey`), encrypts the credential values with AES-256-GCM under that key and a random
//! 96-bit nonce, binds the ciphertext to its owner with the associated data (the channel's key,
//! so a sealed blob copied onto another channel does not open), and keeps only the KMS-encrypted
//! copy of the data key next to the ciphertext. Opening asks KMS to decrypt the data key; the
//! plaintext data keys are cached in memory for [`DATA_KEY_CACHE_TTL`] (bounded to
//! [`DATA_KEY_CACHE_ENTRIES`]) so a warm Lambda does not call KMS on every message, and are zeroed
//! when dropped. The plaintext credentials never reach DynamoDB.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// How long a decrypted data key stays in memory.
pub const DATA_KEY_CACHE_TTL: Duration = Duration::from_secs(300);
/// At most this many decrypted data keys are cached (one per channel in practice).
pub const DATA_KEY_CACHE_ENTRIES: usize = 1024;
/// The cipher suite stored with each blob, so a later change can still open old ones.
const SUITE: &str = "kms-aes256gcm-v1";
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// A sealed value as stored: the encrypted data key, the nonce and the ciphertext, Base64.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBlob {
    /// The cipher suite (`kms-aes256gcm-v1`).
    pub suite: String,
    /// The KMS key that encrypted the data key (ARN or id, as KMS reported it).
    pub key_id: String,
    /// The data key, encrypted by KMS.
    pub data_key: String,
    /// The AES-GCM nonce.
    pub nonce: String,
    /// The ciphertext with its tag.
    pub ciphertext: String,
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// KMS could not be reached or refused for now: worth retrying.
    #[error("KMS {operation} failed: {message}")]
    Kms {
        /// The KMS operation.
        operation: &'static str,
        /// The SDK error with its context.
        message: String,
    },
    /// The blob is damaged, was made for another owner, or KMS returned something unusable.
    #[error("sealed value cannot be opened: {0}")]
    Corrupt(String),
}

impl VaultError {
    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Kms { .. })
    }
}

type DataKey = Zeroizing<[u8; KEY_LEN]>;

/// Seals and opens values under one KMS key.
#[derive(Clone)]
pub struct KmsVault {
    client: aws_sdk_kms::Client,
    key_id: String,
    cache: Arc<Mutex<HashMap<String, (DataKey, Instant)>>>,
}

impl std::fmt::Debug for KmsVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsVault").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

fn kms_error<E: std::error::Error + 'static>(operation: &'static str, err: E) -> VaultError {
    VaultError::Kms { operation, message: aws_sdk_kms::error::DisplayErrorContext(&err).to_string() }
}

fn data_key(bytes: &[u8]) -> Result<DataKey, VaultError> {
    let array: [u8; KEY_LEN] = bytes
        .try_into()
        .map_err(|_| VaultError::Corrupt(format!("data key is {} bytes, not {KEY_LEN}", bytes.len())))?;
    Ok(Zeroizing::new(array))
}

fn decode(what: &str, v: &str) -> Result<Vec<u8>, VaultError> {
    STANDARD.decode(v).map_err(|e| VaultError::Corrupt(format!("{what}: {e}")))
}

fn cipher(key: &DataKey) -> Result<Aes256Gcm, VaultError> {
    Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| VaultError::Corrupt("data key length".into()))
}

impl KmsVault {
    /// A vault over KMS key `key_id` (id, ARN or alias).
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into(), cache: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// Encrypts `plaintext` for `owner` (the associated data that must match when opening).
    pub async fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<SealedBlob, VaultError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", e))?;
        let key = data_key(out.plaintext.as_ref().map(Blob::as_ref).unwrap_or_default())?;
        let encrypted_key = out
            .ciphertext_blob
            .ok_or_else(|| VaultError::Corrupt("GenerateDataKey returned no encrypted key".into()))?;
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| VaultError::Corrupt(format!("no randomness for a nonce: {e}")))?;
        let ciphertext = cipher(&key)?
            .encrypt((&nonce).into(), Payload { msg: plaintext, aad: owner.as_bytes() })
            .map_err(|_| VaultError::Corrupt("encryption failed".into()))?;
        let blob = SealedBlob {
            suite: SUITE.to_owned(),
            key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()),
            data_key: STANDARD.encode(encrypted_key.as_ref()),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        };
        self.remember(&blob.data_key, key);
        Ok(blob)
    }

    /// Decrypts `blob`, which must have been sealed for `owner`.
    pub async fn open(&self, owner: &str, blob: &SealedBlob) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        if blob.suite != SUITE {
            return Err(VaultError::Corrupt(format!("unknown cipher suite {}", blob.suite)));
        }
        let nonce: [u8; NONCE_LEN] =
            decode("nonce", &blob.nonce)?.try_into().map_err(|_| VaultError::Corrupt("nonce length".into()))?;
        let ciphertext = decode("ciphertext", &blob.ciphertext)?;
        let key = match self.cached(&blob.data_key) {
            Some(key) => key,
            None => {
                let out = self
                    .client
                    .decrypt()
                    .key_id(&blob.key_id)
                    .ciphertext_blob(Blob::new(decode("data key", &blob.data_key)?))
                    .send()
                    .await
                    .map_err(|e| match e.as_service_error() {
                        Some(s) if s.is_invalid_ciphertext_exception() || s.is_incorrect_key_exception() => {
                            VaultError::Corrupt(format!("KMS refused the data key: {s}"))
                        }
                        _ => kms_error("Decrypt", e),
                    })?;
                let key = data_key(out.plaintext.as_ref().map(Blob::as_ref).unwrap_or_default())?;
                self.remember(&blob.data_key, key.clone());
                key
            }
        };
        cipher(&key)?
            .decrypt((&nonce).into(), Payload { msg: &ciphertext, aad: owner.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| VaultError::Corrupt("ciphertext does not open for this owner".into()))
    }

    fn cached(&self, encrypted_key: &str) -> Option<DataKey> {
        let cache = self.cache.lock().ok()?;
        cache.get(encrypted_key).filter(|(_, at)| at.elapsed() < DATA_KEY_CACHE_TTL).map(|(k, _)| k.clone())
    }

    fn remember(&self, encrypted_key: &str, key: DataKey) {
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= DATA_KEY_CACHE_ENTRIES {
                cache.retain(|_, (_, at)| at.elapsed() < DATA_KEY_CACHE_TTL);
                if cache.len() >= DATA_KEY_CACHE_ENTRIES {
                    cache.clear();
                }
            }
            cache.insert(encrypted_key.to_owned(), (key, Instant::now()));
        }
    }
}

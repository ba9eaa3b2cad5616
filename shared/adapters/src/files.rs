//! The bytes of uploaded files (`domain::files`) on S3, in the message-files bucket
//! (`MessageFilesBucket`, whose lifecycle rule deletes objects under `files/` after 3 days), and
//! presigned GET links to them. Records are on the Conversation table (`dynamodb::files`); one
//! [`crate::dynamodb::DynamoStore`] built [`with_files`](crate::dynamodb::DynamoStore::with_files)
//! implements `FileStore` over both.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::presigning::PresigningConfig;
use domain::files::{FileId, StoredFile};
use domain::ports::StoreError;

use crate::s3::s3_error;

/// The longest a SigV4 presigned link may live.
const MAX_LINK: Duration = Duration::from_secs(7 * 24 * 3600);

/// The message-files bucket.
#[derive(Debug, Clone)]
pub struct S3FileObjects {
    client: Client,
    bucket: String,
}

impl S3FileObjects {
    /// Files in `bucket` (a client from [`crate::s3::client`]).
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    /// Stores a file's bytes under its object key.
    pub async fn put(&self, file: &StoredFile, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(file.id.object_key())
            .content_type(&file.content_type)
            .content_disposition(content_disposition(&file.name))
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| s3_error("store file", e))?;
        Ok(())
    }

    /// A file's bytes; `None` when there is no such object.
    pub async fn get(&self, id: &FileId) -> Result<Option<Vec<u8>>, StoreError> {
        let result = self.client.get_object().bucket(&self.bucket).key(id.object_key()).send().await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(s3_error("read file", e)),
        };
        let body = out.body.collect().await.map_err(|e| StoreError::retryable("read file", e))?;
        Ok(Some(body.into_bytes().to_vec()))
    }

    /// A presigned GET of the file that lasts `expires_in` (at most 7 days, at least 1 second).
    pub async fn link(&self, id: &FileId, expires_in: Duration) -> Result<String, StoreError> {
        let expires_in = expires_in.clamp(Duration::from_secs(1), MAX_LINK);
        let config =
            PresigningConfig::expires_in(expires_in).map_err(|e| StoreError::permanent("sign file link", e))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(id.object_key())
            .presigned(config)
            .await
            .map_err(|e| s3_error("sign file link", e))?;
        Ok(request.uri().to_owned())
    }
}

/// `inline` with the name: an ASCII fallback and the exact UTF-8 name (RFC 6266 / RFC 8187).
fn content_disposition(name: &str) -> String {
    let fallback: String =
        name.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("inline; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_disposition_names_the_file_in_ascii_and_in_utf8() {
        assert_eq!(content_disposition("demo.wav"), "inline; filename=\"demo.wav\"; filename*=UTF-8''demo.wav");
        assert_eq!(
            content_disposition("é \"x\".txt"),
            "inline; filename=\"_ _x_.txt\"; filename*=UTF-8''%C3%A9%20%22x%22.txt"
        );
    }
}

//! Uploaded files: the record on the Conversation table (`FILE#{id}` / `FILE`, TTL `expires_at`)
//! and the bytes in the message-files bucket ([`crate::files::S3FileObjects`]).
//!
//! DynamoDB's TTL and S3's lifecycle rule delete lazily (hours to days late), so every read
//! compares the record's `expires_at` with the wall clock and treats an expired file as gone;
//! the bytes are read only through a live record.

use domain::files::{FileId, StoredFile};
use domain::ports::{Clock, FileStore, StoreError};
use domain::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{corrupt, store_error};
use super::{DynamoStore, items, keys};
use crate::files::S3FileObjects;
use crate::system::SystemClock;

/// A file record item.
#[derive(Debug, Serialize, Deserialize)]
struct FileItem {
    pk: String,
    sk: String,
    /// The record, JSON.
    file: String,
    /// TTL (epoch seconds, rounded up).
    expires_at: i64,
}

/// Epoch seconds at or after `t` (a TTL never ends a file early).
fn ttl_seconds(t: Timestamp) -> i64 {
    let s = t.as_unix_seconds();
    if Timestamp::from_unix_seconds(s) < t { s + 1 } else { s }
}

impl DynamoStore {
    fn file_objects(&self, operation: &'static str) -> Result<&S3FileObjects, StoreError> {
        self.files.as_ref().ok_or_else(|| {
            StoreError::permanent(
                operation,
                "this function has no message-files bucket: set MESSAGE_FILES_BUCKET and build its store with \
                 DynamoStore::with_files",
            )
        })
    }

    /// The record, expired or not.
    async fn file_record(&self, id: &FileId) -> Result<Option<StoredFile>, StoreError> {
        let Some(item) = self.get("read file", self.conversation(), keys::file(id)).await? else {
            return Ok(None);
        };
        let stored: FileItem = items::from_item("file", item).map_err(|e| corrupt("read file", e))?;
        serde_json::from_str(&stored.file).map(Some).map_err(|e| corrupt("read file", e))
    }

    /// The record unless it expired by `now`.
    async fn live_file(&self, id: &FileId, now: Timestamp) -> Result<Option<StoredFile>, StoreError> {
        Ok(self.file_record(id).await?.filter(|f| !f.is_expired(now)))
    }
}

impl FileStore for DynamoStore {
    async fn put_file(&self, file: &StoredFile, bytes: Vec<u8>) -> Result<(), StoreError> {
        // The bytes first: a record always has its object.
        self.file_objects("store file")?.put(file, bytes).await?;
        let (pk, sk) = keys::file(&file.id);
        let item = FileItem {
            pk,
            sk,
            file: serde_json::to_string(file).map_err(|e| corrupt("write file", e))?,
            expires_at: ttl_seconds(file.expires_at),
        };
        let item = items::to_item("file", &item).map_err(|e| corrupt("write file", e))?;
        self.client
            .put_item()
            .table_name(self.conversation())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("write file", e))?;
        Ok(())
    }

    async fn file(&self, id: &FileId) -> Result<Option<StoredFile>, StoreError> {
        self.live_file(id, SystemClock.now()).await
    }

    async fn file_bytes(&self, id: &FileId) -> Result<Option<Vec<u8>>, StoreError> {
        let objects = self.file_objects("read file")?;
        match self.live_file(id, SystemClock.now()).await? {
            Some(_) => objects.get(id).await,
            None => Ok(None),
        }
    }

    async fn download_url(&self, file: &StoredFile) -> Result<String, StoreError> {
        let remaining = file.expires_at.since(SystemClock.now());
        self.file_objects("sign file link")?.link(&file.id, remaining).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_rounds_up_to_a_whole_second() {
        assert_eq!(ttl_seconds(Timestamp::from_unix_seconds(100)), 100);
        assert_eq!(ttl_seconds(Timestamp::from_micros(100_000_001)), 101);
    }
}

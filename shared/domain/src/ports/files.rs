//! The port of uploaded files (`crate::files`, `crate::services::files`): records and bytes kept
//! for [`crate::files::FILE_RETENTION`], and links a provider fetches them from.

use crate::files::{FileId, StoredFile};

use super::StoreError;

/// Uploaded files: the record and the bytes, both gone after `FILE_RETENTION`.
pub trait FileStore {
    /// Stores the bytes and the record; the object and the record both expire after
    /// `FILE_RETENTION` (`file.expires_at`).
    async fn put_file(&self, file: &StoredFile, bytes: Vec<u8>) -> Result<(), StoreError>;
    /// A file's record; `None` when it was never stored or has expired.
    async fn file(&self, id: &FileId) -> Result<Option<StoredFile>, StoreError>;
    /// A file's bytes; `None` when it was never stored or has expired.
    async fn file_bytes(&self, id: &FileId) -> Result<Option<Vec<u8>>, StoreError>;
    /// A URL a provider can fetch the file from until it expires (S3: a presigned GET).
    async fn download_url(&self, file: &StoredFile) -> Result<String, StoreError>;
}

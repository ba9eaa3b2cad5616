//! `message/batchupload`: files for message sessions and campaigns. The whole upload is checked
//! first ([`check_upload`]); only then is each file stored, with a fresh [`FileId`], for
//! `FILE_RETENTION`.

use crate::files::{FileId, StoredFile, UploadPart, UploadRefusal, check_upload};
use crate::ports::{Clock, FileStore, Random, StoreError};

/// Why an upload did not complete.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The upload was refused (permanent); nothing was stored.
    #[error("upload refused: {0}")]
    Refused(#[from] UploadRefusal),
    /// The store failed (retryable per [`StoreError::retryable`]); files stored before the
    /// failure stay until they expire, unreferenced.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stored file and the URL it can be fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The record.
    pub file: StoredFile,
    /// Where to fetch it until it expires.
    pub url: String,
}

/// Checks the parts and stores every file; the files in the order sent.
pub async fn upload_files<F, R, K>(
    store: &F,
    random: &R,
    clock: &K,
    parts: Vec<UploadPart>,
) -> Result<Vec<UploadedFile>, UploadError>
where
    F: FileStore,
    R: Random,
    K: Clock,
{
    let accepted = check_upload(parts)?;
    let now = clock.now();
    let mut uploaded = Vec::with_capacity(accepted.len());
    for f in accepted {
        let size = u64::try_from(f.bytes.len()).unwrap_or(u64::MAX);
        let file = StoredFile::new(FileId::generate(random), f.name, f.content_type, size, now);
        store.put_file(&file, f.bytes).await?;
        let url = store.download_url(&file).await?;
        uploaded.push(UploadedFile { file, url });
    }
    Ok(uploaded)
}

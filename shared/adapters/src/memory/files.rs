//! Uploaded files in memory, with the DynamoDB adapter's semantics: a file past its `expires_at`
//! (by the wall clock) reads as missing, and its link is a `memory://` URL.

use domain::files::{FileId, StoredFile};
use domain::ports::{Clock, FileStore, StoreError};

use super::{InMemoryStore, lock};
use crate::system::SystemClock;

impl InMemoryStore {
    /// How many file records are held, expired ones included (tests assert "nothing stored").
    pub fn file_count(&self) -> usize {
        lock(&self.state).files.len()
    }
}

impl FileStore for InMemoryStore {
    async fn put_file(&self, file: &StoredFile, bytes: Vec<u8>) -> Result<(), StoreError> {
        lock(&self.state).files.insert(file.id.clone(), (file.clone(), bytes));
        Ok(())
    }

    async fn file(&self, id: &FileId) -> Result<Option<StoredFile>, StoreError> {
        let now = SystemClock.now();
        Ok(lock(&self.state).files.get(id).map(|(f, _)| f.clone()).filter(|f| !f.is_expired(now)))
    }

    async fn file_bytes(&self, id: &FileId) -> Result<Option<Vec<u8>>, StoreError> {
        let now = SystemClock.now();
        Ok(lock(&self.state).files.get(id).filter(|(f, _)| !f.is_expired(now)).map(|(_, b)| b.clone()))
    }

    async fn download_url(&self, file: &StoredFile) -> Result<String, StoreError> {
        Ok(format!("memory://files/{}", file.id))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use domain::files::FILE_RETENTION;
    use domain::files::{UploadPart, UploadRefusal};
    use domain::services::files::{UploadError, upload_files};

    use super::*;
    use crate::memory::CountingRandom;

    fn part(name: Option<&str>, bytes: &[u8]) -> UploadPart {
        UploadPart {
            field: "files".into(),
            file_name: name.map(str::to_owned),
            content_type: None,
            bytes: bytes.to_vec(),
        }
    }

    #[tokio::test]
    async fn a_file_past_its_expiry_reads_as_missing() {
        let store = InMemoryStore::new();
        let now = SystemClock.now();
        let live = StoredFile::new(FileId::from_random_bytes([1; 16]), "a.txt".into(), "text/plain".into(), 1, now);
        let old = StoredFile::new(
            FileId::from_random_bytes([2; 16]),
            "b.txt".into(),
            "text/plain".into(),
            1,
            now.minus(FILE_RETENTION + Duration::from_secs(1)),
        );
        store.put_file(&live, b"a".to_vec()).await.unwrap();
        store.put_file(&old, b"b".to_vec()).await.unwrap();
        assert_eq!(store.file(&live.id).await.unwrap(), Some(live.clone()));
        assert_eq!(store.file_bytes(&live.id).await.unwrap(), Some(b"a".to_vec()));
        assert_eq!(store.file(&old.id).await.unwrap(), None);
        assert_eq!(store.file_bytes(&old.id).await.unwrap(), None);
        assert_eq!(store.file(&FileId::from_random_bytes([3; 16])).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_upload_stores_every_file_or_none() {
        let store = InMemoryStore::new();
        let random = CountingRandom::default();
        let clock = SystemClock;
        let refused = upload_files(&store, &random, &clock, vec![part(Some("a.txt"), b"a"), part(None, b"b")]).await;
        assert!(matches!(refused, Err(UploadError::Refused(UploadRefusal::BadName { position: 2, .. }))));
        assert_eq!(store.file_count(), 0);

        let done =
            upload_files(&store, &random, &clock, vec![part(Some("/x/a.txt"), b"a"), part(Some("b.png"), b"bb")])
                .await
                .unwrap();
        assert_eq!(store.file_count(), 2);
        assert_ne!(done[0].file.id, done[1].file.id);
        assert_eq!((done[1].file.name.as_str(), done[1].file.content_type.as_str()), ("b.png", "image/png"));
        assert_eq!(done[1].file.size, 2);
        assert_eq!(done[0].url, format!("memory://files/{}", done[0].file.id));
        assert_eq!(store.file_bytes(&done[1].file.id).await.unwrap(), Some(b"bb".to_vec()));
        assert_eq!(done[0].file.expires_at, done[0].file.uploaded_at.plus(FILE_RETENTION));
    }
}

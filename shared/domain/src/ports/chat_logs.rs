//! Ports of the external chat logs (`crate::chat_log`, `crate::services::chat_logs`): the
//! month-partitioned index of sessions by creation time, deletion, export jobs, the job queue,
//! the export's archive (a zip streamed to object storage) and its download link.

use std::time::Duration;

use crate::chat_log::{ExportId, ExportJob, ExportRequest, Month, SortOrder};
use crate::ids::{MessageId, SessionId};
use crate::message::Message;
use crate::session::Session;
use crate::time::Timestamp;

use super::StoreError;

/// One page of sessions from the chat-log index.
#[derive(Debug, Clone, Default)]
pub struct LogPage {
    /// Sessions, in the requested order.
    pub sessions: Vec<Session>,
    /// Where the next page starts (opaque), if there may be one.
    pub next: Option<String>,
}

/// Sessions by creation time, their messages oldest first, and deletion.
pub trait ChatLogStore {
    /// Sessions created in `month` within `[from, to)`, in `order`, after the cursor `after`, at
    /// most `limit` (an index page: fewer may come back with a `next`).
    async fn sessions_created(
        &self,
        month: Month,
        from: Timestamp,
        to: Timestamp,
        order: SortOrder,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LogPage, StoreError>;
    /// Messages of a session, oldest first, with ids above `after`, at most `limit`.
    async fn messages_after(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError>;
    /// How many messages a session holds.
    async fn message_count(&self, session: SessionId) -> Result<u64, StoreError>;
    /// Deletes a closed session with its messages, timeline and unpublished events; `false` when
    /// it is gone or open.
    async fn delete_session(&self, session: &Session) -> Result<bool, StoreError>;
    /// Deletes one message if it is still in a final state; `false` when it is gone.
    async fn delete_message(&self, message: &Message) -> Result<bool, StoreError>;
}

/// Export jobs.
pub trait ExportJobs {
    /// Stores a job (new or changed).
    async fn put_export(&self, job: &ExportJob) -> Result<(), StoreError>;
    /// A job.
    async fn export_job(&self, id: &ExportId) -> Result<Option<ExportJob>, StoreError>;
}

/// The queue the export function consumes.
pub trait ExportQueue {
    /// Asks for an export to run.
    async fn enqueue_export(&self, request: &ExportRequest) -> Result<(), StoreError>;
}

/// Time-limited download links of stored exports.
pub trait DownloadLinks {
    /// A link that downloads `object_key` for `expires_in`.
    async fn download_url(&self, object_key: &str, expires_in: Duration) -> Result<String, StoreError>;
}

/// A zip being written as a stream: entries one after the other, rows of CSV in each. Memory is
/// bounded by the part buffer: full parts are uploaded as rows come.
pub trait ExportArchive {
    /// Starts the next file (closes the previous one).
    async fn start_entry(&mut self, name: &str) -> Result<(), StoreError>;
    /// Appends one CSV record to the current file.
    async fn write_row(&mut self, fields: &[String]) -> Result<(), StoreError>;
    /// Writes the zip's directory, uploads what is left and stores the object; its size.
    async fn finish(&mut self) -> Result<u64, StoreError>;
    /// Gives up: nothing is stored.
    async fn abort(&mut self);
}

/// Where exports are stored.
pub trait ExportStorage {
    /// The archive type.
    type Archive: ExportArchive;
    /// Starts an archive stored under `object_key` once finished.
    async fn create_archive(&self, object_key: &str) -> Result<Self::Archive, StoreError>;
}

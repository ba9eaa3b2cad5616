//! Use cases of the external chat logs (`crate::chat_log`): search, the chat history, deletion,
//! and exports (start one, report on it, run it).
//!
//! **Search** walks the month partitions of the chat-log index that the time range covers, in
//! result order, one index page at a time, and applies every filter to each page in memory (the
//! sender and recipient texts need the directory's names). It reads every session created in the
//! range once to count the matches (`total_number` is exact), and keeps only the requested page:
//! cost grows with the sessions in the range, memory with the page. A `session_id` filter is one
//! `GetItem`.
//!
//! **Export** runs in one invocation of the export function: a first pass writes
//! `Session_Record.csv` (one row per matching session, with its message count and how it
//! closed), a second pass `Chat_Data_Record.csv` (every message of those sessions, oldest first),
//! both into one zip streamed to object storage in parts. Progress is stored on the job every
//! [`PROGRESS_EVERY_ROWS`] rows. If the invocation's deadline comes first the upload is
//! abandoned and the job fails with a reason that says so (the zip's stream state cannot be
//! resumed by another invocation); the same happens on a permanent store failure. A retryable
//! failure is returned so the queue redelivers the request, which starts the export again.

use std::time::Duration;

use crate::chat_log::{
    CHAT_DATA_RECORD_HEADER, ChatLogFilter, DeleteRefusal, ExportId, ExportJob, ExportRequest, ExportState, Names,
    SESSION_RECORD_HEADER, check_message_deletable, check_session_deletable, message_row, session_row,
};
use crate::ids::{MessageId, SessionId};
use crate::message::Message;
use crate::ports::{
    ChannelReader, ChatLogStore, Clock, DownloadLinks, ExportArchive, ExportJobs, ExportQueue, ExportStorage,
    ExtensionDirectory, OutboundLedger, QueueDirectory, Random, SessionStore, StoreError,
};
use crate::session::{Session, TimelineEntry};
use crate::time::Timestamp;

/// Sessions read per index page.
pub const INDEX_PAGE: usize = 100;
/// Messages read per page.
pub const MESSAGE_PAGE: usize = 200;
/// Rows between progress writes on an export job.
pub const PROGRESS_EVERY_ROWS: u64 = 500;
/// How long a download link works.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::from_secs(3600);
/// The first file of an export.
pub const SESSION_RECORD_FILE: &str = "Session_Record.csv";
/// The second file of an export.
pub const CHAT_DATA_RECORD_FILE: &str = "Chat_Data_Record.csv";

/// The chat log's names of extensions, queues and channels (three index queries; the directory
/// is small).
pub async fn load_names<D>(directory: &D) -> Result<Names, StoreError>
where
    D: ExtensionDirectory + QueueDirectory + ChannelReader,
{
    let extensions = directory.extensions().await?;
    let queues = directory.queues().await?;
    let channels = directory.channels().await?;
    Ok(Names::new(&extensions, &queues, &channels))
}

/// The sessions matching a filter, in its order, read one index page at a time.
struct Matches<'f> {
    filter: &'f ChatLogFilter,
    months: std::vec::IntoIter<crate::chat_log::Month>,
    month: Option<crate::chat_log::Month>,
    cursor: Option<String>,
    page: std::collections::VecDeque<Session>,
    single_done: bool,
}

impl<'f> Matches<'f> {
    fn new(filter: &'f ChatLogFilter) -> Self {
        let mut months = filter.months().into_iter();
        let month = months.next();
        Self { filter, months, month, cursor: None, page: Default::default(), single_done: false }
    }

    /// The next matching session.
    async fn next<S>(&mut self, store: &S, names: &Names) -> Result<Option<Session>, StoreError>
    where
        S: ChatLogStore + SessionStore,
    {
        if let Some(id) = self.filter.session_id {
            if self.single_done {
                return Ok(None);
            }
            self.single_done = true;
            return Ok(store.session(id).await?.filter(|s| self.filter.matches(s, names)));
        }
        loop {
            while let Some(s) = self.page.pop_front() {
                if self.filter.matches(&s, names) {
                    return Ok(Some(s));
                }
            }
            let Some(month) = self.month else { return Ok(None) };
            let f = self.filter;
            let page = store.sessions_created(month, f.from, f.to, f.order, self.cursor.as_deref(), INDEX_PAGE).await?;
            self.page.extend(page.sessions);
            match page.next {
                Some(next) => self.cursor = Some(next),
                None => {
                    self.cursor = None;
                    self.month = self.months.next();
                }
            }
        }
    }
}

/// One page of a search.
#[derive(Debug, Clone, Default)]
pub struct SearchPage {
    /// Every matching session.
    pub total: u64,
    /// The requested page.
    pub sessions: Vec<Session>,
}

/// `chat_log/search`: page `page` (from 1) of `page_size` of the matching sessions.
pub async fn search<S>(
    store: &S,
    names: &Names,
    filter: &ChatLogFilter,
    page: usize,
    page_size: usize,
) -> Result<SearchPage, StoreError>
where
    S: ChatLogStore + SessionStore,
{
    let skip = page.saturating_sub(1).saturating_mul(page_size) as u64;
    let mut out = SearchPage::default();
    let mut matches = Matches::new(filter);
    while let Some(s) = matches.next(store, names).await? {
        if out.total >= skip && out.sessions.len() < page_size {
            out.sessions.push(s);
        }
        out.total += 1;
    }
    Ok(out)
}

/// A session's chat history page.
#[derive(Debug, Clone, Default)]
pub struct MessagePage {
    /// Messages in the session.
    pub total: u64,
    /// The page, oldest first.
    pub messages: Vec<Message>,
}

/// `chat_log/messages`: page `page` (from 1) of the session's messages, oldest first.
pub async fn messages_page<S: ChatLogStore>(
    store: &S,
    session: SessionId,
    page: usize,
    page_size: usize,
) -> Result<MessagePage, StoreError> {
    let total = store.message_count(session).await?;
    let mut skip = page.saturating_sub(1).saturating_mul(page_size);
    let mut after: Option<MessageId> = None;
    let mut messages = Vec::new();
    while messages.len() < page_size {
        let batch = store.messages_after(session, after, MESSAGE_PAGE).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.msg_id);
        let full = batch.len() == MESSAGE_PAGE;
        for m in batch {
            if skip > 0 {
                skip -= 1;
            } else if messages.len() < page_size {
                messages.push(m);
            }
        }
        if !full {
            break;
        }
    }
    Ok(MessagePage { total, messages })
}

/// Why a deletion did nothing.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// Some ids name nothing.
    #[error("not found: {0:?}")]
    NotFound(Vec<u64>),
    /// One of them may not be deleted.
    #[error(transparent)]
    Refused(#[from] DeleteRefusal),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `chat_log/delete`: deletes closed sessions with everything in them. Every id is checked first;
/// a missing or open one refuses the whole request, and nothing is deleted.
pub async fn delete_sessions<S>(store: &S, ids: &[SessionId]) -> Result<usize, DeleteError>
where
    S: ChatLogStore + SessionStore,
{
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match store.session(*id).await? {
            Some(s) => found.push(s),
            None => missing.push(id.get()),
        }
    }
    if !missing.is_empty() {
        return Err(DeleteError::NotFound(missing));
    }
    for s in &found {
        check_session_deletable(s)?;
    }
    let mut deleted = 0;
    for s in &found {
        if store.delete_session(s).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// `chat_log/delete_messages`: deletes messages of one session. System messages and messages
/// still being sent refuse the whole request, as do unknown ids; nothing is deleted then.
pub async fn delete_messages<S>(store: &S, session: SessionId, ids: &[MessageId]) -> Result<usize, DeleteError>
where
    S: ChatLogStore + SessionStore + OutboundLedger,
{
    if store.session(session).await?.is_none() {
        return Err(DeleteError::NotFound(vec![session.get()]));
    }
    let mut found = Vec::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match store.message(session, *id).await? {
            Some(m) => found.push(m),
            None => missing.push(id.get()),
        }
    }
    if !missing.is_empty() {
        return Err(DeleteError::NotFound(missing));
    }
    for m in &found {
        check_message_deletable(m)?;
    }
    let mut deleted = 0;
    for m in &found {
        if store.delete_message(m).await? {
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// `chat_log/export`: stores a queued job and asks the export function to run it.
pub async fn start_export<J, Q, R, K>(
    jobs: &J,
    queue: &Q,
    random: &R,
    clock: &K,
    filter: ChatLogFilter,
) -> Result<ExportJob, StoreError>
where
    J: ExportJobs,
    Q: ExportQueue,
    R: Random,
    K: Clock,
{
    let job = ExportJob::new(ExportId::from_random_bytes(random.bytes()), filter, clock.now());
    jobs.put_export(&job).await?;
    if let Err(e) = queue.enqueue_export(&ExportRequest { export_id: job.id.clone() }).await {
        let mut failed = job.clone();
        failed.state = ExportState::Failed { reason: "the export could not be queued; request it again".into() };
        failed.updated_at = clock.now();
        if let Err(put) = jobs.put_export(&failed).await {
            tracing::warn!(export_id = %job.id, error = %put, "could not mark an unqueued export failed");
        }
        return Err(e);
    }
    Ok(job)
}

/// `chat_log/export_status`: the job and, once done, a download link.
pub async fn export_status<J, L>(
    jobs: &J,
    links: &L,
    id: &ExportId,
) -> Result<Option<(ExportJob, Option<String>)>, StoreError>
where
    J: ExportJobs,
    L: DownloadLinks,
{
    let Some(job) = jobs.export_job(id).await? else { return Ok(None) };
    let url = match &job.state {
        ExportState::Done { object_key, .. } => Some(links.download_url(object_key, DOWNLOAD_LINK_TTL).await?),
        _ => None,
    };
    Ok(Some((job, url)))
}

/// The ports an export run uses.
pub struct ExportPorts<'a, S, D, A, K> {
    /// Sessions, messages, timelines and the job.
    pub store: &'a S,
    /// Names.
    pub directory: &'a D,
    /// Where the zip goes.
    pub storage: &'a A,
    /// Time.
    pub clock: &'a K,
}

/// How an export run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportOutcome {
    /// The zip is stored.
    Done {
        /// Sessions.
        sessions: u64,
        /// Messages.
        messages: u64,
        /// Bytes.
        bytes: u64,
    },
    /// Already finished (a redelivered request).
    AlreadyFinal,
    /// No such job.
    Missing,
    /// It failed for good; the job says why.
    Failed(String),
}

/// Why a run must be retried.
#[derive(Debug, thiserror::Error)]
#[error("export failed: {0}")]
pub struct ExportError(#[from] pub StoreError);

impl ExportError {
    /// Whether a redelivery may succeed.
    pub fn retryable(&self) -> bool {
        self.0.retryable
    }
}

enum Stop {
    Deadline,
    Store(StoreError),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Store(e)
    }
}

/// Runs export `id`, giving up at `deadline`.
pub async fn run_export<S, D, A, K>(
    ports: &ExportPorts<'_, S, D, A, K>,
    id: &ExportId,
    deadline: Timestamp,
) -> Result<ExportOutcome, ExportError>
where
    S: ChatLogStore + SessionStore + ExportJobs,
    D: ExtensionDirectory + QueueDirectory + ChannelReader,
    A: ExportStorage,
    K: Clock,
{
    let Some(mut job) = ports.store.export_job(id).await? else { return Ok(ExportOutcome::Missing) };
    if job.state.is_final() {
        return Ok(ExportOutcome::AlreadyFinal);
    }
    // A redelivery of a run that died starts again from the beginning.
    job.state = ExportState::Running;
    job.progress = Default::default();
    job.updated_at = ports.clock.now();
    ports.store.put_export(&job).await?;

    let object_key = id.object_key();
    let stop = match produce(ports, &mut job, &object_key, deadline).await {
        Ok(bytes) => {
            job.state = ExportState::Done { object_key, bytes };
            job.updated_at = ports.clock.now();
            ports.store.put_export(&job).await?;
            let p = job.progress;
            return Ok(ExportOutcome::Done { sessions: p.sessions_done, messages: p.messages_done, bytes });
        }
        Err(stop) => stop,
    };
    let reason = match stop {
        Stop::Deadline => {
            "the export did not finish within the export function's time limit; narrow the time range or filters"
                .to_owned()
        }
        // the queue redelivers the request, which starts the export again
        Stop::Store(e) if e.retryable => return Err(ExportError(e)),
        Stop::Store(e) => format!("the export failed: {e}"),
    };
    job.state = ExportState::Failed { reason: reason.clone() };
    job.updated_at = ports.clock.now();
    ports.store.put_export(&job).await?;
    Ok(ExportOutcome::Failed(reason))
}

/// Writes the archive and stores it; its size. A failure abandons the upload.
async fn produce<S, D, A, K>(
    ports: &ExportPorts<'_, S, D, A, K>,
    job: &mut ExportJob,
    object_key: &str,
    deadline: Timestamp,
) -> Result<u64, Stop>
where
    S: ChatLogStore + SessionStore + ExportJobs,
    D: ExtensionDirectory + QueueDirectory + ChannelReader,
    A: ExportStorage,
    K: Clock,
{
    let names = load_names(ports.directory).await?;
    let mut archive = ports.storage.create_archive(object_key).await?;
    let written = match write_archive(ports, &names, job, &mut archive, deadline).await {
        Ok(()) => archive.finish().await.map_err(Stop::Store),
        Err(stop) => Err(stop),
    };
    if written.is_err() {
        archive.abort().await;
    }
    written
}

async fn save_progress<S: ExportJobs, K: Clock>(store: &S, clock: &K, job: &mut ExportJob) -> Result<(), StoreError> {
    job.updated_at = clock.now();
    store.put_export(job).await
}

async fn write_archive<S, D, A, K>(
    ports: &ExportPorts<'_, S, D, A, K>,
    names: &Names,
    job: &mut ExportJob,
    archive: &mut A::Archive,
    deadline: Timestamp,
) -> Result<(), Stop>
where
    S: ChatLogStore + SessionStore + ExportJobs,
    A: ExportStorage,
    K: Clock,
{
    let store = ports.store;
    let clock = ports.clock;
    let filter = job.filter.clone();
    let header = |h: &[&str]| h.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();

    // Pass 1: Session_Record.csv.
    archive.start_entry(SESSION_RECORD_FILE).await?;
    archive.write_row(&header(&SESSION_RECORD_HEADER)).await?;
    let mut matches = Matches::new(&filter);
    while let Some(s) = matches.next(store, names).await? {
        if clock.now() >= deadline {
            return Err(Stop::Deadline);
        }
        let count = store.message_count(s.id).await?;
        let timeline: Vec<TimelineEntry> = if s.is_open() { Vec::new() } else { store.timeline(s.id).await? };
        archive.write_row(&session_row(&s, names, &timeline, count)).await?;
        job.progress.sessions_done += 1;
        if job.progress.sessions_done.is_multiple_of(PROGRESS_EVERY_ROWS) {
            save_progress(store, clock, job).await?;
        }
    }
    job.progress.sessions_total = Some(job.progress.sessions_done);
    save_progress(store, clock, job).await?;

    // Pass 2: Chat_Data_Record.csv.
    archive.start_entry(CHAT_DATA_RECORD_FILE).await?;
    archive.write_row(&header(&CHAT_DATA_RECORD_HEADER)).await?;
    let mut since_saved = 0u64;
    let mut matches = Matches::new(&filter);
    while let Some(s) = matches.next(store, names).await? {
        let mut after: Option<MessageId> = None;
        loop {
            if clock.now() >= deadline {
                return Err(Stop::Deadline);
            }
            let batch = store.messages_after(s.id, after, MESSAGE_PAGE).await?;
            let full = batch.len() == MESSAGE_PAGE;
            for m in &batch {
                archive.write_row(&message_row(m, &s, names)).await?;
                job.progress.messages_done += 1;
                since_saved += 1;
            }
            after = batch.last().map(|m| m.msg_id);
            if !full {
                break;
            }
        }
        job.progress.sessions_with_messages_done += 1;
        if since_saved >= PROGRESS_EVERY_ROWS {
            since_saved = 0;
            save_progress(store, clock, job).await?;
        }
    }
    Ok(())
}

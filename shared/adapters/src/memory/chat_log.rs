//! The chat-log ports in memory, with the DynamoDB adapter's semantics (creation-time order,
//! closed-only session deletion, final non-system message deletion).

use domain::chat_log::{ExportId, ExportJob, Month, SortOrder};
use domain::ids::{MessageId, SessionId};
use domain::message::{Message, Sender};
use domain::ports::{ChatLogStore, ExportJobs, LogPage, StoreError};
use domain::session::Session;
use domain::time::Timestamp;

use super::{InMemoryStore, StoredMessage, lock};

impl InMemoryStore {
    /// Stores a message as is (tests: a system message, which no use case writes yet).
    pub fn put_message(&self, message: Message) {
        lock(&self.state).messages.insert(
            (message.session_id, message.msg_id),
            StoredMessage { message, lease_until: None, outbox_due: None },
        );
    }

    /// Stores a session as is (tests: sessions created at chosen times).
    pub fn put_session(&self, session: Session) {
        lock(&self.state).sessions.insert(session.id, session);
    }
}

impl ChatLogStore for InMemoryStore {
    async fn sessions_created(
        &self,
        month: Month,
        from: Timestamp,
        to: Timestamp,
        order: SortOrder,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let s = lock(&self.state);
        let mut list: Vec<Session> = s
            .sessions
            .values()
            .filter(|x| Month::of(x.created_at) == month && x.created_at >= from && x.created_at < to)
            .cloned()
            .collect();
        list.sort_by_key(|x| (x.created_at, x.id));
        if order == SortOrder::Desc {
            list.reverse();
        }
        let sort = |x: &Session| format!("{:020}#{:020}", x.created_at.as_micros(), x.id.get());
        let start = match after {
            Some(cursor) => list.iter().position(|x| sort(x) == cursor).map_or(list.len(), |p| p + 1),
            None => 0,
        };
        let page: Vec<Session> = list.iter().skip(start).take(limit).cloned().collect();
        let next = (start + page.len() < list.len()).then(|| page.last().map(sort)).flatten();
        Ok(LogPage { sessions: page, next })
    }

    async fn messages_after(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let s = lock(&self.state);
        Ok(s.messages
            .values()
            .filter(|m| m.message.session_id == session && after.is_none_or(|a| m.message.msg_id > a))
            .take(limit)
            .map(|m| m.message.clone())
            .collect())
    }

    async fn message_count(&self, session: SessionId) -> Result<u64, StoreError> {
        Ok(lock(&self.state).messages.keys().filter(|(s, _)| *s == session).count() as u64)
    }

    async fn delete_session(&self, session: &Session) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        if s.sessions.get(&session.id).is_none_or(Session::is_open) {
            return Ok(false);
        }
        s.messages.retain(|(id, _), _| *id != session.id);
        s.timeline.retain(|e| e.session_id != session.id);
        s.events.retain(|_, (e, _)| e.session_id() != session.id);
        s.sessions.remove(&session.id);
        Ok(true)
    }

    async fn delete_message(&self, message: &Message) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let key = (message.session_id, message.msg_id);
        let deletable = s
            .messages
            .get(&key)
            .is_some_and(|m| m.message.delivery.is_final() && !matches!(m.message.sender, Sender::System));
        if deletable {
            s.messages.remove(&key);
        }
        Ok(deletable)
    }
}

impl ExportJobs for InMemoryStore {
    async fn put_export(&self, job: &ExportJob) -> Result<(), StoreError> {
        lock(&self.state).exports.insert(job.id.as_str().to_owned(), job.clone());
        Ok(())
    }

    async fn export_job(&self, id: &ExportId) -> Result<Option<ExportJob>, StoreError> {
        Ok(lock(&self.state).exports.get(id.as_str()).cloned())
    }
}

//! Chat logs on the Conversation table: ChatLogIndex (sessions by creation month and time),
//! messages oldest first and their count, deletion of closed sessions and of messages, and
//! export jobs (`EXPORT#{id}`).

use aws_sdk_dynamodb::types::{DeleteRequest, Select, WriteRequest};
use domain::chat_log::{ExportId, ExportJob, Month, SortOrder};
use domain::ids::{MessageId, SessionId};
use domain::message::Message;
use domain::ports::{ChatLogStore, ExportJobs, LogPage, StoreError};
use domain::session::Session;
use domain::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{corrupt, store_error};
use super::items::{self, Item, MessageItem, SessionItem};
use super::{DynamoStore, key_map, keys, s};

/// The index of sessions by creation month and time.
pub const CHAT_LOG_INDEX: &str = "ChatLogIndex";
/// How long an export job is kept (the bucket's lifecycle rule keeps the zip as long).
pub const EXPORT_RETENTION_SECS: i64 = 7 * 24 * 3600;

/// An export job item.
#[derive(Debug, Serialize, Deserialize)]
struct ExportItem {
    pk: String,
    sk: String,
    /// The job, JSON.
    job: String,
    /// TTL (epoch seconds).
    expires_at: i64,
}

fn decode_session(item: Item) -> Result<Session, StoreError> {
    let stored: SessionItem = items::from_item("session", item).map_err(|e| corrupt("read chat log", e))?;
    stored.into_domain().map_err(|e| corrupt("read chat log", e))
}

fn decode_message(item: Item) -> Result<Message, StoreError> {
    let stored: MessageItem = items::from_item("message", item).map_err(|e| corrupt("read messages", e))?;
    stored.into_domain().map_err(|e| corrupt("read messages", e))
}

fn string_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// The session id at the end of a ChatLogIndex sort key.
fn session_of_sort(sort: &str) -> Option<SessionId> {
    sort.rsplit_once('#').and_then(|(_, id)| id.parse().ok())
}

impl DynamoStore {
    /// Deletes `keys` in batches.
    async fn delete_keys(&self, operation: &'static str, keys: Vec<keys::Key>) -> Result<(), StoreError> {
        let table = self.conversation().to_owned();
        let requests: Vec<WriteRequest> = keys
            .into_iter()
            .map(|k| {
                DeleteRequest::builder()
                    .set_key(Some(key_map(k)))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| corrupt(operation, e))
            })
            .collect::<Result<_, _>>()?;
        self.batch_write(operation, &table, requests).await
    }
}

impl ChatLogStore for DynamoStore {
    async fn sessions_created(
        &self,
        month: Month,
        from: Timestamp,
        to: Timestamp,
        order: SortOrder,
        after: Option<&str>,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        let partition = keys::log_month(month);
        let start = match after.map(|sort| (sort, session_of_sort(sort))) {
            None => None,
            Some((sort, Some(session))) => {
                let (pk, sk) = keys::session(session);
                Some(Item::from([
                    ("log_month".to_owned(), s(partition.clone())),
                    ("log_sort".to_owned(), s(sort)),
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(sk)),
                ]))
            }
            Some((_, None)) => return Err(StoreError::permanent("read chat log", "invalid cursor")),
        };
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .index_name(CHAT_LOG_INDEX)
            .key_condition_expression("log_month = :m AND log_sort BETWEEN :from AND :to")
            .expression_attribute_values(":m", s(partition))
            .expression_attribute_values(":from", s(keys::log_bound(from)))
            // the last key before `to`: every sort key at `to` starts with `{to}#`
            .expression_attribute_values(":to", s(keys::log_bound(Timestamp::from_micros(to.as_micros() - 1)) + "~"))
            .scan_index_forward(order == SortOrder::Asc)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| store_error("read chat log", e))?;
        let items = out.items.unwrap_or_default();
        let more = out.last_evaluated_key.is_some_and(|k| !k.is_empty());
        let next = if more { items.last().and_then(|i| string_of(i, "log_sort")) } else { None };
        let sessions = items.into_iter().map(decode_session).collect::<Result<Vec<_>, _>>()?;
        Ok(LogPage { sessions, next })
    }

    async fn messages_after(
        &self,
        session: SessionId,
        after: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let lower = match after {
            Some(a) => format!("{}{}", keys::MESSAGE_PREFIX, keys::pad(a.get().saturating_add(1))),
            None => keys::MESSAGE_PREFIX.to_owned(),
        };
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":p", s(keys::session_partition(session)))
            .expression_attribute_values(":lo", s(lower))
            .expression_attribute_values(":hi", s(format!("{}{}", keys::MESSAGE_PREFIX, "9".repeat(20))))
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("read messages", e))?;
        out.items.unwrap_or_default().into_iter().map(decode_message).collect()
    }

    async fn message_count(&self, session: SessionId) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(self.conversation())
                .key_condition_expression("pk = :p AND begins_with(sk, :m)")
                .expression_attribute_values(":p", s(keys::session_partition(session)))
                .expression_attribute_values(":m", s(keys::MESSAGE_PREFIX))
                .select(Select::Count)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error("count messages", e))?;
            total += u64::try_from(out.count).unwrap_or(0);
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(total),
            }
        }
    }

    async fn delete_session(&self, session: &Session) -> Result<bool, StoreError> {
        let (session_pk, session_sk) = keys::session(session.id);
        let query = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(session_pk.clone()))
            .projection_expression("pk, sk")
            .consistent_read(true);
        // Messages, timeline and event-outbox entries first, the session item last: a crash in
        // between leaves the session listed, and deleting it again finishes the job.
        let children: Vec<keys::Key> = self
            .query_all("delete session", query)
            .await?
            .into_iter()
            .filter_map(|item| Some((string_of(&item, "pk")?, string_of(&item, "sk")?)))
            .filter(|(_, sk)| *sk != session_sk)
            .collect();
        self.delete_keys("delete session", children).await?;
        let result = self
            .client
            .delete_item()
            .table_name(self.conversation())
            .set_key(Some(key_map((session_pk, session_sk))))
            .condition_expression("#status = :closed")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":closed", s("closed"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("delete session", err)),
        }
    }

    async fn delete_message(&self, message: &Message) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(message.session_id, message.msg_id))))
            .condition_expression(
                "attribute_exists(pk) AND #st IN (:received, :sent, :failed) AND sender.#type <> :system",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#type", "type")
            .expression_attribute_values(":received", s("received"))
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":system", s("system"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("delete message", err)),
        }
    }
}

impl ExportJobs for DynamoStore {
    async fn put_export(&self, job: &ExportJob) -> Result<(), StoreError> {
        let (pk, sk) = keys::chat_log_export(&job.id);
        let item = ExportItem {
            pk,
            sk,
            job: serde_json::to_string(job).map_err(|e| corrupt("write export job", e))?,
            expires_at: job.created_at.as_unix_seconds() + EXPORT_RETENTION_SECS,
        };
        let item = items::to_item("export job", &item).map_err(|e| corrupt("write export job", e))?;
        self.client
            .put_item()
            .table_name(self.conversation())
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("write export job", e))?;
        Ok(())
    }

    async fn export_job(&self, id: &ExportId) -> Result<Option<ExportJob>, StoreError> {
        let Some(item) = self.get("read export job", self.conversation(), keys::chat_log_export(id)).await? else {
            return Ok(None);
        };
        let stored: ExportItem = items::from_item("export job", item).map_err(|e| corrupt("read export job", e))?;
        serde_json::from_str(&stored.job).map(Some).map_err(|e| corrupt("read export job", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_its_session() {
        let sort = keys::log_sort(Timestamp::from_micros(1_700_000_000_000_000), SessionId::new(42).unwrap());
        assert_eq!(session_of_sort(&sort), SessionId::new(42).ok());
        assert!(sort < keys::log_bound(Timestamp::from_micros(1_700_000_000_000_001)));
        assert!(sort >= keys::log_bound(Timestamp::from_micros(1_700_000_000_000_000)));
    }
}

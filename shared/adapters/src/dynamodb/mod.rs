//! DynamoDB implementations of the store ports, over the three tables of template.yaml
//! (docs/data-model.md): Directory (configuration), Conversation (inbox, sessions, messages,
//! timelines, send schedules, statistics) and Auth (tokens, idempotency keys).
//!
//! One [`DynamoStore`] value implements every store port; each function asks only for the traits
//! it uses. Every read on a request or scheduled path is a key or index query — there is no Scan.

mod campaigns;
pub mod chat_log;
mod conversation;
mod directory;
pub mod errors;
mod event_push;
mod files;
mod groups;
pub mod items;
pub mod keys;
mod pacer;
mod phonebook;
mod receipts;
mod security;
mod sla;
mod templates;

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use domain::ports::StoreError;

use self::errors::{cancellation_reasons, is_conflict, store_error};
use self::items::Item;
use crate::kms::KmsVault;

/// The physical table names (from the environment: `*_TABLE_NAME`).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Channels, numbers, extensions, queues, their sequences.
    pub directory: String,
    /// Inbox, sessions, messages, timelines, schedules, statistics, their sequences.
    pub conversation: String,
    /// Tokens and idempotency keys.
    pub auth: String,
}

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    tables: Tables,
    /// Seals and opens channel credentials; functions that never read or write a whole channel
    /// go without one (and get a permanent error if they try).
    vault: Option<KmsVault>,
    /// The message-files bucket (`FileStore`); functions that never touch files go without one.
    files: Option<crate::files::S3FileObjects>,
}

impl DynamoStore {
    /// A store over `tables`.
    pub fn new(client: Client, tables: Tables) -> Self {
        Self { client, tables, vault: None, files: None }
    }

    /// The same store, sealing and opening channel credentials with `vault`.
    #[must_use]
    pub fn with_vault(mut self, vault: KmsVault) -> Self {
        self.vault = Some(vault);
        self
    }

    /// The same store, keeping uploaded files' bytes in `objects` (records stay on the
    /// Conversation table).
    #[must_use]
    pub fn with_files(mut self, objects: crate::files::S3FileObjects) -> Self {
        self.files = Some(objects);
        self
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The table names.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}

/// `S` attribute.
pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// `N` attribute.
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A key map.
pub(crate) fn key_map((pk, sk): keys::Key) -> Item {
    Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// Result of a transaction: applied, or cancelled with per-item reasons.
pub(crate) type TxResult = Result<(), Vec<Option<String>>>;

/// How many times a transaction cancelled by a concurrent transaction is retried.
const CONFLICT_RETRIES: u32 = 6;

impl DynamoStore {
    /// Runs a write transaction, retrying (with jitter) when a concurrent transaction on the same
    /// items cancelled it; condition failures come back as `Err(reasons)`.
    pub(crate) async fn transact(
        &self,
        operation: &'static str,
        items: Vec<TransactWriteItem>,
    ) -> Result<TxResult, StoreError> {
        let mut attempt = 0;
        loop {
            let result = self.client.transact_write_items().set_transact_items(Some(items.clone())).send().await;
            match result {
                Ok(_) => return Ok(Ok(())),
                Err(err) => match cancellation_reasons(&err) {
                    Some(reasons) if is_conflict(&reasons) && attempt < CONFLICT_RETRIES => {
                        attempt += 1;
                        let jitter = rand::random_range(0..20u64);
                        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt) + jitter)).await;
                    }
                    Some(reasons) if !is_conflict(&reasons) => return Ok(Err(reasons)),
                    _ => return Err(store_error(operation, err)),
                },
            }
        }
    }

    /// Writes `requests` to `table` in batches of 25, retrying (with backoff) what DynamoDB
    /// leaves unprocessed; a batch still unprocessed after that is a retryable error.
    pub(crate) async fn batch_write(
        &self,
        operation: &'static str,
        table: &str,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<(), StoreError> {
        const BATCH: usize = 25;
        const ATTEMPTS: u32 = 5;
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            for attempt in 0..ATTEMPTS {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(table, pending.clone())
                    .send()
                    .await
                    .map_err(|e| store_error(operation, e))?;
                pending = out.unprocessed_items.and_then(|mut u| u.remove(table)).unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            if !pending.is_empty() {
                return Err(StoreError::retryable(operation, "unprocessed items after retries"));
            }
        }
        Ok(())
    }

    /// Reads one item with a strongly consistent read.
    pub(crate) async fn get(
        &self,
        operation: &'static str,
        table: &str,
        key: keys::Key,
    ) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key_map(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error(operation, e))?;
        Ok(out.item)
    }

    /// Reads every page of a query on an index (eventually consistent) or the base table.
    pub(crate) async fn query_all(
        &self,
        operation: &'static str,
        builder: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = builder
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| store_error(operation, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

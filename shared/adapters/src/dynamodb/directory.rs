//! Directory table: channels with their webhook and number claims, extensions with their number
//! claims, message queues with their per-agent membership items, and id sequences.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{Delete, Put, ReturnValue, TransactWriteItem};
use domain::channel::{Channel, Provider};
use domain::directory::{Extension, MessageQueue};
use domain::health::ChannelHealth;
use domain::ids::{ChannelId, ExtensionId, ExtensionNumber, QueueId, Sequence, WebhookToken};
use domain::ports::{
    ChannelConflict, ChannelHealthLedger, ChannelReader, ChannelWriter, ExtensionConflict, ExtensionDirectory,
    HealthWrite, QueueDirectory, Sequences, StoreError,
};
use domain::time::Timestamp;

use super::errors::{corrupt, failed_condition, store_error};
use super::items::{self, ChannelItem, ClaimItem, ExtensionItem, MembershipItem, QueueItem, StoredCredentials};
use super::{DynamoStore, key_map, keys, n, s};
use crate::kms::{KmsVault, VaultError};

pub(super) fn put_new(table: &str, item: items::Item) -> Result<TransactWriteItem, StoreError> {
    put_if(table, item, "attribute_not_exists(pk)")
}

pub(super) fn encode<T: serde::Serialize>(kind: &'static str, value: &T) -> Result<items::Item, StoreError> {
    items::to_item(kind, value).map_err(|e| corrupt("encode item", e))
}

impl DynamoStore {
    async fn claim_owner(&self, key: keys::Key) -> Result<Option<u64>, StoreError> {
        match self.get("read claim", &self.tables.directory, key).await? {
            Some(item) => {
                let claim: ClaimItem = items::from_item("claim", item).map_err(|e| corrupt("read claim", e))?;
                Ok(Some(claim.owner_id))
            }
            None => Ok(None),
        }
    }

    pub(super) async fn kind_items(&self, kind: &'static str) -> Result<Vec<items::Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .index_name("KindIndex")
            .key_condition_expression("#kind = :k")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":k", s(kind));
        self.query_all("list directory items", query).await
    }
}

impl Sequences for DynamoStore {
    async fn next_id(&self, sequence: Sequence) -> Result<u64, StoreError> {
        let table = match sequence {
            Sequence::Channel
            | Sequence::Extension
            | Sequence::Queue
            | Sequence::Template
            | Sequence::ExtGroup
            | Sequence::Organization
            | Sequence::Campaign
            | Sequence::Phonebook => &self.tables.directory,
            Sequence::Session | Sequence::Message => &self.tables.conversation,
        };
        let out = self
            .client
            .update_item()
            .table_name(table)
            .set_key(Some(super::key_map(keys::sequence(sequence))))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| store_error("allocate id", e))?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get("value"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| corrupt("allocate id", "counter value missing"))
    }
}

/// Channel items and their sealed credentials (see [`crate::kms`]).
impl DynamoStore {
    fn vault(&self, operation: &'static str) -> Result<&KmsVault, StoreError> {
        self.vault.as_ref().ok_or_else(|| {
            corrupt(
                operation,
                "channel credentials are encrypted and this function has no KMS key: set CREDENTIALS_KEY_ID \
                 and build its store with DynamoStore::with_vault",
            )
        })
    }

    /// A channel item with its credentials sealed under the vault's KMS key.
    async fn encode_channel(&self, operation: &'static str, channel: &Channel) -> Result<items::Item, StoreError> {
        let vault = self.vault(operation)?;
        let (owner, plain) = ChannelItem::credentials_to_seal(channel).map_err(|e| corrupt(operation, e))?;
        let sealed = vault.seal(&owner, &plain).await.map_err(|e| vault_error(operation, e))?;
        encode("channel", &ChannelItem::from_domain(channel, sealed))
    }

    /// A channel from its item, opening its credentials (plain ones from before encryption are
    /// read as they are).
    async fn decode_channel(&self, operation: &'static str, item: items::Item) -> Result<Channel, StoreError> {
        let stored: ChannelItem = items::from_item("channel", item).map_err(|e| corrupt(operation, e))?;
        let (id, provider, credentials) = stored.stored_credentials().map_err(|e| corrupt(operation, e))?;
        let values: BTreeMap<String, String> = match credentials {
            StoredCredentials::Plain(values) => values,
            StoredCredentials::Sealed(blob) => {
                let plain = self
                    .vault(operation)?
                    .open(&items::seal_owner(id, provider), &blob)
                    .await
                    .map_err(|e| vault_error(operation, e))?;
                serde_json::from_slice(&plain).map_err(|e| corrupt(operation, e))?
            }
        };
        stored.into_domain(&values).map_err(|e| corrupt(operation, e))
    }
}

fn vault_error(operation: &'static str, err: VaultError) -> StoreError {
    if err.is_retryable() { StoreError::retryable(operation, err) } else { StoreError::permanent(operation, err) }
}

impl ChannelReader for DynamoStore {
    async fn channel_by_webhook(
        &self,
        provider: Provider,
        token: &WebhookToken,
    ) -> Result<Option<Channel>, StoreError> {
        let Some(owner) = self.claim_owner(keys::webhook(provider, token)).await? else {
            return Ok(None);
        };
        let id = ChannelId::new(owner).map_err(|e| corrupt("read webhook claim", e))?;
        self.channel(id).await
    }

    async fn channel(&self, id: ChannelId) -> Result<Option<Channel>, StoreError> {
        match self.get("read channel", &self.tables.directory, keys::channel(id)).await? {
            Some(item) => self.decode_channel("read channel", item).await.map(Some),
            None => Ok(None),
        }
    }

    async fn channels(&self) -> Result<Vec<Channel>, StoreError> {
        let mut channels = Vec::new();
        for item in self.kind_items(keys::kind::CHANNEL).await? {
            channels.push(self.decode_channel("list channels", item).await?);
        }
        Ok(channels)
    }

    async fn channel_by_number(&self, number: &str) -> Result<Option<Channel>, StoreError> {
        let Some(owner) = self.claim_owner(keys::number(number)).await? else {
            return Ok(None);
        };
        let id = ChannelId::new(owner).map_err(|e| corrupt("read number claim", e))?;
        self.channel(id).await
    }
}

impl ChannelWriter for DynamoStore {
    async fn insert_channel(&self, channel: &Channel) -> Result<Result<(), ChannelConflict>, StoreError> {
        let table = &self.tables.directory;
        let mut tx = vec![
            put_new(table, self.encode_channel("insert channel", channel).await?)?,
            put_new(
                table,
                encode(
                    "claim",
                    &ClaimItem::new(keys::webhook(channel.provider(), &channel.webhook_token), channel.id.get()),
                )?,
            )?,
        ];
        for rule in &channel.numbers {
            tx.push(put_new(
                table,
                encode("claim", &ClaimItem::new(keys::number(rule.number.as_str()), channel.id.get()))?,
            )?);
        }
        match self.transact("insert channel", tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) => {
                if failed_condition(&reasons, 1) {
                    return Ok(Err(ChannelConflict::TokenTaken));
                }
                for (i, rule) in channel.numbers.iter().enumerate() {
                    if failed_condition(&reasons, i + 2) {
                        let holder = self.claim_owner(keys::number(rule.number.as_str())).await?.unwrap_or(0);
                        let channel_id = ChannelId::new(holder).map_err(|e| corrupt("read number claim", e))?;
                        return Ok(Err(ChannelConflict::NumberTaken {
                            number: rule.number.as_str().to_owned(),
                            channel_id,
                        }));
                    }
                }
                Err(corrupt("insert channel", format!("transaction cancelled: {reasons:?}")))
            }
        }
    }

    async fn replace_channel(
        &self,
        before: &Channel,
        after: &Channel,
    ) -> Result<Result<(), ChannelConflict>, StoreError> {
        let table = &self.tables.directory;
        let owned = Some("owner_id = :id");
        let id_value = || vec![(":id", n(before.id.get()))];
        let mut tx = vec![put_if(table, self.encode_channel("replace channel", after).await?, "attribute_exists(pk)")?];
        // what each transaction item is, by index, to say which condition failed
        let mut steps: Vec<ClaimStep> = vec![ClaimStep::Other];
        let old_webhook = keys::webhook(before.provider(), &before.webhook_token);
        let new_webhook = keys::webhook(after.provider(), &after.webhook_token);
        if old_webhook != new_webhook {
            tx.push(delete_if(table, old_webhook, owned, id_value())?);
            steps.push(ClaimStep::Other);
            tx.push(put_new(table, encode("claim", &ClaimItem::new(new_webhook, after.id.get()))?)?);
            steps.push(ClaimStep::Token);
        }
        let kept: Vec<&str> = after.numbers.iter().map(|r| r.number.as_str()).collect();
        for rule in before.numbers.iter().filter(|r| !kept.contains(&r.number.as_str())) {
            tx.push(delete_if(table, keys::number(rule.number.as_str()), owned, id_value())?);
            steps.push(ClaimStep::Other);
        }
        let had: Vec<&str> = before.numbers.iter().map(|r| r.number.as_str()).collect();
        for rule in after.numbers.iter().filter(|r| !had.contains(&r.number.as_str())) {
            tx.push(put_new(
                table,
                encode("claim", &ClaimItem::new(keys::number(rule.number.as_str()), after.id.get()))?,
            )?);
            steps.push(ClaimStep::Number(rule.number.as_str().to_owned()));
        }
        match self.transact("replace channel", tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) => {
                if failed_condition(&reasons, 0) {
                    return Ok(Err(ChannelConflict::Missing));
                }
                for (_, step) in steps.iter().enumerate().filter(|(i, _)| failed_condition(&reasons, *i)) {
                    match step {
                        ClaimStep::Token => return Ok(Err(ChannelConflict::TokenTaken)),
                        ClaimStep::Number(number) => {
                            let holder = self.claim_owner(keys::number(number)).await?.unwrap_or(0);
                            let channel_id = ChannelId::new(holder).map_err(|e| corrupt("read number claim", e))?;
                            return Ok(Err(ChannelConflict::NumberTaken { number: number.clone(), channel_id }));
                        }
                        ClaimStep::Other => {}
                    }
                }
                Err(corrupt("replace channel", format!("transaction cancelled: {reasons:?}")))
            }
        }
    }

    async fn delete_channel(&self, channel: &Channel) -> Result<(), StoreError> {
        let table = &self.tables.directory;
        let id_value = || vec![(":id", n(channel.id.get()))];
        let mut tx = vec![delete_if(table, keys::channel(channel.id), None, Vec::new())?];
        tx.push(delete_if(
            table,
            keys::webhook(channel.provider(), &channel.webhook_token),
            Some("owner_id = :id"),
            id_value(),
        )?);
        for rule in &channel.numbers {
            tx.push(delete_if(table, keys::number(rule.number.as_str()), Some("owner_id = :id"), id_value())?);
        }
        match self.transact("delete channel", tx).await? {
            Ok(()) => Ok(()),
            Err(reasons) => Err(corrupt("delete channel", format!("transaction cancelled: {reasons:?}"))),
        }
    }
}

/// An item of a channel replacement's transaction.
enum ClaimStep {
    /// The channel itself, or a released claim.
    Other,
    /// The new webhook claim.
    Token,
    /// A newly claimed number.
    Number(String),
}

pub(super) fn put_if(table: &str, item: items::Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map_err(|e| corrupt("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

pub(super) fn delete_if(
    table: &str,
    key: keys::Key,
    condition: Option<&str>,
    values: Vec<(&str, aws_sdk_dynamodb::types::AttributeValue)>,
) -> Result<TransactWriteItem, StoreError> {
    let mut delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key_map(key)))
        .set_condition_expression(condition.map(str::to_owned));
    for (k, v) in values {
        delete = delete.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder().delete(delete.build().map_err(|e| corrupt("build delete", e))?).build())
}

impl ChannelHealthLedger for DynamoStore {
    async fn record_health(
        &self,
        channel: ChannelId,
        health: ChannelHealth,
        at: Timestamp,
    ) -> Result<HealthWrite, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.directory)
            .set_key(Some(key_map(keys::channel(channel))))
            .update_expression("SET #status = :s, health_checked_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(health_checked_at) OR health_checked_at < :at)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":s", s(health.as_str()))
            .expression_attribute_values(":at", n(at.as_micros()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => {
                let old = out.attributes.ok_or_else(|| corrupt("record channel health", "no attributes returned"))?;
                let previous = items::from_item::<ChannelItem>("channel", old)
                    .map_err(|e| corrupt("record channel health", e))?
                    .status();
                Ok(HealthWrite::Recorded { previous })
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                Ok(if ChannelReader::channel(self, channel).await?.is_some() {
                    HealthWrite::Stale
                } else {
                    HealthWrite::Missing
                })
            }
            Err(err) => Err(store_error("record channel health", err)),
        }
    }
}

impl ExtensionDirectory for DynamoStore {
    async fn insert_extension(&self, ext: &Extension) -> Result<Result<(), ExtensionConflict>, StoreError> {
        let table = &self.tables.directory;
        let tx = vec![
            put_new(table, encode("extension", &ExtensionItem::from_domain(ext))?)?,
            put_new(table, encode("claim", &ClaimItem::new(keys::extension_number(&ext.number), ext.id.get()))?)?,
        ];
        match self.transact("insert extension", tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) if failed_condition(&reasons, 1) => Ok(Err(ExtensionConflict::NumberTaken)),
            Err(reasons) => Err(corrupt("insert extension", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn extension(&self, id: ExtensionId) -> Result<Option<Extension>, StoreError> {
        match self.get("read extension", &self.tables.directory, keys::extension(id)).await? {
            Some(item) => {
                let stored: ExtensionItem =
                    items::from_item("extension", item).map_err(|e| corrupt("read extension", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read extension", e))
            }
            None => Ok(None),
        }
    }

    async fn extension_by_number(&self, number: &ExtensionNumber) -> Result<Option<Extension>, StoreError> {
        match self.claim_owner(keys::extension_number(number)).await? {
            Some(owner) => {
                self.extension(ExtensionId::new(owner).map_err(|e| corrupt("read extension claim", e))?).await
            }
            None => Ok(None),
        }
    }

    async fn extensions(&self) -> Result<Vec<Extension>, StoreError> {
        self.kind_items(keys::kind::EXTENSION)
            .await?
            .into_iter()
            .map(|item| {
                let stored: ExtensionItem =
                    items::from_item("extension", item).map_err(|e| corrupt("list extensions", e))?;
                stored.into_domain().map_err(|e| corrupt("list extensions", e))
            })
            .collect()
    }

    async fn replace_extension(
        &self,
        before: &Extension,
        after: &Extension,
    ) -> Result<Result<(), ExtensionConflict>, StoreError> {
        let table = &self.tables.directory;
        let mut tx =
            vec![put_if(table, encode("extension", &ExtensionItem::from_domain(after))?, "attribute_exists(pk)")?];
        if before.number != after.number {
            tx.push(put_new(
                table,
                encode("claim", &ClaimItem::new(keys::extension_number(&after.number), after.id.get()))?,
            )?);
            tx.push(delete_if(
                table,
                keys::extension_number(&before.number),
                Some("owner_id = :id"),
                vec![(":id", super::n(before.id.get()))],
            )?);
        }
        match self.transact("replace extension", tx).await? {
            Ok(()) => Ok(Ok(())),
            Err(reasons) if failed_condition(&reasons, 1) => Ok(Err(ExtensionConflict::NumberTaken)),
            Err(reasons) => Err(corrupt("replace extension", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn delete_extension(&self, ext: &Extension) -> Result<(), StoreError> {
        let table = &self.tables.directory;
        let tx = vec![
            delete_if(table, keys::extension(ext.id), None, vec![])?,
            delete_if(
                table,
                keys::extension_number(&ext.number),
                Some("owner_id = :id"),
                vec![(":id", super::n(ext.id.get()))],
            )?,
        ];
        match self.transact("delete extension", tx).await? {
            Ok(()) => Ok(()),
            // The claim already belongs to someone else (or is gone): only the extension goes.
            Err(_) => {
                self.client
                    .delete_item()
                    .table_name(table)
                    .set_key(Some(key_map(keys::extension(ext.id))))
                    .send()
                    .await
                    .map_err(|e| store_error("delete extension", e))?;
                Ok(())
            }
        }
    }
}

impl DynamoStore {
    async fn put_memberships<'a>(
        &self,
        queue: QueueId,
        members: impl Iterator<Item = &'a ExtensionId>,
    ) -> Result<(), StoreError> {
        for member in members {
            let (pk, sk) = keys::agent_membership(*member, queue);
            let item = encode("membership", &MembershipItem { pk, sk, queue_id: queue.get() })?;
            self.client
                .put_item()
                .table_name(&self.tables.directory)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| store_error("write queue membership", e))?;
        }
        Ok(())
    }

    async fn delete_memberships<'a>(
        &self,
        queue: QueueId,
        members: impl Iterator<Item = &'a ExtensionId>,
    ) -> Result<(), StoreError> {
        for member in members {
            self.client
                .delete_item()
                .table_name(&self.tables.directory)
                .set_key(Some(super::key_map(keys::agent_membership(*member, queue))))
                .send()
                .await
                .map_err(|e| store_error("delete queue membership", e))?;
        }
        Ok(())
    }
}

impl QueueDirectory for DynamoStore {
    /// Membership items are written first: a membership whose queue is missing (a crash in
    /// between) is ignored by [`QueueDirectory::queues_of_agent`]'s callers, which read the queue.
    async fn insert_queue(&self, queue: &MessageQueue) -> Result<(), StoreError> {
        let table = &self.tables.directory;
        self.put_memberships(queue.id, queue.members.iter()).await?;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(encode("queue", &QueueItem::from_domain(queue))?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| store_error("insert queue", e))?;
        Ok(())
    }

    async fn queue(&self, id: QueueId) -> Result<Option<MessageQueue>, StoreError> {
        match self.get("read queue", &self.tables.directory, keys::queue(id)).await? {
            Some(item) => {
                let stored: QueueItem = items::from_item("queue", item).map_err(|e| corrupt("read queue", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read queue", e))
            }
            None => Ok(None),
        }
    }

    async fn queues(&self) -> Result<Vec<MessageQueue>, StoreError> {
        self.kind_items(keys::kind::QUEUE)
            .await?
            .into_iter()
            .map(|item| {
                let stored: QueueItem = items::from_item("queue", item).map_err(|e| corrupt("list queues", e))?;
                stored.into_domain().map_err(|e| corrupt("list queues", e))
            })
            .collect()
    }

    /// New memberships first, then the queue, then the memberships of agents no longer in it: a
    /// crash in between leaves at most a stale membership, which grants nothing (every queue
    /// permission is checked against the queue's own member list).
    async fn replace_queue(&self, before: &MessageQueue, after: &MessageQueue) -> Result<(), StoreError> {
        let table = &self.tables.directory;
        self.put_memberships(after.id, after.members.iter().filter(|m| !before.members.contains(m))).await?;
        self.client
            .put_item()
            .table_name(table)
            .set_item(Some(encode("queue", &QueueItem::from_domain(after))?))
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| store_error("replace queue", e))?;
        self.delete_memberships(after.id, before.members.iter().filter(|m| !after.members.contains(m))).await
    }

    async fn delete_queue(&self, queue: &MessageQueue) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.directory)
            .set_key(Some(super::key_map(keys::queue(queue.id))))
            .send()
            .await
            .map_err(|e| store_error("delete queue", e))?;
        self.delete_memberships(queue.id, queue.members.iter()).await
    }

    async fn queues_of_agent(&self, ext: ExtensionId) -> Result<Vec<QueueId>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.directory)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", s(keys::agent_partition(ext)))
            .consistent_read(true);
        self.query_all("list agent queues", query)
            .await?
            .into_iter()
            .map(|item| {
                let m: MembershipItem =
                    items::from_item("membership", item).map_err(|e| corrupt("list agent queues", e))?;
                QueueId::new(m.queue_id).map_err(|e| corrupt("list agent queues", e))
            })
            .collect()
    }
}

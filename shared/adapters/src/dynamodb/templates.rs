//! [`TemplateStore`] over the directory table: one partition per WhatsApp channel
//! (`WATPL#{channel}`) holding its templates (`TPL#{id}`, the template as JSON) and the last
//! sync (`SYNC`). Reads are one key-range query; a replacement writes the new set, deletes the
//! templates of the previous set no longer listed, then records the sync (each step idempotent, so a retried sync
//! converges).

use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use domain::ids::ChannelId;
use domain::ports::{StoreError, StoredTemplate, TemplateStore, TemplateSync};
use domain::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{corrupt, store_error};
use super::items::{self, Item};
use super::{DynamoStore, key_map, keys, s};

fn partition(channel: ChannelId) -> String {
    format!("WATPL#{}", keys::pad(channel.get()))
}

const TEMPLATE_PREFIX: &str = "TPL#";

fn template_key(channel: ChannelId, id: u64) -> keys::Key {
    (partition(channel), format!("{TEMPLATE_PREFIX}{}", keys::pad(id)))
}

#[derive(Debug, Serialize, Deserialize)]
struct TemplateItem {
    pk: String,
    sk: String,
    id: u64,
    channel_id: u64,
    template: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct SyncItem {
    pk: String,
    sk: String,
    synced_at: i64,
    kept: u64,
    not_approved: u64,
    catalog: u64,
    over_limit: u64,
    invalid: u64,
}

fn count(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl TemplateStore for DynamoStore {
    async fn templates(&self, channel: ChannelId) -> Result<Vec<StoredTemplate>, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(&self.tables().directory)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(partition(channel)))
            .expression_attribute_values(":prefix", s(TEMPLATE_PREFIX))
            .consistent_read(true);
        self.query_all("read templates", query)
            .await?
            .into_iter()
            .map(|item| {
                let stored: TemplateItem =
                    items::from_item("template", item).map_err(|e| corrupt("read templates", e))?;
                Ok(StoredTemplate {
                    id: stored.id,
                    channel_id: ChannelId::new(stored.channel_id).map_err(|e| corrupt("read templates", e))?,
                    template: serde_json::from_str(&stored.template).map_err(|e| corrupt("read templates", e))?,
                })
            })
            .collect()
    }

    async fn template_sync(&self, channel: ChannelId) -> Result<Option<TemplateSync>, StoreError> {
        let key = (partition(channel), "SYNC".to_owned());
        let Some(item) = self.get("read template sync", &self.tables().directory, key).await? else { return Ok(None) };
        let stored: SyncItem = items::from_item("template sync", item).map_err(|e| corrupt("read template sync", e))?;
        Ok(Some(TemplateSync {
            synced_at: Timestamp::from_micros(stored.synced_at),
            kept: count(stored.kept),
            not_approved: count(stored.not_approved),
            catalog: count(stored.catalog),
            over_limit: count(stored.over_limit),
            invalid: count(stored.invalid),
        }))
    }

    async fn replace_templates(
        &self,
        channel: ChannelId,
        previous: &[StoredTemplate],
        templates: &[StoredTemplate],
        sync: &TemplateSync,
    ) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        for t in templates {
            let (pk, sk) = template_key(channel, t.id);
            let item = TemplateItem {
                pk,
                sk,
                id: t.id,
                channel_id: channel.get(),
                template: serde_json::to_string(&t.template).map_err(|e| corrupt("write templates", e))?,
            };
            let item: Item = items::to_item("template", &item).map_err(|e| corrupt("write templates", e))?;
            let put = PutRequest::builder().set_item(Some(item)).build().map_err(|e| corrupt("write templates", e))?;
            writes.push(WriteRequest::builder().put_request(put).build());
        }
        for gone in previous.iter().filter(|e| !templates.iter().any(|t| t.id == e.id)) {
            let delete = DeleteRequest::builder()
                .set_key(Some(key_map(template_key(channel, gone.id))))
                .build()
                .map_err(|e| corrupt("write templates", e))?;
            writes.push(WriteRequest::builder().delete_request(delete).build());
        }
        self.batch_write("write templates", &self.tables().directory, writes).await?;
        let as_n = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        let item = SyncItem {
            pk: partition(channel),
            sk: "SYNC".into(),
            synced_at: sync.synced_at.as_micros(),
            kept: as_n(sync.kept),
            not_approved: as_n(sync.not_approved),
            catalog: as_n(sync.catalog),
            over_limit: as_n(sync.over_limit),
            invalid: as_n(sync.invalid),
        };
        self.client()
            .put_item()
            .table_name(&self.tables().directory)
            .set_item(Some(items::to_item("template sync", &item).map_err(|e| corrupt("write template sync", e))?))
            .send()
            .await
            .map_err(|e| store_error("write template sync", e))?;
        Ok(())
    }
}

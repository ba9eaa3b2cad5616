//! [`WebhookSettingsStore`] and [`ParkedDeliveries`] over the directory table: the event-push
//! settings are one item (`WEBHOOKS` / `SETTINGS`); parked deliveries share one partition
//! (`PUSH_PARKED`, sort key = the parked id), read with one key query.

use std::collections::BTreeSet;

use domain::channel::ProviderUrl;
use domain::event_push::{
    Delivery, EventSelection, ParkedDelivery, PushEvent, RequestMethod, WebhookSettings, WebhookTarget,
};
use domain::ports::{ParkedDeliveries, StoreError, WebhookSettingsStore};
use domain::secret::Secret;
use domain::time::Timestamp;
use serde::{Deserialize, Serialize};

use super::errors::{corrupt, store_error};
use super::items;
use super::{DynamoStore, key_map, keys, s};

fn settings_key() -> keys::Key {
    ("WEBHOOKS".into(), "SETTINGS".into())
}

const PARKED_PARTITION: &str = "PUSH_PARKED";

fn parked_key(id: &str) -> keys::Key {
    (PARKED_PARTITION.into(), id.to_owned())
}

#[derive(Debug, Serialize, Deserialize)]
struct TargetItem {
    url: String,
    secret: String,
    method: String,
    /// `[0]`: all.
    event_ids: Vec<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SettingsItem {
    pk: String,
    sk: String,
    enabled: bool,
    targets: Vec<TargetItem>,
    timeout_secs: u8,
    retry_count: u8,
}

#[derive(Debug, Serialize, Deserialize)]
struct ParkedItem {
    pk: String,
    sk: String,
    report_id: String,
    event_type: u32,
    body: String,
    url: String,
    failed_attempts: u32,
    last_error: String,
    parked_at: i64,
}

const OP_SETTINGS: &str = "read webhook settings";
const OP_PARKED: &str = "read parked deliveries";

fn settings_from(item: SettingsItem) -> Result<WebhookSettings, StoreError> {
    let targets = item
        .targets
        .into_iter()
        .map(|t| {
            let events = if t.event_ids.contains(&0) {
                EventSelection::All
            } else {
                EventSelection::Only(
                    t.event_ids.iter().filter_map(|id| PushEvent::from_id(*id)).collect::<BTreeSet<_>>(),
                )
            };
            Ok(WebhookTarget {
                url: ProviderUrl::from_stored(&t.url).map_err(|e| corrupt(OP_SETTINGS, e))?,
                secret: Secret::new(t.secret),
                method: RequestMethod::parse(&t.method)
                    .ok_or_else(|| corrupt(OP_SETTINGS, format!("method {}", t.method)))?,
                events,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(WebhookSettings {
        enabled: item.enabled,
        targets,
        timeout_secs: item.timeout_secs,
        retry_count: item.retry_count,
    })
}

fn parked_from(item: ParkedItem) -> ParkedDelivery {
    ParkedDelivery {
        id: item.sk,
        delivery: Delivery {
            report_id: item.report_id,
            event_type: item.event_type,
            body: item.body,
            url: item.url,
            failed_attempts: item.failed_attempts,
            last_error: item.last_error,
        },
        parked_at: Timestamp::from_micros(item.parked_at),
    }
}

impl WebhookSettingsStore for DynamoStore {
    async fn webhook_settings(&self) -> Result<Option<WebhookSettings>, StoreError> {
        let Some(item) = self.get(OP_SETTINGS, &self.tables().directory, settings_key()).await? else {
            return Ok(None);
        };
        let stored: SettingsItem = items::from_item("webhook settings", item).map_err(|e| corrupt(OP_SETTINGS, e))?;
        settings_from(stored).map(Some)
    }

    async fn put_webhook_settings(&self, settings: &WebhookSettings) -> Result<(), StoreError> {
        let (pk, sk) = settings_key();
        let stored = SettingsItem {
            pk,
            sk,
            enabled: settings.enabled,
            targets: settings
                .targets
                .iter()
                .map(|t| TargetItem {
                    url: t.url.as_str().to_owned(),
                    secret: t.secret.expose().to_owned(),
                    method: t.method.as_str().to_owned(),
                    event_ids: t.events.ids(),
                })
                .collect(),
            timeout_secs: settings.timeout_secs,
            retry_count: settings.retry_count,
        };
        let item = items::to_item("webhook settings", &stored).map_err(|e| corrupt("write webhook settings", e))?;
        self.client()
            .put_item()
            .table_name(&self.tables().directory)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("write webhook settings", e))?;
        Ok(())
    }
}

impl ParkedDeliveries for DynamoStore {
    async fn park_delivery(&self, parked: &ParkedDelivery) -> Result<(), StoreError> {
        let (pk, sk) = parked_key(&parked.id);
        let d = &parked.delivery;
        let stored = ParkedItem {
            pk,
            sk,
            report_id: d.report_id.clone(),
            event_type: d.event_type,
            body: d.body.clone(),
            url: d.url.clone(),
            failed_attempts: d.failed_attempts,
            last_error: d.last_error.clone(),
            parked_at: parked.parked_at.as_micros(),
        };
        let item = items::to_item("parked delivery", &stored).map_err(|e| corrupt("park delivery", e))?;
        self.client()
            .put_item()
            .table_name(&self.tables().directory)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| store_error("park delivery", e))?;
        Ok(())
    }

    async fn parked_deliveries(&self) -> Result<Vec<ParkedDelivery>, StoreError> {
        let query = self
            .client()
            .query()
            .table_name(&self.tables().directory)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(PARKED_PARTITION))
            .consistent_read(true);
        let mut list = self
            .query_all(OP_PARKED, query)
            .await?
            .into_iter()
            .map(|item| {
                items::from_item::<ParkedItem>("parked delivery", item)
                    .map(parked_from)
                    .map_err(|e| corrupt(OP_PARKED, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        list.sort_by(|a, b| b.parked_at.cmp(&a.parked_at).then_with(|| a.id.cmp(&b.id)));
        Ok(list)
    }

    async fn parked_delivery(&self, id: &str) -> Result<Option<ParkedDelivery>, StoreError> {
        let Some(item) = self.get(OP_PARKED, &self.tables().directory, parked_key(id)).await? else {
            return Ok(None);
        };
        items::from_item::<ParkedItem>("parked delivery", item)
            .map(|p| Some(parked_from(p)))
            .map_err(|e| corrupt(OP_PARKED, e))
    }

    async fn remove_parked_delivery(&self, id: &str) -> Result<(), StoreError> {
        self.client()
            .delete_item()
            .table_name(&self.tables().directory)
            .set_key(Some(key_map(parked_key(id))))
            .send()
            .await
            .map_err(|e| store_error("remove parked delivery", e))?;
        Ok(())
    }
}

//! Delivery receipts in the conversation table: the provider-message-id link item
//! (`PROVIDERMSG#{channel}#{provider id}`) and the receipt on the message item. Every write is
//! conditional on rank (`receipt_rank < :rank`), so only a strictly stronger report replaces one.

use aws_sdk_dynamodb::types::ReturnValue;
use domain::ids::{ChannelId, MessageId, SessionId};
use domain::message::Receipt;
use domain::ports::{ReceiptLedger, ReceiptRecord, StoreError};

use super::errors::{corrupt, store_error};
use super::items::{self, ProviderMessageItem};
use super::{DynamoStore, key_map, keys, n, s};

/// How long a link item (and a report waiting for its send) is kept after its last write.
pub(crate) const PROVIDER_MESSAGE_RETENTION_SECS: i64 = 30 * 24 * 3600;

fn receipt_attr(receipt: &Receipt) -> Result<aws_sdk_dynamodb::types::AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(receipt).map_err(|e| corrupt("encode receipt", e))
}

impl DynamoStore {
    async fn provider_message(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
    ) -> Result<Option<ProviderMessageItem>, StoreError> {
        self.get(
            "read provider message link",
            self.conversation(),
            keys::provider_message(channel, provider_message_id),
        )
        .await?
        .map(|item| items::from_item("provider message link", item).map_err(|e| corrupt("read receipt", e)))
        .transpose()
    }
}

fn linked(item: &ProviderMessageItem) -> Result<Option<(SessionId, MessageId)>, StoreError> {
    match (item.session_id, item.msg_id) {
        (Some(session), Some(msg)) => Ok(Some((
            SessionId::new(session).map_err(|e| corrupt("read receipt", e))?,
            MessageId::new(msg).map_err(|e| corrupt("read receipt", e))?,
        ))),
        _ => Ok(None),
    }
}

impl ReceiptLedger for DynamoStore {
    async fn record_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
        receipt: &Receipt,
    ) -> Result<ReceiptRecord, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::provider_message(channel, provider_message_id))))
            .update_expression("SET receipt = :r, receipt_rank = :rank, expires_at = :exp")
            .condition_expression("attribute_not_exists(receipt_rank) OR receipt_rank < :rank")
            .expression_attribute_values(":r", receipt_attr(receipt)?)
            .expression_attribute_values(":rank", n(receipt.status.rank()))
            .expression_attribute_values(":exp", n(receipt.at.as_unix_seconds() + PROVIDER_MESSAGE_RETENTION_SECS))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let item = match result {
            Ok(out) => {
                let attributes = out.attributes.ok_or_else(|| corrupt("record receipt", "no attributes returned"))?;
                items::from_item::<ProviderMessageItem>("provider message link", attributes)
                    .map_err(|e| corrupt("record receipt", e))?
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => self
                .provider_message(channel, provider_message_id)
                .await?
                .ok_or_else(|| corrupt("record receipt", "stronger receipt vanished"))?,
            Err(err) => return Err(store_error("record receipt", err)),
        };
        let strongest = item.receipt.clone().ok_or_else(|| corrupt("record receipt", "no receipt recorded"))?;
        Ok(ReceiptRecord { message: linked(&item)?, strongest })
    }

    async fn recorded_receipt(
        &self,
        channel: ChannelId,
        provider_message_id: &str,
    ) -> Result<Option<Receipt>, StoreError> {
        Ok(self.provider_message(channel, provider_message_id).await?.and_then(|item| item.receipt))
    }

    async fn apply_receipt(&self, session: SessionId, msg: MessageId, receipt: &Receipt) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(session, msg))))
            .update_expression("SET receipt = :r, receipt_rank = :rank")
            .condition_expression("#st = :sent AND (attribute_not_exists(receipt_rank) OR receipt_rank < :rank)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":r", receipt_attr(receipt)?)
            .expression_attribute_values(":rank", n(receipt.status.rank()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("apply receipt", err)),
        }
    }
}

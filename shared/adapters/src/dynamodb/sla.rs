//! [`SlaLedger`] over the conversation table: one partition per queue (`QSLA#{queue}`) holding
//! its offers by entry time, its evaluations by window end and its alarm state. Every read is a
//! key read or a key-range query of that partition.

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use domain::ids::QueueId;
use domain::ports::{SlaLedger, StoreError};
use domain::sla::{OfferKey, OfferRecord, SlaEvaluation, SlaState, SlaWindow};
use domain::time::Timestamp;

use super::errors::{corrupt, failed_condition, store_error};
use super::items::{self, OfferItem, SlaEvaluationItem, SlaStateItem};
use super::{DynamoStore, key_map, keys, n, s};

impl SlaLedger for DynamoStore {
    async fn offers_entered(&self, queue: QueueId, window: SlaWindow) -> Result<Vec<OfferRecord>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(keys::sla_partition(queue)))
            .expression_attribute_values(":from", s(keys::offer_bound(window.start)))
            // Offers strictly before `end`: the bound just below it.
            .expression_attribute_values(
                ":to",
                s(keys::offer_bound(Timestamp::from_micros(window.end.as_micros() - 1)) + "~"),
            )
            .consistent_read(true);
        self.query_all("read queue offers", query)
            .await?
            .into_iter()
            .map(|item| {
                let stored: OfferItem =
                    items::from_item("queue offer", item).map_err(|e| corrupt("read queue offers", e))?;
                stored.into_domain().map_err(|e| corrupt("read queue offers", e))
            })
            .collect()
    }

    async fn offer(&self, key: &OfferKey) -> Result<Option<OfferRecord>, StoreError> {
        match self.get("read queue offer", self.conversation(), keys::offer(key)).await? {
            Some(item) => {
                let stored: OfferItem =
                    items::from_item("queue offer", item).map_err(|e| corrupt("read queue offer", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read queue offer", e))
            }
            None => Ok(None),
        }
    }

    async fn record_breach(&self, key: &OfferKey, at: Timestamp) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::offer(key))))
            .update_expression("SET breached_at = :at")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(answered_at) AND attribute_not_exists(left_at) AND attribute_not_exists(breached_at)",
            )
            .expression_attribute_values(":at", n(at.as_micros()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("record SLA breach", err)),
        }
    }

    async fn breach_announced(&self, key: &OfferKey) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::offer(key))))
            .update_expression("SET breach_announced = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .or_else(|err| {
                if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) {
                    Ok(())
                } else {
                    Err(store_error("mark SLA breach announced", err))
                }
            })
    }

    async fn sla_state(&self, queue: QueueId) -> Result<SlaState, StoreError> {
        match self.get("read SLA state", self.conversation(), keys::sla_state(queue)).await? {
            Some(item) => {
                let stored: SlaStateItem =
                    items::from_item("SLA state", item).map_err(|e| corrupt("read SLA state", e))?;
                stored.into_domain().map_err(|e| corrupt("read SLA state", e))
            }
            None => Ok(SlaState::default()),
        }
    }

    async fn record_evaluation(
        &self,
        evaluation: &SlaEvaluation,
        state: &SlaState,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let table = self.conversation();
        let state_item =
            SlaStateItem::from_domain(evaluation.queue, state).map_err(|e| corrupt("store SLA state", e))?;
        let state_item = items::to_item("SLA state", &state_item).map_err(|e| corrupt("store SLA state", e))?;
        let put_state = Put::builder()
            .table_name(table)
            .set_item(Some(state_item))
            .condition_expression("attribute_not_exists(pk) OR version = :v")
            .expression_attribute_values(":v", n(expected_version))
            .build()
            .map_err(|e| corrupt("build put", e))?;
        let eval_item = SlaEvaluationItem::from_domain(evaluation).map_err(|e| corrupt("store SLA evaluation", e))?;
        let put_eval = Put::builder()
            .table_name(table)
            .set_item(Some(
                items::to_item("SLA evaluation", &eval_item).map_err(|e| corrupt("store SLA evaluation", e))?,
            ))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| corrupt("build put", e))?;
        let tx = vec![
            TransactWriteItem::builder().put(put_state).build(),
            TransactWriteItem::builder().put(put_eval).build(),
        ];
        match self.transact("store SLA evaluation", tx).await? {
            Ok(()) => Ok(true),
            Err(reasons) if failed_condition(&reasons, 0) || failed_condition(&reasons, 1) => Ok(false),
            Err(reasons) => Err(corrupt("store SLA evaluation", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn clear_pending(&self, queue: QueueId, notice_id: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::sla_state(queue))))
            .update_expression("REMOVE pending, pending_id SET version = version + :one")
            .condition_expression("pending_id = :id")
            .expression_attribute_values(":id", s(notice_id))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        match result {
            // A condition failure: an overlapping run delivered and cleared it too.
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("clear SLA notice", err)),
        }
    }

    async fn evaluations(&self, queue: QueueId, limit: usize) -> Result<Vec<SlaEvaluation>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(keys::sla_partition(queue)))
            .expression_attribute_values(":prefix", s(keys::EVALUATION_PREFIX))
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("read SLA evaluations", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let stored: SlaEvaluationItem =
                    items::from_item("SLA evaluation", item).map_err(|e| corrupt("read SLA evaluations", e))?;
                stored.into_domain().map_err(|e| corrupt("read SLA evaluations", e))
            })
            .collect()
    }
}

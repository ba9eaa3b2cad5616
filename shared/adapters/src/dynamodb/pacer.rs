//! Conversation table: per-channel send schedules (`PACER#{channel}`), see `domain::pacing`.
//!
//! A reservation is one conditional `UpdateItem`, so concurrent senders never share a slot:
//! when the schedule is behind `now` it restarts at `now` (`SET next_slot = :now + :interval`
//! if `next_slot <= :now`); otherwise it advances (`SET next_slot = next_slot + :interval` if
//! `next_slot > :now`, returning the old value as the slot). If the schedule crossed `now`
//! between the two attempts, the first form is tried again.

use std::time::Duration;

use aws_sdk_dynamodb::types::ReturnValue;
use domain::ids::ChannelId;
use domain::ports::{Pacer, StoreError};
use domain::time::Timestamp;

use super::errors::{corrupt, store_error};
use super::{DynamoStore, key_map, keys, n};

const MAX_ROUNDS: usize = 16;

impl DynamoStore {
    /// Takes the slot at `now` if the schedule is due (`next_slot <= now`, or none yet): the
    /// schedule moves to `now + step`. `false` when the channel is busy until later.
    async fn take_if_idle(&self, channel: ChannelId, step: i64, now: Timestamp) -> Result<bool, StoreError> {
        let taken = self
            .client
            .update_item()
            .table_name(&self.tables.conversation)
            .set_key(Some(key_map(keys::pacer(channel))))
            .update_expression("SET next_slot = :next")
            .condition_expression("attribute_not_exists(next_slot) OR next_slot <= :now")
            .expression_attribute_values(":next", n(now.as_micros().saturating_add(step)))
            .expression_attribute_values(":now", n(now.as_micros()))
            .send()
            .await;
        match taken {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("reserve send slot", err)),
        }
    }
}

impl Pacer for DynamoStore {
    async fn reserve(&self, channel: ChannelId, interval: Duration, now: Timestamp) -> Result<Timestamp, StoreError> {
        let step = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        let table = &self.tables.conversation;
        for _ in 0..MAX_ROUNDS {
            if self.take_if_idle(channel, step, now).await? {
                return Ok(now);
            }
            let advance = self
                .client
                .update_item()
                .table_name(table)
                .set_key(Some(key_map(keys::pacer(channel))))
                .update_expression("SET next_slot = next_slot + :step")
                .condition_expression("next_slot > :now")
                .expression_attribute_values(":step", n(step))
                .expression_attribute_values(":now", n(now.as_micros()))
                .return_values(ReturnValue::UpdatedOld)
                .send()
                .await;
            match advance {
                Ok(out) => {
                    let old = out
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get("next_slot"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse::<i64>().ok())
                        .ok_or_else(|| corrupt("reserve send slot", "next_slot missing"))?;
                    return Ok(Timestamp::from_micros(old));
                }
                Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {}
                Err(err) => return Err(store_error("reserve send slot", err)),
            }
        }
        Err(StoreError::retryable("reserve send slot", "schedule kept moving under contention"))
    }

    async fn reserve_if_idle(
        &self,
        channel: ChannelId,
        interval: Duration,
        now: Timestamp,
    ) -> Result<Result<Timestamp, Timestamp>, StoreError> {
        let step = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
        if self.take_if_idle(channel, step, now).await? {
            return Ok(Ok(now));
        }
        let item = self.get("read send schedule", &self.tables.conversation, keys::pacer(channel)).await?;
        let next = item
            .as_ref()
            .and_then(|i| i.get("next_slot"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .map_or(now, Timestamp::from_micros);
        Ok(Err(next))
    }

    async fn pause_until(&self, channel: ChannelId, until: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.conversation)
            .set_key(Some(key_map(keys::pacer(channel))))
            .update_expression("SET paused_until = :until, next_slot = :until")
            .condition_expression("attribute_not_exists(next_slot) OR next_slot < :until")
            .expression_attribute_values(":until", n(until.as_micros()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // The schedule is already past the pause: only record the pause itself.
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.tables.conversation)
                    .set_key(Some(key_map(keys::pacer(channel))))
                    .update_expression("SET paused_until = :until")
                    .condition_expression("attribute_not_exists(paused_until) OR paused_until < :until")
                    .expression_attribute_values(":until", n(until.as_micros()))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                        Ok(())
                    }
                    Err(err) => Err(store_error("pause channel", err)),
                }
            }
            Err(err) => Err(store_error("pause channel", err)),
        }
    }

    async fn paused_until(&self, channel: ChannelId) -> Result<Option<Timestamp>, StoreError> {
        let item = self.get("read channel pause", &self.tables.conversation, keys::pacer(channel)).await?;
        Ok(item
            .as_ref()
            .and_then(|i| i.get("paused_until"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .map(Timestamp::from_micros))
    }
}

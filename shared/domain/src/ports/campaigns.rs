//! Ports of message campaigns: the campaigns and their per-recipient ledgers, the channel's
//! one-campaign-at-a-time lock, the runner lease, opt-outs and the reply lookup (response rate),
//! and the campaign work queue.

use serde::{Deserialize, Serialize};

use crate::campaign::{Campaign, CampaignRecipient, RecipientOutcome, SentTo};
use crate::ids::{CampaignId, ChannelId, MessageId};
use crate::phone::{BusinessNumber, CustomerAddress};
use crate::time::Timestamp;

use super::StoreError;

/// A campaign job: run (or start, or check) one campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignJob {
    /// The campaign.
    pub campaign_id: CampaignId,
}

/// The campaign work queue.
pub trait CampaignQueue {
    /// Enqueues a job, visible after `delay_seconds` (≤ 900).
    async fn enqueue_campaign(&self, job: &CampaignJob, delay_seconds: u32) -> Result<(), StoreError>;
}

/// Campaigns, their recipients and what execution keeps beside them.
pub trait CampaignStore {
    /// A campaign with its counters.
    async fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError>;
    /// Every campaign (at most [`crate::campaign::MAX_CAMPAIGNS`]), in id order.
    async fn campaigns(&self) -> Result<Vec<Campaign>, StoreError>;
    /// Stores a new campaign with its recipients (recipients first; the campaign item last, so a
    /// crash in between leaves nothing visible).
    async fn create_campaign(&self, campaign: &Campaign, recipients: &[CampaignRecipient]) -> Result<(), StoreError>;
    /// Replaces an editable campaign's definition (and, when given, its recipients) if it is
    /// still at `expected_version`; `false` when it changed meanwhile. `old_total` recipients
    /// existed before.
    async fn replace_campaign(
        &self,
        campaign: &Campaign,
        expected_version: u64,
        recipients: Option<&[CampaignRecipient]>,
        old_total: u64,
    ) -> Result<bool, StoreError>;
    /// Writes a campaign's status fields (status, run, times, stop reason; never its counters)
    /// if it is still at `expected_version`; `false` otherwise.
    async fn save_campaign_state(&self, campaign: &Campaign, expected_version: u64) -> Result<bool, StoreError>;
    /// Deletes a campaign and its recipients.
    async fn delete_campaign(&self, campaign: &Campaign) -> Result<(), StoreError>;
    /// The recipients, in index order.
    async fn recipients(&self, id: CampaignId) -> Result<Vec<CampaignRecipient>, StoreError>;
    /// `pending` → `opted_out`, counted; `false` when it was not pending.
    async fn mark_opted_out(&self, id: CampaignId, index: u32) -> Result<bool, StoreError>;
    /// `queued` with message `msg` → the outcome, counted; a sent one is also registered for
    /// the reply lookup under (channel, number, customer). `false` when it was not so.
    async fn record_recipient_outcome(
        &self,
        recipient: &CampaignRecipient,
        msg: MessageId,
        outcome: &RecipientOutcome,
        reply_key: (ChannelId, &BusinessNumber),
    ) -> Result<bool, StoreError>;
    /// A retry: `failed` → `pending` in round `run`, uncounted; returns how many moved.
    async fn reset_failed(&self, id: CampaignId, run: u32) -> Result<u64, StoreError>;
    /// The campaign messages sent to `customer` from (channel, number), most recent first.
    async fn sent_to(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<Vec<SentTo>, StoreError>;
    /// Marks a recipient as having replied (once), counted; `false` when it already had.
    async fn record_reply(&self, id: CampaignId, index: u32, at: Timestamp) -> Result<bool, StoreError>;
    /// Takes the channel for `campaign` (or confirms it holds it); `false` when another holds it.
    async fn acquire_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<bool, StoreError>;
    /// Gives the channel back (only if `campaign` holds it).
    async fn release_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<(), StoreError>;
    /// The campaign holding the channel, if any.
    async fn channel_holder(&self, channel: ChannelId) -> Result<Option<CampaignId>, StoreError>;
    /// Takes the runner lease of a campaign until `until` if it is free (or expired at `now`,
    /// or already `token`'s); `false` when another runner holds it.
    async fn take_runner_lease(
        &self,
        id: CampaignId,
        token: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;
    /// Ends the runner lease if `token` holds it.
    async fn release_runner_lease(&self, id: CampaignId, token: &str) -> Result<(), StoreError>;
    /// When the current runner lease ends, if one was taken.
    async fn runner_lease_until(&self, id: CampaignId) -> Result<Option<Timestamp>, StoreError>;
}

/// Who asked not to get messages from a number (STOP), per (channel, number, customer).
pub trait OptOuts {
    /// Whether `customer` opted out of messages from `number` on `channel`.
    async fn opted_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<bool, StoreError>;
    /// Records an opt-out (`true`, STOP) or an opt-in again (`false`, START).
    async fn set_opt_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;
}

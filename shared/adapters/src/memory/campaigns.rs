//! Campaigns in memory: the same conditions as the DynamoDB adapter, under the store's lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use domain::campaign::{Campaign, CampaignRecipient, RecipientOutcome, RecipientState, SentTo};
use domain::ids::{CampaignId, ChannelId, MessageId, SessionId};
use domain::phone::{BusinessNumber, CustomerAddress};
use domain::ports::{CampaignStore, OptOuts, RecipientClaim, StoreError};
use domain::time::Timestamp;

use super::{InMemoryStore, lock};

type ReplyKey = (ChannelId, String, String);

/// Campaign state inside the store's `State`.
#[derive(Debug, Default)]
pub(super) struct CampaignState {
    campaigns: BTreeMap<CampaignId, Campaign>,
    leases: HashMap<CampaignId, (String, Timestamp)>,
    recipients: BTreeMap<(CampaignId, u32), CampaignRecipient>,
    sent: HashMap<ReplyKey, Vec<SentTo>>,
    locks: HashMap<ChannelId, CampaignId>,
    opt_outs: HashSet<ReplyKey>,
}

/// Whether a campaign message may claim the recipient (`commit_outbound`).
pub(super) fn claimable(state: &CampaignState, claim: &RecipientClaim) -> bool {
    state.recipients.get(&(claim.campaign, claim.index)).is_some_and(|r| r.state == RecipientState::Pending)
}

/// The recipient moves to `queued` with its message (`commit_outbound`).
pub(super) fn mark_queued(state: &mut CampaignState, claim: &RecipientClaim, session: SessionId, msg: MessageId) {
    if let Some(r) = state.recipients.get_mut(&(claim.campaign, claim.index)) {
        r.state = RecipientState::Queued;
        r.message = Some((session, msg));
    }
}

fn bump(state: &mut CampaignState, id: CampaignId, f: impl FnOnce(&mut Campaign)) {
    if let Some(c) = state.campaigns.get_mut(&id) {
        f(c);
    }
}

impl CampaignStore for InMemoryStore {
    async fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError> {
        Ok(lock(&self.state).campaigns.campaigns.get(&id).cloned())
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        Ok(lock(&self.state).campaigns.campaigns.values().cloned().collect())
    }

    async fn create_campaign(&self, campaign: &Campaign, recipients: &[CampaignRecipient]) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        for r in recipients {
            s.campaigns.recipients.insert((r.campaign, r.index), r.clone());
        }
        s.campaigns.campaigns.insert(campaign.id, campaign.clone());
        Ok(())
    }

    async fn replace_campaign(
        &self,
        campaign: &Campaign,
        expected_version: u64,
        recipients: Option<&[CampaignRecipient]>,
        _old_total: u64,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        if s.campaigns.campaigns.get(&campaign.id).map(|c| c.version) != Some(expected_version) {
            return Ok(false);
        }
        if let Some(list) = recipients {
            s.campaigns.recipients.retain(|(c, _), _| *c != campaign.id);
            for r in list {
                s.campaigns.recipients.insert((r.campaign, r.index), r.clone());
            }
        }
        let counts = s.campaigns.campaigns.get(&campaign.id).map(|c| c.counts).unwrap_or_default();
        s.campaigns.campaigns.insert(campaign.id, Campaign { counts, ..campaign.clone() });
        Ok(true)
    }

    async fn save_campaign_state(&self, campaign: &Campaign, expected_version: u64) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(current) = s.campaigns.campaigns.get_mut(&campaign.id) else { return Ok(false) };
        if current.version != expected_version {
            return Ok(false);
        }
        *current = Campaign { counts: current.counts, ..campaign.clone() };
        Ok(true)
    }

    async fn delete_campaign(&self, campaign: &Campaign) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        s.campaigns.recipients.retain(|(c, _), _| *c != campaign.id);
        s.campaigns.campaigns.remove(&campaign.id);
        Ok(())
    }

    async fn recipients(&self, id: CampaignId) -> Result<Vec<CampaignRecipient>, StoreError> {
        let s = lock(&self.state);
        Ok(s.campaigns.recipients.range((id, 0)..=(id, u32::MAX)).map(|(_, r)| r.clone()).collect())
    }

    async fn mark_opted_out(&self, id: CampaignId, index: u32) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(r) = s.campaigns.recipients.get_mut(&(id, index)) else { return Ok(false) };
        if r.state != RecipientState::Pending {
            return Ok(false);
        }
        r.state = RecipientState::OptedOut;
        bump(&mut s.campaigns, id, |c| c.counts.opted_out += 1);
        Ok(true)
    }

    async fn record_recipient_outcome(
        &self,
        recipient: &CampaignRecipient,
        msg: MessageId,
        outcome: &RecipientOutcome,
        reply_key: (ChannelId, &BusinessNumber),
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let id = recipient.campaign;
        let Some(r) = s.campaigns.recipients.get_mut(&(id, recipient.index)) else { return Ok(false) };
        if r.state != RecipientState::Queued || r.message.map(|(_, m)| m) != Some(msg) {
            return Ok(false);
        }
        match outcome {
            RecipientOutcome::Sent(at) => {
                r.state = RecipientState::Sent;
                r.sent_at = Some(*at);
                r.failure = None;
                let key = (reply_key.0, reply_key.1.as_str().to_owned(), recipient.number.as_str().to_owned());
                let entry = SentTo { campaign: id, index: recipient.index, sent_at: *at };
                s.campaigns.sent.entry(key).or_default().push(entry);
                bump(&mut s.campaigns, id, |c| c.counts.sent += 1);
            }
            RecipientOutcome::Failed(reason) => {
                r.state = RecipientState::Failed;
                r.failure = Some(reason.clone());
                bump(&mut s.campaigns, id, |c| c.counts.failed += 1);
            }
        }
        Ok(true)
    }

    async fn reset_failed(&self, id: CampaignId, run: u32) -> Result<u64, StoreError> {
        let mut s = lock(&self.state);
        let mut moved = 0;
        for ((_, _), r) in s.campaigns.recipients.range_mut((id, 0)..=(id, u32::MAX)) {
            if r.state == RecipientState::Failed {
                r.state = RecipientState::Pending;
                r.run = run;
                r.failure = None;
                r.message = None;
                moved += 1;
            }
        }
        bump(&mut s.campaigns, id, |c| c.counts.failed = c.counts.failed.saturating_sub(moved));
        Ok(moved)
    }

    async fn sent_to(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<Vec<SentTo>, StoreError> {
        let s = lock(&self.state);
        let key = (channel, number.as_str().to_owned(), customer.as_str().to_owned());
        let mut found = s.campaigns.sent.get(&key).cloned().unwrap_or_default();
        found.sort_by_key(|x| std::cmp::Reverse(x.sent_at));
        Ok(found)
    }

    async fn record_reply(&self, id: CampaignId, index: u32, at: Timestamp) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let Some(r) = s.campaigns.recipients.get_mut(&(id, index)) else { return Ok(false) };
        if r.replied_at.is_some() || r.state != RecipientState::Sent {
            return Ok(false);
        }
        r.replied_at = Some(at);
        bump(&mut s.campaigns, id, |c| c.counts.replied += 1);
        Ok(true)
    }

    async fn acquire_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        let holder = s.campaigns.locks.entry(channel).or_insert(campaign);
        Ok(*holder == campaign)
    }

    async fn release_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.campaigns.locks.get(&channel) == Some(&campaign) {
            s.campaigns.locks.remove(&channel);
        }
        Ok(())
    }

    async fn channel_holder(&self, channel: ChannelId) -> Result<Option<CampaignId>, StoreError> {
        Ok(lock(&self.state).campaigns.locks.get(&channel).copied())
    }

    async fn take_runner_lease(
        &self,
        id: CampaignId,
        token: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut s = lock(&self.state);
        if !s.campaigns.campaigns.contains_key(&id) {
            return Ok(false);
        }
        match s.campaigns.leases.get(&id) {
            Some((holder, end)) if holder != token && *end >= now => Ok(false),
            _ => {
                s.campaigns.leases.insert(id, (token.to_owned(), until));
                Ok(true)
            }
        }
    }

    async fn release_runner_lease(&self, id: CampaignId, token: &str) -> Result<(), StoreError> {
        let mut s = lock(&self.state);
        if s.campaigns.leases.get(&id).is_some_and(|(holder, _)| holder == token) {
            s.campaigns.leases.remove(&id);
        }
        Ok(())
    }

    async fn runner_lease_until(&self, id: CampaignId) -> Result<Option<Timestamp>, StoreError> {
        Ok(lock(&self.state).campaigns.leases.get(&id).map(|(_, until)| *until))
    }
}

impl OptOuts for InMemoryStore {
    async fn opted_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<bool, StoreError> {
        let key = (channel, number.as_str().to_owned(), customer.as_str().to_owned());
        Ok(lock(&self.state).campaigns.opt_outs.contains(&key))
    }

    async fn set_opt_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
        opted_out: bool,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let key = (channel, number.as_str().to_owned(), customer.as_str().to_owned());
        let mut s = lock(&self.state);
        if opted_out {
            s.campaigns.opt_outs.insert(key);
        } else {
            s.campaigns.opt_outs.remove(&key);
        }
        Ok(())
    }
}

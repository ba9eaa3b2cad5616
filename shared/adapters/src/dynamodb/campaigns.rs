//! Campaigns in DynamoDB. The campaign item lives in the Directory table (listed through
//! KindIndex, `kind` = `CAMPAIGN`) with its counters as separate numbers moved by `ADD` in the
//! same transactions as the recipients' ledger entries, so progress is exact while it runs.
//! Recipients, the channel lock, the reply lookup and opt-outs live in the Conversation table.
//! Keys and access patterns: docs/data-model.md "Campaigns".

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, TransactWriteItem, Update, WriteRequest};
use domain::campaign::{Campaign, CampaignRecipient, RecipientOutcome, RecipientState, SentTo};
use domain::ids::{CampaignId, ChannelId, MessageId, SessionId};
use domain::phone::{BusinessNumber, CustomerAddress, E164};
use domain::ports::{CampaignStore, OptOuts, RecipientClaim, StoreError};
use domain::time::Timestamp;

use super::errors::{corrupt, failed_condition, store_error};
use super::items::Item;
use super::{DynamoStore, key_map, keys, n, s};

/// The campaign item's kind on KindIndex.
const KIND: &str = "CAMPAIGN";
/// How long a reply-lookup entry outlives the response window (TTL slack).
const SENT_TTL_SLACK_SECS: i64 = 24 * 3600;

fn campaign_key(id: CampaignId) -> keys::Key {
    (format!("CAMPAIGN#{:020}", id.get()), "CAMPAIGN".to_owned())
}

fn recipient_key(id: CampaignId, index: u32) -> keys::Key {
    (format!("CAMPAIGN#{:020}", id.get()), format!("RCPT#{index:06}"))
}

fn sent_partition(channel: ChannelId, number: &BusinessNumber, customer: &str) -> String {
    format!("CAMPSENT#{}#{}#{}", channel.get(), number.as_str(), customer)
}

fn lock_key(channel: ChannelId) -> keys::Key {
    (format!("CAMPLOCK#{}", channel.get()), "CAMPLOCK".to_owned())
}

fn opt_out_key(channel: ChannelId, number: &BusinessNumber, customer: &CustomerAddress) -> keys::Key {
    (format!("OPTOUT#{}#{}#{}", channel.get(), number.as_str(), customer.as_str()), "OPTOUT".to_owned())
}

fn num(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<i64>().ok())
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

fn counter(item: &Item, name: &str) -> u64 {
    num(item, name).and_then(|v| u64::try_from(v).ok()).unwrap_or(0)
}

fn campaign_of(item: &Item) -> Result<Campaign, StoreError> {
    const OP: &str = "read campaign";
    let doc = text(item, "doc").ok_or_else(|| corrupt(OP, "doc missing"))?;
    let mut c: Campaign = serde_json::from_str(doc).map_err(|e| corrupt(OP, e))?;
    c.counts.sent = counter(item, "sent");
    c.counts.failed = counter(item, "failed");
    c.counts.opted_out = counter(item, "opted_out");
    c.counts.replied = counter(item, "replied");
    c.version = num(item, "version").and_then(|v| u64::try_from(v).ok()).unwrap_or(c.version);
    Ok(c)
}

fn recipient_of(id: CampaignId, item: &Item) -> Result<CampaignRecipient, StoreError> {
    const OP: &str = "read campaign recipient";
    let index = text(item, "sk")
        .and_then(|sk| sk.strip_prefix("RCPT#"))
        .and_then(|i| i.parse::<u32>().ok())
        .ok_or_else(|| corrupt(OP, "sk"))?;
    let number = E164::parse(text(item, "number").unwrap_or_default()).map_err(|e| corrupt(OP, e))?;
    let state = RecipientState::parse(text(item, "state").unwrap_or_default()).ok_or_else(|| corrupt(OP, "state"))?;
    let message = match (num(item, "session_id"), num(item, "msg_id")) {
        (Some(sid), Some(mid)) => Some((
            SessionId::new(u64::try_from(sid).map_err(|e| corrupt(OP, e))?).map_err(|e| corrupt(OP, e))?,
            MessageId::new(u64::try_from(mid).map_err(|e| corrupt(OP, e))?).map_err(|e| corrupt(OP, e))?,
        )),
        _ => None,
    };
    Ok(CampaignRecipient {
        campaign: id,
        index,
        number,
        contact_name: text(item, "contact_name").map(str::to_owned),
        state,
        run: num(item, "run").and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
        message,
        sent_at: num(item, "sent_at").map(Timestamp::from_micros),
        failure: text(item, "failure").map(str::to_owned),
        replied_at: num(item, "replied_at").map(Timestamp::from_micros),
    })
}

fn recipient_item(r: &CampaignRecipient) -> Item {
    let (pk, sk) = recipient_key(r.campaign, r.index);
    let mut item = Item::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("number".to_owned(), s(r.number.as_str())),
        ("state".to_owned(), s(r.state.as_str())),
        ("run".to_owned(), n(r.run)),
    ]);
    if let Some(name) = &r.contact_name {
        item.insert("contact_name".into(), s(name.clone()));
    }
    item
}

fn campaign_item(c: &Campaign) -> Result<Item, StoreError> {
    let (pk, sk) = campaign_key(c.id);
    let doc = serde_json::to_string(c).map_err(|e| corrupt("encode campaign", e))?;
    Ok(Item::from([
        ("pk".to_owned(), s(pk)),
        ("sk".to_owned(), s(sk)),
        ("kind".to_owned(), s(KIND)),
        ("kind_sort".to_owned(), s(format!("{:020}", c.id.get()))),
        ("doc".to_owned(), s(doc)),
        ("status".to_owned(), s(c.status.as_str())),
        ("version".to_owned(), n(c.version)),
        ("sent".to_owned(), n(c.counts.sent)),
        ("failed".to_owned(), n(c.counts.failed)),
        ("opted_out".to_owned(), n(c.counts.opted_out)),
        ("replied".to_owned(), n(c.counts.replied)),
    ]))
}

struct Change<'a> {
    table: &'a str,
    key: keys::Key,
    expression: String,
    condition: Option<&'a str>,
    names: Vec<(&'a str, &'a str)>,
    values: Vec<(&'a str, AttributeValue)>,
}

fn change(c: Change<'_>) -> Result<TransactWriteItem, StoreError> {
    let mut b = Update::builder()
        .table_name(c.table)
        .set_key(Some(key_map(c.key)))
        .update_expression(c.expression)
        .set_condition_expression(c.condition.map(str::to_owned));
    for (k, v) in c.names {
        b = b.expression_attribute_names(k, v);
    }
    for (k, v) in c.values {
        b = b.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder().update(b.build().map_err(|e| corrupt("build update", e))?).build())
}

/// The campaign's counter update (`ADD attribute :delta`) inside a ledger transaction.
fn count(table: &str, id: CampaignId, attribute: &'static str, delta: i64) -> Result<TransactWriteItem, StoreError> {
    change(Change {
        table,
        key: campaign_key(id),
        expression: "ADD #c :d".to_owned(),
        condition: Some("attribute_exists(pk)"),
        names: vec![("#c", attribute)],
        values: vec![(":d", n(delta))],
    })
}

/// The ledger move a campaign message's acceptance carries: the recipient goes `pending` →
/// `queued` with the message, in the same transaction (conversation.rs `commit_outbound`).
pub(super) fn recipient_claim(
    table: &str,
    claim: &RecipientClaim,
    session: SessionId,
    msg: MessageId,
) -> Result<TransactWriteItem, StoreError> {
    change(Change {
        table,
        key: recipient_key(claim.campaign, claim.index),
        expression: "SET #state = :queued, session_id = :sid, msg_id = :mid".to_owned(),
        condition: Some("#state = :pending"),
        names: vec![("#state", "state")],
        values: vec![
            (":queued", s("queued")),
            (":pending", s("pending")),
            (":sid", n(session.get())),
            (":mid", n(msg.get())),
        ],
    })
}

impl DynamoStore {
    async fn put_recipients(&self, recipients: &[CampaignRecipient]) -> Result<(), StoreError> {
        let requests = recipients
            .iter()
            .map(|r| {
                let put = PutRequest::builder()
                    .set_item(Some(recipient_item(r)))
                    .build()
                    .map_err(|e| corrupt("build put", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write("write campaign recipients", &self.tables.conversation, requests).await
    }

    async fn delete_recipients(&self, id: CampaignId, indexes: impl Iterator<Item = u32>) -> Result<(), StoreError> {
        let requests = indexes
            .map(|i| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key_map(recipient_key(id, i))))
                    .build()
                    .map_err(|e| corrupt("build delete", e))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.batch_write("write campaign recipients", &self.tables.conversation, requests).await
    }

    async fn conditional_update(&self, operation: &'static str, c: Change<'_>) -> Result<bool, StoreError> {
        let mut b = self
            .client
            .update_item()
            .table_name(c.table)
            .set_key(Some(key_map(c.key)))
            .update_expression(c.expression)
            .set_condition_expression(c.condition.map(str::to_owned));
        for (k, v) in c.names {
            b = b.expression_attribute_names(k, v);
        }
        for (k, v) in c.values {
            b = b.expression_attribute_values(k, v);
        }
        match b.send().await {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error(operation, err)),
        }
    }
}

impl CampaignStore for DynamoStore {
    async fn campaign(&self, id: CampaignId) -> Result<Option<Campaign>, StoreError> {
        self.get("read campaign", &self.tables.directory, campaign_key(id)).await?.as_ref().map(campaign_of).transpose()
    }

    async fn campaigns(&self) -> Result<Vec<Campaign>, StoreError> {
        self.kind_items(KIND).await?.iter().map(campaign_of).collect()
    }

    async fn create_campaign(&self, campaign: &Campaign, recipients: &[CampaignRecipient]) -> Result<(), StoreError> {
        self.put_recipients(recipients).await?;
        self.client
            .put_item()
            .table_name(&self.tables.directory)
            .set_item(Some(campaign_item(campaign)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| store_error("create campaign", e))?;
        Ok(())
    }

    async fn replace_campaign(
        &self,
        campaign: &Campaign,
        expected_version: u64,
        recipients: Option<&[CampaignRecipient]>,
        old_total: u64,
    ) -> Result<bool, StoreError> {
        if let Some(list) = recipients {
            self.put_recipients(list).await?;
            let keep = u32::try_from(list.len()).unwrap_or(u32::MAX);
            let old = u32::try_from(old_total).unwrap_or(u32::MAX);
            if old > keep {
                self.delete_recipients(campaign.id, keep + 1..=old).await?;
            }
        }
        self.save_campaign_state(campaign, expected_version).await
    }

    async fn save_campaign_state(&self, campaign: &Campaign, expected_version: u64) -> Result<bool, StoreError> {
        let doc = serde_json::to_string(campaign).map_err(|e| corrupt("encode campaign", e))?;
        self.conditional_update(
            "save campaign",
            Change {
                table: &self.tables.directory,
                key: campaign_key(campaign.id),
                expression: "SET doc = :doc, #status = :st, version = :nv".to_owned(),
                condition: Some("version = :v"),
                names: vec![("#status", "status")],
                values: vec![
                    (":doc", s(doc)),
                    (":st", s(campaign.status.as_str())),
                    (":nv", n(campaign.version)),
                    (":v", n(expected_version)),
                ],
            },
        )
        .await
    }

    async fn delete_campaign(&self, campaign: &Campaign) -> Result<(), StoreError> {
        let total = u32::try_from(campaign.total).unwrap_or(u32::MAX);
        self.delete_recipients(campaign.id, 1..=total).await?;
        self.client
            .delete_item()
            .table_name(&self.tables.directory)
            .set_key(Some(key_map(campaign_key(campaign.id))))
            .send()
            .await
            .map_err(|e| store_error("delete campaign", e))?;
        Ok(())
    }

    async fn recipients(&self, id: CampaignId) -> Result<Vec<CampaignRecipient>, StoreError> {
        let (pk, _) = campaign_key(id);
        let query = self
            .client
            .query()
            .table_name(&self.tables.conversation)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :r)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":r", s("RCPT#"));
        self.query_all("read campaign recipients", query).await?.iter().map(|i| recipient_of(id, i)).collect()
    }

    async fn mark_opted_out(&self, id: CampaignId, index: u32) -> Result<bool, StoreError> {
        let table = &self.tables.conversation;
        let tx = vec![
            change(Change {
                table,
                key: recipient_key(id, index),
                expression: "SET #state = :out".to_owned(),
                condition: Some("#state = :pending"),
                names: vec![("#state", "state")],
                values: vec![(":out", s("opted_out")), (":pending", s("pending"))],
            })?,
            count(&self.tables.directory, id, "opted_out", 1)?,
        ];
        match self.transact("skip opted-out recipient", tx).await? {
            Ok(()) => Ok(true),
            Err(reasons) if failed_condition(&reasons, 0) => Ok(false),
            Err(reasons) => Err(corrupt("skip opted-out recipient", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn record_recipient_outcome(
        &self,
        recipient: &CampaignRecipient,
        msg: MessageId,
        outcome: &RecipientOutcome,
        reply_key: (ChannelId, &BusinessNumber),
    ) -> Result<bool, StoreError> {
        let table = &self.tables.conversation;
        let id = recipient.campaign;
        let (expression, counter, value) = match outcome {
            RecipientOutcome::Sent(at) => ("SET #state = :to, sent_at = :v REMOVE failure", "sent", n(at.as_micros())),
            RecipientOutcome::Failed(reason) => ("SET #state = :to, failure = :v", "failed", s(reason.clone())),
        };
        let mut tx = vec![
            change(Change {
                table,
                key: recipient_key(id, recipient.index),
                expression: expression.to_owned(),
                condition: Some("#state = :queued AND msg_id = :mid"),
                names: vec![("#state", "state")],
                values: vec![(":to", s(counter)), (":v", value), (":queued", s("queued")), (":mid", n(msg.get()))],
            })?,
            count(&self.tables.directory, id, counter, 1)?,
        ];
        if let RecipientOutcome::Sent(at) = outcome {
            let (channel, number) = reply_key;
            let expires = at.as_unix_seconds()
                + i64::try_from(domain::campaign::RESPONSE_WINDOW.as_secs()).unwrap_or(0)
                + SENT_TTL_SLACK_SECS;
            let item = Item::from([
                ("pk".to_owned(), s(sent_partition(channel, number, recipient.number.as_str()))),
                ("sk".to_owned(), s(format!("{:020}#{:06}", id.get(), recipient.index))),
                ("campaign_id".to_owned(), n(id.get())),
                ("index".to_owned(), n(recipient.index)),
                ("sent_at".to_owned(), n(at.as_micros())),
                ("expires_at".to_owned(), n(expires)),
            ]);
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .build()
                .map_err(|e| corrupt("build put", e))?;
            tx.push(TransactWriteItem::builder().put(put).build());
        }
        match self.transact("record campaign recipient", tx).await? {
            Ok(()) => Ok(true),
            Err(reasons) if failed_condition(&reasons, 0) => Ok(false),
            Err(reasons) => Err(corrupt("record campaign recipient", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn reset_failed(&self, id: CampaignId, run: u32) -> Result<u64, StoreError> {
        let table = &self.tables.conversation;
        let mut moved = 0;
        for r in self.recipients(id).await?.into_iter().filter(|r| r.state == RecipientState::Failed) {
            let tx = vec![
                change(Change {
                    table,
                    key: recipient_key(id, r.index),
                    expression: "SET #state = :pending, run = :run REMOVE failure, session_id, msg_id".to_owned(),
                    condition: Some("#state = :failed"),
                    names: vec![("#state", "state")],
                    values: vec![(":pending", s("pending")), (":run", n(run)), (":failed", s("failed"))],
                })?,
                count(&self.tables.directory, id, "failed", -1)?,
            ];
            match self.transact("reset failed recipient", tx).await? {
                Ok(()) => moved += 1,
                Err(reasons) if failed_condition(&reasons, 0) => {}
                Err(reasons) => {
                    return Err(corrupt("reset failed recipient", format!("transaction cancelled: {reasons:?}")));
                }
            }
        }
        Ok(moved)
    }

    async fn sent_to(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<Vec<SentTo>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.tables.conversation)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(sent_partition(channel, number, customer.as_str())));
        let mut found = Vec::new();
        for item in self.query_all("read campaign sends to a customer", query).await? {
            let (Some(id), Some(index), Some(at)) =
                (num(&item, "campaign_id"), num(&item, "index"), num(&item, "sent_at"))
            else {
                continue;
            };
            let (Ok(id), Ok(index)) = (u64::try_from(id), u32::try_from(index)) else { continue };
            let Ok(campaign) = CampaignId::new(id) else { continue };
            found.push(SentTo { campaign, index, sent_at: Timestamp::from_micros(at) });
        }
        found.sort_by_key(|s| std::cmp::Reverse(s.sent_at));
        Ok(found)
    }

    async fn record_reply(&self, id: CampaignId, index: u32, at: Timestamp) -> Result<bool, StoreError> {
        let tx = vec![
            change(Change {
                table: &self.tables.conversation,
                key: recipient_key(id, index),
                expression: "SET replied_at = :at".to_owned(),
                condition: Some("attribute_not_exists(replied_at) AND #state = :sent"),
                names: vec![("#state", "state")],
                values: vec![(":at", n(at.as_micros())), (":sent", s("sent"))],
            })?,
            count(&self.tables.directory, id, "replied", 1)?,
        ];
        match self.transact("record campaign reply", tx).await? {
            Ok(()) => Ok(true),
            Err(reasons) if failed_condition(&reasons, 0) || failed_condition(&reasons, 1) => Ok(false),
            Err(reasons) => Err(corrupt("record campaign reply", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn acquire_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<bool, StoreError> {
        let (pk, sk) = lock_key(channel);
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.conversation)
            .set_item(Some(Item::from([
                ("pk".to_owned(), s(pk)),
                ("sk".to_owned(), s(sk)),
                ("holder".to_owned(), n(campaign.get())),
            ])))
            .condition_expression("attribute_not_exists(pk) OR holder = :me")
            .expression_attribute_values(":me", n(campaign.get()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("take channel for campaign", err)),
        }
    }

    async fn release_channel(&self, channel: ChannelId, campaign: CampaignId) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.conversation)
            .set_key(Some(key_map(lock_key(channel))))
            .condition_expression("holder = :me")
            .expression_attribute_values(":me", n(campaign.get()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("release channel from campaign", err)),
        }
    }

    async fn channel_holder(&self, channel: ChannelId) -> Result<Option<CampaignId>, StoreError> {
        let item = self.get("read channel campaign lock", &self.tables.conversation, lock_key(channel)).await?;
        Ok(item
            .as_ref()
            .and_then(|i| num(i, "holder"))
            .and_then(|v| u64::try_from(v).ok())
            .and_then(|v| CampaignId::new(v).ok()))
    }

    async fn take_runner_lease(
        &self,
        id: CampaignId,
        token: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        self.conditional_update(
            "take campaign runner lease",
            Change {
                table: &self.tables.directory,
                key: campaign_key(id),
                expression: "SET runner_until = :until, runner_token = :t".to_owned(),
                condition: Some(
                    "attribute_exists(pk) AND (attribute_not_exists(runner_until) OR runner_until < :now OR runner_token = :t)",
                ),
                names: Vec::new(),
                values: vec![(":until", n(until.as_micros())), (":now", n(now.as_micros())), (":t", s(token))],
            },
        )
        .await
    }

    async fn release_runner_lease(&self, id: CampaignId, token: &str) -> Result<(), StoreError> {
        self.conditional_update(
            "release campaign runner lease",
            Change {
                table: &self.tables.directory,
                key: campaign_key(id),
                expression: "REMOVE runner_until, runner_token".to_owned(),
                condition: Some("runner_token = :t"),
                names: Vec::new(),
                values: vec![(":t", s(token))],
            },
        )
        .await
        .map(|_| ())
    }

    async fn runner_lease_until(&self, id: CampaignId) -> Result<Option<Timestamp>, StoreError> {
        let item = self.get("read campaign runner lease", &self.tables.directory, campaign_key(id)).await?;
        Ok(item.as_ref().and_then(|i| num(i, "runner_until")).map(Timestamp::from_micros))
    }
}

impl OptOuts for DynamoStore {
    async fn opted_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
    ) -> Result<bool, StoreError> {
        let key = opt_out_key(channel, number, customer);
        Ok(self.get("read opt-out", &self.tables.conversation, key).await?.is_some())
    }

    async fn set_opt_out(
        &self,
        channel: ChannelId,
        number: &BusinessNumber,
        customer: &CustomerAddress,
        opted_out: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (pk, sk) = opt_out_key(channel, number, customer);
        if opted_out {
            self.client
                .put_item()
                .table_name(&self.tables.conversation)
                .set_item(Some(Item::from([
                    ("pk".to_owned(), s(pk)),
                    ("sk".to_owned(), s(sk)),
                    ("at".to_owned(), n(at.as_micros())),
                ])))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("record opt-out", e))
        } else {
            self.client
                .delete_item()
                .table_name(&self.tables.conversation)
                .set_key(Some(key_map((pk, sk))))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| store_error("record opt-in", e))
        }
    }
}

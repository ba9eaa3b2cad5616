//! Conversation table: the inbox, sessions with their open-session locks, messages, timelines,
//! the outbox index and statistics. Every multi-item change is one `TransactWriteItems` whose
//! conditions encode the domain's rules (one open session per key, a record is routed once, a
//! claim is recorded once).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, ReturnValue, TransactWriteItem, Update};
use domain::events::LifecycleEvent;
use domain::ids::{ChannelId, MessageId, SessionId};
use domain::inbound::{self, InboundKey, InboundRecord};
use domain::message::{FailureReason, Message, OutboundJob};
use domain::ports::{
    AssignmentChange, ChangeRecord, DeliveryResult, InactiveSessions, InboundCommit, InboundCommitOutcome, Inbox,
    InboxInsert, OutboundCommit, OutboundCommitOutcome, OutboundLedger, Outbox, OutboxEntry, SendClaim, SessionList,
    SessionStore, SessionTarget, StatsReader, StoreError, TransitionOutcome,
};
use domain::session::{Assignment, Audience, LastMessage, Session, SessionKey, TimelineEntry, Transition};
use domain::sla::{self, OfferWrite};
use domain::stats::{Counters, StatsDelta};
use domain::time::Timestamp;

use super::errors::{corrupt, failed_condition, store_error};
use super::items::{
    self, ChangeItem, EventItem, InboundItem, Item, MessageItem, OpenLockItem, SessionItem, TimelineItem,
    assignment_parts,
};
use super::{DynamoStore, key_map, keys, n, s};

fn encode<T: serde::Serialize>(kind: &'static str, value: &T) -> Result<Item, StoreError> {
    items::to_item(kind, value).map_err(|e| corrupt("encode item", e))
}

fn attr<T: serde::Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(value).map_err(|e| corrupt("encode attribute", e))
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build()
        .map_err(|e| corrupt("build put", e))?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An `Update` transaction item.
struct UpdateSpec<'a> {
    key: keys::Key,
    expression: &'a str,
    condition: Option<&'a str>,
    names: Vec<(&'a str, &'a str)>,
    values: Vec<(&'a str, AttributeValue)>,
}

fn update(table: &str, spec: UpdateSpec<'_>) -> Result<TransactWriteItem, StoreError> {
    let mut b = Update::builder()
        .table_name(table)
        .set_key(Some(key_map(spec.key)))
        .update_expression(spec.expression)
        .set_condition_expression(spec.condition.map(str::to_owned));
    for (k, v) in spec.names {
        b = b.expression_attribute_names(k, v);
    }
    for (k, v) in spec.values {
        b = b.expression_attribute_values(k, v);
    }
    Ok(TransactWriteItem::builder().update(b.build().map_err(|e| corrupt("build update", e))?).build())
}

/// The two statistics updates (the day and all time) of one increment.
fn stats_updates(table: &str, delta: &StatsDelta) -> Result<Vec<TransactWriteItem>, StoreError> {
    let partition = keys::stats_partition(delta.channel_id, &delta.number);
    let origin = Counters::origin_attribute(delta.origin);
    let expression = if origin.is_some() { "ADD #c :one, #origin :one" } else { "ADD #c :one" };
    [keys::stats_day(&delta.at.utc_day()), keys::STATS_ALL.to_owned()]
        .into_iter()
        .map(|sk| {
            let mut names = vec![("#c", delta.counter.as_str())];
            if let Some(origin) = origin {
                names.push(("#origin", origin));
            }
            update(
                table,
                UpdateSpec {
                    key: (partition.clone(), sk),
                    expression,
                    condition: None,
                    names,
                    values: vec![(":one", n(1))],
                },
            )
        })
        .collect()
}

fn decode_session(item: Item) -> Result<Session, StoreError> {
    let stored: SessionItem = items::from_item("session", item).map_err(|e| corrupt("read session", e))?;
    stored.into_domain().map_err(|e| corrupt("read session", e))
}

fn decode_message(item: Item) -> Result<Message, StoreError> {
    let stored: MessageItem = items::from_item("message", item).map_err(|e| corrupt("read message", e))?;
    stored.into_domain().map_err(|e| corrupt("read message", e))
}

/// How long the change feed keeps an entry.
const CHANGE_FEED_RETENTION_SECS: i64 = 7 * 24 * 3600;
/// How long after its change an unpublished event is picked up by the outbox reconciler.
const EVENT_OUTBOX_GRACE_MICROS: i64 = 60_000_000;

fn change_put(
    table: &str,
    audience: Audience,
    at: Timestamp,
    session: SessionId,
) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = keys::change(audience, at, session);
    let item =
        ChangeItem { pk, sk, session_id: session.get(), expires_at: at.as_unix_seconds() + CHANGE_FEED_RETENTION_SECS };
    put(table, encode("change", &item)?, None)
}

fn event_put(table: &str, event: &LifecycleEvent, at: Timestamp) -> Result<TransactWriteItem, StoreError> {
    let (pk, sk) = keys::event(event.session_id(), &event.event_id());
    let item = EventItem {
        pk,
        sk,
        event: serde_json::to_string(event).map_err(|e| corrupt("encode event", e))?,
        outbox_key: keys::outbox::EVENT.into(),
        outbox_due: keys::pad_time(Timestamp::from_micros(at.as_micros() + EVENT_OUTBOX_GRACE_MICROS)),
    };
    put(table, encode("event", &item)?, None)
}

/// The write of a queue-offer change. Idempotent upserts: the key fields are set if missing and
/// the first answer / leave time wins, so no condition can cancel the commit it rides with.
fn offer_write(table: &str, write: &OfferWrite) -> Result<TransactWriteItem, StoreError> {
    let (key, clause, at) = match write {
        OfferWrite::Start(key) => (key, "", None),
        OfferWrite::Answer { key, at } => (key, ", answered_at = if_not_exists(answered_at, :at)", Some(*at)),
        OfferWrite::Leave { key, at } => (key, ", left_at = if_not_exists(left_at, :at)", Some(*at)),
    };
    let expression = format!(
        "SET queue_id = if_not_exists(queue_id, :q), session_id = if_not_exists(session_id, :s), entered_at = if_not_exists(entered_at, :e){clause}"
    );
    let mut values =
        vec![(":q", n(key.queue.get())), (":s", n(key.session.get())), (":e", n(key.entered_at.as_micros()))];
    if let Some(at) = at {
        values.push((":at", n(at.as_micros())));
    }
    update(table, UpdateSpec { key: keys::offer(key), expression: &expression, condition: None, names: vec![], values })
}

/// `SET` clauses that bring an owned session back into its owner's Recent list (a message in
/// either direction unarchives and un-removes it), with their values.
fn back_to_recent(assignment: Assignment) -> (&'static str, Option<AttributeValue>) {
    match assignment.owner() {
        Some(owner) => {
            (", archived = :false, removed = :false, owner_key = :recent", Some(s(keys::owner_key(owner, false))))
        }
        None => ("", None),
    }
}

/// The puts that open a session: its open-session lock (the condition that makes it the one open
/// session of its key), the session and its first timeline entry.
fn open_session_puts(
    table: &str,
    session: &Session,
    entry: &TimelineEntry,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let (pk, sk) = keys::open_session(&session.key);
    let lock = OpenLockItem { pk, sk, session_id: session.id.get() };
    Ok(vec![
        put(table, encode("open lock", &lock)?, Some("attribute_not_exists(pk)"))?,
        put(table, encode("session", &SessionItem::from_domain(session))?, Some("attribute_not_exists(pk)"))?,
        put(table, encode("timeline", &TimelineItem::from_domain(entry))?, None)?,
    ])
}

/// Marks the session's offer answered (the first reply wins); `:at` is the reply's time.
const ANSWERED_CLAUSE: &str = ", offer_answered_at = if_not_exists(offer_answered_at, :at)";

/// The update that appends `last` to a session that must still be open and assigned as
/// `expected`: activity, preview, version, an owned session back in its owner's Recent list; a
/// customer's message counts as unread, an agent's clears the count.
fn append_message(
    table: &str,
    session: SessionId,
    expected: Assignment,
    last: &LastMessage,
    answers: Option<&OfferWrite>,
    opens: Option<&sla::QueueOffer>,
) -> Result<TransactWriteItem, StoreError> {
    let (kind, id) = assignment_parts(expected);
    let (recent_clause, recent) = back_to_recent(expected);
    let unread = if last.inbound { "if_not_exists(#unread, :zero) + :one" } else { ":zero" };
    let inbound_at = if last.inbound { ", last_inbound_at = :at" } else { "" };
    let answered = if answers.is_some() { ANSWERED_CLAUSE } else { "" };
    let opening = if opens.is_some() { ", offer_queue = :oq, offer_entered_at = :oe" } else { "" };
    let expression = format!(
        "SET last_activity_at = :at, activity_sort = :asort, activity_key = :ak, last_message = :lm, #unread = {unread}, version = if_not_exists(version, :zero) + :one{inbound_at}{recent_clause}{answered}{opening}"
    );
    let mut values = vec![
        (":at", n(last.at.as_micros())),
        (":asort", s(keys::pad_time(last.at))),
        (":ak", s(keys::activity_key(last.msg_id.get()))),
        (":lm", attr(last)?),
        (":zero", n(0)),
        (":one", n(1)),
        (":open", s("open")),
        (":atype", s(kind)),
        (":aid", n(id)),
    ];
    if let Some(recent) = recent {
        values.push((":false", AttributeValue::Bool(false)));
        values.push((":recent", recent));
    }
    if let Some(offer) = opens {
        values.push((":oq", n(offer.queue.get())));
        values.push((":oe", n(offer.entered_at.as_micros())));
    }
    update(
        table,
        UpdateSpec {
            key: keys::session(session),
            expression: &expression,
            condition: Some("#status = :open AND assignment_type = :atype AND assignment_id = :aid"),
            names: vec![("#status", "status"), ("#unread", "unread")],
            values,
        },
    )
}

impl DynamoStore {
    pub(crate) fn conversation(&self) -> &str {
        &self.tables.conversation
    }
}

impl Inbox for DynamoStore {
    async fn insert_pending(&self, record: &InboundRecord) -> Result<InboxInsert, StoreError> {
        let item = encode("inbound", &InboundItem::pending(record, record.accepted_at.plus(inbound::OUTBOX_GRACE)))?;
        let result = self
            .client
            .put_item()
            .table_name(self.conversation())
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(InboxInsert::Stored),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                let existing =
                    self.inbound(&record.key).await?.ok_or_else(|| corrupt("insert inbound", "duplicate vanished"))?;
                Ok(InboxInsert::Duplicate(existing.state))
            }
            Err(err) => Err(store_error("insert inbound", err)),
        }
    }

    async fn inbound(&self, key: &InboundKey) -> Result<Option<InboundRecord>, StoreError> {
        match self.get("read inbound", self.conversation(), keys::inbound(key)).await? {
            Some(item) => {
                let stored: InboundItem = items::from_item("inbound", item).map_err(|e| corrupt("read inbound", e))?;
                stored.into_domain().map(Some).map_err(|e| corrupt("read inbound", e))
            }
            None => Ok(None),
        }
    }

    async fn mark_events_published(&self, key: &InboundKey) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::inbound(key))))
            .update_expression("SET events_published = :t REMOVE outbox_key, outbox_due")
            .condition_expression("#st = :routed")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":routed", s("routed"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("mark inbound announced", err)),
        }
    }

    async fn mark_unroutable(&self, key: &InboundKey, reason: &str) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::inbound(key))))
            .update_expression("SET #st = :u, unroutable_reason = :r REMOVE outbox_key, outbox_due")
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":u", s("unroutable"))
            .expression_attribute_values(":r", s(reason))
            .expression_attribute_values(":pending", s("pending"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("park inbound", err)),
        }
    }
}

impl SessionStore for DynamoStore {
    async fn open_session_id(&self, key: &SessionKey) -> Result<Option<SessionId>, StoreError> {
        match self.get("read open session", self.conversation(), keys::open_session(key)).await? {
            Some(item) => {
                let lock: OpenLockItem =
                    items::from_item("open lock", item).map_err(|e| corrupt("read open session", e))?;
                SessionId::new(lock.session_id).map(Some).map_err(|e| corrupt("read open session", e))
            }
            None => Ok(None),
        }
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.get("read session", self.conversation(), keys::session(id)).await?.map(decode_session).transpose()
    }

    async fn commit_inbound(&self, commit: &InboundCommit) -> Result<InboundCommitOutcome, StoreError> {
        let table = self.conversation();
        let msg = &commit.message;
        let opened = matches!(commit.target, SessionTarget::New { .. });
        let mut tx = vec![update(
            table,
            UpdateSpec {
                key: keys::inbound(&commit.inbound),
                expression: "SET #st = :routed, session_id = :sid, msg_id = :mid, opened_session = :opened, events_published = :f",
                condition: Some("#st = :pending"),
                names: vec![("#st", "state")],
                values: vec![
                    (":routed", s("routed")),
                    (":pending", s("pending")),
                    (":sid", n(msg.session_id)),
                    (":mid", n(msg.msg_id)),
                    (":opened", AttributeValue::Bool(opened)),
                    (":f", AttributeValue::Bool(false)),
                ],
            },
        )?];
        match &commit.target {
            SessionTarget::New { session, created } => {
                tx.extend(open_session_puts(table, session, created)?);
                tx.push(change_put(table, session.assignment.audience(), commit.at, session.id)?);
            }
            SessionTarget::Existing { session_id, expected, opens_offer } => {
                let last = LastMessage::new(msg.msg_id, msg.text.as_deref(), true, commit.at);
                tx.push(append_message(table, *session_id, *expected, &last, None, opens_offer.as_ref())?);
                tx.push(change_put(table, expected.audience(), commit.at, *session_id)?);
            }
        }
        tx.push(put(
            table,
            encode("message", &MessageItem::from_domain(msg, None))?,
            Some("attribute_not_exists(pk)"),
        )?);
        tx.extend(stats_updates(table, &commit.stats)?);
        match &commit.target {
            SessionTarget::New { session, .. } => {
                if let Some(start) = sla::opening_write(session) {
                    tx.push(offer_write(table, &start)?);
                }
            }
            SessionTarget::Existing { session_id, opens_offer: Some(offer), .. } => {
                tx.push(offer_write(table, &OfferWrite::Start(offer.key(*session_id)))?);
            }
            SessionTarget::Existing { .. } => {}
        }

        match self.transact("route inbound message", tx).await? {
            Ok(()) => Ok(InboundCommitOutcome::Committed),
            Err(reasons) if failed_condition(&reasons, 0) => Ok(InboundCommitOutcome::AlreadyRouted),
            Err(reasons) if opened && (failed_condition(&reasons, 1) || failed_condition(&reasons, 2)) => {
                Ok(InboundCommitOutcome::KeyTaken)
            }
            Err(reasons) if !opened && failed_condition(&reasons, 1) => Ok(InboundCommitOutcome::SessionChanged),
            Err(reasons) => Err(corrupt("route inbound message", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn commit_outbound(&self, commit: &OutboundCommit) -> Result<OutboundCommitOutcome, StoreError> {
        let table = self.conversation();
        let msg = &commit.message;
        let at = msg.created_at;
        let last = LastMessage::new(msg.msg_id, msg.text.as_deref(), false, at);
        let mut tx = vec![put(
            table,
            encode("message", &MessageItem::from_domain(msg, Some(commit.outbox_due)))?,
            Some("attribute_not_exists(pk)"),
        )?];
        match &commit.assignment {
            AssignmentChange::Keep { expected } => {
                tx.push(append_message(table, msg.session_id, *expected, &last, commit.answers.as_ref(), None)?);
                tx.push(change_put(table, expected.audience(), at, msg.session_id)?);
            }
            AssignmentChange::TakeFromQueue { queue, agent, entry, event } => {
                let values = vec![
                    (":at", n(at.as_micros())),
                    (":asort", s(keys::pad_time(at))),
                    (":ak", s(keys::activity_key(msg.msg_id.get()))),
                    (":lm", attr(&last)?),
                    (":zero", n(0)),
                    (":one", n(1)),
                    (":open", s("open")),
                    (":false", AttributeValue::Bool(false)),
                    (":queue", s("queue")),
                    (":qid", n(queue.get())),
                    (":ext", s("extension")),
                    (":agent", n(agent.get())),
                    (":owner", s(keys::recent_key(*agent))),
                ];
                tx.push(update(
                    table,
                    UpdateSpec {
                        key: keys::session(msg.session_id),
                        expression: &format!("SET last_activity_at = :at, activity_sort = :asort, activity_key = :ak, last_message = :lm, #unread = :zero, version = if_not_exists(version, :zero) + :one, assignment_type = :ext, assignment_id = :agent, owner_key = :owner, archived = :false, removed = :false{} REMOVE queue_key", if commit.answers.is_some() { ANSWERED_CLAUSE } else { "" }),
                        condition: Some("#status = :open AND assignment_type = :queue AND assignment_id = :qid"),
                        names: vec![("#status", "status"), ("#unread", "unread")],
                        values,
                    },
                )?);
                tx.push(put(table, encode("timeline", &TimelineItem::from_domain(entry))?, None)?);
                tx.push(event_put(table, event, at)?);
                tx.push(change_put(table, Audience::Queue(*queue), at, msg.session_id)?);
                tx.push(change_put(table, Audience::Extension(*agent), at, msg.session_id)?);
            }
            AssignmentChange::StartDetached { session } => {
                tx.push(put(
                    table,
                    encode("session", &SessionItem::from_domain(session))?,
                    Some("attribute_not_exists(pk)"),
                )?);
            }
            AssignmentChange::Start { session, entry, event } => {
                tx.extend(open_session_puts(table, session, entry)?);
                tx.push(event_put(table, event, at)?);
                tx.push(change_put(table, session.assignment.audience(), at, session.id)?);
            }
        }
        tx.push(event_put(table, &commit.accepted, at)?);
        if let Some(answer) = &commit.answers {
            tx.push(offer_write(table, answer)?);
        }
        let starting = matches!(commit.assignment, AssignmentChange::Start { .. });
        let recipient_at = match &commit.recipient {
            Some(claim) => {
                tx.push(super::campaigns::recipient_claim(table, claim, msg.session_id, msg.msg_id)?);
                Some(tx.len() - 1)
            }
            None => None,
        };
        match self.transact("accept outbound message", tx).await? {
            Ok(()) => Ok(OutboundCommitOutcome::Committed),
            Err(reasons) if recipient_at.is_some_and(|i| failed_condition(&reasons, i)) => {
                Ok(OutboundCommitOutcome::RecipientTaken)
            }
            Err(reasons) if starting && failed_condition(&reasons, 1) => Ok(OutboundCommitOutcome::KeyTaken),
            Err(reasons) if failed_condition(&reasons, 1) => Ok(OutboundCommitOutcome::SessionChanged),
            Err(reasons) => Err(corrupt("accept outbound message", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn commit_transition(
        &self,
        transition: &Transition,
        event: Option<&LifecycleEvent>,
    ) -> Result<TransitionOutcome, StoreError> {
        let table = self.conversation();
        let after = &transition.after;
        let item = encode("session", &SessionItem::from_domain(after))?;
        let condition = "version = :v".to_owned();
        let put_session = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(":v", n(transition.before.version))
            .build()
            .map_err(|e| corrupt("build put", e))?;
        let mut tx = vec![TransactWriteItem::builder().put(put_session).build()];
        if transition.closes() {
            let delete = Delete::builder()
                .table_name(table)
                .set_key(Some(key_map(keys::open_session(&after.key))))
                .condition_expression("session_id = :sid")
                .expression_attribute_values(":sid", n(after.id.get()))
                .build()
                .map_err(|e| corrupt("build delete", e))?;
            tx.push(TransactWriteItem::builder().delete(delete).build());
        }
        if let Some(entry) = &transition.entry {
            tx.push(put(table, encode("timeline", &TimelineItem::from_domain(entry))?, None)?);
        }
        if let Some(event) = event {
            tx.push(event_put(table, event, transition.at)?);
        }
        for audience in transition.audiences() {
            tx.push(change_put(table, audience, transition.at, after.id)?);
        }
        for write in sla::transition_writes(transition) {
            tx.push(offer_write(table, &write)?);
        }
        match self.transact("change session", tx).await? {
            Ok(()) => Ok(TransitionOutcome::Committed),
            Err(reasons) if failed_condition(&reasons, 0) => Ok(TransitionOutcome::Conflict),
            Err(reasons) => Err(corrupt("change session", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn list_sessions(
        &self,
        list: SessionList,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let (index, attr_name, partition) = match list {
            SessionList::Owned { owner, archived } => ("OwnerIndex", "owner_key", keys::owner_key(owner, archived)),
            SessionList::Queued(q) => ("QueueIndex", "queue_key", keys::queue_key(q)),
        };
        let upper = keys::activity_key(before.map_or(u64::MAX / 2, MessageId::get));
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .index_name(index)
            .key_condition_expression("#p = :p AND activity_key < :before")
            .expression_attribute_names("#p", attr_name)
            .expression_attribute_values(":p", s(partition))
            .expression_attribute_values(":before", s(upper))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("list sessions", e))?;
        out.items.unwrap_or_default().into_iter().map(decode_session).collect()
    }

    async fn changes(
        &self,
        audience: Audience,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :p AND sk > :since")
            .expression_attribute_values(":p", s(keys::changes_partition(audience)))
            .expression_attribute_values(":since", s(keys::pad_time(since)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("read change feed", e))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                let parsed = string_attr(item, "sk").as_deref().and_then(keys::parse_change);
                match parsed.and_then(|(at, id)| Some((at, SessionId::new(id).ok()?))) {
                    Some((at, session_id)) => Ok(ChangeRecord { at: Timestamp::from_micros(at), session_id }),
                    None => Err(corrupt("read change feed", "change key")),
                }
            })
            .collect()
    }

    async fn mark_event_published(&self, session: SessionId, event_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::event(session, event_id))))
            .send()
            .await
            .map_err(|e| store_error("clear published event", e))?;
        Ok(())
    }

    async fn messages(
        &self,
        session: SessionId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let upper = match before {
            Some(b) => format!("{}{}", keys::MESSAGE_PREFIX, keys::pad(b.get().saturating_sub(1))),
            None => format!("{}{}", keys::MESSAGE_PREFIX, "9".repeat(20)),
        };
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :p AND sk BETWEEN :lo AND :hi")
            .expression_attribute_values(":p", s(keys::session_partition(session)))
            .expression_attribute_values(":lo", s(keys::MESSAGE_PREFIX))
            .expression_attribute_values(":hi", s(upper))
            .scan_index_forward(false)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_error("list messages", e))?;
        out.items.unwrap_or_default().into_iter().map(decode_message).collect()
    }

    async fn timeline(&self, session: SessionId) -> Result<Vec<TimelineEntry>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(self.conversation())
            .key_condition_expression("pk = :p AND begins_with(sk, :op)")
            .expression_attribute_values(":p", s(keys::session_partition(session)))
            .expression_attribute_values(":op", s(keys::TIMELINE_PREFIX))
            .consistent_read(true);
        self.query_all("read timeline", query)
            .await?
            .into_iter()
            .map(|item| {
                let stored: TimelineItem =
                    items::from_item("timeline", item).map_err(|e| corrupt("read timeline", e))?;
                Ok(stored.entry)
            })
            .collect()
    }
}

impl InactiveSessions for DynamoStore {
    async fn inactive_sessions(
        &self,
        channel: ChannelId,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<Session>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .index_name("InactivityIndex")
            .key_condition_expression("open_channel = :c AND activity_sort <= :cutoff")
            .expression_attribute_values(":c", s(keys::open_channel(channel)))
            .expression_attribute_values(":cutoff", s(keys::pad_time(cutoff)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("read inactive sessions", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let stored: SessionItem = items::from_item("session", item).map_err(|e| corrupt("read session", e))?;
                stored.into_domain().map_err(|e| corrupt("read session", e))
            })
            .collect()
    }
}

impl OutboundLedger for DynamoStore {
    async fn message(&self, session: SessionId, msg: MessageId) -> Result<Option<Message>, StoreError> {
        self.get("read message", self.conversation(), keys::message(session, msg))
            .await?
            .map(decode_message)
            .transpose()
    }

    async fn claim_for_send(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<SendClaim, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(session, msg))))
            .update_expression("SET #st = :sending, #attempts = if_not_exists(#attempts, :zero) + :one, lease_until = :lease, outbox_key = :ob, outbox_due = :due")
            // A campaign message whose sender died during the provider call is never called again
            // (the campaign worker records it as interrupted): each recipient gets one message.
            .condition_expression("#st = :queued OR (#st = :sending AND lease_until < :now AND origin <> :campaign)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_values(":campaign", s("campaign"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":lease", n(lease_until.as_micros()))
            .expression_attribute_values(":now", n(now.as_micros()))
            .expression_attribute_values(":ob", s(keys::outbox::OUTBOUND))
            .expression_attribute_values(":due", s(keys::pad_time(lease_until)))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes.ok_or_else(|| corrupt("claim message", "no attributes returned"))?;
                Ok(SendClaim::Claimed(Box::new(decode_message(item)?)))
            }
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => {
                match OutboundLedger::message(self, session, msg).await? {
                    None => Ok(SendClaim::Missing),
                    Some(m) if m.delivery.is_final() => Ok(SendClaim::AlreadyFinal),
                    Some(_) => Ok(SendClaim::HeldElsewhere),
                }
            }
            Err(err) => Err(store_error("claim message", err)),
        }
    }

    async fn abandon_expired_claim(
        &self,
        session: SessionId,
        msg: MessageId,
        now: Timestamp,
        reason: &FailureReason,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(session, msg))))
            .update_expression("SET #st = :failed, failure = :why, final_at = :now, events_published = :false, outbox_key = :ob, outbox_due = :due REMOVE lease_until")
            .condition_expression("#st = :sending AND lease_until < :now")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":failed", s("failed"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":why", attr(reason)?)
            .expression_attribute_values(":now", n(now.as_micros()))
            .expression_attribute_values(":false", AttributeValue::Bool(false))
            .expression_attribute_values(":ob", s(keys::outbox::OUTBOUND))
            .expression_attribute_values(":due", s(keys::pad_time(now)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("abandon expired claim", err)),
        }
    }

    async fn release_claim(&self, message: &Message) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(message.session_id, message.msg_id))))
            .update_expression("SET #st = :queued, #attempts = #attempts - :one REMOVE lease_until")
            .condition_expression("#st = :sending AND #attempts = :attempt")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#attempts", "attempts")
            .expression_attribute_values(":queued", s("queued"))
            .expression_attribute_values(":sending", s("sending"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":attempt", n(message.attempts))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("release claim", err)),
        }
    }

    async fn record_delivery(
        &self,
        message: &Message,
        attempt: u32,
        result: &DeliveryResult,
        at: Timestamp,
        stats: Option<&StatsDelta>,
    ) -> Result<bool, StoreError> {
        let table = self.conversation();
        let mut values = vec![
            (":sending", s("sending")),
            (":attempt", n(attempt)),
            (":at", n(at.as_micros())),
            (":f", AttributeValue::Bool(false)),
        ];
        let mut names = vec![("#st", "state"), ("#attempts", "attempts")];
        let expression = match result {
            DeliveryResult::Sent { provider_message_id } => {
                values.push((":state", s("sent")));
                values.push((":pid", s(provider_message_id.clone())));
                "SET #st = :state, sent_provider_id = :pid, final_at = :at, events_published = :f REMOVE lease_until"
            }
            DeliveryResult::Failed(reason) => {
                values.push((":state", s("failed")));
                values.push((":reason", attr(reason)?));
                names.push(("#failure", "failure"));
                "SET #st = :state, #failure = :reason, final_at = :at, events_published = :f REMOVE lease_until"
            }
            DeliveryResult::Retry { last_failure, outbox_due } => {
                values.retain(|(k, _)| *k != ":at" && *k != ":f");
                values.push((":state", s("queued")));
                values.push((":reason", attr(last_failure)?));
                values.push((":due", s(keys::pad_time(*outbox_due))));
                "SET #st = :state, last_failure = :reason, outbox_due = :due REMOVE lease_until"
            }
        };
        let mut tx = vec![update(
            table,
            UpdateSpec {
                key: keys::message(message.session_id, message.msg_id),
                expression,
                condition: Some("#st = :sending AND #attempts = :attempt"),
                names,
                values,
            },
        )?];
        if let DeliveryResult::Sent { provider_message_id } = result {
            // the link delivery reports find the message by (a report may already wait there)
            tx.push(update(
                table,
                UpdateSpec {
                    key: keys::provider_message(message.channel_id, provider_message_id),
                    expression: "SET session_id = :sid, msg_id = :mid, expires_at = :exp",
                    condition: None,
                    names: Vec::new(),
                    values: vec![
                        (":sid", n(message.session_id.get())),
                        (":mid", n(message.msg_id.get())),
                        (":exp", n(at.as_unix_seconds() + super::receipts::PROVIDER_MESSAGE_RETENTION_SECS)),
                    ],
                },
            )?);
        }
        if let Some(delta) = stats {
            tx.extend(stats_updates(table, delta)?);
        }
        match self.transact("record delivery", tx).await? {
            Ok(()) => Ok(true),
            Err(reasons) if failed_condition(&reasons, 0) => Ok(false),
            Err(reasons) => Err(corrupt("record delivery", format!("transaction cancelled: {reasons:?}"))),
        }
    }

    async fn mark_events_published(&self, session: SessionId, msg: MessageId) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(session, msg))))
            .update_expression("SET events_published = :t REMOVE outbox_key, outbox_due")
            .condition_expression("#st IN (:sent, :failed)")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":sent", s("sent"))
            .expression_attribute_values(":failed", s("failed"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("mark message announced", err)),
        }
    }

    async fn set_outbox_due(&self, session: SessionId, msg: MessageId, due: Timestamp) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(keys::message(session, msg))))
            .update_expression("SET outbox_key = :ob, outbox_due = :due")
            .condition_expression("#st = :queued")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":ob", s(keys::outbox::OUTBOUND))
            .expression_attribute_values(":due", s(keys::pad_time(due)))
            .expression_attribute_values(":queued", s("queued"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(()),
            Err(err) => Err(store_error("set outbox due", err)),
        }
    }
}

impl DynamoStore {
    async fn due_in(&self, partition: &str, now: Timestamp, limit: usize) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.conversation())
            .index_name("OutboxIndex")
            .key_condition_expression("outbox_key = :k AND outbox_due <= :now")
            .expression_attribute_values(":k", s(partition))
            .expression_attribute_values(":now", s(keys::pad_time(now)))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| store_error("read outbox", e))?;
        Ok(out.items.unwrap_or_default())
    }
}

fn string_attr(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn due_of(item: &Item) -> Timestamp {
    let micros = string_attr(item, "outbox_due").and_then(|d| d.parse::<i64>().ok()).unwrap_or(0);
    Timestamp::from_micros(micros)
}

impl Outbox for DynamoStore {
    async fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut entries = Vec::new();
        for item in self.due_in(keys::outbox::INBOUND, now, limit).await? {
            let key = string_attr(&item, "pk").and_then(|pk| keys::parse_inbound(&pk));
            match key {
                Some(key) => entries.push(OutboxEntry::Inbound { key, due: due_of(&item) }),
                None => return Err(corrupt("read outbox", "inbound key")),
            }
        }
        for item in self.due_in(keys::outbox::OUTBOUND, now, limit).await? {
            let ids = match (string_attr(&item, "pk"), string_attr(&item, "sk")) {
                (Some(pk), Some(sk)) => keys::parse_message(&pk, &sk),
                _ => None,
            };
            let channel = item.get("channel_id").and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok());
            match (ids, channel.and_then(|c| ChannelId::new(c).ok())) {
                (Some((session_id, msg_id)), Some(channel_id)) => entries.push(OutboxEntry::Outbound {
                    job: OutboundJob { session_id, msg_id, channel_id, slot: None },
                    due: due_of(&item),
                }),
                _ => return Err(corrupt("read outbox", "message key")),
            }
        }
        for item in self.due_in(keys::outbox::EVENT, now, limit).await? {
            let key = match (string_attr(&item, "pk"), string_attr(&item, "sk")) {
                (Some(pk), Some(sk)) => (pk, sk),
                _ => return Err(corrupt("read outbox", "event key")),
            };
            // The index projects keys only: read the event itself.
            let Some(stored) = self.get("read outbox event", self.conversation(), key).await? else { continue };
            let stored: EventItem = items::from_item("event", stored).map_err(|e| corrupt("read outbox event", e))?;
            let event: LifecycleEvent =
                serde_json::from_str(&stored.event).map_err(|e| corrupt("read outbox event", e))?;
            entries.push(OutboxEntry::Event { event, due: due_of(&item) });
        }
        entries.sort_by_key(|e| match e {
            OutboxEntry::Inbound { due, .. } | OutboxEntry::Outbound { due, .. } | OutboxEntry::Event { due, .. } => {
                *due
            }
        });
        entries.truncate(limit);
        Ok(entries)
    }

    async fn postpone(&self, entry: &OutboxEntry, until: Timestamp) -> Result<bool, StoreError> {
        let (key, due) = match entry {
            OutboxEntry::Inbound { key, due } => (keys::inbound(key), *due),
            OutboxEntry::Outbound { job, due } => (keys::message(job.session_id, job.msg_id), *due),
            OutboxEntry::Event { event, due } => (keys::event(event.session_id(), &event.event_id()), *due),
        };
        let result = self
            .client
            .update_item()
            .table_name(self.conversation())
            .set_key(Some(key_map(key)))
            .update_expression("SET outbox_due = :new")
            .condition_expression("outbox_due = :old")
            .expression_attribute_values(":new", s(keys::pad_time(until)))
            .expression_attribute_values(":old", s(keys::pad_time(due)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(err) => Err(store_error("postpone outbox entry", err)),
        }
    }

    async fn event_published(&self, session: SessionId, event_id: &str) -> Result<(), StoreError> {
        self.mark_event_published(session, event_id).await
    }
}

fn counters_of(item: &Item) -> Counters {
    let get = |name: &str| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Counters {
        sent: get("sent"),
        failed: get("failed"),
        received: get("received"),
        agent: get("agent"),
        api: get("api"),
        campaign: get("campaign"),
    }
}

impl StatsReader for DynamoStore {
    async fn number_stats(
        &self,
        channel: ChannelId,
        number: &str,
        days: Option<(String, String)>,
    ) -> Result<Counters, StoreError> {
        let partition = keys::stats_partition(channel, number);
        let mut total = Counters::default();
        match days {
            None => {
                if let Some(item) =
                    self.get("read statistics", self.conversation(), (partition, keys::STATS_ALL.to_owned())).await?
                {
                    total = counters_of(&item);
                }
            }
            Some((from, to)) => {
                let query = self
                    .client
                    .query()
                    .table_name(self.conversation())
                    .key_condition_expression("pk = :p AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":p", s(partition))
                    .expression_attribute_values(":from", s(keys::stats_day(&from)))
                    .expression_attribute_values(":to", s(keys::stats_day(&to)));
                for item in self.query_all("read statistics", query).await? {
                    total.add(&counters_of(&item));
                }
            }
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::session::Assignment;
    use domain::stats::Counter;

    #[test]
    fn stats_updates_touch_the_day_and_all_time_with_the_origin_breakdown() {
        let delta = StatsDelta {
            channel_id: ChannelId::new(1).unwrap(),
            number: "+14102161183".into(),
            at: Timestamp::parse_rfc3339("2026-11-21T05:00:00Z").unwrap(),
            origin: domain::message::Origin::Agent,
            counter: Counter::Sent,
        };
        let updates = stats_updates("t", &delta).unwrap();
        assert_eq!(updates.len(), 2);
        let first = updates[0].update().unwrap();
        assert_eq!(first.update_expression(), "ADD #c :one, #origin :one");
        let names = first.expression_attribute_names().unwrap();
        assert_eq!((names["#c"].as_str(), names["#origin"].as_str()), ("sent", "agent"));
        assert_eq!(first.key().get("sk").unwrap().as_s().unwrap(), "DAY#2026-11-21");
        assert_eq!(updates[1].update().unwrap().key().get("sk").unwrap().as_s().unwrap(), "ALL");
        let api = stats_updates("t", &StatsDelta { origin: domain::message::Origin::Api, ..delta.clone() }).unwrap();
        assert_eq!(api[0].update().unwrap().expression_attribute_names().unwrap()["#origin"], "api");
        let inbound = stats_updates(
            "t",
            &StatsDelta { origin: domain::message::Origin::Customer, counter: Counter::Received, ..delta },
        )
        .unwrap();
        assert_eq!(inbound[0].update().unwrap().update_expression(), "ADD #c :one");
    }

    #[test]
    fn assignment_parts_name_the_owner_kind() {
        assert_eq!(assignment_parts(Assignment::Queue(domain::ids::QueueId::new(3).unwrap())), ("queue", 3));
        assert_eq!(assignment_parts(Assignment::Api), ("api", 0));
    }
}

//! Every DynamoDB key, built in one place per item kind (docs/data-model.md lists them with
//! their access patterns). Numbers in sort keys are zero-padded to 20 digits so string order is
//! numeric order.

use domain::channel::Provider;
use domain::ids::{
    ChannelId, ExtGroupId, ExtensionId, ExtensionNumber, MessageId, OrganizationId, QueueId, Sequence, SessionId,
    WebhookToken,
};
use domain::inbound::InboundKey;
use domain::session::{Audience, ListOwner, SessionKey};
use domain::sla::OfferKey;
use domain::time::Timestamp;

/// Partition and sort key.
pub type Key = (String, String);

/// Zero-pads a number for sort keys.
pub fn pad(n: u64) -> String {
    format!("{n:020}")
}

/// Zero-pads a (non-negative) timestamp for sort keys.
pub fn pad_time(t: Timestamp) -> String {
    format!("{:020}", t.as_micros().max(0))
}

// ---------------------------------------------------------------- directory table

/// A channel.
pub fn channel(id: ChannelId) -> Key {
    (format!("CHANNEL#{id}"), "CHANNEL".into())
}

/// The claim of a webhook URL by a channel.
pub fn webhook(provider: Provider, token: &WebhookToken) -> Key {
    (format!("WEBHOOK#{}#{}", provider.slug(), token.as_str()), "WEBHOOK".into())
}

/// The claim of a business number by a channel.
pub fn number(number: &str) -> Key {
    (format!("NUMBER#{number}"), "NUMBER".into())
}

/// An extension.
pub fn extension(id: ExtensionId) -> Key {
    (format!("EXT#{id}"), "EXT".into())
}

/// The claim of an extension number.
pub fn extension_number(number: &ExtensionNumber) -> Key {
    (format!("EXTNUM#{}", number.as_str()), "EXTNUM".into())
}

/// A message queue.
pub fn queue(id: QueueId) -> Key {
    (format!("QUEUE#{id}"), "QUEUE".into())
}

/// Partition of an agent's queue memberships.
pub fn agent_partition(ext: ExtensionId) -> String {
    format!("AGENT#{ext}")
}

/// One queue membership of an agent.
pub fn agent_membership(ext: ExtensionId, queue: QueueId) -> Key {
    (agent_partition(ext), format!("QUEUE#{}", pad(queue.get())))
}

/// An extension group.
pub fn ext_group(id: ExtGroupId) -> Key {
    (format!("EXTGROUP#{id}"), "EXTGROUP".into())
}

/// The claim of an extension group name (case-insensitive: `domain::groups::name_key`).
pub fn ext_group_name(name: &str) -> Key {
    (format!("EXTGROUPNAME#{}", domain::groups::name_key(name)), "EXTGROUPNAME".into())
}

/// An organization.
pub fn organization(id: OrganizationId) -> Key {
    (format!("ORG#{id}"), "ORG".into())
}

/// The claim of an organization name (case-insensitive: `domain::groups::name_key`).
pub fn organization_name(name: &str) -> Key {
    (format!("ORGNAME#{}", domain::groups::name_key(name)), "ORGNAME".into())
}

/// A phonebook (its summary; the contacts are in [`phonebook_contacts`] items of the same
/// partition).
pub fn phonebook(id: domain::ids::PhonebookId) -> Key {
    (phonebook_partition(id), "PHONEBOOK".into())
}

/// The partition of a phonebook and its contact chunks.
pub fn phonebook_partition(id: domain::ids::PhonebookId) -> String {
    format!("PHONEBOOK#{id}")
}

/// One chunk of a phonebook's contacts.
pub fn phonebook_contacts(id: domain::ids::PhonebookId, chunk: u32) -> Key {
    (phonebook_partition(id), format!("CONTACTS#{}", pad(u64::from(chunk))))
}

/// The claim of a phonebook name (case-insensitive: `domain::phonebook::name_key`).
pub fn phonebook_name(name: &str) -> Key {
    (format!("PHONEBOOKNAME#{}", domain::phonebook::name_key(name)), "PHONEBOOKNAME".into())
}

/// `kind` values of the KindIndex.
pub mod kind {
    /// Channels.
    pub const CHANNEL: &str = "CHANNEL";
    /// Extensions.
    pub const EXTENSION: &str = "EXT";
    /// Queues.
    pub const QUEUE: &str = "QUEUE";
    /// Extension groups.
    pub const EXT_GROUP: &str = "EXTGROUP";
    /// Organizations.
    pub const ORGANIZATION: &str = "ORG";
    /// Phonebooks.
    pub const PHONEBOOK: &str = "PHONEBOOK";
}

/// A sequence counter (in the table of the entities it numbers).
pub fn sequence(sequence: Sequence) -> Key {
    (format!("SEQ#{}", sequence.name()), "SEQ".into())
}

// ---------------------------------------------------------------- conversation table

/// An inbound delivery.
pub fn inbound(key: &InboundKey) -> Key {
    (format!("INBOUND#{}#{}", key.channel_id, key.provider_message_id.as_str()), "INBOUND".into())
}

/// Parses an inbound partition key back into its [`InboundKey`].
pub fn parse_inbound(pk: &str) -> Option<InboundKey> {
    let rest = pk.strip_prefix("INBOUND#")?;
    let (channel, provider_id) = rest.split_once('#')?;
    Some(InboundKey {
        channel_id: channel.parse().ok()?,
        provider_message_id: domain::ids::ProviderMessageId::parse(provider_id).ok()?,
    })
}

/// A session's partition (the session item, its messages and its timeline).
pub fn session_partition(id: SessionId) -> String {
    format!("SESSION#{id}")
}

/// A session item.
pub fn session(id: SessionId) -> Key {
    (session_partition(id), "SESSION".into())
}

/// The lock that makes a session the one open session of its key.
pub fn open_session(key: &SessionKey) -> Key {
    (format!("OPEN#{}#{}#{}", key.channel_id, key.business_number.as_str(), key.customer.as_str()), "OPEN".into())
}

/// Sort-key prefix of messages.
pub const MESSAGE_PREFIX: &str = "MSG#";

/// A message.
pub fn message(session: SessionId, msg: MessageId) -> Key {
    (session_partition(session), format!("{MESSAGE_PREFIX}{}", pad(msg.get())))
}

/// InactivityIndex partition of an open session: its channel.
pub fn open_channel(channel: ChannelId) -> String {
    format!("CHANNEL#{channel}")
}

/// The link from a provider's message id to our outbound message, with the strongest delivery
/// report recorded under it.
pub fn provider_message(channel: ChannelId, provider_message_id: &str) -> Key {
    (format!("PROVIDERMSG#{channel}#{provider_message_id}"), "PROVIDERMSG".into())
}

/// Parses a message key.
pub fn parse_message(pk: &str, sk: &str) -> Option<(SessionId, MessageId)> {
    let session = pk.strip_prefix("SESSION#")?.parse().ok()?;
    let msg = sk.strip_prefix(MESSAGE_PREFIX)?.parse().ok()?;
    Some((session, msg))
}

/// Sort-key prefix of timeline entries.
pub const TIMELINE_PREFIX: &str = "OP#";

/// A timeline entry (time plus a discriminator so two entries in the same microsecond coexist).
pub fn timeline(session: SessionId, at: Timestamp, discriminator: &str) -> Key {
    (session_partition(session), format!("{TIMELINE_PREFIX}{}#{discriminator}", pad_time(at)))
}

/// ChatLogIndex partition: the month a session was created in (`LOG#yyyy-mm`, UTC).
pub fn log_month(month: domain::chat_log::Month) -> String {
    format!("LOG#{month}")
}

/// ChatLogIndex sort key: creation time then session id, so string order is creation order.
pub fn log_sort(created_at: Timestamp, session: SessionId) -> String {
    format!("{}#{}", pad_time(created_at), pad(session.get()))
}

/// The first ChatLogIndex sort key at or after `t` (range bound).
pub fn log_bound(t: Timestamp) -> String {
    format!("{}#", pad_time(t))
}

/// A chat-log export job.
pub fn chat_log_export(id: &domain::chat_log::ExportId) -> Key {
    (format!("EXPORT#{}", id.as_str()), "EXPORT".into())
}

/// An uploaded file's record.
pub fn file(id: &domain::files::FileId) -> Key {
    (format!("FILE#{}", id.as_str()), "FILE".into())
}

/// A channel's send schedule.
pub fn pacer(channel: ChannelId) -> Key {
    (format!("PACER#{channel}"), "PACER".into())
}

/// A business number's statistics partition.
pub fn stats_partition(channel: ChannelId, number: &str) -> String {
    format!("STATS#{channel}#{number}")
}

/// Sort key of a day's statistics.
pub fn stats_day(day: &str) -> String {
    format!("DAY#{day}")
}

/// Sort key of all-time statistics.
pub const STATS_ALL: &str = "ALL";

/// OwnerIndex partition of an owner's Recent (`archived` false) or Archived list.
pub fn owner_key(owner: ListOwner, archived: bool) -> String {
    let list = if archived { "A" } else { "R" };
    match owner {
        ListOwner::Extension(e) => format!("EXT#{e}#{list}"),
        ListOwner::Api => format!("API#{list}"),
    }
}

/// OwnerIndex partition of an extension's Recent list.
pub fn recent_key(ext: ExtensionId) -> String {
    owner_key(ListOwner::Extension(ext), false)
}

/// QueueIndex partition of a queue's waiting sessions.
pub fn queue_key(queue: QueueId) -> String {
    format!("QUEUE#{queue}")
}

/// OwnerIndex/QueueIndex sort key: the last message id (Yeastar's list cursor), most recent last.
pub fn activity_key(last_msg: u64) -> String {
    pad(last_msg)
}

/// Partition of an audience's change feed.
pub fn changes_partition(audience: Audience) -> String {
    match audience {
        Audience::Extension(e) => format!("CHANGES#EXT#{e}"),
        Audience::Queue(q) => format!("CHANGES#QUEUE#{q}"),
        Audience::Api => "CHANGES#API".into(),
    }
}

/// A change-feed entry.
pub fn change(audience: Audience, at: Timestamp, session: SessionId) -> Key {
    (changes_partition(audience), format!("{}#{}", pad_time(at), pad(session.get())))
}

/// Parses a change-feed sort key into (µs, session id).
pub fn parse_change(sk: &str) -> Option<(i64, u64)> {
    let (at, session) = sk.split_once('#')?;
    Some((at.parse().ok()?, session.parse().ok()?))
}

/// Sort-key prefix of event-outbox items.
pub const EVENT_PREFIX: &str = "EVENT#";

/// An event waiting in the event outbox.
pub fn event(session: SessionId, event_id: &str) -> Key {
    (session_partition(session), format!("{EVENT_PREFIX}{event_id}"))
}

/// OutboxIndex partitions.
/// A queue's service level partition (offers, evaluations, alarm state).
pub fn sla_partition(queue: QueueId) -> String {
    format!("QSLA#{}", pad(queue.get()))
}

/// Sort-key prefix of offers.
pub const OFFER_PREFIX: &str = "OFFER#";

/// An offer: ordered by entry time within its queue.
pub fn offer(key: &OfferKey) -> Key {
    (sla_partition(key.queue), format!("{OFFER_PREFIX}{}#{}", pad_time(key.entered_at), pad(key.session.get())))
}

/// The first offer sort key at or after `t` (range bound).
pub fn offer_bound(t: Timestamp) -> String {
    format!("{OFFER_PREFIX}{}#", pad_time(t))
}

/// A queue's alarm state.
pub fn sla_state(queue: QueueId) -> Key {
    (sla_partition(queue), "STATE".into())
}

/// Sort-key prefix of evaluations.
pub const EVALUATION_PREFIX: &str = "EVAL#";

/// An evaluation, by window end.
pub fn sla_evaluation(queue: QueueId, window_end: Timestamp) -> Key {
    (sla_partition(queue), format!("{EVALUATION_PREFIX}{}", pad_time(window_end)))
}

pub mod outbox {
    /// Inbound deliveries not yet routed or announced.
    pub const INBOUND: &str = "inbound";
    /// Outbound messages not yet final or announced.
    pub const OUTBOUND: &str = "outbound";
    /// Lifecycle events not yet published.
    pub const EVENT: &str = "event";
}

// ---------------------------------------------------------------- auth table

/// A token, by hash.
pub fn token(hash: &str) -> Key {
    (format!("TOKEN#{hash}"), "TOKEN".into())
}

/// A source address's failed logins.
pub fn auth_failures(source: &str) -> Key {
    (format!("AUTHFAIL#{source}"), "AUTHFAIL".into())
}

/// An idempotency record.
pub fn idempotency(scope_key: &str) -> Key {
    (format!("IDEMP#{scope_key}"), "IDEMP".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::ids::ProviderMessageId;

    #[test]
    fn inbound_keys_round_trip_even_with_hashes_in_the_provider_id() {
        let key = InboundKey {
            channel_id: ChannelId::new(12).unwrap(),
            provider_message_id: ProviderMessageId::parse("abc#def#1").unwrap(),
        };
        let (pk, _) = inbound(&key);
        assert_eq!(pk, "INBOUND#12#abc#def#1");
        assert_eq!(parse_inbound(&pk), Some(key));
    }

    #[test]
    fn message_keys_sort_numerically() {
        let s = SessionId::new(1).unwrap();
        let (_, nine) = message(s, MessageId::new(9).unwrap());
        let (_, ten) = message(s, MessageId::new(10).unwrap());
        assert!(nine < ten);
        let (pk, sk) = message(s, MessageId::new(10).unwrap());
        assert_eq!(parse_message(&pk, &sk), Some((s, MessageId::new(10).unwrap())));
    }
}

//! Stored shapes of every item kind (serialized with `serde_dynamo`) and their conversion to and
//! from domain types. Optional attributes are left out when absent, never stored as NULL: index
//! key attributes must not be NULL, and "absent" is what sparse indexes (outbox, queue) rely on.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use domain::channel::{
    Channel, ChannelStatus, Credentials, Destination, Member, NumberRule, Provider, SendRate, SessionTimeoutDays,
    WebhookUrlType,
};
use domain::directory::{AssignmentMode, Extension, MessageQueue, QueueManager, SlaSettings};
use domain::groups::{ExtensionGroup, MemberSelect, Organization};
use domain::health::ChannelHealth;
use domain::ids::{
    ChannelId, ExtGroupId, ExtensionId, ExtensionNumber, MessageId, OrganizationId, QueueId, SessionId, WebhookToken,
};
use domain::inbound::{InboundMessage, InboundRecord, InboundState, MediaRef};
use domain::message::{DeliveryState, Direction, FailureReason, Message, Origin, Receipt, Sender};
use domain::phone::{BusinessNumber, CustomerAddress};
use domain::session::{Assignment, LastMessage, ListView, Session, SessionKey, SessionOrigin, SessionStatus};
use domain::sla::{OfferKey, OfferRecord, QueueOffer, SlaEvaluation, SlaNotice, SlaState};
use domain::time::Timestamp;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys;
use crate::kms::SealedBlob;

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

/// An item that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("stored {kind} item is invalid: {reason}")]
pub struct CorruptItem {
    /// Item kind.
    pub kind: &'static str,
    /// What is wrong.
    pub reason: String,
}

fn corrupt(kind: &'static str, reason: impl ToString) -> CorruptItem {
    CorruptItem { kind, reason: reason.to_string() }
}

/// Serializes a stored shape.
pub fn to_item<T: Serialize>(kind: &'static str, value: &T) -> Result<Item, CorruptItem> {
    serde_dynamo::to_item(value).map_err(|e| corrupt(kind, e))
}

/// Deserializes a stored shape.
pub fn from_item<T: for<'de> Deserialize<'de>>(kind: &'static str, item: Item) -> Result<T, CorruptItem> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(kind, e))
}

// ---------------------------------------------------------------- channels

/// Plain credentials, as items written before envelope encryption hold them (still readable; the
/// next write seals them).
#[derive(Debug, Serialize, Deserialize)]
struct CredentialsItem {
    provider: String,
    /// The provider's keys, decoded (see `domain::credentials`).
    values: BTreeMap<String, String>,
}

/// Credentials as written now: the provider in the clear, its keys sealed by
/// [`crate::kms::KmsVault`] (a JSON object of the decoded key/value pairs).
#[derive(Debug, Serialize, Deserialize)]
struct SealedCredentialsItem {
    provider: String,
    sealed: SealedBlob,
}

/// Where a stored channel's credential values are.
#[derive(Debug)]
pub enum StoredCredentials {
    /// In the clear (an item from before encryption).
    Plain(BTreeMap<String, String>),
    /// Sealed for [`ChannelItem::seal_owner`].
    Sealed(SealedBlob),
}

/// The associated data a channel's credentials are sealed for: its id and provider, so a blob
/// moved to another channel or provider does not open.
pub fn seal_owner(channel: ChannelId, provider: Provider) -> String {
    format!("channel#{}#{}", channel.get(), provider.slug())
}

#[derive(Debug, Serialize, Deserialize)]
struct NumberRuleItem {
    number: String,
    destination_type: String,
    destination_id: u64,
    #[serde(default)]
    members: Vec<StoredMember>,
}

/// A number's member as stored: an extension as its bare id (the original shape), a group or
/// organization as `{"type": "ext_group"|"organization", "id": n}`; the order is kept.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum StoredMember {
    Extension(u64),
    Other(Member),
}

impl StoredMember {
    fn from_domain(m: Member) -> Self {
        match m {
            Member::Extension(e) => Self::Extension(e.get()),
            other => Self::Other(other),
        }
    }

    fn into_domain(self) -> Result<Member, CorruptItem> {
        match self {
            Self::Extension(e) => ExtensionId::new(e).map(Member::Extension).map_err(|e| corrupt("channel", e)),
            Self::Other(m) => Ok(m),
        }
    }
}

/// A channel item.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChannelItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials: Option<CredentialsItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_credentials: Option<SealedCredentialsItem>,
    webhook_token: String,
    webhook_url_type: String,
    send_rate: u16,
    auto_close_session: bool,
    session_expired_days: u16,
    numbers: Vec<NumberRuleItem>,
    /// The last health check's result (`ChannelHealth` name), or `not_checked`.
    status: String,
    /// When the last health check ran (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    health_checked_at: Option<i64>,
    enabled: bool,
    created_at: i64,
}

impl ChannelItem {
    /// The credential values of `c` to seal (a JSON object), and who they are sealed for.
    pub fn credentials_to_seal(c: &Channel) -> Result<(String, Zeroizing<Vec<u8>>), CorruptItem> {
        let plain = serde_json::to_vec(&c.credentials.to_values()).map_err(|e| corrupt("channel", e))?;
        Ok((seal_owner(c.id, c.provider()), Zeroizing::new(plain)))
    }

    /// From the domain, with its credentials sealed (see [`Self::credentials_to_seal`]).
    pub fn from_domain(c: &Channel, sealed: SealedBlob) -> Self {
        let (pk, sk) = keys::channel(c.id);
        let sealed_credentials = SealedCredentialsItem { provider: c.provider().slug().into(), sealed };
        let numbers = c
            .numbers
            .iter()
            .map(|r| {
                let (destination_type, destination_id) = match r.destination {
                    Destination::Extension(e) => ("extension", e.get()),
                    Destination::Queue(q) => ("queue", q.get()),
                    Destination::Api => ("api", 0),
                };
                NumberRuleItem {
                    number: r.number.as_str().to_owned(),
                    destination_type: destination_type.into(),
                    destination_id,
                    members: r.members.iter().map(|m| StoredMember::from_domain(*m)).collect(),
                }
            })
            .collect();
        Self {
            pk,
            sk,
            kind: keys::kind::CHANNEL.into(),
            kind_sort: keys::pad(c.id.get()),
            id: c.id.get(),
            name: c.name.clone(),
            credentials: None,
            sealed_credentials: Some(sealed_credentials),
            webhook_token: c.webhook_token.as_str().to_owned(),
            webhook_url_type: c.webhook_url_type.as_str().into(),
            send_rate: c.send_rate.per_second(),
            auto_close_session: c.auto_close_session,
            session_expired_days: c.session_expired_days.days(),
            numbers,
            status: c.status.health().map_or_else(|| "not_checked".into(), |h| h.as_str().into()),
            health_checked_at: match c.status {
                ChannelStatus::Checked { at, .. } => Some(at.as_micros()),
                ChannelStatus::NotChecked => None,
            },
            enabled: c.enabled,
            created_at: c.created_at.as_micros(),
        }
    }

    /// The channel's id, provider and where its credential values are.
    pub fn stored_credentials(&self) -> Result<(ChannelId, Provider, StoredCredentials), CorruptItem> {
        const K: &str = "channel";
        let id = ChannelId::new(self.id).map_err(|e| corrupt(K, e))?;
        let (slug, stored) = match (&self.sealed_credentials, &self.credentials) {
            (Some(s), _) => (&s.provider, StoredCredentials::Sealed(s.sealed.clone())),
            (None, Some(c)) => (&c.provider, StoredCredentials::Plain(c.values.clone())),
            (None, None) => return Err(corrupt(K, "no credentials")),
        };
        let provider = Provider::from_slug(slug).ok_or_else(|| corrupt(K, format!("unknown provider {slug}")))?;
        Ok((id, provider, stored))
    }

    /// The last health check's result, without opening the credentials.
    pub fn status(&self) -> ChannelStatus {
        match (ChannelHealth::parse(&self.status), self.health_checked_at) {
            (Some(health), Some(at)) => ChannelStatus::Checked { health, at: Timestamp::from_micros(at) },
            _ => ChannelStatus::NotChecked,
        }
    }

    /// To the domain, given the credential values (opened from [`Self::stored_credentials`]).
    pub fn into_domain(self, values: &BTreeMap<String, String>) -> Result<Channel, CorruptItem> {
        const K: &str = "channel";
        let (_, provider, _) = self.stored_credentials()?;
        let credentials = Credentials::from_values(provider, values)
            .map_err(|problems| corrupt(K, format!("credentials: {problems:?}")))?;
        let status = self.status();
        let numbers = self
            .numbers
            .into_iter()
            .map(|n| {
                let destination = match n.destination_type.as_str() {
                    "extension" => {
                        Destination::Extension(ExtensionId::new(n.destination_id).map_err(|e| corrupt(K, e))?)
                    }
                    "queue" => Destination::Queue(QueueId::new(n.destination_id).map_err(|e| corrupt(K, e))?),
                    "api" => Destination::Api,
                    other => return Err(corrupt(K, format!("destination type {other}"))),
                };
                let members = n.members.into_iter().map(StoredMember::into_domain).collect::<Result<Vec<_>, _>>()?;
                Ok(NumberRule {
                    number: BusinessNumber::parse(&n.number).map_err(|e| corrupt(K, e))?,
                    destination,
                    members,
                })
            })
            .collect::<Result<Vec<_>, CorruptItem>>()?;
        Ok(Channel {
            id: ChannelId::new(self.id).map_err(|e| corrupt(K, e))?,
            name: self.name,
            credentials,
            webhook_token: WebhookToken::parse(&self.webhook_token).map_err(|e| corrupt(K, e))?,
            webhook_url_type: if self.webhook_url_type == "fqdn" { WebhookUrlType::Fqdn } else { WebhookUrlType::Nat },
            send_rate: SendRate::new(self.send_rate).map_err(|e| corrupt(K, e))?,
            auto_close_session: self.auto_close_session,
            session_expired_days: SessionTimeoutDays::new(self.session_expired_days).map_err(|e| corrupt(K, e))?,
            numbers,
            status,
            enabled: self.enabled,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// A claim item (webhook URL, business number, extension number): which entity holds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClaimItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The holder's id.
    pub owner_id: u64,
}

impl ClaimItem {
    /// A claim of `key` by `owner_id`.
    pub fn new(key: keys::Key, owner_id: u64) -> Self {
        Self { pk: key.0, sk: key.1, owner_id }
    }
}

// ---------------------------------------------------------------- directory

/// An extension item.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExtensionItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    number: String,
    caller_id_name: String,
    first_name: String,
    last_name: String,
    email_addr: String,
    mobile_number: String,
    password_hash: String,
    created_at: i64,
}

impl ExtensionItem {
    /// From the domain.
    pub fn from_domain(e: &Extension) -> Self {
        let (pk, sk) = keys::extension(e.id);
        Self {
            pk,
            sk,
            kind: keys::kind::EXTENSION.into(),
            kind_sort: keys::pad(e.id.get()),
            id: e.id.get(),
            number: e.number.as_str().to_owned(),
            caller_id_name: e.caller_id_name.clone(),
            first_name: e.first_name.clone(),
            last_name: e.last_name.clone(),
            email_addr: e.email_addr.clone(),
            mobile_number: e.mobile_number.clone(),
            password_hash: e.password_hash.clone(),
            created_at: e.created_at.as_micros(),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<Extension, CorruptItem> {
        const K: &str = "extension";
        Ok(Extension {
            id: ExtensionId::new(self.id).map_err(|e| corrupt(K, e))?,
            number: ExtensionNumber::parse(&self.number).map_err(|e| corrupt(K, e))?,
            caller_id_name: self.caller_id_name,
            first_name: self.first_name,
            last_name: self.last_name,
            email_addr: self.email_addr,
            mobile_number: self.mobile_number,
            password_hash: self.password_hash,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// A message queue item.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueueItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    name: String,
    assignment_mode: String,
    members: Vec<u64>,
    #[serde(default)]
    sla_time: Option<u32>,
    #[serde(default)]
    evaluation_interval: Option<u32>,
    #[serde(default)]
    alarm_threshold: Option<u8>,
    #[serde(default)]
    managers: Vec<QueueManager>,
    created_at: i64,
}

impl QueueItem {
    /// From the domain.
    pub fn from_domain(q: &MessageQueue) -> Self {
        let (pk, sk) = keys::queue(q.id);
        Self {
            pk,
            sk,
            kind: keys::kind::QUEUE.into(),
            kind_sort: keys::pad(q.id.get()),
            id: q.id.get(),
            name: q.name.clone(),
            assignment_mode: q.assignment_mode.as_str().into(),
            members: q.members.iter().map(|m| m.get()).collect(),
            sla_time: Some(q.sla.sla_time_secs),
            evaluation_interval: Some(q.sla.evaluation_interval_mins),
            alarm_threshold: Some(q.sla.alarm_threshold_percent),
            managers: q.managers.clone(),
            created_at: q.created_at.as_micros(),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<MessageQueue, CorruptItem> {
        const K: &str = "queue";
        Ok(MessageQueue {
            id: QueueId::new(self.id).map_err(|e| corrupt(K, e))?,
            name: self.name,
            assignment_mode: AssignmentMode::parse(&self.assignment_mode)
                .ok_or_else(|| corrupt(K, format!("assignment mode {}", self.assignment_mode)))?,
            members: self
                .members
                .into_iter()
                .map(|m| ExtensionId::new(m).map_err(|e| corrupt(K, e)))
                .collect::<Result<_, _>>()?,
            sla: {
                let d = SlaSettings::default();
                SlaSettings {
                    sla_time_secs: self.sla_time.unwrap_or(d.sla_time_secs),
                    evaluation_interval_mins: self.evaluation_interval.unwrap_or(d.evaluation_interval_mins),
                    alarm_threshold_percent: self.alarm_threshold.unwrap_or(d.alarm_threshold_percent),
                }
            },
            managers: self.managers,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// An extension group item.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExtGroupItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    name: String,
    /// `sel_all_ext` or `sel_specific`.
    member_select: String,
    /// The listed extensions (`sel_specific`).
    #[serde(default)]
    members: Vec<u64>,
    created_at: i64,
}

impl ExtGroupItem {
    /// From the domain.
    pub fn from_domain(g: &ExtensionGroup) -> Self {
        let (pk, sk) = keys::ext_group(g.id);
        Self {
            pk,
            sk,
            kind: keys::kind::EXT_GROUP.into(),
            kind_sort: keys::pad(g.id.get()),
            id: g.id.get(),
            name: g.name.clone(),
            member_select: g.member_select.as_str().into(),
            members: g.member_select.listed().iter().map(|e| e.get()).collect(),
            created_at: g.created_at.as_micros(),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<ExtensionGroup, CorruptItem> {
        const K: &str = "extension group";
        let member_select = match self.member_select.as_str() {
            "sel_all_ext" => MemberSelect::AllExtensions,
            "sel_specific" => MemberSelect::Specific(
                self.members
                    .into_iter()
                    .map(|m| ExtensionId::new(m).map_err(|e| corrupt(K, e)))
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(corrupt(K, format!("member_select {other}"))),
        };
        Ok(ExtensionGroup {
            id: ExtGroupId::new(self.id).map_err(|e| corrupt(K, e))?,
            name: self.name,
            member_select,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// An organization item.
#[derive(Debug, Serialize, Deserialize)]
pub struct OrganizationItem {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    id: u64,
    name: String,
    /// Absent for a top-level organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent_id: Option<u64>,
    order: u32,
    /// The extensions placed directly in it.
    #[serde(default)]
    extensions: Vec<u64>,
    created_at: i64,
}

impl OrganizationItem {
    /// From the domain.
    pub fn from_domain(o: &Organization) -> Self {
        let (pk, sk) = keys::organization(o.id);
        Self {
            pk,
            sk,
            kind: keys::kind::ORGANIZATION.into(),
            kind_sort: keys::pad(o.id.get()),
            id: o.id.get(),
            name: o.name.clone(),
            parent_id: o.parent_id.map(OrganizationId::get),
            order: o.order,
            extensions: o.extensions.iter().map(|e| e.get()).collect(),
            created_at: o.created_at.as_micros(),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<Organization, CorruptItem> {
        const K: &str = "organization";
        Ok(Organization {
            id: OrganizationId::new(self.id).map_err(|e| corrupt(K, e))?,
            name: self.name,
            parent_id: self.parent_id.map(OrganizationId::new).transpose().map_err(|e| corrupt(K, e))?,
            order: self.order,
            extensions: self
                .extensions
                .into_iter()
                .map(|m| ExtensionId::new(m).map_err(|e| corrupt(K, e)))
                .collect::<Result<_, _>>()?,
            created_at: Timestamp::from_micros(self.created_at),
        })
    }
}

/// A queue-membership item (`AGENT#{ext}` / `QUEUE#{queue}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct MembershipItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The queue.
    pub queue_id: u64,
}

// ---------------------------------------------------------------- inbox

/// An inbound delivery item.
#[derive(Debug, Serialize, Deserialize)]
pub struct InboundItem {
    pk: String,
    sk: String,
    channel_id: u64,
    state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    session_id: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    msg_id: Option<u64>,
    #[serde(default)]
    opened_session: bool,
    #[serde(default)]
    events_published: bool,
    message: InboundMessage,
    accepted_at: i64,
    raw_body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_due: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unroutable_reason: Option<String>,
}

impl InboundItem {
    /// A pending record, due in the outbox at `due`.
    pub fn pending(r: &InboundRecord, due: Timestamp) -> Self {
        let (pk, sk) = keys::inbound(&r.key);
        Self {
            pk,
            sk,
            channel_id: r.key.channel_id.get(),
            state: "pending".into(),
            session_id: None,
            msg_id: None,
            opened_session: false,
            events_published: false,
            message: r.message.clone(),
            accepted_at: r.accepted_at.as_micros(),
            raw_body: r.raw_body.clone(),
            outbox_key: Some(keys::outbox::INBOUND.into()),
            outbox_due: Some(keys::pad_time(due)),
            unroutable_reason: None,
        }
    }

    /// The state.
    pub fn state(&self) -> Result<InboundState, CorruptItem> {
        const K: &str = "inbound";
        Ok(match self.state.as_str() {
            "pending" => InboundState::Pending,
            "unroutable" => InboundState::Unroutable,
            "routed" => InboundState::Routed {
                session_id: SessionId::new(self.session_id.unwrap_or(0)).map_err(|e| corrupt(K, e))?,
                msg_id: MessageId::new(self.msg_id.unwrap_or(0)).map_err(|e| corrupt(K, e))?,
                opened_session: self.opened_session,
                events_published: self.events_published,
            },
            other => return Err(corrupt(K, format!("state {other}"))),
        })
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<InboundRecord, CorruptItem> {
        let state = self.state()?;
        let key = keys::parse_inbound(&self.pk).ok_or_else(|| corrupt("inbound", "key"))?;
        Ok(InboundRecord {
            key,
            message: self.message,
            accepted_at: Timestamp::from_micros(self.accepted_at),
            raw_body: self.raw_body,
            state,
        })
    }
}

// ---------------------------------------------------------------- sessions

/// A session item.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionItem {
    pk: String,
    sk: String,
    id: u64,
    channel_id: u64,
    business_number: String,
    customer: String,
    provider: String,
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    closed_at: Option<i64>,
    assignment_type: String,
    assignment_id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_queue: Option<u64>,
    origin: String,
    created_at: i64,
    last_activity_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_message: Option<LastMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_inbound_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_name: Option<String>,
    #[serde(default)]
    unread: u32,
    #[serde(default)]
    archived: bool,
    #[serde(default)]
    removed: bool,
    #[serde(default)]
    version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    owner_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue_key: Option<String>,
    activity_key: String,
    /// InactivityIndex partition: `CHANNEL#{id}`, only while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    open_channel: Option<String>,
    /// InactivityIndex sort: `last_activity_at` zero-padded.
    #[serde(default)]
    activity_sort: String,
    /// The current queue offer (SLA): queue, entry time, first agent reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offer_queue: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offer_entered_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offer_answered_at: Option<i64>,
    /// ChatLogIndex partition: `LOG#{created month}` (every session; absent on items written
    /// before the index, until their next full write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_month: Option<String>,
    /// ChatLogIndex sort: `{created_at µs:020}#{id:020}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_sort: Option<String>,
}

/// Storage names of an assignment.
pub fn assignment_parts(a: Assignment) -> (&'static str, u64) {
    match a {
        Assignment::Queue(q) => ("queue", q.get()),
        Assignment::Extension(e) => ("extension", e.get()),
        Assignment::Api => ("api", 0),
    }
}

impl SessionItem {
    /// From the domain.
    pub fn from_domain(s: &Session) -> Self {
        let (pk, sk) = keys::session(s.id);
        let (assignment_type, assignment_id) = assignment_parts(s.assignment);
        let open = s.is_open();
        let hidden = s.origin.is_hidden();
        Self {
            pk,
            sk,
            id: s.id.get(),
            channel_id: s.key.channel_id.get(),
            business_number: s.key.business_number.as_str().to_owned(),
            customer: s.key.customer.as_str().to_owned(),
            provider: s.provider.slug().into(),
            status: if open { "open".into() } else { "closed".into() },
            closed_at: match s.status {
                SessionStatus::Closed { at } => Some(at.as_micros()),
                SessionStatus::Open => None,
            },
            assignment_type: assignment_type.into(),
            assignment_id,
            last_queue: s.last_queue.map(QueueId::get),
            origin: s.origin.as_str().into(),
            created_at: s.created_at.as_micros(),
            last_activity_at: s.last_activity_at.as_micros(),
            last_message: s.last_message.clone(),
            last_inbound_at: s.last_customer_message_at.map(Timestamp::as_micros),
            customer_name: s.customer_name.clone(),
            unread: s.unread,
            archived: s.view.archived,
            removed: s.view.removed,
            version: s.version,
            owner_key: s.list_slot().filter(|_| !hidden).map(|(owner, archived)| keys::owner_key(owner, archived)),
            queue_key: match s.assignment {
                Assignment::Queue(q) if open && !hidden => Some(keys::queue_key(q)),
                _ => None,
            },
            activity_key: keys::activity_key(s.last_message.as_ref().map_or(0, |m| m.msg_id.get())),
            open_channel: (open && !hidden).then(|| keys::open_channel(s.key.channel_id)),
            activity_sort: keys::pad_time(s.last_activity_at),
            offer_queue: s.offer.map(|o| o.queue.get()),
            offer_entered_at: s.offer.map(|o| o.entered_at.as_micros()),
            offer_answered_at: s.offer.and_then(|o| o.answered_at).map(Timestamp::as_micros),
            // a "send directly" campaign's carrier is not in the chat logs (seed 001 L9362)
            log_month: (!hidden).then(|| keys::log_month(domain::chat_log::Month::of(s.created_at))),
            log_sort: (!hidden).then(|| keys::log_sort(s.created_at, s.id)),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<Session, CorruptItem> {
        const K: &str = "session";
        let provider =
            Provider::from_slug(&self.provider).ok_or_else(|| corrupt(K, format!("provider {}", self.provider)))?;
        let assignment = match self.assignment_type.as_str() {
            "queue" => Assignment::Queue(QueueId::new(self.assignment_id).map_err(|e| corrupt(K, e))?),
            "extension" => Assignment::Extension(ExtensionId::new(self.assignment_id).map_err(|e| corrupt(K, e))?),
            "api" => Assignment::Api,
            other => return Err(corrupt(K, format!("assignment {other}"))),
        };
        let last_queue = self.last_queue.map(QueueId::new).transpose().map_err(|e| corrupt(K, e))?;
        let origin = SessionOrigin::parse(&self.origin).ok_or_else(|| corrupt(K, format!("origin {}", self.origin)))?;
        Ok(Session {
            id: SessionId::new(self.id).map_err(|e| corrupt(K, e))?,
            key: SessionKey {
                channel_id: ChannelId::new(self.channel_id).map_err(|e| corrupt(K, e))?,
                business_number: BusinessNumber::parse(&self.business_number).map_err(|e| corrupt(K, e))?,
                customer: CustomerAddress::parse(&self.customer).map_err(|e| corrupt(K, e))?,
            },
            provider,
            channel_type: provider.channel_type(),
            status: match (self.status.as_str(), self.closed_at) {
                ("open", _) => SessionStatus::Open,
                (_, Some(at)) => SessionStatus::Closed { at: Timestamp::from_micros(at) },
                (other, None) => return Err(corrupt(K, format!("status {other} without closed_at"))),
            },
            assignment,
            last_queue,
            origin,
            created_at: Timestamp::from_micros(self.created_at),
            last_activity_at: Timestamp::from_micros(self.last_activity_at),
            last_message: self.last_message,
            last_customer_message_at: self.last_inbound_at.map(Timestamp::from_micros),
            customer_name: self.customer_name,
            unread: self.unread,
            view: ListView { archived: self.archived, removed: self.removed },
            offer: match (self.offer_queue, self.offer_entered_at) {
                (Some(queue), Some(entered)) => Some(QueueOffer {
                    queue: QueueId::new(queue).map_err(|e| corrupt(K, e))?,
                    entered_at: Timestamp::from_micros(entered),
                    answered_at: self.offer_answered_at.map(Timestamp::from_micros),
                }),
                _ => None,
            },
            version: self.version,
        })
    }
}

/// The open-session lock item.
#[derive(Debug, Serialize, Deserialize)]
pub struct OpenLockItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The open session.
    pub session_id: u64,
}

// ---------------------------------------------------------------- messages

/// A message item.
#[derive(Debug, Serialize, Deserialize)]
pub struct MessageItem {
    pk: String,
    sk: String,
    session_id: u64,
    msg_id: u64,
    channel_id: u64,
    direction: Direction,
    sender: Sender,
    origin: Origin,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    media: Vec<MediaRef>,
    created_at: i64,
    /// Delivery state name (`received`, `queued`, `sending`, `sent`, `failed`).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    inbound_provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_provider_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<FailureReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_failure: Option<FailureReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    final_at: Option<i64>,
    #[serde(default)]
    attempts: u32,
    /// When the current sender's claim runs out (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
    #[serde(default)]
    events_published: bool,
    /// The strongest delivery report (sent messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt: Option<Receipt>,
    /// Its rank (`ReportedStatus::rank`), for the "only stronger" condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    receipt_rank: Option<u8>,
    /// A WhatsApp template message: the Cloud API `template` object, as a JSON string (absent
    /// on normal messages and on items written before templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    outbox_due: Option<String>,
}

impl MessageItem {
    /// From the domain; `outbox_due` puts it in the outbox.
    pub fn from_domain(m: &Message, outbox_due: Option<Timestamp>) -> Self {
        let (pk, sk) = keys::message(m.session_id, m.msg_id);
        let (sent_provider_id, failure, final_at) = match &m.delivery {
            DeliveryState::Sent { provider_message_id, at } => {
                (Some(provider_message_id.clone()), None, Some(at.as_micros()))
            }
            DeliveryState::Failed { reason, at } => (None, Some(reason.clone()), Some(at.as_micros())),
            _ => (None, None, None),
        };
        Self {
            pk,
            sk,
            session_id: m.session_id.get(),
            msg_id: m.msg_id.get(),
            channel_id: m.channel_id.get(),
            direction: m.direction,
            sender: m.sender.clone(),
            origin: m.origin,
            text: m.text.clone(),
            media: m.media.clone(),
            created_at: m.created_at.as_micros(),
            state: m.delivery.name().into(),
            inbound_provider_id: m.provider_message_id.clone(),
            sent_provider_id,
            failure,
            last_failure: None,
            final_at,
            attempts: m.attempts,
            lease_until: None,
            events_published: m.events_published,
            receipt: m.receipt.clone(),
            receipt_rank: m.receipt.as_ref().map(|r| r.status.rank()),
            template: m.template.as_ref().map(serde_json::Value::to_string),
            outbox_key: outbox_due.map(|_| keys::outbox::OUTBOUND.into()),
            outbox_due: outbox_due.map(keys::pad_time),
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<Message, CorruptItem> {
        const K: &str = "message";
        let final_at = Timestamp::from_micros(self.final_at.unwrap_or(self.created_at));
        let delivery = match self.state.as_str() {
            "received" => DeliveryState::Received,
            "queued" => DeliveryState::Queued,
            "sending" => DeliveryState::Sending,
            "sent" => DeliveryState::Sent {
                provider_message_id: self.sent_provider_id.ok_or_else(|| corrupt(K, "sent without provider id"))?,
                at: final_at,
            },
            "failed" => DeliveryState::Failed {
                reason: self.failure.ok_or_else(|| corrupt(K, "failed without reason"))?,
                at: final_at,
            },
            other => return Err(corrupt(K, format!("state {other}"))),
        };
        let template = match self.template {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| corrupt(K, format!("template: {e}")))?),
            None => None,
        };
        Ok(Message {
            session_id: SessionId::new(self.session_id).map_err(|e| corrupt(K, e))?,
            msg_id: MessageId::new(self.msg_id).map_err(|e| corrupt(K, e))?,
            channel_id: ChannelId::new(self.channel_id).map_err(|e| corrupt(K, e))?,
            direction: self.direction,
            sender: self.sender,
            origin: self.origin,
            text: self.text,
            media: self.media,
            created_at: Timestamp::from_micros(self.created_at),
            delivery,
            attempts: self.attempts,
            provider_message_id: self.inbound_provider_id,
            events_published: self.events_published,
            receipt: self.receipt,
            template,
        })
    }
}

/// A timeline item.
#[derive(Debug, Serialize, Deserialize)]
pub struct TimelineItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The entry.
    pub entry: domain::session::TimelineEntry,
}

impl TimelineItem {
    /// From the domain.
    pub fn from_domain(entry: &domain::session::TimelineEntry) -> Self {
        let (pk, sk) = keys::timeline(entry.session_id, entry.at, entry.operation.name());
        Self { pk, sk, entry: entry.clone() }
    }
}

/// A change-feed entry item.
#[derive(Debug, Serialize, Deserialize)]
pub struct ChangeItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The session.
    pub session_id: u64,
    /// TTL attribute (epoch seconds): the feed keeps a week.
    pub expires_at: i64,
}

/// An event-outbox item.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The event, JSON.
    pub event: String,
    /// OutboxIndex partition.
    pub outbox_key: String,
    /// OutboxIndex sort key (µs, padded).
    pub outbox_due: String,
}

// ---------------------------------------------------------------- auth

/// A token item.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The grant.
    pub grant: domain::auth::TokenGrant,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}

/// An idempotency item.
#[derive(Debug, Serialize, Deserialize)]
pub struct IdempotencyItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Request fingerprint.
    pub fingerprint: String,
    /// `in_progress` or `done`.
    pub state: String,
    /// The stored reply (when done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// When an in-progress claim lapses (µs).
    pub lease_until: i64,
    /// TTL attribute (epoch seconds).
    pub expires_at: i64,
}

/// The link from a provider's message id to our message (written by the sender) and the
/// strongest delivery report recorded under it (written by webhook-ingest).
#[derive(Debug, Serialize, Deserialize)]
pub struct ProviderMessageItem {
    /// The session, once the send is recorded.
    #[serde(default)]
    pub session_id: Option<u64>,
    /// The message, once the send is recorded.
    #[serde(default)]
    pub msg_id: Option<u64>,
    /// The strongest report.
    #[serde(default)]
    pub receipt: Option<Receipt>,
}

// ---------------------------------------------------------------- queue service level

/// A queue offer item (`QSLA#{queue}` / `OFFER#{entered}#{session}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct OfferItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Queue.
    pub queue_id: u64,
    /// Session.
    pub session_id: u64,
    /// Entry time (µs).
    pub entered_at: i64,
    /// First agent reply (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// Ended unanswered (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_at: Option<i64>,
    /// Breach recorded (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breached_at: Option<i64>,
    /// Breach event published.
    #[serde(default)]
    pub breach_announced: bool,
}

impl OfferItem {
    /// A new offer.
    pub fn new(key: &OfferKey) -> Self {
        let (pk, sk) = keys::offer(key);
        Self {
            pk,
            sk,
            queue_id: key.queue.get(),
            session_id: key.session.get(),
            entered_at: key.entered_at.as_micros(),
            answered_at: None,
            left_at: None,
            breached_at: None,
            breach_announced: false,
        }
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<OfferRecord, CorruptItem> {
        const K: &str = "queue offer";
        Ok(OfferRecord {
            key: OfferKey {
                queue: QueueId::new(self.queue_id).map_err(|e| corrupt(K, e))?,
                entered_at: Timestamp::from_micros(self.entered_at),
                session: SessionId::new(self.session_id).map_err(|e| corrupt(K, e))?,
            },
            answered_at: self.answered_at.map(Timestamp::from_micros),
            left_at: self.left_at.map(Timestamp::from_micros),
            breached_at: self.breached_at.map(Timestamp::from_micros),
            breach_announced: self.breach_announced,
        })
    }
}

/// A queue's SLA alarm state item (`QSLA#{queue}` / `STATE`).
#[derive(Debug, Serialize, Deserialize)]
pub struct SlaStateItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// Alarm up.
    pub alarm_up: bool,
    /// Last evaluated window end (µs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_window_end: Option<i64>,
    /// Undelivered notice (JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<String>,
    /// Pending notice id (the clear condition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_id: Option<String>,
    /// Version.
    pub version: u64,
}

impl SlaStateItem {
    /// From the domain.
    pub fn from_domain(queue: QueueId, state: &SlaState) -> Result<Self, CorruptItem> {
        let (pk, sk) = keys::sla_state(queue);
        let pending =
            state.pending.as_ref().map(serde_json::to_string).transpose().map_err(|e| corrupt("SLA state", e))?;
        Ok(Self {
            pk,
            sk,
            alarm_up: state.alarm_up,
            last_window_end: state.last_window_end.map(Timestamp::as_micros),
            pending,
            pending_id: state.pending.as_ref().map(SlaNotice::event_id),
            version: state.version,
        })
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<SlaState, CorruptItem> {
        Ok(SlaState {
            alarm_up: self.alarm_up,
            last_window_end: self.last_window_end.map(Timestamp::from_micros),
            pending: self.pending.map(|p| serde_json::from_str(&p)).transpose().map_err(|e| corrupt("SLA state", e))?,
            version: self.version,
        })
    }
}

/// A stored evaluation (`QSLA#{queue}` / `EVAL#{window end}`).
#[derive(Debug, Serialize, Deserialize)]
pub struct SlaEvaluationItem {
    /// Partition key.
    pub pk: String,
    /// Sort key.
    pub sk: String,
    /// The evaluation (JSON).
    pub evaluation: String,
}

impl SlaEvaluationItem {
    /// From the domain.
    pub fn from_domain(e: &SlaEvaluation) -> Result<Self, CorruptItem> {
        let (pk, sk) = keys::sla_evaluation(e.queue, e.window.end);
        Ok(Self { pk, sk, evaluation: serde_json::to_string(e).map_err(|err| corrupt("SLA evaluation", err))? })
    }

    /// To the domain.
    pub fn into_domain(self) -> Result<SlaEvaluation, CorruptItem> {
        serde_json::from_str(&self.evaluation).map_err(|e| corrupt("SLA evaluation", e))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn outbound(template: Option<serde_json::Value>) -> Message {
        Message {
            session_id: SessionId::new(1).unwrap(),
            msg_id: MessageId::new(2).unwrap(),
            channel_id: ChannelId::new(3).unwrap(),
            direction: Direction::Outbound,
            sender: Sender::Api,
            origin: Origin::Api,
            text: Some("Hello Ann, your order 42 ships today.".into()),
            media: Vec::new(),
            created_at: Timestamp::from_millis(1_000),
            delivery: DeliveryState::Queued,
            attempts: 0,
            provider_message_id: None,
            events_published: false,
            receipt: None,
            template,
        }
    }

    #[test]
    fn a_template_message_keeps_its_template_as_a_json_string_and_old_items_read_without_one() {
        let template = serde_json::json!({"name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]});
        let item = to_item("message", &MessageItem::from_domain(&outbound(Some(template.clone())), None)).unwrap();
        let stored = item.get("template").and_then(|v| v.as_s().ok()).expect("a string attribute");
        assert_eq!(serde_json::from_str::<serde_json::Value>(stored).unwrap(), template);
        let read: MessageItem = from_item("message", item).unwrap();
        assert_eq!(read.into_domain().unwrap(), outbound(Some(template)));

        // a normal message has no attribute; an item written before templates reads as one
        let item = to_item("message", &MessageItem::from_domain(&outbound(None), None)).unwrap();
        assert!(!item.contains_key("template"));
        let read: MessageItem = from_item("message", item).unwrap();
        assert_eq!(read.into_domain().unwrap().template, None);

        let mut item = to_item("message", &MessageItem::from_domain(&outbound(None), None)).unwrap();
        item.insert("template".into(), AttributeValue::S("{not json".into()));
        let read: MessageItem = from_item("message", item).unwrap();
        assert!(read.into_domain().unwrap_err().reason.starts_with("template: "));
    }
}

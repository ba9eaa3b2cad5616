//! Use cases of the administrator: create channels, extensions and message queues, checking
//! every reference and every uniqueness rule (a number belongs to one channel; an extension
//! number to one extension) in the store's atomic write.

use crate::auth;
use crate::channel::{Channel, ChannelStatus, Destination, Member, NumberRule};
use crate::directory::{Extension, MessageQueue, QueueLimits, QueueManager};
use crate::ids::{ChannelId, ExtensionId, ExtensionNumber, QueueId, Sequence, WebhookToken};
use crate::openapi::channels::{ChannelDraft, ChannelUpdate};
use crate::openapi::directory::{ExtensionDraft, ExtensionProfile, ExtensionUpdate, QueueDraft};
use crate::openapi::{ApiError, ErrCode, FieldError};
use crate::ports::{
    ChannelConflict, ChannelReader, ChannelWriter, Clock, ExtensionConflict, ExtensionDirectory, ExtensionGroups,
    InactiveSessions, Organizations, QueueDirectory, Random, Sequences, SessionList, SessionStore, StoreError,
};
use crate::session::{ListOwner, Session};
use crate::time::Timestamp;

/// Why an administrative change was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Refused, with the API error to return (nothing changed).
    #[error("{}", .0.submsg.clone().unwrap_or_default())]
    Refused(ApiError),
    /// A dependency failed (nothing changed).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ApiError> for AdminError {
    fn from(e: ApiError) -> Self {
        AdminError::Refused(e)
    }
}

/// The ports administration uses.
pub struct AdminPorts<'a, N, W, X, Q, R, K> {
    /// Message-queue limits of the organisation's plan.
    pub queue_limits: QueueLimits,
    /// Id sequences.
    pub sequences: &'a N,
    /// Channel storage.
    pub channels: &'a W,
    /// Extensions.
    pub extensions: &'a X,
    /// Queues.
    pub queues: &'a Q,
    /// Randomness.
    pub random: &'a R,
    /// Time.
    pub clock: &'a K,
}

async fn allocate(sequences: &impl Sequences, sequence: Sequence) -> Result<u64, StoreError> {
    sequences.next_id(sequence).await
}

/// Creates a channel from a validated draft; returns it as stored.
pub async fn create_channel<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    draft: ChannelDraft,
) -> Result<Channel, AdminError>
where
    N: Sequences,
    W: ChannelWriter,
    X: ExtensionDirectory + ExtensionGroups + Organizations,
    Q: QueueDirectory,
    R: Random,
    K: Clock,
{
    check_references(ports, &draft.numbers).await?;

    let id = ChannelId::new(allocate(ports.sequences, Sequence::Channel).await?)
        .map_err(|e| StoreError::permanent("allocate channel id", e))?;
    let mut credentials = draft.credentials;
    if let Some(token) = credentials.verify_token_mut() {
        *token = crate::credentials::verify_token_from_random(ports.random.bytes::<16>());
    }
    let mut channel = Channel {
        id,
        name: draft.name,
        credentials,
        webhook_token: WebhookToken::from_random_bytes(ports.random.bytes::<16>()),
        webhook_url_type: draft.webhook_url_type,
        send_rate: draft.send_rate,
        auto_close_session: draft.auto_close_session,
        session_expired_days: draft.session_expired_days,
        numbers: draft.numbers,
        status: ChannelStatus::NotChecked,
        enabled: true,
        created_at: ports.clock.now(),
    };
    for _ in 0..3 {
        match ports.channels.insert_channel(&channel).await? {
            Ok(()) => return Ok(channel),
            Err(ChannelConflict::TokenTaken) => {
                channel.webhook_token = WebhookToken::from_random_bytes(ports.random.bytes::<16>())
            }
            Err(ChannelConflict::NumberTaken { number, channel_id }) => return Err(number_taken(&number, channel_id)),
            Err(ChannelConflict::Missing) => {
                return Err(StoreError::permanent("insert channel", "the new channel vanished").into());
            }
        }
    }
    Err(ApiError::new(ErrCode::Internal, "could not draw an unused webhook token").into())
}

fn number_taken(number: &str, holder: ChannelId) -> AdminError {
    ApiError::duplicate("did_number", number, format!("number {number} already belongs to message channel {holder}"))
        .into()
}

/// Every destination and member of `numbers` must exist.
async fn check_references<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    numbers: &[NumberRule],
) -> Result<(), AdminError>
where
    X: ExtensionDirectory + ExtensionGroups + Organizations,
    Q: QueueDirectory,
{
    let mut missing = Vec::new();
    for (i, rule) in numbers.iter().enumerate() {
        match rule.destination {
            Destination::Extension(e) => {
                if ports.extensions.extension(e).await?.is_none() {
                    missing.push(FieldError::new(
                        format!("dids[{i}].destination_id"),
                        "not_found",
                        format!("extension {e} does not exist"),
                    ));
                }
            }
            Destination::Queue(q) => {
                if ports.queues.queue(q).await?.is_none() {
                    missing.push(FieldError::new(
                        format!("dids[{i}].destination_id"),
                        "not_found",
                        format!("message queue {q} does not exist"),
                    ));
                }
            }
            Destination::Api => {}
        }
        for (j, member) in rule.members.iter().enumerate() {
            let problem = match member {
                Member::Extension(e) => {
                    ports.extensions.extension(*e).await?.is_none().then(|| format!("extension {e} does not exist"))
                }
                other => super::groups::missing_member(ports.extensions, other).await?,
            };
            if let Some(problem) = problem {
                missing.push(FieldError::new(format!("dids[{i}].members[{j}].value"), "not_found", problem));
            }
        }
    }
    if !missing.is_empty() {
        return Err(ApiError::invalid(missing).into());
    }
    Ok(())
}

/// Applies a validated `message_channel/update` to stored channel `before`: the same reference
/// checks as create; new credentials make the channel "not checked" (the health job checks it
/// within a minute); `regenerate_webhook` draws a new webhook token.
pub async fn update_channel<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    before: &Channel,
    update: ChannelUpdate,
) -> Result<Channel, AdminError>
where
    W: ChannelWriter,
    X: ExtensionDirectory + ExtensionGroups + Organizations,
    Q: QueueDirectory,
    R: Random,
{
    let draft = update.draft;
    check_references(ports, &draft.numbers).await?;
    let credentials_changed = draft.credentials.to_values() != before.credentials.to_values();
    let mut after = Channel {
        name: draft.name,
        credentials: draft.credentials,
        webhook_url_type: draft.webhook_url_type,
        send_rate: draft.send_rate,
        auto_close_session: draft.auto_close_session,
        session_expired_days: draft.session_expired_days,
        numbers: draft.numbers,
        status: if credentials_changed { ChannelStatus::NotChecked } else { before.status },
        ..before.clone()
    };
    if update.regenerate_webhook {
        after.webhook_token = WebhookToken::from_random_bytes(ports.random.bytes::<16>());
    }
    for _ in 0..3 {
        match ports.channels.replace_channel(before, &after).await? {
            Ok(()) => return Ok(after),
            Err(ChannelConflict::TokenTaken) => {
                after.webhook_token = WebhookToken::from_random_bytes(ports.random.bytes::<16>())
            }
            Err(ChannelConflict::NumberTaken { number, channel_id }) => return Err(number_taken(&number, channel_id)),
            Err(ChannelConflict::Missing) => {
                return Err(ApiError::new(
                    ErrCode::DataNotFound,
                    format!("message channel {} does not exist", before.id),
                )
                .into());
            }
        }
    }
    Err(ApiError::new(ErrCode::Internal, "could not draw an unused webhook token").into())
}

/// Deletes a channel, refused while it has open sessions (they would lose their way out: close
/// or transfer them first, or let auto-close end them).
pub async fn delete_channel<N, W, X, Q, R, K, S>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    sessions: &S,
    channel: &Channel,
) -> Result<(), AdminError>
where
    W: ChannelWriter,
    S: InactiveSessions,
{
    // every open session of the channel is "inactive since" the end of time
    let open = sessions.inactive_sessions(channel.id, Timestamp::from_micros(i64::MAX), 1).await?;
    if !open.is_empty() {
        return Err(ApiError::new(
            ErrCode::ActionForbidden,
            format!("message channel {} has open sessions; close or transfer them before deleting it", channel.id),
        )
        .into());
    }
    ports.channels.delete_channel(channel).await?;
    Ok(())
}

/// Creates an extension from a validated draft.
pub async fn create_extension<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    draft: ExtensionDraft,
) -> Result<ExtensionId, AdminError>
where
    N: Sequences,
    X: ExtensionDirectory,
    R: Random,
    K: Clock,
{
    if ports.extensions.extension_by_number(&draft.profile.number).await?.is_some() {
        return Err(duplicate_number(&draft.profile.number).into());
    }
    let password_hash = auth::hash_password(&draft.user_password, ports.random.bytes::<16>())
        .map_err(|e| StoreError::permanent("hash password", e))?;
    let id = ExtensionId::new(allocate(ports.sequences, Sequence::Extension).await?)
        .map_err(|e| StoreError::permanent("allocate extension id", e))?;
    let ext = extension_of(id, draft.profile, password_hash, ports.clock.now());
    match ports.extensions.insert_extension(&ext).await? {
        Ok(()) => Ok(id),
        Err(ExtensionConflict::NumberTaken) => Err(duplicate_number(&ext.number).into()),
    }
}

fn extension_of(id: ExtensionId, profile: ExtensionProfile, password_hash: String, created_at: Timestamp) -> Extension {
    Extension {
        id,
        number: profile.number,
        caller_id_name: profile.caller_id_name,
        first_name: profile.first_name,
        last_name: profile.last_name,
        email_addr: profile.email_addr,
        mobile_number: profile.mobile_number,
        password_hash,
        created_at,
    }
}

fn duplicate_number(number: &ExtensionNumber) -> ApiError {
    ApiError::duplicate("number", number.as_str(), format!("extension number {number} is already in use"))
}

/// Every agent and manager extension of a queue draft must exist, and the agents fit the plan.
async fn check_queue_references<X: ExtensionDirectory>(
    extensions: &X,
    limits: QueueLimits,
    draft: &QueueDraft,
) -> Result<(), AdminError> {
    if draft.members.len() > limits.max_agents {
        return Err(ApiError::field(
            "members",
            "length",
            format!("a message queue has at most {} agents on this plan", limits.max_agents),
        )
        .into());
    }
    let mut missing = Vec::new();
    for (i, ext) in draft.members.iter().enumerate() {
        if extensions.extension(*ext).await?.is_none() {
            missing.push(FieldError::new(
                format!("members[{i}].extension_id"),
                "not_found",
                format!("extension {ext} does not exist"),
            ));
        }
    }
    for (i, manager) in draft.managers.iter().enumerate() {
        if let QueueManager::Extension(ext) = manager
            && extensions.extension(*ext).await?.is_none()
        {
            missing.push(FieldError::new(
                format!("managers[{i}].extension_id"),
                "not_found",
                format!("extension {ext} does not exist"),
            ));
        }
    }
    if missing.is_empty() { Ok(()) } else { Err(ApiError::invalid(missing).into()) }
}

/// Creates a message queue from a validated draft.
pub async fn create_queue<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    draft: QueueDraft,
) -> Result<QueueId, AdminError>
where
    N: Sequences,
    X: ExtensionDirectory,
    Q: QueueDirectory,
    K: Clock,
{
    check_queue_references(ports.extensions, ports.queue_limits, &draft).await?;
    let existing = ports.queues.queues().await?.len();
    if existing >= ports.queue_limits.max_queues {
        return Err(ApiError::new(
            ErrCode::ActionForbidden,
            format!(
                "this plan allows {} message queues and all are in use; delete one first",
                ports.queue_limits.max_queues
            ),
        )
        .with_reason("queue_limit_reached")
        .into());
    }
    let id = QueueId::new(allocate(ports.sequences, Sequence::Queue).await?)
        .map_err(|e| StoreError::permanent("allocate queue id", e))?;
    let queue = MessageQueue {
        id,
        name: draft.name,
        assignment_mode: draft.assignment_mode,
        members: draft.members,
        sla: draft.sla,
        managers: draft.managers,
        created_at: ports.clock.now(),
    };
    ports.queues.insert_queue(&queue).await?;
    Ok(id)
}

/// Replaces a queue's settings with a validated draft (`message_queue/update`: left-out fields
/// were filled from `before`; `members` and `managers` replace the lists).
pub async fn update_queue<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    before: &MessageQueue,
    draft: QueueDraft,
) -> Result<MessageQueue, AdminError>
where
    X: ExtensionDirectory,
    Q: QueueDirectory,
{
    check_queue_references(ports.extensions, ports.queue_limits, &draft).await?;
    let after = MessageQueue {
        id: before.id,
        name: draft.name,
        assignment_mode: draft.assignment_mode,
        members: draft.members,
        sla: draft.sla,
        managers: draft.managers,
        created_at: before.created_at,
    };
    ports.queues.replace_queue(before, &after).await?;
    Ok(after)
}

/// Deletes a queue, refused (70084, with a reason) while a number routes to it or sessions wait
/// in it: they would have nowhere to go.
pub async fn delete_queue<N, W, X, Q, R, K, C, S>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    channels: &C,
    sessions: &S,
    queue: &MessageQueue,
) -> Result<(), AdminError>
where
    Q: QueueDirectory,
    C: ChannelReader,
    S: SessionStore,
{
    for channel in channels.channels().await? {
        if let Some(rule) = channel.numbers.iter().find(|r| r.destination == Destination::Queue(queue.id)) {
            return Err(ApiError::new(
                ErrCode::ActionForbidden,
                format!(
                    "message queue {} is the destination of number {} on message channel {}; route the number elsewhere first",
                    queue.id,
                    rule.number.as_str(),
                    channel.id
                ),
            )
            .with_reason("queue_in_use")
            .into());
        }
    }
    if !sessions.list_sessions(SessionList::Queued(queue.id), None, 1).await?.is_empty() {
        return Err(ApiError::new(
            ErrCode::ActionForbidden,
            format!("sessions are waiting in message queue {}; pick them up, transfer or close them first", queue.id),
        )
        .with_reason("queue_has_open_sessions")
        .into());
    }
    ports.queues.delete_queue(queue).await?;
    Ok(())
}

/// Applies a validated `extension/update`: a new password is hashed; a new number must be free.
pub async fn update_extension<N, W, X, Q, R, K>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    before: &Extension,
    update: ExtensionUpdate,
) -> Result<Extension, AdminError>
where
    X: ExtensionDirectory,
    R: Random,
{
    let password_hash = match &update.user_password {
        Some(password) => auth::hash_password(password, ports.random.bytes::<16>())
            .map_err(|e| StoreError::permanent("hash password", e))?,
        None => before.password_hash.clone(),
    };
    let after = extension_of(before.id, update.profile, password_hash, before.created_at);
    match ports.extensions.replace_extension(before, &after).await? {
        Ok(()) => Ok(after),
        Err(ExtensionConflict::NumberTaken) => Err(duplicate_number(&after.number).into()),
    }
}

/// How many of an owner's sessions are looked at for an open one before deleting it.
const OPEN_SESSION_PROBE: usize = 100;

fn in_use(submsg: String, reason: &'static str) -> AdminError {
    ApiError::new(ErrCode::ActionForbidden, submsg).with_reason(reason).into()
}

/// Deletes an extension, refused (70084, with a reason) while a queue has it as agent or manager,
/// a number routes to it or lists it as a member, an extension group or organization lists it, or
/// it owns an open session: each would be left pointing at nobody.
pub async fn delete_extension<N, W, X, Q, R, K, C, S>(
    ports: &AdminPorts<'_, N, W, X, Q, R, K>,
    channels: &C,
    sessions: &S,
    ext: &Extension,
) -> Result<(), AdminError>
where
    X: ExtensionDirectory + ExtensionGroups + Organizations,
    Q: QueueDirectory,
    C: ChannelReader,
    S: SessionStore,
{
    for queue in ports.queues.queues().await? {
        if queue.has_agent(ext.id) || queue.managers.contains(&QueueManager::Extension(ext.id)) {
            return Err(in_use(
                format!(
                    "extension {} is an agent or manager of message queue {}; remove it there first",
                    ext.id, queue.id
                ),
                "extension_in_use",
            ));
        }
    }
    for channel in channels.channels().await? {
        let used = channel.numbers.iter().find(|r| {
            r.destination == Destination::Extension(ext.id) || r.members.contains(&Member::Extension(ext.id))
        });
        if let Some(rule) = used {
            return Err(in_use(
                format!(
                    "number {} on message channel {} routes to or allows extension {}; change the number first",
                    rule.number.as_str(),
                    channel.id,
                    ext.id
                ),
                "extension_in_use",
            ));
        }
    }
    if let Some(listing) = super::groups::listing_of_extension(ports.extensions, ext.id).await? {
        return Err(in_use(
            format!("extension {} is listed in {listing}; remove it there first", ext.id),
            "extension_in_use",
        ));
    }
    let owner = ListOwner::Extension(ext.id);
    for archived in [false, true] {
        let owned = sessions.list_sessions(SessionList::Owned { owner, archived }, None, OPEN_SESSION_PROBE).await?;
        if owned.iter().any(Session::is_open) {
            return Err(in_use(
                format!("extension {} has open sessions; transfer or close them first", ext.id),
                "extension_has_open_sessions",
            ));
        }
    }
    ports.extensions.delete_extension(ext).await?;
    Ok(())
}

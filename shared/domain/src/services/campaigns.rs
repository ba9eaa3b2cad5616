//! Use cases of message campaigns: the administrator's create / update / delete / retry, and
//! execution by the campaign worker.
//!
//! **Execution.** A campaign job (SQS) names a campaign. A scheduled campaign waits for its
//! time (the job comes back with a delay); a pending one waits for its channel (one campaign
//! executes per channel; decisions.md). An executing one is run in *slices*: the worker takes
//! the campaign's runner lease, then for at most `slice` sends to pending recipients one by one,
//! each in a send slot taken only when the channel is idle ([`Pacer::reserve_if_idle`]), so
//! agent replies, which book slots ahead, always go first and a campaign never books ahead of
//! them. Then it hands the rest to its next job. No invocation runs long: 1000 recipients at
//! 1 message/s is about 1000 s of many short slices.
//!
//! **Exactly once.** A recipient's message is stored in the same transaction that moves its
//! ledger entry `pending → queued` (conditional), so there is at most one message per recipient
//! whatever crashes or redeliveries happen; the message is claimed once for its provider call
//! (the sender's claim), and a claim whose holder died during the call is never called again
//! but recorded as failed with the reason "interrupted" (retry may send it again — the
//! administrator's choice). Whatever a crash left between the steps (a message stored but not
//! sent, an outcome not yet copied to the ledger) the next slice finishes: it copies final
//! messages' outcomes and hands never-tried messages to the sender queue.

use std::time::Duration;

use tracing::{info, warn};

use crate::campaign::{
    AssignTarget, Campaign, CampaignContent, CampaignCounts, CampaignRecipient, CampaignRequest, CampaignSpec,
    CampaignStatus, ContentRequest, MAX_CAMPAIGNS, MAX_SCHEDULE_AHEAD, RESPONSE_WINDOW, RecipientOutcome,
    RecipientSource, RecipientState, RecipientsRequest, SendMode, SendType, SenderRequest, opt_keyword,
};
use crate::channel::Channel;
use crate::events::{DomainEvent, LifecycleEvent};
use crate::files::FileId;
use crate::ids::{CampaignId, MessageId, PhonebookId, Sequence, SessionId};
use crate::message::{DeliveryState, Direction, FailureReason, Message, Origin, OutboundJob, SendErrorCode, Sender};
use crate::openapi::{ApiError, ErrCode};
use crate::pacing;
use crate::phone::CustomerAddress;
use crate::phonebook::NumberType;
use crate::ports::{
    AssignmentChange, CampaignJob, CampaignQueue, CampaignStore, ChannelReader, Clock, EventPublisher,
    ExtensionDirectory, FileStore, OptOuts, OutboundCommit, OutboundCommitOutcome, OutboundLedger, OutboundQueue,
    Pacer, Phonebooks, ProviderHttp, QueueDirectory, ReceiptLedger, RecipientClaim, Sequences, SessionStore,
    StoreError, TemplateStore,
};
use crate::recipients::{self, RecipientList};
use crate::services::sending::{self, DeliveryOutcome, DeliveryPorts, OUTBOX_GRACE, RetryPolicy};
use crate::session::{
    Actor, Assignment, LastMessage, ListView, Operation, Session, SessionKey, SessionOrigin, SessionStatus,
    TimelineEntry,
};
use crate::time::Timestamp;
use crate::whatsapp_template::TemplateMessage;

/// How often a pending campaign looks at its channel again.
const PENDING_RECHECK_SECONDS: u32 = 10;
/// How soon a slice that only waits for send results looks again.
const RESULTS_RECHECK_SECONDS: u32 = 3;
/// How much longer than its slice a runner lease lasts (a crashed runner's job comes back
/// after the queue's visibility timeout, which is longer still).
const LEASE_SLACK: Duration = Duration::from_secs(10);
/// Most sessions re-read when a recipient's session changed under the worker.
const MAX_MATERIALIZE_ATTEMPTS: usize = 4;

/// Why a campaign request was refused or could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum CampaignError {
    /// The request is wrong or not allowed now (nothing was written).
    #[error("{0:?}")]
    Refused(ApiError),
    /// A dependency failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl CampaignError {
    /// Whether a later retry may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, CampaignError::Store(e) if e.retryable)
    }
}

impl From<ApiError> for CampaignError {
    fn from(e: ApiError) -> Self {
        CampaignError::Refused(e)
    }
}

/// What the administrator's operations use.
pub struct CampaignAdminPorts<'a, S, C, D, Q, T, P, F, N, W, E, K> {
    /// Campaigns.
    pub campaigns: &'a S,
    /// Channels.
    pub channels: &'a C,
    /// Extensions (assignment targets).
    pub extensions: &'a D,
    /// Message queues (assignment targets).
    pub queues: &'a Q,
    /// WhatsApp templates.
    pub templates: &'a T,
    /// Phonebooks.
    pub phonebooks: &'a P,
    /// Uploaded files.
    pub files: &'a F,
    /// Id sequences.
    pub sequences: &'a N,
    /// The campaign work queue.
    pub work: &'a W,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// The organisation's time zone (schedules without one).
    pub default_zone: &'a str,
}

/// A created or updated campaign, with the duplicate numbers that were merged.
#[derive(Debug, Clone)]
pub struct SavedCampaign {
    /// The campaign.
    pub campaign: Campaign,
    /// Numbers given more than once (kept once).
    pub duplicates: Vec<recipients::DuplicateRow>,
}

fn refused(code: ErrCode, reason: &'static str, message: impl Into<String>) -> CampaignError {
    CampaignError::Refused(ApiError::new(code, message).with_reason(reason))
}

fn field(name: &str, kind: &'static str, message: impl Into<String>) -> CampaignError {
    CampaignError::Refused(ApiError::field(name, kind, message))
}

/// Resolves a request against the directory: the channel and number, the target, the
/// recipients, the content. Nothing is written.
async fn resolve<S, C, D, Q, T, P, F, N, W, E, K>(
    ports: &CampaignAdminPorts<'_, S, C, D, Q, T, P, F, N, W, E, K>,
    request: &CampaignRequest,
) -> Result<(CampaignSpec, RecipientList), CampaignError>
where
    C: ChannelReader,
    D: ExtensionDirectory,
    Q: QueueDirectory,
    T: TemplateStore,
    P: Phonebooks,
    F: FileStore,
    K: Clock,
{
    let now = ports.clock.now();
    let channel = ports
        .channels
        .channel(request.channel_id)
        .await?
        .ok_or_else(|| field("omnichannel_id", "not_found", "no such channel"))?;
    if channel.provider().channel_type() != request.channel_type {
        return Err(field("channel_type", "enum", "does not match the channel's type"));
    }
    let sender = match &request.sender {
        SenderRequest::Number(text) => channel
            .numbers
            .iter()
            .find(|r| r.number.as_str() == text)
            .map(|r| r.number.clone())
            .ok_or_else(|| field("sender", "not_found", "is not a number of the channel"))?,
        SenderRequest::Position(p) => usize::try_from(*p)
            .ok()
            .and_then(|p| channel.numbers.get(p.saturating_sub(1)))
            .map(|r| r.number.clone())
            .ok_or_else(|| field("sender", "not_found", "the channel has no number with that id"))?,
    };
    match request.send_mode {
        SendMode::NewSession(AssignTarget::Extension(e)) if ports.extensions.extension(e).await?.is_none() => {
            return Err(field("assign_to_id", "not_found", "no such extension"));
        }
        SendMode::NewSession(AssignTarget::Queue(q)) if ports.queues.queue(q).await?.is_none() => {
            return Err(field("assign_to_id", "not_found", "no such message queue"));
        }
        _ => {}
    }
    if request.send_type == SendType::Schedule {
        let at = request.send_time.ok_or_else(|| field("send_time", "required", "is required"))?;
        if at <= now {
            return Err(field("send_time", "range", "must be in the future"));
        }
        if at > now.plus(MAX_SCHEDULE_AHEAD) {
            return Err(field("send_time", "range", "must be within a year"));
        }
    }
    let (list, source) = match &request.recipients {
        RecipientsRequest::Typed(numbers) => (
            recipients::from_typed(numbers).map_err(|e| e.to_api_error(Some("number_list")))?,
            RecipientSource::Input { file_name: None },
        ),
        RecipientsRequest::File(id) => {
            let missing = || field("recipient_file_id", "not_found", "no such file (files are kept 72 hours)");
            let id = FileId::parse(id).map_err(|_| missing())?;
            let file = ports.files.file(&id).await?.ok_or_else(missing)?;
            let bytes = ports.files.file_bytes(&id).await?.ok_or_else(missing)?;
            let list =
                recipients::from_csv(&file.name, &bytes).map_err(|e| e.to_api_error(Some("recipient_file_id")))?;
            (list, RecipientSource::Input { file_name: Some(file.name) })
        }
        RecipientsRequest::Phonebook { id, num_types } => {
            let book = match PhonebookId::new(*id) {
                Ok(pid) => ports.phonebooks.phonebook(pid).await?,
                Err(_) => None,
            };
            let book = book.ok_or_else(|| {
                CampaignError::Refused(
                    ApiError::new(ErrCode::PhonebookNotExisted, "no such phonebook (recipient_id)")
                        .with_reason("phonebook_not_found"),
                )
            })?;
            let mut types = Vec::new();
            for t in num_types {
                types.push(
                    NumberType::parse(t)
                        .ok_or_else(|| field("recipient_num_type", "enum", format!("{t} is not a number type")))?,
                );
            }
            let list = book.recipients(&types).map_err(|e| e.to_api_error(Some("recipient_id")))?;
            (list, RecipientSource::Phonebook { id: *id, name: book.name.clone(), num_types: num_types.clone() })
        }
    };
    let content = match &request.content {
        ContentRequest::Text(text) => CampaignContent::Text { text: text.clone() },
        ContentRequest::Document(id) => {
            let missing = || field("file_id", "not_found", "no such file (files are kept 72 hours)");
            let file_id = FileId::parse(id).map_err(|_| missing())?;
            let file = ports.files.file(&file_id).await?.ok_or_else(missing)?;
            CampaignContent::Document { file_id: id.clone(), file_name: file.name }
        }
        ContentRequest::Template(msg_param) => {
            let message = TemplateMessage::parse(msg_param).map_err(|e| field("msg_param", "format", e.to_string()))?;
            let content =
                sending::template_content(ports.templates, channel.provider().channel_type(), channel.id, &message)
                    .await
                    .map_err(|e| match e {
                        sending::AcceptError::Store(s) => CampaignError::Store(s),
                        other => field("msg_param", "format", other.to_string()),
                    })?;
            let template = content.template.ok_or_else(|| field("msg_param", "format", "is not a template"))?;
            CampaignContent::Template { msg_param: msg_param.clone(), preview: content.text, template }
        }
    };
    let spec = CampaignSpec {
        name: request.name.clone(),
        channel_type: request.channel_type,
        channel_id: channel.id,
        sender,
        recipients: source,
        content,
        send_type: request.send_type,
        send_time: request.send_time,
        time_zone: request.time_zone.clone().unwrap_or_else(|| ports.default_zone.to_owned()),
        send_mode: request.send_mode,
    };
    Ok((spec, list))
}

fn ledger(id: CampaignId, list: &RecipientList) -> Vec<CampaignRecipient> {
    list.entries
        .iter()
        .zip(1u32..)
        .map(|(e, index)| CampaignRecipient {
            campaign: id,
            index,
            number: e.number.clone(),
            contact_name: e.contact_name.clone(),
            state: RecipientState::Pending,
            run: 1,
            message: None,
            sent_at: None,
            failure: None,
            replied_at: None,
        })
        .collect()
}

fn initial_status(send_type: SendType) -> CampaignStatus {
    match send_type {
        SendType::Draft => CampaignStatus::Draft,
        SendType::Schedule => CampaignStatus::Scheduled,
        // sending starts with its first job; until then it waits like any other
        SendType::Immediately => CampaignStatus::Pending,
    }
}

/// The first job of a campaign that is to send: now, or (scheduled) at its time.
async fn hand_on<W: CampaignQueue>(work: &W, c: &Campaign, now: Timestamp) {
    let delay = match (c.status, c.spec.send_time) {
        (CampaignStatus::Scheduled, Some(at)) => delay_until(now, at),
        (CampaignStatus::Draft, _) => return,
        _ => 0,
    };
    if let Err(error) = work.enqueue_campaign(&CampaignJob { campaign_id: c.id }, delay).await {
        // The campaign is stored; the worker's schedule finds campaigns without a job.
        warn!(campaign_id = %c.id, error = %error, "campaign queue unavailable; the sweep will start it");
    }
}

fn delay_until(now: Timestamp, at: Timestamp) -> u32 {
    let wait = if at > now { at.since(now).as_secs() + 1 } else { 0 };
    u32::try_from(wait).unwrap_or(pacing::MAX_QUEUE_DELAY_SECONDS).min(pacing::MAX_QUEUE_DELAY_SECONDS)
}

/// `message_campaign/create`.
pub async fn create_campaign<S, C, D, Q, T, P, F, N, W, E, K>(
    ports: &CampaignAdminPorts<'_, S, C, D, Q, T, P, F, N, W, E, K>,
    request: &CampaignRequest,
) -> Result<SavedCampaign, CampaignError>
where
    S: CampaignStore,
    C: ChannelReader,
    D: ExtensionDirectory,
    Q: QueueDirectory,
    T: TemplateStore,
    P: Phonebooks,
    F: FileStore,
    N: Sequences,
    W: CampaignQueue,
    K: Clock,
{
    if ports.campaigns.campaigns().await?.len() >= MAX_CAMPAIGNS {
        return Err(refused(
            ErrCode::ActionForbidden,
            "campaign_limit_reached",
            format!("at most {MAX_CAMPAIGNS} campaigns can be stored; delete old ones first"),
        ));
    }
    let (spec, list) = resolve(ports, request).await?;
    let now = ports.clock.now();
    let id = CampaignId::new(ports.sequences.next_id(Sequence::Campaign).await?)
        .map_err(|e| StoreError::permanent("allocate campaign id", e))?;
    let recipients = ledger(id, &list);
    let campaign = Campaign {
        id,
        status: initial_status(spec.send_type),
        spec,
        total: recipients.len() as u64,
        counts: CampaignCounts::default(),
        run: 1,
        stop_reason: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        completed_at: None,
        version: 1,
    };
    ports.campaigns.create_campaign(&campaign, &recipients).await?;
    info!(campaign_id = %id, recipients = campaign.total, status = campaign.status.as_str(), "campaign created");
    hand_on(ports.work, &campaign, now).await;
    Ok(SavedCampaign { campaign, duplicates: list.duplicates })
}

/// `message_campaign/update`: drafts and scheduled campaigns only (nothing was sent).
pub async fn update_campaign<S, C, D, Q, T, P, F, N, W, E, K>(
    ports: &CampaignAdminPorts<'_, S, C, D, Q, T, P, F, N, W, E, K>,
    current: &Campaign,
    request: &CampaignRequest,
    recipients_changed: bool,
) -> Result<SavedCampaign, CampaignError>
where
    S: CampaignStore,
    C: ChannelReader,
    D: ExtensionDirectory,
    Q: QueueDirectory,
    T: TemplateStore,
    P: Phonebooks,
    F: FileStore,
    N: Sequences,
    W: CampaignQueue,
    K: Clock,
{
    if !current.status.is_editable() {
        return Err(refused(
            ErrCode::ActionForbidden,
            "campaign_not_editable",
            format!("a campaign that is {} cannot be edited; duplicate it instead", current.status.as_str()),
        ));
    }
    let (mut spec, list) = resolve(ports, request).await?;
    if !recipients_changed {
        // the stored list is kept, and so is how it was described
        spec.recipients = current.spec.recipients.clone();
    }
    let now = ports.clock.now();
    let new_recipients = recipients_changed.then(|| ledger(current.id, &list));
    let updated = Campaign {
        status: initial_status(spec.send_type),
        spec,
        total: new_recipients.as_ref().map_or(current.total, |r| r.len() as u64),
        updated_at: now,
        version: current.version + 1,
        ..current.clone()
    };
    if !ports.campaigns.replace_campaign(&updated, current.version, new_recipients.as_deref(), current.total).await? {
        return Err(refused(
            ErrCode::ActionForbidden,
            "campaign_changed",
            "the campaign changed meanwhile; read it again",
        ));
    }
    hand_on(ports.work, &updated, now).await;
    Ok(SavedCampaign { campaign: updated, duplicates: if recipients_changed { list.duplicates } else { Vec::new() } })
}

/// `message_campaign/delete`: not while it runs.
pub async fn delete_campaign<S: CampaignStore>(store: &S, campaign: &Campaign) -> Result<(), CampaignError> {
    if campaign.status.is_running() {
        return Err(refused(
            ErrCode::ActionForbidden,
            "campaign_running",
            format!("the campaign is {}; it can be deleted once it has finished", campaign.status.as_str()),
        ));
    }
    store.delete_campaign(campaign).await?;
    Ok(())
}

/// `message_campaign/retry`: sends again to the recipients that failed (and, after a stop, to
/// those not reached); the ones already sent are skipped.
pub async fn retry_campaign<S: CampaignStore, W: CampaignQueue, K: Clock>(
    store: &S,
    work: &W,
    clock: &K,
    campaign: &Campaign,
) -> Result<Campaign, CampaignError> {
    if !campaign.retryable() {
        return Err(refused(
            ErrCode::ActionForbidden,
            "nothing_to_retry",
            match campaign.status {
                CampaignStatus::Completed | CampaignStatus::Stop => "no message of the campaign failed".to_owned(),
                other => format!("a campaign that is {} cannot be retried", other.as_str()),
            },
        ));
    }
    let now = clock.now();
    let run = campaign.run + 1;
    let next = Campaign {
        status: CampaignStatus::Pending,
        run,
        stop_reason: None,
        completed_at: None,
        version: campaign.version + 1,
        ..campaign.clone()
    };
    if !store.save_campaign_state(&next, campaign.version).await? {
        return Err(refused(
            ErrCode::ActionForbidden,
            "campaign_changed",
            "the campaign changed meanwhile; read it again",
        ));
    }
    let moved = store.reset_failed(campaign.id, run).await?;
    info!(campaign_id = %campaign.id, run, moved, "campaign retry");
    hand_on(work, &next, now).await;
    Ok(store.campaign(campaign.id).await?.unwrap_or(next))
}

// ---------------------------------------------------------------- execution

/// The stores the campaign worker uses (one DynamoDB store in production).
pub trait CampaignWorkerStore:
    CampaignStore + OptOuts + OutboundLedger + ReceiptLedger + SessionStore + ChannelReader + Pacer + Sequences + FileStore
{
}
impl<T> CampaignWorkerStore for T where
    T: CampaignStore
        + OptOuts
        + OutboundLedger
        + ReceiptLedger
        + SessionStore
        + ChannelReader
        + Pacer
        + Sequences
        + FileStore
{
}

/// What the campaign worker uses.
pub struct WorkerPorts<'a, S, O, W, H, E, K> {
    /// Campaigns and their ledgers, messages, sessions, channels, send schedules, sequences,
    /// files.
    pub store: &'a S,
    /// The sender's queue (retries, messages a crash left unsent).
    pub outbound: &'a O,
    /// The campaign work queue.
    pub work: &'a W,
    /// Provider APIs.
    pub provider: &'a H,
    /// The event bus.
    pub events: &'a E,
    /// Time.
    pub clock: &'a K,
    /// Where the providers' APIs are.
    pub endpoints: &'a crate::provider::ProviderEndpoints,
    /// The public base URL for status callbacks.
    pub callback_base: Option<&'a str>,
    /// Provider retry policy (as the sender's).
    pub policy: RetryPolicy,
    /// How long one invocation sends before handing on.
    pub slice: Duration,
}

/// What one job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// Nothing to do (finished, draft, deleted, or another runner has it).
    Idle,
    /// Waiting (scheduled time, channel busy, results); the job comes back after this delay.
    Waiting(u32),
    /// Sent this many; more remain (the next slice is queued).
    Sliced(u32),
    /// The campaign finished (completed or stopped).
    Finished(CampaignStatus),
}

/// Handles one campaign job.
pub async fn run_job<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    job: &CampaignJob,
    runner_token: &str,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    W: CampaignQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let Some(campaign) = ports.store.campaign(job.campaign_id).await? else {
        return Ok(JobOutcome::Idle);
    };
    let now = ports.clock.now();
    match campaign.status {
        CampaignStatus::Draft | CampaignStatus::Completed | CampaignStatus::Stop => Ok(JobOutcome::Idle),
        CampaignStatus::Scheduled => match campaign.spec.send_time {
            Some(at) if at > now => requeue(ports.work, &campaign, delay_until(now, at)).await,
            _ => start(ports, campaign).await,
        },
        CampaignStatus::Pending => start(ports, campaign).await,
        CampaignStatus::Executing | CampaignStatus::Retrying => slice(ports, campaign, runner_token).await,
    }
}

async fn requeue<W: CampaignQueue>(work: &W, c: &Campaign, delay: u32) -> Result<JobOutcome, CampaignError> {
    work.enqueue_campaign(&CampaignJob { campaign_id: c.id }, delay).await?;
    Ok(JobOutcome::Waiting(delay))
}

/// Takes the channel and starts sending, or waits (`pending`) while another campaign has it.
async fn start<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: Campaign,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    W: CampaignQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let now = ports.clock.now();
    if !ports.store.acquire_channel(campaign.spec.channel_id, campaign.id).await? {
        if campaign.status != CampaignStatus::Pending {
            let pending =
                Campaign { status: CampaignStatus::Pending, version: campaign.version + 1, ..campaign.clone() };
            ports.store.save_campaign_state(&pending, campaign.version).await?;
        }
        return requeue(ports.work, &campaign, PENDING_RECHECK_SECONDS).await;
    }
    let status = if campaign.run > 1 { CampaignStatus::Retrying } else { CampaignStatus::Executing };
    let running = Campaign { status, started_at: Some(now), version: campaign.version + 1, ..campaign.clone() };
    if !ports.store.save_campaign_state(&running, campaign.version).await? {
        // Changed meanwhile (deleted, or another job started it): look again.
        return requeue(ports.work, &campaign, 0).await;
    }
    info!(campaign_id = %campaign.id, status = status.as_str(), "campaign started");
    requeue(ports.work, &running, 0).await.map(|_| JobOutcome::Sliced(0))
}

/// One slice of sending.
async fn slice<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: Campaign,
    token: &str,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    W: CampaignQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let started = ports.clock.now();
    let deadline = started.plus(ports.slice);
    if !ports.store.take_runner_lease(campaign.id, token, started, deadline.plus(LEASE_SLACK)).await? {
        // Another runner holds the campaign. It may have died (this job can be its redelivery):
        // look again when its lease has run out rather than drop the job. A live runner's own
        // job carries on meanwhile; this one then finds the lease held again, or the campaign
        // finished.
        let until = ports.store.runner_lease_until(campaign.id).await?.unwrap_or(started);
        let delay = delay_until(started, until).max(1);
        ports.work.enqueue_campaign(&CampaignJob { campaign_id: campaign.id }, delay).await?;
        return Ok(JobOutcome::Waiting(delay));
    }
    let result = slice_under_lease(ports, &campaign, deadline).await;
    if let Err(error) = ports.store.release_runner_lease(campaign.id, token).await {
        warn!(campaign_id = %campaign.id, error = %error, "could not release the runner lease; it expires");
    }
    let outcome = result?;
    match outcome {
        JobOutcome::Sliced(_) => {
            ports.work.enqueue_campaign(&CampaignJob { campaign_id: campaign.id }, 0).await?;
        }
        JobOutcome::Waiting(delay) => {
            ports.work.enqueue_campaign(&CampaignJob { campaign_id: campaign.id }, delay).await?;
        }
        JobOutcome::Idle | JobOutcome::Finished(_) => {}
    }
    Ok(outcome)
}

async fn slice_under_lease<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
    deadline: Timestamp,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    W: CampaignQueue,
    H: ProviderHttp,
    E: EventPublisher,
    K: Clock,
{
    let Some(channel) = ports.store.channel(campaign.spec.channel_id).await? else {
        return stop(ports, campaign, "the campaign's channel was deleted").await;
    };
    if !channel.numbers.iter().any(|r| r.number == campaign.spec.sender) {
        return stop(ports, campaign, "the sending number was removed from the channel").await;
    }
    let media = match &campaign.spec.content {
        CampaignContent::Document { file_id, .. } => {
            let file = match FileId::parse(file_id) {
                Ok(id) => ports.store.file(&id).await?,
                Err(_) => None,
            };
            match file {
                Some(file) => Some(ports.store.download_url(&file).await?),
                None => {
                    return stop(ports, campaign, "the campaign's file has expired (files are kept 72 hours)").await;
                }
            }
        }
        _ => None,
    };
    let interval = pacing::slot_interval(channel.send_rate);
    let recipients = ports.store.recipients(campaign.id).await?;
    let mut sent_now = 0u32;
    let mut more = false;
    'recipients: for recipient in recipients.iter().filter(|r| r.state == RecipientState::Pending) {
        if ports.clock.now() >= deadline {
            more = true;
            break;
        }
        let Ok(customer) = CustomerAddress::parse(recipient.number.as_str()) else {
            continue;
        };
        if ports.store.opted_out(channel.id, &campaign.spec.sender, &customer).await? {
            ports.store.mark_opted_out(campaign.id, recipient.index).await?;
            continue;
        }
        // The slot: only when the channel is idle, so agent replies go first.
        let slot = loop {
            let now = ports.clock.now();
            match ports.store.reserve_if_idle(channel.id, interval, now).await? {
                Ok(slot) => break slot,
                Err(busy_until) if busy_until >= deadline => {
                    more = true;
                    break 'recipients;
                }
                Err(busy_until) => ports.clock.sleep_until(busy_until).await,
            }
        };
        let Some((session_id, msg_id)) =
            materialize(ports, campaign, &channel, recipient, customer, media.as_deref()).await?
        else {
            continue;
        };
        let job = OutboundJob { session_id, msg_id, channel_id: channel.id, slot: Some(slot) };
        let delivery = DeliveryPorts {
            ledger: ports.store,
            sessions: ports.store,
            channels: ports.store,
            pacer: ports.store,
            outbound: ports.outbound,
            provider: ports.provider,
            events: ports.events,
            clock: ports.clock,
            endpoints: ports.endpoints,
            callback_base: ports.callback_base,
        };
        match sending::deliver(&delivery, ports.policy, &job).await {
            Ok(DeliveryOutcome::Sent | DeliveryOutcome::Failed(_)) => {
                sent_now += 1;
                copy_outcome(ports, campaign, recipient, session_id, msg_id).await?;
            }
            Ok(other) => {
                info!(campaign_id = %campaign.id, index = recipient.index, ?other, "campaign message left to the sender")
            }
            // The message is stored; the next slice (or the outbox) hands it on.
            Err(error) => {
                warn!(campaign_id = %campaign.id, index = recipient.index, error = %error, "campaign send deferred")
            }
        }
    }
    if more {
        return Ok(JobOutcome::Sliced(sent_now));
    }
    // Every recipient has a message: copy what the sender finished, rescue what a crash left.
    let waiting = reconcile(ports, campaign).await?;
    if waiting > 0 {
        return Ok(JobOutcome::Waiting(RESULTS_RECHECK_SECONDS));
    }
    finish(ports, campaign, CampaignStatus::Completed, None).await
}

/// Stores the recipient's message (and its session), claiming the recipient; `None` when the
/// recipient was claimed already.
async fn materialize<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
    channel: &Channel,
    recipient: &CampaignRecipient,
    customer: CustomerAddress,
    media_url: Option<&str>,
) -> Result<Option<(SessionId, MessageId)>, CampaignError>
where
    S: CampaignWorkerStore,
    E: EventPublisher,
    K: Clock,
{
    let key = SessionKey {
        channel_id: channel.id,
        business_number: campaign.spec.sender.clone(),
        customer: customer.clone(),
    };
    let msg_id = MessageId::new(ports.store.next_id(Sequence::Message).await?)
        .map_err(|e| StoreError::permanent("allocate message id", e))?;
    let (text, template) = match &campaign.spec.content {
        CampaignContent::Text { text } => (Some(text.clone()), None),
        CampaignContent::Document { .. } => (None, None),
        CampaignContent::Template { preview, template, .. } => (Some(preview.clone()), Some(template.clone())),
    };
    let media: Vec<crate::inbound::MediaRef> = media_url
        .map(|url| crate::inbound::MediaRef { url: url.to_owned(), content_type: None, sha256: None, size: None })
        .into_iter()
        .collect();
    let mut new_session_id: Option<SessionId> = None;
    for _ in 0..MAX_MATERIALIZE_ATTEMPTS {
        let now = ports.clock.now();
        let first = LastMessage::new(msg_id, text.as_deref(), false, now);
        let mut lifecycle = Vec::new();
        let (session_id, assignment, change) = match campaign.spec.send_mode {
            SendMode::Direct => {
                let id = next_session(ports.store, &mut new_session_id).await?;
                let carrier = Session {
                    id,
                    key: key.clone(),
                    provider: channel.provider(),
                    channel_type: channel.provider().channel_type(),
                    status: SessionStatus::Closed { at: now },
                    assignment: Assignment::Api,
                    last_queue: None,
                    origin: SessionOrigin::CampaignDirect,
                    created_at: now,
                    last_activity_at: now,
                    last_message: Some(first),
                    last_customer_message_at: None,
                    customer_name: recipient.contact_name.clone(),
                    unread: 0,
                    view: ListView { archived: false, removed: true },
                    offer: None,
                    version: 1,
                };
                (id, Assignment::Api, AssignmentChange::StartDetached { session: Box::new(carrier) })
            }
            SendMode::NewSession(target) => {
                let open = match ports.store.open_session_id(&key).await? {
                    Some(id) => ports.store.session(id).await?.filter(Session::is_open),
                    None => None,
                };
                match open {
                    // A not-closed session (even archived) takes the message (seed 002 L7990).
                    Some(s) => (s.id, s.assignment, AssignmentChange::Keep { expected: s.assignment }),
                    None => {
                        let id = next_session(ports.store, &mut new_session_id).await?;
                        let assignment = match target {
                            AssignTarget::Extension(e) => Assignment::Extension(e),
                            AssignTarget::Queue(q) => Assignment::Queue(q),
                        };
                        // No queue offer: a campaign session waits for the customer, not for an
                        // agent; its SLA clock starts when the customer replies.
                        let session = Session {
                            id,
                            key: key.clone(),
                            provider: channel.provider(),
                            channel_type: channel.provider().channel_type(),
                            status: SessionStatus::Open,
                            assignment,
                            last_queue: match target {
                                AssignTarget::Queue(q) => Some(q),
                                AssignTarget::Extension(_) => None,
                            },
                            origin: SessionOrigin::Campaign,
                            created_at: now,
                            last_activity_at: now,
                            last_message: Some(first),
                            last_customer_message_at: None,
                            customer_name: recipient.contact_name.clone(),
                            unread: 0,
                            view: ListView::default(),
                            offer: None,
                            version: 1,
                        };
                        let entry = TimelineEntry {
                            session_id: id,
                            at: now,
                            operation: Operation::CampaignStarted {
                                campaign: campaign.id,
                                assignment,
                                by_message: msg_id,
                            },
                        };
                        let event = LifecycleEvent::Started {
                            session_id: id,
                            channel_id: channel.id,
                            by: Actor::Admin,
                            business_number: key.business_number.as_str().to_owned(),
                            customer: key.customer.as_str().to_owned(),
                            at: now,
                        };
                        lifecycle.push(event.clone());
                        (id, assignment, AssignmentChange::Start { session: Box::new(session), entry, event })
                    }
                }
            }
        };
        let message = Message {
            session_id,
            msg_id,
            channel_id: channel.id,
            direction: Direction::Outbound,
            sender: Sender::System,
            origin: Origin::Campaign,
            text: text.clone(),
            media: media.clone(),
            created_at: now,
            delivery: DeliveryState::Queued,
            attempts: 0,
            provider_message_id: None,
            events_published: false,
            receipt: None,
            template: template.clone(),
        };
        let accepted = LifecycleEvent::MessageAccepted {
            session_id,
            msg_id,
            channel_id: channel.id,
            by: Actor::Admin,
            text: text.clone(),
            assignment,
            at: now,
        };
        lifecycle.push(accepted.clone());
        let commit = OutboundCommit {
            message,
            outbox_due: now.plus(OUTBOX_GRACE),
            assignment: change,
            accepted,
            answers: None,
            recipient: Some(RecipientClaim { campaign: campaign.id, index: recipient.index }),
        };
        match ports.store.commit_outbound(&commit).await? {
            OutboundCommitOutcome::Committed => {
                sending::publish_lifecycle(ports.store, ports.events, &lifecycle).await;
                return Ok(Some((session_id, msg_id)));
            }
            OutboundCommitOutcome::RecipientTaken => return Ok(None),
            // The customer's session changed (or one opened): decide again.
            OutboundCommitOutcome::SessionChanged | OutboundCommitOutcome::KeyTaken => {
                new_session_id = None;
            }
        }
    }
    Err(StoreError::retryable("store campaign message", "the customer's session kept changing").into())
}

async fn next_session<N: Sequences>(sequences: &N, reserved: &mut Option<SessionId>) -> Result<SessionId, StoreError> {
    if let Some(id) = reserved {
        return Ok(*id);
    }
    let id = SessionId::new(sequences.next_id(Sequence::Session).await?)
        .map_err(|e| StoreError::permanent("allocate session id", e))?;
    *reserved = Some(id);
    Ok(id)
}

/// Copies a final message's outcome to its recipient (idempotent).
async fn copy_outcome<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
    recipient: &CampaignRecipient,
    session: SessionId,
    msg: MessageId,
) -> Result<bool, CampaignError>
where
    S: CampaignWorkerStore,
{
    let Some(message) = ports.store.message(session, msg).await? else { return Ok(false) };
    let outcome = match &message.delivery {
        DeliveryState::Sent { at, .. } => RecipientOutcome::Sent(*at),
        DeliveryState::Failed { reason, .. } => RecipientOutcome::Failed(failure_text(reason)),
        _ => return Ok(false),
    };
    let reply_key = (campaign.spec.channel_id, &campaign.spec.sender);
    Ok(ports.store.record_recipient_outcome(recipient, msg, &outcome, reply_key).await?)
}

fn failure_text(reason: &FailureReason) -> String {
    match &reason.detail {
        Some(detail) => format!("{}: {detail}", reason.prompt),
        None => reason.prompt.clone(),
    }
}

/// Recipients with a message but no outcome: copies final outcomes, fails claims whose sender
/// died mid-call, hands never-tried messages to the sender. Returns how many still wait.
async fn reconcile<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
) -> Result<usize, CampaignError>
where
    S: CampaignWorkerStore,
    O: OutboundQueue,
    K: Clock,
{
    let mut waiting = 0;
    for r in ports.store.recipients(campaign.id).await? {
        match r.state {
            RecipientState::Pending => waiting += 1,
            RecipientState::Queued => {
                let Some((session, msg)) = r.message else {
                    waiting += 1;
                    continue;
                };
                if copy_outcome(ports, campaign, &r, session, msg).await? {
                    continue;
                }
                let Some(message) = ports.store.message(session, msg).await? else {
                    waiting += 1;
                    continue;
                };
                let now = ports.clock.now();
                match message.delivery {
                    DeliveryState::Sending => {
                        let reason = FailureReason {
                            code: SendErrorCode::SendFail,
                            prompt: "Interrupted".to_owned(),
                            provider_code: None,
                            detail: Some(
                                "the sending worker stopped during the provider call; the provider may or may not have sent it, so it is not sent again automatically (retry sends it)"
                                    .to_owned(),
                            ),
                        };
                        if ports.store.abandon_expired_claim(session, msg, now, &reason).await? {
                            warn!(campaign_id = %campaign.id, index = r.index, "interrupted campaign send recorded as failed");
                            copy_outcome(ports, campaign, &r, session, msg).await?;
                        } else {
                            waiting += 1;
                        }
                    }
                    DeliveryState::Queued if message.attempts == 0 => {
                        // Stored by a slice that stopped before sending it.
                        let job = OutboundJob {
                            session_id: session,
                            msg_id: msg,
                            channel_id: message.channel_id,
                            slot: None,
                        };
                        ports.outbound.enqueue_outbound(&job, 0).await?;
                        waiting += 1;
                    }
                    _ => waiting += 1,
                }
            }
            RecipientState::Sent | RecipientState::Failed | RecipientState::OptedOut => {}
        }
    }
    Ok(waiting)
}

async fn stop<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
    reason: &str,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    W: CampaignQueue,
    E: EventPublisher,
    K: Clock,
{
    warn!(campaign_id = %campaign.id, reason, "campaign stopped");
    finish(ports, campaign, CampaignStatus::Stop, Some(reason.to_owned())).await
}

/// Ends a round: the status, the channel for the next campaign waiting on it, the event.
async fn finish<S, O, W, H, E, K>(
    ports: &WorkerPorts<'_, S, O, W, H, E, K>,
    campaign: &Campaign,
    status: CampaignStatus,
    stop_reason: Option<String>,
) -> Result<JobOutcome, CampaignError>
where
    S: CampaignWorkerStore,
    W: CampaignQueue,
    E: EventPublisher,
    K: Clock,
{
    let now = ports.clock.now();
    let done =
        Campaign { status, stop_reason, completed_at: Some(now), version: campaign.version + 1, ..campaign.clone() };
    if !ports.store.save_campaign_state(&done, campaign.version).await? {
        return Ok(JobOutcome::Idle);
    }
    ports.store.release_channel(campaign.spec.channel_id, campaign.id).await?;
    // The next campaign waiting for the channel, oldest first.
    let next = ports
        .store
        .campaigns()
        .await?
        .into_iter()
        .filter(|c| c.status == CampaignStatus::Pending && c.spec.channel_id == campaign.spec.channel_id)
        .min_by_key(|c| (c.updated_at, c.id));
    if let Some(next) = next {
        ports.work.enqueue_campaign(&CampaignJob { campaign_id: next.id }, 0).await?;
    }
    let counts = ports.store.campaign(campaign.id).await?.map_or(campaign.counts, |c| c.counts);
    let event = DomainEvent::CampaignFinished {
        campaign_id: campaign.id,
        name: campaign.spec.name.clone(),
        status,
        run: campaign.run,
        total: campaign.total,
        sent: counts.sent,
        failed: counts.failed,
        opted_out: counts.opted_out,
        at: now,
    };
    if let Err(error) = ports.events.publish(&[event]).await {
        warn!(campaign_id = %campaign.id, error = %error, "campaign event not published");
    }
    info!(campaign_id = %campaign.id, status = status.as_str(), sent = counts.sent, failed = counts.failed, "campaign finished");
    Ok(JobOutcome::Finished(status))
}

/// Campaigns whose job may have been lost (the sweep, every few minutes): a scheduled one past
/// its time, a pending one, or a running one whose runner lease ran out long ago get a job.
pub async fn sweep<S: CampaignStore, W: CampaignQueue, K: Clock>(
    store: &S,
    work: &W,
    clock: &K,
) -> Result<usize, StoreError> {
    let now = clock.now();
    let mut kicked = 0;
    for c in store.campaigns().await? {
        let due = match c.status {
            CampaignStatus::Scheduled => c.spec.send_time.is_none_or(|at| at <= now),
            CampaignStatus::Pending => true,
            CampaignStatus::Executing | CampaignStatus::Retrying => {
                store.runner_lease_until(c.id).await?.is_none_or(|until| until.plus(LEASE_SLACK) < now)
            }
            CampaignStatus::Draft | CampaignStatus::Completed | CampaignStatus::Stop => false,
        };
        if due {
            work.enqueue_campaign(&CampaignJob { campaign_id: c.id }, 0).await?;
            kicked += 1;
        }
    }
    Ok(kicked)
}

// ---------------------------------------------------------------- inbound side

/// Campaign bookkeeping of a routed inbound delivery (after `route_inbound`): see
/// [`note_inbound`]. Deliveries not routed (parked, missing) mean nothing.
pub async fn after_routing<S: CampaignStore + OptOuts + crate::ports::Inbox>(
    store: &S,
    key: &crate::inbound::InboundKey,
) -> Result<(), StoreError> {
    let Some(record) = store.inbound(key).await? else { return Ok(()) };
    if !matches!(record.state, crate::inbound::InboundState::Routed { .. }) {
        return Ok(());
    }
    let message = &record.message;
    let session_key =
        SessionKey { channel_id: key.channel_id, business_number: message.to.clone(), customer: message.from.clone() };
    note_inbound(store, &session_key, message.text.as_deref(), record.accepted_at).await
}

/// What an inbound customer message means for campaigns: STOP/START opt-outs, and a reply to
/// campaign messages sent within the response window. Called by the router after routing;
/// idempotent (a redelivered message changes nothing twice).
pub async fn note_inbound<S: CampaignStore + OptOuts>(
    store: &S,
    key: &SessionKey,
    text: Option<&str>,
    at: Timestamp,
) -> Result<(), StoreError> {
    if let Some(keyword) = text.and_then(opt_keyword) {
        let out = keyword == crate::campaign::OptKeyword::OptOut;
        store.set_opt_out(key.channel_id, &key.business_number, &key.customer, out, at).await?;
        info!(channel_id = %key.channel_id, opted_out = out, "customer opt-out keyword recorded");
    }
    for sent in store.sent_to(key.channel_id, &key.business_number, &key.customer).await? {
        if at >= sent.sent_at && at.since(sent.sent_at) <= RESPONSE_WINDOW {
            store.record_reply(sent.campaign, sent.index, at).await?;
        }
    }
    Ok(())
}

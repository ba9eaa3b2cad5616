//! Routes `/openapi/v1.0/message_session/<action>` and `/openapi/v1.0/message/<action>`.
//!
//! Who acts: an agent's token acts only as its own extension; an API client's token may act as
//! any extension (`user_type`/`sender_type` 1 with the extension number) or as the third-party
//! platform (9), and without an operator (transfer, close) as the administrator. A session the
//! operator may not see is answered exactly like a missing one (60001), so existence is not
//! revealed. Decisions are the domain's (`Session`'s state machine, `services::sessions`,
//! `services::sending`); this module parses, resolves the operator and shapes replies.

use domain::auth::Principal;
use domain::directory::Extension;
use domain::ids::{MessageId, SessionId};
use domain::message::Sender;
use domain::openapi::sessions::{self, Operator, SendTarget, TransferTarget};
use domain::openapi::{ApiError, ErrCode, Fields, success};
use domain::ports::{
    ChannelReader, Clock, EventPublisher, ExtensionDirectory, ExtensionGroups, IdempotencyStore, Organizations,
    OutboundQueue, QueueDirectory, Sequences, SessionStore, SlaTimers, TemplateStore, TokenStore,
};
use domain::services::sending::{
    AcceptError, AcceptPorts, AgentMessage, MessageTarget, StartRefusal, accept_agent_message,
};
use domain::services::sessions::{
    OperationError, SessionOperation, SessionPorts, changes_since, list_sessions, operate, participants,
};
use domain::session::{Actor, Assignment, Refusal, Session, ViewChange};
use lambda_http::{Body, Error, Request, Response};
use lambda_support::openapi::{Access, ApiRequest, Failure, ServePorts, serve};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, O, E, K> {
    /// Every store port (one DynamoDB store in production).
    pub store: S,
    /// The sending queue.
    pub outbound: O,
    /// The event bus.
    pub events: E,
    /// Time.
    pub clock: K,
}

/// The store ports this function uses.
pub trait AgentStore:
    SessionStore
    + ChannelReader
    + ExtensionGroups
    + Organizations
    + ExtensionDirectory
    + QueueDirectory
    + Sequences
    + TokenStore
    + IdempotencyStore
    + TemplateStore
    + domain::ports::FileStore
{
}
impl<T> AgentStore for T where
    T: SessionStore
        + ChannelReader
        + ExtensionGroups
        + Organizations
        + ExtensionDirectory
        + QueueDirectory
        + Sequences
        + TokenStore
        + IdempotencyStore
        + TemplateStore
        + domain::ports::FileStore
{
}

/// Handles one request.
pub async fn handle<S: AgentStore, O: OutboundQueue + SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let req = ApiRequest::from_lambda(&request);
    let span = info_span!("agent_api", method = req.method.as_str(), path = req.path.as_str());
    Ok(route(deps, &req).instrument(span).await)
}

async fn route<S: AgentStore, O: OutboundQueue + SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
) -> Response<Body> {
    let ports = ServePorts { tokens: &deps.store, idempotency: &deps.store, clock: &deps.clock };
    let resource = req.path.trim_end_matches('/').rsplit('/').nth(1).unwrap_or_default().to_owned();
    serve(&ports, req, Access::AnyCaller, |principal| async move {
        match (resource.as_str(), req.action.as_str()) {
            ("message_session", "list" | "search") => session_list(deps, req, &principal).await,
            ("message_session", "get") => session_get(deps, req, &principal).await,
            ("message_session", "query") => session_query(deps, req, &principal).await,
            ("message_session", "pickup") => session_op(deps, req, &principal, OpKind::PickUp).await,
            ("message_session", "transfer") => session_change(deps, req, &principal, true).await,
            ("message_session", "close") => session_change(deps, req, &principal, false).await,
            ("message_session", "archive") => {
                session_op(deps, req, &principal, OpKind::View(ViewChange::Archive)).await
            }
            ("message_session", "unarchive") => {
                session_op(deps, req, &principal, OpKind::View(ViewChange::Unarchive)).await
            }
            ("message_session", "delete") => session_op(deps, req, &principal, OpKind::View(ViewChange::Remove)).await,
            ("message_session", "changes") => session_changes(deps, req, &principal).await,
            ("message", "send") => message_send(deps, req, &principal).await,
            ("message", "get") => message_get(deps, req, &principal).await,
            ("message", "query") => message_query(deps, req, &principal).await,
            ("message", "batchupload") => crate::files::batchupload(&deps.store, &deps.clock, req).await,
            (resource, action) => Err(ApiError::new(
                ErrCode::InterfaceNotExisted,
                format!("{resource}/{action} is not an endpoint of this version"),
            )
            .into()),
        }
    })
    .await
}

fn not_found(id: impl std::fmt::Display) -> Failure {
    ApiError::new(ErrCode::DataNotFound, format!("session {id} does not exist or is not handled by this operator"))
        .into()
}

/// The operator a call acts as, checked against the caller: `(actor, its extension)`.
async fn resolve_actor<S: AgentStore>(
    store: &S,
    principal: &Principal,
    operator: Option<&Operator>,
) -> Result<(Actor, Option<Extension>), Failure> {
    let denied = || ApiError::new(ErrCode::AccessDenied, "an agent token can act only as its own extension").into();
    let number = match (operator, principal) {
        (Some(Operator::Extension(n)), Principal::Agent { number: own, .. }) if own != n => return Err(denied()),
        (Some(Operator::Extension(n)), _) => n.clone(),
        (Some(Operator::Api), Principal::Agent { .. }) => return Err(denied()),
        (Some(Operator::Api), Principal::ApiClient { .. }) => return Ok((Actor::Api, None)),
        (None, Principal::Agent { number, .. }) => number.clone(),
        (None, Principal::ApiClient { .. }) => return Ok((Actor::Admin, None)),
    };
    let ext = store.extension_by_number(&number).await?.ok_or_else(|| {
        Failure::from(ApiError::new(ErrCode::DataNotFound, format!("extension {number} does not exist")))
    })?;
    // An agent's token belongs to the extension it was issued to: if that extension was deleted
    // and its number given to another, the token does not pass for the new one.
    if let Principal::Agent { extension_id, .. } = principal
        && *extension_id != ext.id
    {
        return Err(ApiError::new(ErrCode::AccessDenied, "this token's extension no longer exists").into());
    }
    Ok((Actor::Extension(ext.id), Some(ext)))
}

async fn queues_of<S: AgentStore>(store: &S, actor: Actor) -> Result<Vec<domain::ids::QueueId>, Failure> {
    match actor {
        Actor::Extension(e) => Ok(store.queues_of_agent(e).await?),
        Actor::Api | Actor::Admin => Ok(Vec::new()),
    }
}

/// A session the actor may read.
async fn readable<S: AgentStore>(store: &S, actor: Actor, id: SessionId) -> Result<Session, Failure> {
    let session = store.session(id).await?.ok_or_else(|| not_found(id))?;
    let queues = queues_of(store, actor).await?;
    if session.visible_to(&actor, &queues) { Ok(session) } else { Err(not_found(id)) }
}

async fn refusal<S: AgentStore>(store: &S, id: SessionId, refusal: Refusal) -> Failure {
    let who = |owner: Assignment| async move {
        match owner {
            Assignment::Extension(e) => match store.extension(e).await {
                Ok(Some(ext)) => format!("extension {}", ext.number.as_str()),
                _ => "another extension".to_owned(),
            },
            Assignment::Api => "the third-party platform".to_owned(),
            Assignment::Queue(_) => "a queue".to_owned(),
        }
    };
    let submsg = match refusal {
        Refusal::NotVisible => return not_found(id),
        Refusal::AlreadyPickedUp { owner } => format!("session {id} was already picked up by {}", who(owner).await),
        Refusal::Taken { owner } => format!("session {id} was taken by {} first; nothing was sent", who(owner).await),
        other => format!("session {id}: {other}"),
    };
    ApiError::new(ErrCode::ActionForbidden, submsg).with_reason(refusal.reason()).into()
}

async fn session_list<S: AgentStore, O, E, K>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = sessions::parse_session_list(&req.query_value())?;
    let (actor, _) = resolve_actor(&deps.store, principal, Some(&query.operator)).await?;
    let queues = queues_of(&deps.store, actor).await?;
    let page = list_sessions(&deps.store, actor, &queues, &query).await?;
    let list: Vec<Value> = page.sessions.iter().map(sessions::session_list_item).collect();
    Ok(success(json!({"list": list, "has_more": page.has_more})))
}

fn id_param(req: &ApiRequest, name: &str) -> Result<SessionId, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let id = f.integer(name);
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| SessionId::new(v).ok())
        .ok_or_else(|| ApiError::field(name, "format", "must be a positive integer").into())
}

/// The caller as a reader: an agent reads as itself, an API client as the administrator unless
/// it names an operator (`user_type`).
async fn reader<S: AgentStore>(store: &S, req: &ApiRequest, principal: &Principal) -> Result<Actor, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let operator = if f.opt_integer("user_type").is_some() {
        sessions::parse_operator(&mut f, "user_type", "user_no")
    } else {
        None
    };
    f.finish()?;
    Ok(resolve_actor(store, principal, operator.as_ref()).await?.0)
}

async fn detail<S: AgentStore>(store: &S, session: &Session) -> Result<Value, Failure> {
    let channel_name = store.channel(session.key.channel_id).await?.map(|c| c.name).unwrap_or_default();
    let members = participants(store, session).await?;
    let timeline = store.timeline(session.id).await?;
    let mut numbers = std::collections::BTreeMap::new();
    for id in sessions::timeline_extensions(&timeline) {
        if let Some(ext) = store.extension(id).await? {
            numbers.insert(id, ext.number.as_str().to_owned());
        }
    }
    Ok(sessions::session_detail(session, &channel_name, &members, &timeline, &numbers))
}

async fn session_get<S: AgentStore, O, E, K>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id")?;
    let actor = reader(&deps.store, req, principal).await?;
    let session = readable(&deps.store, actor, id).await?;
    // Yeastar returns the one session under `list`.
    Ok(success(json!({"list": detail(&deps.store, &session).await?})))
}

fn ids_param(req: &ApiRequest) -> Result<Vec<SessionId>, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let ids = sessions::parse_session_ids(&mut f);
    f.finish()?;
    ids.ok_or_else(|| ApiError::field("ids", "required", "is required").into())
}

async fn session_query<S: AgentStore, O, E, K>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let actor = reader(&deps.store, req, principal).await?;
    let queues = queues_of(&deps.store, actor).await?;
    let mut list = Vec::new();
    for id in ids {
        if let Some(s) = deps.store.session(id).await?.filter(|s| s.visible_to(&actor, &queues)) {
            list.push(detail(&deps.store, &s).await?);
        }
    }
    Ok(success(json!({"list": list})))
}

/// Operations with a mandatory operator.
#[derive(Debug, Clone, Copy)]
enum OpKind {
    PickUp,
    View(ViewChange),
}

async fn run_operation<S: AgentStore, O: SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    id: SessionId,
    actor: Actor,
    operation: SessionOperation,
) -> Result<Value, Failure> {
    let ports = SessionPorts {
        sessions: &deps.store,
        directory: &deps.store,
        events: &deps.events,
        clock: &deps.clock,
        timers: &deps.outbound,
    };
    match operate(&ports, id, actor, operation).await {
        Ok(after) => Ok(success(json!({"session": sessions::session_list_item(&after)}))),
        Err(OperationError::Refused(r)) => Err(refusal(&deps.store, id, r).await),
        Err(OperationError::UnknownDestination) => {
            Err(ApiError::new(ErrCode::DataNotFound, "the destination extension or queue does not exist")
                .with_reason("unknown_destination")
                .into())
        }
        Err(OperationError::Contention) => Err(ApiError::new(
            ErrCode::ActionForbidden,
            format!("session {id} kept changing while this was being done; nothing was changed, try again"),
        )
        .with_reason("contention")
        .into()),
        Err(OperationError::Store(e)) => Err(Failure::Store(e)),
    }
}

fn op_input(req: &ApiRequest) -> Result<Value, Failure> {
    // Yeastar documents `delete` as GET with query parameters; accept a JSON body too.
    if req.method.eq_ignore_ascii_case("GET") { Ok(req.query_value()) } else { Ok(req.json_body()?) }
}

async fn session_op<S: AgentStore, O: SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
    kind: OpKind,
) -> Result<Value, Failure> {
    let operation = match kind {
        OpKind::PickUp => {
            req.require_method("POST")?;
            SessionOperation::PickUp
        }
        OpKind::View(ViewChange::Remove) => {
            // Yeastar's GET, or POST with a JSON body; any other method is not an endpoint.
            if !req.method.eq_ignore_ascii_case("POST") {
                req.require_method("GET")?;
            }
            SessionOperation::View(ViewChange::Remove)
        }
        OpKind::View(change) => {
            req.require_method("POST")?;
            SessionOperation::View(change)
        }
    };
    let input = op_input(req)?;
    let query = sessions::parse_session_op(&input)?;
    let (actor, _) = resolve_actor(&deps.store, principal, Some(&query.operator)).await?;
    run_operation(deps, query.session_id, actor, operation).await
}

async fn session_change<S: AgentStore, O: SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
    transfer: bool,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let query = if transfer { sessions::parse_transfer(&body)? } else { sessions::parse_close(&body)? };
    let (actor, _) = resolve_actor(&deps.store, principal, query.operator.as_ref()).await?;
    let operation = match query.target {
        Some(TransferTarget::Extension(e)) => SessionOperation::Transfer(Assignment::Extension(e)),
        Some(TransferTarget::Queue(q)) => SessionOperation::Transfer(Assignment::Queue(q)),
        Some(TransferTarget::Api) => SessionOperation::Transfer(Assignment::Api),
        None => SessionOperation::Close,
    };
    run_operation(deps, query.session_id, actor, operation).await
}

async fn session_changes<S: AgentStore, O, E, K: Clock>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = sessions::parse_changes(&req.query_value())?;
    let (actor, _) = resolve_actor(&deps.store, principal, Some(&query.operator)).await?;
    let queues = queues_of(&deps.store, actor).await?;
    let page = changes_since(&deps.store, &deps.clock, actor, &queues, query.cursor).await?;
    let list: Vec<Value> = page.sessions.iter().map(sessions::session_list_item).collect();
    Ok(success(json!({"list": list, "removed": page.removed, "cursor": page.cursor.as_micros().to_string()})))
}

async fn message_send<S: AgentStore, O: OutboundQueue + SlaTimers, E: EventPublisher, K: Clock>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let query = sessions::parse_send(&req.json_body()?)?;
    let (actor, ext) = resolve_actor(&deps.store, principal, Some(&query.operator)).await?;
    let sender = match &ext {
        Some(ext) => Sender::Extension { id: ext.id, number: ext.number.clone() },
        None => Sender::Api,
    };
    let target = match &query.target {
        SendTarget::Session(id) => MessageTarget::Session(*id),
        SendTarget::Start { channel, did_number, to } => {
            MessageTarget::Start { channel: channel.clone(), business_number: did_number.clone(), customer: to.clone() }
        }
    };
    let ports = AcceptPorts {
        sessions: &deps.store,
        channels: &deps.store,
        queues: &deps.store,
        sequences: &deps.store,
        outbound: &deps.outbound,
        events: &deps.events,
        clock: &deps.clock,
        templates: &deps.store,
    };
    let shown_id = match query.target {
        SendTarget::Session(id) => id.to_string(),
        SendTarget::Start { .. } => "new".to_owned(),
    };
    let message = AgentMessage { target, actor, sender, text: query.msg_body, template: query.template };
    let accepted = match accept_agent_message(&ports, message).await {
        Ok(a) => a,
        Err(AcceptError::Refused(Refusal::NotVisible)) => return Err(not_found(shown_id)),
        Err(AcceptError::Refused(r)) => {
            let id = match query.target {
                SendTarget::Session(id) => id,
                SendTarget::Start { .. } => {
                    return Err(ApiError::new(ErrCode::ActionForbidden, r.to_string()).with_reason(r.reason()).into());
                }
            };
            return Err(refusal(&deps.store, id, r).await);
        }
        Err(AcceptError::StartRefused(StartRefusal::UnknownNumber)) => {
            return Err(ApiError::field("did_number", "not_found", StartRefusal::UnknownNumber.to_string()).into());
        }
        Err(AcceptError::StartRefused(StartRefusal::ChannelMismatch)) => {
            return Err(ApiError::field("channel", "mismatch", StartRefusal::ChannelMismatch.to_string()).into());
        }
        Err(AcceptError::StartRefused(r)) => {
            return Err(ApiError::new(ErrCode::ActionForbidden, r.to_string()).with_reason(r.reason()).into());
        }
        Err(AcceptError::InvalidText(msg)) => return Err(ApiError::field("msg_body", "length", msg).into()),
        Err(e @ AcceptError::TemplateNotSupported(_)) => {
            return Err(ApiError::field("msg_kind", "unsupported", e.to_string()).into());
        }
        Err(AcceptError::Template(e)) => return Err(sessions::template_error(&e).into()),
        Err(AcceptError::SessionChanged) => {
            return Err(ApiError::new(
                ErrCode::ActionForbidden,
                "the session kept changing (closed or taken) while sending; nothing was sent",
            )
            .with_reason("contention")
            .into());
        }
        Err(AcceptError::Store(s)) => return Err(Failure::Store(s)),
    };
    let data = json!({"session_id": accepted.session_id, "msg_id": accepted.msg_id, "request_id": query.request_id,
                      "started": accepted.started});
    Ok(success(json!({"session_id": accepted.session_id, "msg_id": accepted.msg_id, "data": data})))
}

fn page_params(req: &ApiRequest, with_cursor: bool) -> Result<(usize, Option<MessageId>), Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let page_size = f.integer("page_size");
    if page_size.is_some_and(|p| !(1..=100).contains(&p)) {
        f.error("page_size", "range", "must be between 1 and 100");
    }
    let before = if with_cursor { f.opt_integer("last_msg_id") } else { None };
    f.finish()?;
    let limit = page_size.and_then(|p| usize::try_from(p).ok()).unwrap_or(20);
    Ok((limit, before.and_then(|b| u64::try_from(b).ok()).and_then(|b| MessageId::new(b).ok())))
}

async fn message_get<S: AgentStore, O, E, K>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id")?;
    let (limit, before) = page_params(req, true)?;
    let actor = reader(&deps.store, req, principal).await?;
    readable(&deps.store, actor, id).await?;
    let records: Vec<Value> =
        deps.store.messages(id, before, limit).await?.iter().map(sessions::message_record).collect();
    Ok(success(json!({"data": {"session_id": id, "records": records}})))
}

async fn message_query<S: AgentStore, O, E, K>(
    deps: &Deps<S, O, E, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let (limit, _) = page_params(req, false)?;
    let actor = reader(&deps.store, req, principal).await?;
    let queues = queues_of(&deps.store, actor).await?;
    let mut data = Vec::new();
    for id in ids {
        if deps.store.session(id).await?.is_some_and(|s| s.visible_to(&actor, &queues)) {
            let records: Vec<Value> =
                deps.store.messages(id, None, limit).await?.iter().map(sessions::message_record).collect();
            data.push(json!({"session_id": id, "records": records}));
        }
    }
    Ok(success(json!({"data": data})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock, close_session_for_test};
    use adapters::system::OsRandom;
    use domain::channel::ChannelType;
    use domain::channel::Destination;
    use domain::channel::Member;
    use domain::directory::{AssignmentMode, MessageQueue};
    use domain::ids::ChannelId;
    use domain::ids::{ExtensionId, ExtensionNumber, QueueId};
    use domain::inbound::InboundJob;
    use domain::phone::CustomerAddress;
    use domain::ports::{ChannelWriter, Inbox};
    use domain::ports::{OutboundLedger, StoredTemplate, TemplateSync};
    use domain::secret::Secret;
    use domain::services::routing::{RoutingPorts, route_inbound};
    use domain::services::tokens::{AdminClient, TokenPorts, get_token};
    use domain::session::Assignment;
    use domain::time::Timestamp;
    use domain::whatsapp_template::{TemplateError, TemplateMessage, parse_template_page, select_for_sync};
    use lambda_support::testing::apigw_request;

    const LIST_SAMPLE: &str = include_str!("../../../events/agent-api.message-session-list.json");
    const SEND_SAMPLE: &str = include_str!("../../../events/agent-api.message-send.json");

    type TestDeps = Deps<InMemoryStore, InMemoryQueues, InMemoryEvents, ManualClock>;

    /// Extensions 1000 (id 1) and 1001 (id 2); queue 1 (auto-pickup, both agents); number
    /// +14102161183 routes to extension 1000, +14102161184 to the queue.
    async fn setup() -> TestDeps {
        let deps = Deps {
            store: InMemoryStore::new(),
            outbound: InMemoryQueues::new(),
            events: InMemoryEvents::new(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
        };
        for (id, number) in [(1, "1000"), (2, "1001")] {
            let ext = Extension {
                id: ExtensionId::new(id).unwrap(),
                number: ExtensionNumber::parse(number).unwrap(),
                caller_id_name: format!("Agent {number}"),
                first_name: String::new(),
                last_name: String::new(),
                email_addr: String::new(),
                mobile_number: String::new(),
                password_hash: domain::auth::hash_password(&Secret::new("Agent1234"), [id as u8; 16]).unwrap(),
                created_at: deps.clock.now(),
            };
            deps.store.insert_extension(&ext).await.unwrap().unwrap();
        }
        deps.store.insert_queue(&support_queue(AssignmentMode::Auto, deps.clock.now())).await.unwrap();
        let mut channel = general_channel(
            1,
            1,
            None,
            &[
                ("+14102161183", Destination::Extension(ExtensionId::new(1).unwrap())),
                ("+14102161184", Destination::Queue(QueueId::new(1).unwrap())),
            ],
        );
        channel.numbers[0].members = vec![Member::Extension(ExtensionId::new(1).unwrap())];
        deps.store.insert_channel(&channel).await.unwrap().unwrap();
        deps
    }

    /// A customer writes to `to`; returns the session id.
    async fn inbound(deps: &TestDeps, id: &str, to: &str) -> u64 {
        let record = pending_inbound(id, "+8618012121222", to, "Hello", deps.clock.now());
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let events = InMemoryEvents::new();
        let ports = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &events,
            timers: &adapters::memory::InMemoryQueues::new(),
        };
        match route_inbound(&ports, &InboundJob { key }).await.unwrap() {
            domain::services::routing::RouteOutcome::Routed { session_id, .. } => session_id.get(),
            other => panic!("not routed: {other:?}"),
        }
    }

    async fn token(deps: &TestDeps, username: &str, password: &str) -> String {
        let ports = TokenPorts { tokens: &deps.store, extensions: &deps.store, random: &OsRandom, clock: &deps.clock };
        let admin = AdminClient {
            client_id: "switchboard-admin".into(),
            client_secret: Secret::new("switchboard-dev-secret-change-me"),
        };
        get_token(&ports, &admin, username, &Secret::new(password)).await.unwrap().access_token.expose().to_owned()
    }

    async fn call(deps: &TestDeps, request: Request) -> Value {
        let response = handle(deps, request).await.unwrap();
        match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    /// A request to `action` (`message/send`, or a `message_session/` action given bare).
    fn request(
        method: &str,
        action: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Request {
        let (resource, path) = if action.starts_with("message/") {
            ("/openapi/v1.0/message/{action}", format!("/openapi/v1.0/{action}"))
        } else {
            ("/openapi/v1.0/message_session/{action}", format!("/openapi/v1.0/message_session/{action}"))
        };
        apigw_request(method, resource, &path, query, headers, body.map(Value::to_string).as_deref())
    }

    fn get(action: &str, token: &str, query: &[(&str, &str)]) -> Request {
        let mut q = vec![("access_token", token)];
        q.extend_from_slice(query);
        request("GET", action, &q, &[], None)
    }

    fn post(action: &str, token: &str, body: Value) -> Request {
        request("POST", action, &[("access_token", token)], &[], Some(&body))
    }

    fn list(token: &str, user_no: &str) -> Request {
        get("list", token, &[("page_size", "20"), ("user_type", "1"), ("user_no", user_no)])
    }

    fn send(token: &str, sender_no: &str, session: u64, text: &str, key: Option<&str>) -> Request {
        let body = json!({"sender_type": 1, "sender_no": sender_no, "session_id": session, "msg_body": text});
        let headers: Vec<(&str, &str)> = key.map(|k| vec![("Idempotency-Key", k)]).unwrap_or_default();
        request("POST", "message/send", &[("access_token", token)], &headers, Some(&body))
    }

    #[tokio::test]
    async fn the_sample_events_parse_into_calls() {
        let deps = setup().await;
        let t = token(&deps, "1000", "Agent1234").await;
        let reply = call(
            &deps,
            lambda_http::request::from_str(&LIST_SAMPLE.replace("EXZMpZAO86mbrKm6rFtgeb3rfcpC9uqS", &t)).unwrap(),
        )
        .await;
        assert_eq!(reply, json!({"errcode": 0, "errmsg": "SUCCESS", "list": [], "has_more": false}));
        inbound(&deps, "m1", "+14102161183").await;
        let reply = call(
            &deps,
            lambda_http::request::from_str(&SEND_SAMPLE.replace("EXZMpZAO86mbrKm6rFtgeb3rfcpC9uqS", &t)).unwrap(),
        )
        .await;
        assert_eq!(reply["errcode"], 0, "{reply}");
    }

    #[tokio::test]
    async fn when_an_agent_lists_should_see_owned_and_queued_sessions_only() {
        let deps = setup().await;
        let own = inbound(&deps, "m1", "+14102161183").await;
        let queued = inbound(&deps, "m2", "+14102161184").await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let reply = call(&deps, list(&leo, "1000")).await;
        let ids: Vec<u64> = reply["list"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&own) && ids.contains(&queued));
        let other = token(&deps, "1001", "Agent1234").await;
        let reply = call(&deps, list(&other, "1001")).await;
        let ids: Vec<u64> = reply["list"].as_array().unwrap().iter().map(|s| s["id"].as_u64().unwrap()).collect();
        assert_eq!(ids, vec![queued], "1001 only sees the queued one");
        assert_eq!(call(&deps, list(&other, "1000")).await["errcode"], 10005, "agents act only as themselves");
    }

    #[tokio::test]
    async fn when_the_owner_replies_should_queue_the_message_once_per_idempotency_key() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let first = call(&deps, send(&leo, "1000", session, "On it!", Some("reply-1"))).await;
        assert_eq!(first["errcode"], 0, "{first}");
        let again = call(&deps, send(&leo, "1000", session, "On it!", Some("reply-1"))).await;
        assert_eq!(first, again);
        assert_eq!(deps.outbound.take_outbound().len(), 1);
        let history = call(&deps, get("message/get", &leo, &[("id", &session.to_string()), ("page_size", "10")])).await;
        let records = history["data"]["records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["msg_body"], "On it!");
        assert_eq!(records[0]["delivery_status"], 0);
        assert_eq!(records[1]["sender"]["user_no"], "+8618012121222");
    }

    #[tokio::test]
    async fn when_someone_else_replies_should_refuse_like_a_missing_session() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let other = token(&deps, "1001", "Agent1234").await;
        let reply = call(&deps, send(&other, "1001", session, "hi", None)).await;
        assert_eq!(reply["errcode"], 60001);
        let missing = call(&deps, send(&other, "1001", 999, "hi", None)).await;
        assert_eq!(missing["errcode"], 60001);
        assert_eq!(
            reply["submsg"].as_str().unwrap().replace(&session.to_string(), "N"),
            missing["submsg"].as_str().unwrap().replace("999", "N")
        );
        assert!(deps.outbound.take_outbound().is_empty());
    }

    #[tokio::test]
    async fn when_an_agent_replies_first_in_an_auto_queue_should_take_the_session() {
        let deps = setup().await;
        let session = inbound(&deps, "m2", "+14102161184").await;
        let other = token(&deps, "1001", "Agent1234").await;
        assert_eq!(call(&deps, send(&other, "1001", session, "Hi, I'm here", None)).await["errcode"], 0);
        let s = deps.store.session(SessionId::new(session).unwrap()).await.unwrap().unwrap();
        assert_eq!(s.assignment, Assignment::Extension(ExtensionId::new(2).unwrap()));
        let leo = token(&deps, "1000", "Agent1234").await;
        let late = call(&deps, send(&leo, "1000", session, "me too", None)).await;
        assert_eq!(
            (late["errcode"].clone(), late["reason"].clone()),
            (json!(70084), json!("taken")),
            "now owned by 1001"
        );
        assert_eq!(deps.outbound.take_outbound().len(), 1, "only the first reply is sent");
    }

    #[tokio::test]
    async fn when_the_session_is_closed_should_refuse_to_send() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        close_session_for_test(&deps.store, SessionId::new(session).unwrap(), deps.clock.now());
        let leo = token(&deps, "1000", "Agent1234").await;
        assert_eq!(call(&deps, send(&leo, "1000", session, "hello?", None)).await["errcode"], 70084);
        assert!(deps.outbound.take_outbound().is_empty());
    }

    #[tokio::test]
    async fn when_an_api_client_acts_as_an_extension_should_be_allowed() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let admin = token(&deps, "switchboard-admin", "switchboard-dev-secret-change-me").await;
        assert_eq!(call(&deps, send(&admin, "1000", session, "from the CRM", None)).await["errcode"], 0);
        let detail = call(&deps, get("get", &admin, &[("id", &session.to_string())])).await;
        assert_eq!(detail["list"]["did_number"], "+14102161183");
        assert_eq!(detail["list"]["channel_name"], "General SMS");
    }

    /// Queue 1, "Support", with extensions 1 and 2.
    fn support_queue(assignment_mode: AssignmentMode, created_at: Timestamp) -> MessageQueue {
        MessageQueue {
            id: QueueId::new(1).unwrap(),
            name: "Support".into(),
            assignment_mode,
            members: vec![ExtensionId::new(1).unwrap(), ExtensionId::new(2).unwrap()],
            sla: Default::default(),
            managers: Vec::new(),
            created_at,
        }
    }

    async fn manual_queue(deps: &TestDeps) {
        // Reconfigure queue 1 as Manual Pickup.
        deps.store.insert_queue(&support_queue(AssignmentMode::Manual, deps.clock.now())).await.unwrap();
    }

    #[tokio::test]
    async fn pick_up_gives_the_session_to_one_agent_and_tells_the_other_who_was_faster() {
        let deps = setup().await;
        manual_queue(&deps).await;
        let session = inbound(&deps, "m2", "+14102161184").await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let ann = token(&deps, "1001", "Agent1234").await;
        let body = |no: &str| json!({"session_id": session, "user_type": 1, "user_no": no});
        let won = call(&deps, post("pickup", &ann, body("1001"))).await;
        assert_eq!(won["errcode"], 0, "{won}");
        assert_eq!(won["session"]["status"], "assigned");
        let lost = call(&deps, post("pickup", &leo, body("1000"))).await;
        assert_eq!((lost["errcode"].clone(), lost["reason"].clone()), (json!(70084), json!("already_picked_up")));
        assert!(lost["submsg"].as_str().unwrap().contains("1001"), "{lost}");
        assert_eq!(call(&deps, post("pickup", &ann, body("1001"))).await["errcode"], 0, "again: a no-op");
        // leo no longer sees it
        let ids: Vec<u64> = call(&deps, list(&leo, "1000")).await["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        assert!(!ids.contains(&session));
        let detail = call(&deps, get("get", &ann, &[("id", &session.to_string())])).await;
        let ops: Vec<&str> =
            detail["list"]["timeline"].as_array().unwrap().iter().map(|t| t["operation"].as_str().unwrap()).collect();
        assert_eq!(ops, vec!["created", "picked_up"]);
        let types: Vec<String> = deps.events.published().iter().map(|e| e.event_type().to_owned()).collect();
        assert!(types.contains(&"session.picked_up".to_owned()), "{types:?}");
        assert!(deps.store.unpublished_events().is_empty(), "published events leave the outbox");
    }

    #[tokio::test]
    async fn transfer_close_and_the_next_message_opening_a_new_session() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let ann = token(&deps, "1001", "Agent1234").await;
        let t = call(
            &deps,
            post(
                "transfer",
                &leo,
                json!({"session_id": session, "destination_type": "extension", "destination_id": 2}),
            ),
        )
        .await;
        assert_eq!(t["errcode"], 0, "{t}");
        assert_eq!(call(&deps, get("get", &leo, &[("id", &session.to_string())])).await["errcode"], 60001);
        let unknown = call(
            &deps,
            post("transfer", &ann, json!({"session_id": session, "destination_type": "queue", "destination_id": 77})),
        )
        .await;
        assert_eq!(unknown["errcode"], 60001);
        let closed = call(&deps, post("close", &ann, json!({"session_id": session}))).await;
        assert_eq!(closed["errcode"], 0, "{closed}");
        assert_eq!(closed["session"]["is_archived"], 1);
        let again = call(&deps, post("close", &ann, json!({"session_id": session}))).await;
        assert_eq!(again["reason"], "closed");
        let refused = call(&deps, send(&ann, "1001", session, "still there?", None)).await;
        assert_eq!((refused["errcode"].clone(), refused["reason"].clone()), (json!(70084), json!("closed")));
        let next = inbound(&deps, "m9", "+14102161183").await;
        assert_ne!(next, session, "no reopen: a new session");
    }

    #[tokio::test]
    async fn archive_and_remove_are_the_owners_list_flags_and_a_message_brings_the_session_back() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let op = |action: &'static str| {
            post(action, &leo, json!({"session_id": session, "user_type": 1, "user_no": "1000"}))
        };
        let listed = |archived: &'static str| {
            get(
                "list",
                &leo,
                &[("page_size", "10"), ("user_type", "1"), ("user_no", "1000"), ("is_archived", archived)],
            )
        };
        assert_eq!(call(&deps, op("archive")).await["errcode"], 0);
        assert_eq!(call(&deps, listed("0")).await["list"].as_array().unwrap().len(), 0);
        assert_eq!(call(&deps, listed("1")).await["list"][0]["is_archived"], 1);
        let other = token(&deps, "1001", "Agent1234").await;
        let refused =
            call(&deps, post("archive", &other, json!({"session_id": session, "user_type": 1, "user_no": "1001"})))
                .await;
        assert_eq!(refused["errcode"], 60001);
        let body = json!({"session_id": session, "user_type": 1, "user_no": "1000"});
        let put = request("PUT", "delete", &[("access_token", leo.as_str())], &[], Some(&body));
        assert_eq!(call(&deps, put).await["errcode"], 10001, "delete is GET or POST only");
        assert_eq!(call(&deps, op("delete")).await["errcode"], 0);
        assert_eq!(call(&deps, listed("2")).await["list"].as_array().unwrap().len(), 0);
        // the customer writes again: back in Recent
        let record = pending_inbound("m2", "+8618012121222", "+14102161183", "again", deps.clock.now());
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let events = InMemoryEvents::new();
        let ports = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &events,
            timers: &adapters::memory::InMemoryQueues::new(),
        };
        route_inbound(&ports, &InboundJob { key }).await.unwrap();
        assert_eq!(call(&deps, listed("0")).await["list"][0]["id"], session);
    }

    #[tokio::test]
    async fn starting_a_session_needs_membership_on_the_number_and_reuses_the_open_one() {
        let deps = setup().await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let ann = token(&deps, "1001", "Agent1234").await;
        let start = |no: &str| {
            json!({"sender_type": 1, "sender_no": no, "channel": "general",
                                      "did_number": "+14102161183", "to": "+1 800 327 5906", "msg_body": "Hello"})
        };
        let first = call(&deps, post("message/send", &leo, start("1000"))).await;
        assert_eq!(first["errcode"], 0, "{first}");
        assert_eq!(first["data"]["started"], true);
        let second = call(&deps, post("message/send", &leo, start("1000"))).await;
        assert_eq!(second["session_id"], first["session_id"]);
        assert_eq!(second["data"]["started"], false);
        let refused = call(&deps, post("message/send", &ann, start("1001"))).await;
        assert_eq!(refused["reason"], "not_allowed_on_number", "{refused}");
        let wrong = call(
            &deps,
            post(
                "message/send",
                &leo,
                json!({"sender_type": 1, "sender_no": "1000", "channel": "general",
                                      "did_number": "+19999999999", "to": "+18003275906", "msg_body": "Hello"}),
            ),
        )
        .await;
        assert_eq!(wrong["errcode"], 40002);
        assert_eq!(deps.outbound.take_outbound().len(), 2);
    }

    #[tokio::test]
    async fn the_change_feed_reports_new_work_and_sessions_that_left() {
        let deps = setup().await;
        manual_queue(&deps).await;
        let leo = token(&deps, "1000", "Agent1234").await;
        let ann = token(&deps, "1001", "Agent1234").await;
        let feed = |cursor: Option<String>| {
            let mut q = vec![("user_type", "1".to_owned()), ("user_no", "1000".to_owned())];
            if let Some(c) = cursor {
                q.push(("cursor", c));
            }
            let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
            get("changes", &leo, &q)
        };
        let start = call(&deps, feed(None)).await;
        let cursor = start["cursor"].as_str().unwrap().to_owned();
        deps.clock.advance(std::time::Duration::from_secs(5));
        let session = inbound(&deps, "m2", "+14102161184").await;
        let changes = call(&deps, feed(Some(cursor.clone()))).await;
        assert_eq!(changes["list"][0]["id"], session, "{changes}");
        deps.clock.advance(std::time::Duration::from_secs(5));
        let cursor = changes["cursor"].as_str().unwrap().to_owned();
        call(&deps, post("pickup", &ann, json!({"session_id": session, "user_type": 1, "user_no": "1001"}))).await;
        let changes = call(&deps, feed(Some(cursor))).await;
        assert_eq!(changes["removed"], json!([session]), "{changes}");
    }

    #[tokio::test]
    async fn the_platform_works_sessions_transferred_to_it() {
        let deps = setup().await;
        let session = inbound(&deps, "m1", "+14102161183").await;
        let admin = token(&deps, "switchboard-admin", "switchboard-dev-secret-change-me").await;
        let t = call(&deps, post("transfer", &admin, json!({"session_id": session, "destination_type": "api"}))).await;
        assert_eq!(t["errcode"], 0, "{t}");
        let listed = call(&deps, get("list", &admin, &[("page_size", "5"), ("user_type", "9")])).await;
        assert_eq!(listed["list"][0]["assignment"]["type"], "api");
        let sent = call(
            &deps,
            post("message/send", &admin, json!({"sender_type": 9, "session_id": session, "msg_body": "bot here"})),
        )
        .await;
        assert_eq!(sent["errcode"], 0, "{sent}");
        let leo = token(&deps, "1000", "Agent1234").await;
        assert_eq!(
            call(&deps, post("message/send", &leo, json!({"sender_type": 9, "session_id": session, "msg_body": "x"})))
                .await["errcode"],
            10005
        );
        let back = call(
            &deps,
            post(
                "transfer",
                &admin,
                json!({"session_id": session, "destination_type": "extension", "destination_id": 1, "user_type": 9}),
            ),
        )
        .await;
        assert_eq!(back["errcode"], 0, "{back}");
        assert_eq!(call(&deps, list(&leo, "1000")).await["list"][0]["id"], session);
    }

    // --- WhatsApp template messages (msg_kind 1) ---------------------------------------------

    /// The WhatsApp channel's business number (channel 2), routed to extension 1000 (its only
    /// member).
    const WA_NUMBER: &str = "+15550783881";
    /// `order_update` as Graph lists it (positional body, a footer).
    const ORDER_UPDATE_PAGE: &str = r#"{"data": [{"name": "order_update", "parameter_format": "POSITIONAL",
        "components": [{"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today.",
                        "example": {"body_text": [["Ann", "42"]]}},
                       {"type": "FOOTER", "text": "Thanks for shopping with Acme"}],
        "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "1667192013751005"}]}"#;
    /// What the history keeps of a filled `order_update`.
    const ORDER_UPDATE_PREVIEW: &str = "Hello Ann, your order 42 ships today.\nThanks for shopping with Acme";

    /// Adds WhatsApp channel 2 (number [`WA_NUMBER`], extension 1000 its member) with
    /// `order_update` synchronised as our template 579.
    async fn whatsapp_setup() -> TestDeps {
        let deps = setup().await;
        let mut channel = adapters::memory::fixtures::whatsapp_channel(
            2,
            &[(WA_NUMBER, Destination::Extension(ExtensionId::new(1).unwrap()))],
        );
        channel.numbers[0].members = vec![Member::Extension(ExtensionId::new(1).unwrap())];
        deps.store.insert_channel(&channel).await.unwrap().unwrap();
        let page = parse_template_page(ORDER_UPDATE_PAGE.as_bytes()).unwrap();
        let template = select_for_sync(page.templates).templates.remove(0);
        let stored = StoredTemplate { id: 579, channel_id: whatsapp_id(), template };
        let sync = TemplateSync {
            synced_at: deps.clock.now(),
            kept: 1,
            not_approved: 0,
            catalog: 0,
            over_limit: 0,
            invalid: 0,
        };
        deps.store.replace_templates(whatsapp_id(), &[], &[stored], &sync).await.unwrap();
        deps
    }

    fn whatsapp_id() -> ChannelId {
        ChannelId::new(2).unwrap()
    }

    /// The customer writes on WhatsApp; returns the session (owned by extension 1000).
    async fn whatsapp_inbound(deps: &TestDeps) -> SessionId {
        let mut record =
            pending_inbound("wamid.in-1", "+8618012121222", WA_NUMBER, "Where is my order?", deps.clock.now());
        record.key.channel_id = whatsapp_id();
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let ports = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &InMemoryEvents::new(),
            timers: &InMemoryQueues::new(),
        };
        match route_inbound(&ports, &InboundJob { key }).await.unwrap() {
            domain::services::routing::RouteOutcome::Routed { session_id, .. } => session_id,
            other => panic!("not routed: {other:?}"),
        }
    }

    /// `order_update` filled with `values` for the body, as a client's `whatsapp_msg_param`.
    fn order_update(values: &[&str]) -> String {
        let parameters: Vec<Value> = values.iter().map(|v| json!({"type": "text", "text": v})).collect();
        json!({"id": 579, "template_id": "1667192013751005", "name": "order_update", "language": {"code": "en_US"},
               "parameter_format": "POSITIONAL", "components": [{"type": "BODY", "parameters": parameters}]})
        .to_string()
    }

    fn parsed(param: &str) -> Option<TemplateMessage> {
        Some(TemplateMessage::parse(param).unwrap())
    }

    /// Extension 1000 (or 1001 when `id` is 2) sends through the domain directly.
    async fn accept(
        deps: &TestDeps,
        id: u64,
        target: MessageTarget,
        text: &str,
        template: Option<TemplateMessage>,
    ) -> Result<domain::services::sending::AcceptedMessage, AcceptError> {
        let ports = AcceptPorts {
            sessions: &deps.store,
            channels: &deps.store,
            queues: &deps.store,
            sequences: &deps.store,
            outbound: &deps.outbound,
            events: &deps.events,
            clock: &deps.clock,
            templates: &deps.store,
        };
        let ext = ExtensionId::new(id).unwrap();
        let number = ExtensionNumber::parse(if id == 1 { "1000" } else { "1001" }).unwrap();
        let message = AgentMessage {
            target,
            actor: Actor::Extension(ext),
            sender: Sender::Extension { id: ext, number },
            text: text.to_owned(),
            template,
        };
        accept_agent_message(&ports, message).await
    }

    async fn history(deps: &TestDeps, session: SessionId) -> Vec<domain::message::Message> {
        deps.store.messages(session, None, 10).await.unwrap()
    }

    const DAY_AND_AN_HOUR: std::time::Duration = std::time::Duration::from_secs(25 * 3600);

    #[tokio::test]
    async fn a_template_reply_outside_the_24_hour_window_is_accepted_with_its_preview_and_cloud_api_object() {
        let deps = whatsapp_setup().await;
        let session = whatsapp_inbound(&deps).await;
        deps.clock.advance(DAY_AND_AN_HOUR);
        let accepted =
            accept(&deps, 1, MessageTarget::Session(session), "", parsed(&order_update(&["Ann", "42"]))).await.unwrap();
        assert_eq!((accepted.session_id, accepted.started), (session, false));
        let stored = history(&deps, session).await.into_iter().find(|m| m.msg_id == accepted.msg_id).unwrap();
        assert_eq!(stored.text.as_deref(), Some(ORDER_UPDATE_PREVIEW));
        assert_eq!(
            stored.template,
            Some(json!({"name": "order_update", "language": {"code": "en_US"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]}]}))
        );
        assert_eq!(deps.outbound.take_outbound().len(), 1);
    }

    #[tokio::test]
    async fn free_text_outside_the_24_hour_window_is_still_refused() {
        let deps = whatsapp_setup().await;
        let session = whatsapp_inbound(&deps).await;
        accept(&deps, 1, MessageTarget::Session(session), "inside the window", None).await.unwrap();
        deps.clock.advance(DAY_AND_AN_HOUR);
        let err = accept(&deps, 1, MessageTarget::Session(session), "are you there?", None).await.unwrap_err();
        assert!(matches!(err, AcceptError::Refused(Refusal::TemplateRequired)), "{err:?}");
        assert_eq!(history(&deps, session).await.len(), 2, "the refused text is not stored");
    }

    #[tokio::test]
    async fn an_unknown_template_or_a_missing_variable_is_refused_and_nothing_is_stored() {
        let deps = whatsapp_setup().await;
        let session = whatsapp_inbound(&deps).await;
        let target = || MessageTarget::Session(session);
        let unknown = json!({"name": "order_updates", "language": {"code": "en_US"}}).to_string();
        let err = accept(&deps, 1, target(), "", parsed(&unknown)).await.unwrap_err();
        assert!(
            matches!(&err, AcceptError::Template(TemplateError::NotSynchronised { name, .. }) if name == "order_updates"),
            "{err:?}"
        );
        // our id must be one of this channel's templates
        let other_id = order_update(&["Ann", "42"]).replace("579", "580");
        let err = accept(&deps, 1, target(), "", parsed(&other_id)).await.unwrap_err();
        assert!(matches!(err, AcceptError::Template(TemplateError::NotSynchronised { .. })), "{err:?}");
        let err = accept(&deps, 1, target(), "", parsed(&order_update(&["Ann"]))).await.unwrap_err();
        assert_eq!(err.to_string(), "variable {{2}} of the body has no value");
        assert!(matches!(err, AcceptError::Template(TemplateError::MissingValue { .. })));
        assert_eq!(history(&deps, session).await.len(), 1, "only the customer's message");
        assert!(deps.outbound.take_outbound().is_empty());
    }

    #[tokio::test]
    async fn a_member_of_the_number_starts_a_whatsapp_session_with_a_template() {
        let deps = whatsapp_setup().await;
        let start = || MessageTarget::Start {
            channel: "whatsapp".into(),
            business_number: WA_NUMBER.into(),
            customer: CustomerAddress::parse("+18003275906").unwrap(),
        };
        let param = order_update(&["Ann", "42"]);
        let refused = accept(&deps, 2, start(), "", parsed(&param)).await.unwrap_err();
        assert!(matches!(refused, AcceptError::StartRefused(StartRefusal::NotAllowedOnNumber)), "{refused:?}");
        let accepted = accept(&deps, 1, start(), "", parsed(&param)).await.unwrap();
        assert!(accepted.started);
        let session = deps.store.session(accepted.session_id).await.unwrap().unwrap();
        assert_eq!(session.channel_type, ChannelType::WhatsApp);
        assert_eq!(session.assignment, Assignment::Extension(ExtensionId::new(1).unwrap()));
        assert_eq!(session.last_message.unwrap().preview, ORDER_UPDATE_PREVIEW);
        let stored = history(&deps, accepted.session_id).await;
        assert_eq!(stored[0].text.as_deref(), Some(ORDER_UPDATE_PREVIEW));
        assert!(stored[0].template.is_some());
        // the customer has not written: free text in it is still refused
        let err = accept(&deps, 1, MessageTarget::Session(accepted.session_id), "hi", None).await.unwrap_err();
        assert!(matches!(err, AcceptError::Refused(Refusal::TemplateRequired)), "{err:?}");
    }

    #[tokio::test]
    async fn starting_a_whatsapp_session_with_text_is_refused() {
        let deps = whatsapp_setup().await;
        let start = MessageTarget::Start {
            channel: "whatsapp".into(),
            business_number: WA_NUMBER.into(),
            customer: CustomerAddress::parse("+18003275906").unwrap(),
        };
        let err = accept(&deps, 1, start, "Hello", None).await.unwrap_err();
        assert!(matches!(err, AcceptError::StartRefused(StartRefusal::TemplateRequired)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "a WhatsApp session can only be started with a template (msg_kind 1 with whatsapp_msg_param)"
        );
        assert!(deps.outbound.take_outbound().is_empty());
    }

    #[tokio::test]
    async fn a_template_on_an_sms_channel_is_refused() {
        let deps = whatsapp_setup().await;
        let session = SessionId::new(inbound(&deps, "m1", "+14102161183").await).unwrap();
        let param = order_update(&["Ann", "42"]);
        let err = accept(&deps, 1, MessageTarget::Session(session), "", parsed(&param)).await.unwrap_err();
        assert!(matches!(err, AcceptError::TemplateNotSupported(ChannelType::Sms)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "msg_kind 1 (WhatsApp template message) can only be sent on WhatsApp channels; this is an sms channel: \
             send msg_kind 0 with msg_body"
        );
        let start = MessageTarget::Start {
            channel: "general".into(),
            business_number: "+14102161183".into(),
            customer: CustomerAddress::parse("+18003275906").unwrap(),
        };
        let err = accept(&deps, 1, start, "", parsed(&param)).await.unwrap_err();
        assert!(matches!(err, AcceptError::TemplateNotSupported(ChannelType::Sms)), "{err:?}");
        assert_eq!(history(&deps, session).await.len(), 1);
    }

    #[tokio::test]
    async fn message_send_with_msg_kind_1_is_accepted_and_the_history_shows_the_preview() {
        let deps = whatsapp_setup().await;
        let session = whatsapp_inbound(&deps).await;
        deps.clock.advance(DAY_AND_AN_HOUR);
        let leo = token(&deps, "1000", "Agent1234").await;
        let body = |kind: u8, param: Option<String>, text: Option<&str>| {
            let mut b = json!({"sender_type": 1, "sender_no": "1000", "session_id": session, "msg_kind": kind});
            if let Some(p) = param {
                b["whatsapp_msg_param"] = json!(p);
            }
            if let Some(t) = text {
                b["msg_body"] = json!(t);
            }
            b
        };
        let free = call(&deps, post("message/send", &leo, body(0, None, Some("still there?")))).await;
        assert_eq!((free["errcode"].clone(), free["reason"].clone()), (json!(70084), json!("template_required")));

        let sent = call(&deps, post("message/send", &leo, body(1, Some(order_update(&["Ann", "42"])), None))).await;
        assert_eq!(sent["errcode"], 0, "{sent}");
        let history = call(&deps, get("message/get", &leo, &[("id", &session.to_string()), ("page_size", "10")])).await;
        let record = &history["data"]["records"][0];
        assert_eq!(record["msg_id"], sent["msg_id"]);
        assert_eq!(record["msg_body"], ORDER_UPDATE_PREVIEW);
        assert_eq!(record["msg_kind"], 1);
        let (job, _) = deps.outbound.take_outbound().remove(0);
        let stored = OutboundLedger::message(&deps.store, job.session_id, job.msg_id).await.unwrap().unwrap();
        assert_eq!(stored.text.as_deref(), Some(ORDER_UPDATE_PREVIEW));
        assert_eq!(stored.template.unwrap()["name"], "order_update");

        let missing = call(&deps, post("message/send", &leo, body(1, Some(order_update(&["Ann"])), None))).await;
        assert_eq!(missing["errcode"], 40002, "{missing}");
        assert_eq!(missing["invalid_param_list"][0]["field"], "whatsapp_msg_param", "{missing}");
        assert_eq!(missing["submsg"], "whatsapp_msg_param: variable {{2}} of the body has no value");
        let absent = call(&deps, post("message/send", &leo, body(1, None, Some("Hi")))).await;
        assert_eq!(absent["invalid_param_list"][0]["field"], "whatsapp_msg_param", "{absent}");

        // on the SMS channel: a parameter error naming msg_kind
        let sms = inbound(&deps, "m1", "+14102161183").await;
        let mut on_sms = body(1, Some(order_update(&["Ann", "42"])), None);
        on_sms["session_id"] = json!(sms);
        let refused = call(&deps, post("message/send", &leo, on_sms)).await;
        assert_eq!(refused["errcode"], 40002, "{refused}");
        assert_eq!(refused["invalid_param_list"][0]["field"], "msg_kind", "{refused}");

        // starting a WhatsApp session: with the template, not with text
        let start = |kind: u8| {
            let mut b = json!({"sender_type": 1, "sender_no": "1000", "channel": "whatsapp", "did_number": WA_NUMBER,
                               "to": "+1 800 327 5906", "msg_kind": kind, "msg_body": "Hello"});
            if kind == 1 {
                b["whatsapp_msg_param"] = json!(order_update(&["Ann", "42"]));
            }
            b
        };
        let text = call(&deps, post("message/send", &leo, start(0))).await;
        assert_eq!((text["errcode"].clone(), text["reason"].clone()), (json!(70084), json!("template_required")));
        assert_eq!(
            text["submsg"],
            "a WhatsApp session can only be started with a template (msg_kind 1 with whatsapp_msg_param)"
        );
        let started = call(&deps, post("message/send", &leo, start(1))).await;
        assert_eq!((started["errcode"].clone(), started["data"]["started"].clone()), (json!(0), json!(true)));
    }
}

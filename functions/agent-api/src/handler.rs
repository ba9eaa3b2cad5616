//! Routes `/openapi/v1.0/message_session/<action>` and `/openapi/v1.0/message/<action>`.
//!
//! Who acts: an agent's token acts only as its own extension; an API client's token may act as
//! any extension (`user_type`/`sender_type` 1 with the extension number). A session the acting
//! extension may not see is answered exactly like a missing one (60001), so existence is not
//! revealed.

use domain::auth::Principal;
use domain::directory::Extension;
use domain::ids::{MessageId, SessionId};
use domain::openapi::sessions::{self, Operator};
use domain::openapi::{ApiError, ErrCode, Fields, success};
use domain::ports::{
    ChannelReader, Clock, ExtensionDirectory, IdempotencyStore, OutboundQueue, QueueDirectory, Sequences, SessionStore,
    TokenStore,
};
use domain::services::sending::{AcceptError, AcceptPorts, AgentMessage, accept_agent_message};
use domain::session::{ReplyRefusal, Session};
use lambda_http::{Body, Error, Request, Response};
use lambda_support::openapi::{Access, ApiRequest, Failure, ServePorts, serve};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

/// What the handler needs.
pub struct Deps<S, O, K> {
    /// Every store port (one DynamoDB store in production).
    pub store: S,
    /// The sending queue.
    pub outbound: O,
    /// Time.
    pub clock: K,
}

/// The store ports this function uses.
pub trait AgentStore:
    SessionStore + ChannelReader + ExtensionDirectory + QueueDirectory + Sequences + TokenStore + IdempotencyStore
{
}
impl<T> AgentStore for T where
    T: SessionStore + ChannelReader + ExtensionDirectory + QueueDirectory + Sequences + TokenStore + IdempotencyStore
{
}

/// Handles one request.
pub async fn handle<S: AgentStore, O: OutboundQueue, K: Clock>(
    deps: &Deps<S, O, K>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let req = ApiRequest::from_lambda(&request);
    let span = info_span!("agent_api", method = req.method.as_str(), path = req.path.as_str());
    Ok(route(deps, &req).instrument(span).await)
}

async fn route<S: AgentStore, O: OutboundQueue, K: Clock>(deps: &Deps<S, O, K>, req: &ApiRequest) -> Response<Body> {
    let ports = ServePorts { tokens: &deps.store, idempotency: &deps.store, clock: &deps.clock };
    let resource = req.path.trim_end_matches('/').rsplit('/').nth(1).unwrap_or_default().to_owned();
    serve(&ports, req, Access::AnyCaller, |principal| async move {
        match (resource.as_str(), req.action.as_str()) {
            ("message_session", "list") => session_list(deps, req, &principal).await,
            ("message_session", "get") => session_get(deps, req, &principal).await,
            ("message", "send") => message_send(deps, req, &principal).await,
            ("message", "get") => message_get(deps, req, &principal).await,
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
    ApiError::new(ErrCode::DataNotFound, format!("session {id} does not exist or is not handled by this extension"))
        .into()
}

/// The extension a call acts as, checked against the caller.
async fn acting_extension<S: AgentStore>(
    store: &S,
    principal: &Principal,
    operator: &Operator,
) -> Result<Extension, Failure> {
    let Operator::Extension(number) = operator else {
        return Err(ApiError::field(
            "user_type",
            "unsupported",
            "acting as the third-party platform (9) is not supported by this version yet",
        )
        .into());
    };
    if let Principal::Agent { number: own, .. } = principal
        && own != number
    {
        return Err(ApiError::new(ErrCode::AccessDenied, "an agent token can act only as its own extension").into());
    }
    store
        .extension_by_number(number)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("extension {number} does not exist")).into())
}

/// Who may read a session: API clients always; an extension if it owns the session or it waits
/// in one of its queues.
async fn readable<S: AgentStore>(store: &S, principal: &Principal, id: SessionId) -> Result<Session, Failure> {
    let session = store.session(id).await?.ok_or_else(|| not_found(id))?;
    match principal {
        Principal::ApiClient { .. } => Ok(session),
        Principal::Agent { extension_id, .. } => {
            let queues = store.queues_of_agent(*extension_id).await?;
            if session.visible_to(*extension_id, &queues) { Ok(session) } else { Err(not_found(id)) }
        }
    }
}

async fn session_list<S: AgentStore, O: OutboundQueue, K: Clock>(
    deps: &Deps<S, O, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = sessions::parse_session_list(&req.query_value())?;
    if query.operator == Operator::Api {
        // No destination routes to the third-party platform in this version, so it has no sessions.
        return Ok(success(json!({"list": []})));
    }
    let ext = acting_extension(&deps.store, principal, &query.operator).await?;
    let mut list = deps.store.sessions_of_extension(ext.id, query.page_size).await?;
    for queue in deps.store.queues_of_agent(ext.id).await? {
        list.extend(deps.store.sessions_in_queue(queue, query.page_size).await?);
    }
    list.retain(|s| query.closed.is_none_or(|closed| closed != s.is_open()));
    list.sort_by_key(|s| std::cmp::Reverse((s.last_activity_at, s.id)));
    list.dedup_by_key(|s| s.id);
    list.truncate(query.page_size);
    Ok(success(json!({"list": list.iter().map(sessions::session_list_item).collect::<Vec<_>>()})))
}

fn session_id_param(req: &ApiRequest, name: &str) -> Result<SessionId, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let id = f.integer(name);
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| SessionId::new(v).ok())
        .ok_or_else(|| ApiError::field(name, "format", "must be a positive integer").into())
}

async fn session_get<S: AgentStore, O: OutboundQueue, K: Clock>(
    deps: &Deps<S, O, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = session_id_param(req, "id")?;
    let session = readable(&deps.store, principal, id).await?;
    let channel_name = deps.store.channel(session.key.channel_id).await?.map(|c| c.name).unwrap_or_default();
    // Yeastar returns the one session under `list`.
    Ok(success(json!({"list": sessions::session_detail(&session, &channel_name)})))
}

async fn message_send<S: AgentStore, O: OutboundQueue, K: Clock>(
    deps: &Deps<S, O, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let query = sessions::parse_send(&req.json_body()?)?;
    let ext = acting_extension(&deps.store, principal, &query.operator).await?;
    let ports = AcceptPorts {
        sessions: &deps.store,
        queues: &deps.store,
        sequences: &deps.store,
        outbound: &deps.outbound,
        clock: &deps.clock,
    };
    let accepted = accept_agent_message(
        &ports,
        AgentMessage {
            session_id: query.session_id,
            agent: ext.id,
            agent_number: ext.number.clone(),
            text: query.msg_body,
        },
    )
    .await
    .map_err(|e| match e {
        AcceptError::Refused(ReplyRefusal::NotYours) => not_found(query.session_id),
        AcceptError::Refused(ReplyRefusal::Closed) => {
            ApiError::new(ErrCode::ActionForbidden, "the session is closed; no more messages can be sent in it").into()
        }
        AcceptError::InvalidText(msg) => ApiError::field("msg_body", "length", msg).into(),
        AcceptError::SessionChanged => ApiError::new(
            ErrCode::ActionForbidden,
            "the session was closed or taken by another agent while sending; nothing was sent",
        )
        .into(),
        AcceptError::Store(s) => Failure::Store(s),
    })?;
    let data = json!({"session_id": accepted.session_id, "msg_id": accepted.msg_id, "request_id": query.request_id});
    Ok(success(json!({"session_id": accepted.session_id, "msg_id": accepted.msg_id, "data": data})))
}

async fn message_get<S: AgentStore, O: OutboundQueue, K: Clock>(
    deps: &Deps<S, O, K>,
    req: &ApiRequest,
    principal: &Principal,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = session_id_param(req, "id")?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let page_size = f.integer("page_size");
    if page_size.is_some_and(|p| !(1..=100).contains(&p)) {
        f.error("page_size", "range", "must be between 1 and 100");
    }
    let before = f.opt_integer("last_msg_id");
    f.finish()?;
    let limit = page_size.and_then(|p| usize::try_from(p).ok()).unwrap_or(20);
    let before = before.and_then(|b| u64::try_from(b).ok()).and_then(|b| MessageId::new(b).ok());
    readable(&deps.store, principal, id).await?;
    let records: Vec<Value> =
        deps.store.messages(id, before, limit).await?.iter().map(sessions::message_record).collect();
    Ok(success(json!({"data": {"session_id": id, "records": records}})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::fixtures::{general_channel, pending_inbound};
    use adapters::memory::{InMemoryEvents, InMemoryQueues, InMemoryStore, ManualClock, close_session_for_test};
    use adapters::system::OsRandom;
    use domain::channel::Destination;
    use domain::directory::{AssignmentMode, MessageQueue};
    use domain::ids::{ExtensionId, ExtensionNumber, QueueId};
    use domain::inbound::InboundJob;
    use domain::ports::{ChannelWriter, Inbox};
    use domain::secret::Secret;
    use domain::services::routing::{RoutingPorts, route_inbound};
    use domain::services::tokens::{AdminClient, TokenPorts, get_token};
    use domain::session::Assignment;
    use domain::time::Timestamp;
    use lambda_support::testing::apigw_request;

    const LIST_SAMPLE: &str = include_str!("../../../events/agent-api.message-session-list.json");
    const SEND_SAMPLE: &str = include_str!("../../../events/agent-api.message-send.json");

    type TestDeps = Deps<InMemoryStore, InMemoryQueues, ManualClock>;

    /// Extensions 1000 (id 1) and 1001 (id 2); queue 1 (auto-pickup, both agents); number
    /// +14102161183 routes to extension 1000, +14102161184 to the queue.
    async fn setup() -> TestDeps {
        let deps = Deps {
            store: InMemoryStore::new(),
            outbound: InMemoryQueues::new(),
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
        deps.store
            .insert_queue(&MessageQueue {
                id: QueueId::new(1).unwrap(),
                name: "Support".into(),
                assignment_mode: AssignmentMode::Auto,
                members: vec![ExtensionId::new(1).unwrap(), ExtensionId::new(2).unwrap()],
                created_at: deps.clock.now(),
            })
            .await
            .unwrap();
        let channel = general_channel(
            1,
            1,
            None,
            &[
                ("+14102161183", Destination::Extension(ExtensionId::new(1).unwrap())),
                ("+14102161184", Destination::Queue(QueueId::new(1).unwrap())),
            ],
        );
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

    fn list(token: &str, user_no: &str) -> Request {
        apigw_request(
            "GET",
            "/openapi/v1.0/message_session/{action}",
            "/openapi/v1.0/message_session/list",
            &[("access_token", token), ("page_size", "20"), ("user_type", "1"), ("user_no", user_no)],
            &[],
            None,
        )
    }

    fn send(token: &str, sender_no: &str, session: u64, text: &str, key: Option<&str>) -> Request {
        let body =
            json!({"sender_type": 1, "sender_no": sender_no, "session_id": session, "msg_body": text}).to_string();
        let headers: Vec<(&str, &str)> = key.map(|k| vec![("Idempotency-Key", k)]).unwrap_or_default();
        apigw_request(
            "POST",
            "/openapi/v1.0/message/{action}",
            "/openapi/v1.0/message/send",
            &[("access_token", token)],
            &headers,
            Some(&body),
        )
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
        assert_eq!(reply, json!({"errcode": 0, "errmsg": "SUCCESS", "list": []}));
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
        let history = call(
            &deps,
            apigw_request(
                "GET",
                "/openapi/v1.0/message/{action}",
                "/openapi/v1.0/message/get",
                &[("access_token", &leo), ("id", &session.to_string()), ("page_size", "10")],
                &[],
                None,
            ),
        )
        .await;
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
        assert_eq!(
            call(&deps, send(&leo, "1000", session, "me too", None)).await["errcode"],
            60001,
            "now owned by 1001"
        );
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
        let detail = call(
            &deps,
            apigw_request(
                "GET",
                "/openapi/v1.0/message_session/{action}",
                "/openapi/v1.0/message_session/get",
                &[("access_token", &admin), ("id", &session.to_string())],
                &[],
                None,
            ),
        )
        .await;
        assert_eq!(detail["list"]["did_number"], "+14102161183");
        assert_eq!(detail["list"]["channel_name"], "General SMS");
    }
}

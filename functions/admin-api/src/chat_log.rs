//! `chat_log/*`: the administrator's external chat logs (docs/api.md "Chat logs"). Thin: the
//! decisions are in `domain::services::chat_logs`.

use adapters::s3::{S3Exports, SqsExportQueue};
use domain::chat_log::{DeleteRefusal, ExportId};
use domain::ids::SessionId;
use domain::openapi::{ApiError, ErrCode, Fields, chat_logs, success};
use domain::ports::{Clock, EventPublisher, ProviderHttp, Random};
use domain::services::chat_logs::{
    DOWNLOAD_LINK_TTL, DeleteError, delete_messages, delete_sessions, export_status, load_names, messages_page, search,
    start_export,
};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

use crate::handler::{AdminStore, Deps};

/// Where exports go: the bucket (and its download links) and the export function's queue.
#[derive(Debug, Clone)]
pub struct ChatLogExports {
    /// The bucket.
    pub storage: S3Exports,
    /// The queue.
    pub queue: SqsExportQueue,
}

/// Routes `chat_log/{action}`.
pub async fn route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    match req.action.as_str() {
        "search" => search_route(deps, req).await,
        "timeline" => timeline(deps, req).await,
        "messages" => messages(deps, req).await,
        "delete" => delete(deps, req).await,
        "delete_messages" => delete_message_route(deps, req).await,
        "export" => export(deps, req).await,
        "export_status" => status(deps, req).await,
        action => Err(ApiError::new(
            ErrCode::InterfaceNotExisted,
            format!("chat_log/{action} is not an endpoint of this version"),
        )
        .into()),
    }
}

fn session_id_param(req: &ApiRequest) -> Result<SessionId, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let id = f.integer("id");
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| SessionId::new(v).ok())
        .ok_or_else(|| ApiError::field("id", "format", "must be a positive integer (a session id)").into())
}

async fn existing_session<S: AdminStore>(store: &S, id: SessionId) -> Result<domain::session::Session, Failure> {
    store
        .session(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("session {id} does not exist")).into())
}

async fn search_route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = chat_logs::parse_search(&req.query_value(), deps.clock.now())?;
    let names = load_names(&deps.store).await?;
    let page = search(&deps.store, &names, &query.filter, query.page, query.page_size).await?;
    let list: Vec<Value> = page.sessions.iter().map(|s| chat_logs::session_json(s, &names)).collect();
    Ok(success(json!({
        "total_number": page.total,
        "page": query.page,
        "page_size": query.page_size,
        "list": list,
    })))
}

async fn timeline<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = session_id_param(req)?;
    let session = existing_session(&deps.store, id).await?;
    let names = load_names(&deps.store).await?;
    let entries = deps.store.timeline(id).await?;
    let list: Vec<Value> = entries.iter().map(|t| chat_logs::timeline_json(t, &session, &names)).collect();
    Ok(success(json!({"session_id": id, "list": list})))
}

async fn messages<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = session_id_param(req)?;
    let (page, page_size) = chat_logs::parse_paging(&req.query_value())?;
    let session = existing_session(&deps.store, id).await?;
    let names = load_names(&deps.store).await?;
    let found = messages_page(&deps.store, id, page, page_size).await?;
    let list: Vec<Value> = found.messages.iter().map(|m| chat_logs::message_json(m, &session, &names)).collect();
    Ok(success(json!({
        "session_id": id,
        "total_number": found.total,
        "page": page,
        "page_size": page_size,
        "list": list,
    })))
}

fn delete_failure(e: DeleteError, what: &str) -> Failure {
    match e {
        DeleteError::NotFound(ids) => ApiError::new(
            ErrCode::DataNotFound,
            format!(
                "{what} {} not found; nothing was deleted",
                ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
        )
        .into(),
        DeleteError::Refused(refusal) => refused(refusal),
        DeleteError::Store(e) => e.into(),
    }
}

fn refused(refusal: DeleteRefusal) -> Failure {
    ApiError::new(ErrCode::ActionForbidden, format!("{refusal}; nothing was deleted"))
        .with_reason(refusal.reason())
        .into()
}

async fn delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let ids = chat_logs::parse_delete(&req.json_body()?)?;
    let deleted = delete_sessions(&deps.store, &ids).await.map_err(|e| delete_failure(e, "session"))?;
    tracing::info!(sessions = deleted, "chat-log sessions deleted");
    Ok(success(json!({"deleted": deleted})))
}

async fn delete_message_route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let (session, ids) = chat_logs::parse_delete_messages(&req.json_body()?)?;
    let deleted =
        delete_messages(&deps.store, session, &ids).await.map_err(|e| delete_failure(e, "session or message"))?;
    tracing::info!(session_id = %session, messages = deleted, "chat-log messages deleted");
    Ok(success(json!({"deleted": deleted})))
}

fn exports<S, R, K, H, E>(deps: &Deps<S, R, K, H, E>) -> Result<&ChatLogExports, Failure> {
    deps.chat_log_exports.as_ref().ok_or_else(|| {
        ApiError::new(ErrCode::ActionForbidden, "chat-log exports are not configured on this deployment").into()
    })
}

async fn export<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let query = chat_logs::parse_search(&req.json_body()?, deps.clock.now())?;
    let exports = exports(deps)?;
    let job = start_export(&deps.store, &exports.queue, &deps.random, &deps.clock, query.filter).await?;
    tracing::info!(export_id = %job.id, "chat-log export requested");
    Ok(success(json!({"id": job.id.as_str(), "state": job.state.name()})))
}

async fn status<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let id = f.string("id");
    f.finish()?;
    let id = id
        .and_then(|v| ExportId::parse(&v).ok())
        .ok_or_else(|| ApiError::field("id", "format", "must be an export id (32 lowercase hex characters)"))?;
    let exports = exports(deps)?;
    match export_status(&deps.store, &exports.storage, &id).await? {
        Some((job, url)) => Ok(success(chat_logs::export_json(&job, url.as_deref(), DOWNLOAD_LINK_TTL.as_secs()))),
        None => {
            Err(ApiError::new(ErrCode::DataNotFound, format!("export {id} does not exist (or has expired)")).into())
        }
    }
}

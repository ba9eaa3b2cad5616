//! Routes `/openapi/v1.0/<resource>/<action>` to the administrator's use cases.

use domain::auth::AuthFailures;
use domain::channel::{Channel, ChannelStatus, UrlPolicy};
use domain::directory::{Extension, MessageQueue, QueueLimits};
use domain::ids::{ChannelId, ExtensionId, QueueId};
use domain::openapi::{ApiError, ErrCode, Fields, channels, directory, parse_id_list, success, templates};
use domain::ports::{
    ChannelHealthLedger, ChannelReader, ChannelWriter, Clock, EventPublisher, ExtensionDirectory, ExtensionGroups,
    IdempotencyStore, InactiveSessions, Organizations, ProviderHttp, QueueDirectory, Random, Sequences, SessionStore,
    SlaLedger, StatsReader, TemplateStore, TokenStore,
};
use domain::provider::ProviderEndpoints;
use domain::secret::Secret;
use domain::services::admin::{
    AdminError, AdminPorts, create_channel, create_extension, create_queue, delete_channel, delete_extension,
    delete_queue, update_channel, update_extension, update_queue,
};
use domain::services::channel_health::{HealthPorts, check_now};
use domain::services::templates::{SyncError, TemplateSyncPorts, sync_channel};
use domain::services::tokens::{
    AdminClient, AuthError, TokenError, TokenPorts, authenticate, get_token, refresh_token, revoke_token,
};
use domain::stats::{Counters, TimeRange};
use lambda_http::{Body, Error, Request, Response};
use lambda_support::openapi::{Access, ApiRequest, Failure, ServePorts, respond, serve};
use serde_json::{Value, json};
use tracing::{Instrument, info_span};

mod groups;
mod webhook;

/// What the handler needs.
pub struct Deps<S, R, K, H, E> {
    /// Every store port (one DynamoDB store in production).
    pub store: S,
    /// Randomness (tokens, webhook tokens, salts).
    pub random: R,
    /// Time.
    pub clock: K,
    /// The bootstrap administrator client.
    pub admin: AdminClient,
    /// Configured public base URL.
    pub public_base_url: Option<String>,
    /// Provider URL schemes allowed.
    pub url_policy: UrlPolicy,
    /// Provider HTTP (the on-demand WhatsApp template sync reads Meta's Graph API).
    pub provider: H,
    /// Where the providers' APIs are.
    pub endpoints: ProviderEndpoints,
    /// The event bus (`channel.health_changed` of the check right after a create or update).
    pub events: E,
    /// The organisation's plan size in extensions (sets the message-queue limits).
    pub extension_capacity: u32,
    /// Chat-log exports (bucket and queue); `None` where the deployment has none.
    pub chat_log_exports: Option<crate::chat_log::ChatLogExports>,
    /// Message campaigns (the worker's queue, the time zone); `None` where the deployment has none.
    pub campaigns: Option<crate::campaign::Campaigns>,
}

/// The store ports this function uses.
pub trait AdminStore:
    ChannelReader
    + ChannelWriter
    + ExtensionDirectory
    + ExtensionGroups
    + Organizations
    + QueueDirectory
    + Sequences
    + TokenStore
    + IdempotencyStore
    + StatsReader
    + InactiveSessions
    + SlaLedger
    + TemplateStore
    + ChannelHealthLedger
    + SessionStore
    + domain::ports::WebhookSettingsStore
    + domain::ports::ParkedDeliveries
    + domain::ports::ChatLogStore
    + domain::ports::ExportJobs
    + domain::ports::OutboundLedger
    + domain::ports::Phonebooks
    + domain::ports::CampaignStore
    + domain::ports::FileStore
{
}
impl<T> AdminStore for T where
    T: ChannelReader
        + ChannelWriter
        + ExtensionDirectory
        + ExtensionGroups
        + Organizations
        + QueueDirectory
        + Sequences
        + TokenStore
        + IdempotencyStore
        + StatsReader
        + InactiveSessions
        + SlaLedger
        + TemplateStore
        + ChannelHealthLedger
        + SessionStore
        + domain::ports::WebhookSettingsStore
        + domain::ports::ParkedDeliveries
        + domain::ports::ChatLogStore
        + domain::ports::ExportJobs
        + domain::ports::OutboundLedger
        + domain::ports::Phonebooks
        + domain::ports::CampaignStore
        + domain::ports::FileStore
{
}

/// Handles one request.
pub async fn handle<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    request: Request,
) -> Result<Response<Body>, Error> {
    let req = ApiRequest::from_lambda(&request);
    let span = info_span!("admin_api", method = req.method.as_str(), path = req.path.as_str());
    Ok(route(deps, &req).instrument(span).await)
}

fn resource(path: &str) -> &str {
    let mut parts = path.trim_end_matches('/').rsplit('/');
    let _action = parts.next();
    parts.next().unwrap_or_default()
}

async fn route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Response<Body> {
    if req.path.ends_with("/get_token") {
        return respond(issue_token(deps, req).await);
    }
    if req.path.ends_with("/refresh_token") {
        return respond(refresh(deps, req).await);
    }
    if req.path.ends_with("/del_token") {
        return respond(revoke(deps, req).await);
    }
    let ports = ServePorts { tokens: &deps.store, idempotency: &deps.store, clock: &deps.clock };
    serve(&ports, req, Access::Admin, |_principal| async {
        match (resource(&req.path), req.action.as_str()) {
            ("message_channel", "create") => channel_create(deps, req).await,
            ("message_channel", "get") => channel_get(deps, req).await,
            ("message_channel", "query") => channel_query(deps, req).await,
            ("message_channel", "list") => channel_list(deps, req).await,
            ("message_channel", "search") => channel_search(deps, req).await,
            ("message_channel", "update") => channel_update(deps, req).await,
            ("message_channel", "delete") => channel_delete(deps, req).await,
            ("message_channel", "whatsapp_template") => whatsapp_templates(deps, req).await,
            ("message_channel", "sync_whatsapp_template") => whatsapp_template_sync(deps, req).await,
            ("extension", "create") => extension_create(deps, req).await,
            ("extension", "get") => extension_get(deps, req).await,
            ("extension", "list") => extension_list(deps, req).await,
            ("extension", "update") => extension_update(deps, req).await,
            ("extension", "delete") => extension_delete(deps, req).await,
            ("message_queue", "create") => queue_create(deps, req).await,
            ("message_queue", "get") => queue_get(deps, req).await,
            ("message_queue", "list") => queue_list(deps, req).await,
            ("message_queue", "sla") => queue_sla(deps, req).await,
            ("message_queue", "search") => queue_search(deps, req).await,
            ("message_queue", "query") => queue_query(deps, req).await,
            ("message_queue", "update") => queue_update(deps, req).await,
            // The docs' request URL spells it `message_queues/delete`; their example does not.
            ("message_queue" | "message_queues", "delete") => queue_delete(deps, req).await,
            ("chat_log", _) => crate::chat_log::route(deps, req).await,
            ("message_campaign", _) => crate::campaign::route(deps, req).await,
            ("phonebook", _) => crate::phonebook::route(deps, req).await,
            ("extensiongroup", "list") => groups::group_list(deps, req).await,
            ("extensiongroup", "search") => groups::group_search(deps, req).await,
            ("extensiongroup", "get") => groups::group_get(deps, req).await,
            ("extensiongroup", "query") => groups::group_query(deps, req).await,
            ("extensiongroup", "create") => groups::group_create(deps, req).await,
            ("extensiongroup", "update") => groups::group_update(deps, req).await,
            ("extensiongroup", "delete") => groups::group_delete(deps, req).await,
            ("organization", "list") => groups::organization_list(deps, req).await,
            ("organization", "search") => groups::organization_search(deps, req).await,
            ("organization", "get") => groups::organization_get(deps, req).await,
            ("organization", "query") => groups::organization_query(deps, req).await,
            ("organization", "create") => groups::organization_create(deps, req).await,
            ("organization", "update") => groups::organization_update(deps, req).await,
            ("organization", "delete") => groups::organization_delete(deps, req).await,
            ("system", "get_menuoptions") => groups::menu_options(deps, req).await,
            ("webhook", "query") => webhook::query(deps, req).await,
            ("webhook", "update") => webhook::update(deps, req).await,
            ("webhook", "failed_deliveries") => webhook::failed_deliveries(deps, req).await,
            ("webhook", "redeliver") => webhook::redeliver_parked(deps, req).await,
            (resource, action) => Err(ApiError::new(
                ErrCode::InterfaceNotExisted,
                format!("{resource}/{action} is not an endpoint of this version"),
            )
            .into()),
        }
    })
    .await
}

fn admin_failure(e: AdminError) -> Failure {
    match e {
        AdminError::Refused(api) => Failure::Api(api),
        AdminError::Store(s) => Failure::Store(s),
    }
}

fn admin_ports<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
) -> AdminPorts<'_, S, S, S, S, R, K> {
    AdminPorts {
        queue_limits: QueueLimits::for_extension_capacity(deps.extension_capacity),
        sequences: &deps.store,
        channels: &deps.store,
        extensions: &deps.store,
        queues: &deps.store,
        random: &deps.random,
        clock: &deps.clock,
    }
}

// ---------------------------------------------------------------- tokens

async fn issue_token<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let mut f = Fields::new(&body);
    let username = f.string("username");
    let password = f.string("password");
    f.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::field("username", "required", "is required").into());
    };
    check_not_blocked(&deps.store, &deps.clock, req).await?;
    let ports = TokenPorts { tokens: &deps.store, extensions: &deps.store, random: &deps.random, clock: &deps.clock };
    match get_token(&ports, &deps.admin, &username, &Secret::new(password)).await {
        Ok(issued) => {
            record_login(&deps.store, &deps.clock, req, true).await?;
            Ok(tokens_json(&issued))
        }
        Err(TokenError::InvalidCredentials) => {
            record_login(&deps.store, &deps.clock, req, false).await?;
            tracing::warn!(
                source_ip = req.source_ip.as_deref().unwrap_or_default(),
                "get_token with wrong credentials"
            );
            Err(ApiError::new(ErrCode::Failure, "wrong username or password").into())
        }
        Err(TokenError::Randomness) => Err(ApiError::new(ErrCode::Internal, "could not generate a token").into()),
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}

/// Refuses a login from a source address with too many failed logins in a row (errcode 10005,
/// reason `auth_blocked`).
async fn check_not_blocked<S: AdminStore, K: Clock>(store: &S, clock: &K, req: &ApiRequest) -> Result<(), Failure> {
    let Some(source) = req.source_ip.as_deref() else { return Ok(()) };
    if let Some(until) = store.auth_failures(source).await?.and_then(|f| f.blocked_until(clock.now())) {
        tracing::warn!(source_ip = source, until = %until, "login refused: too many failed logins");
        return Err(ApiError::new(
            ErrCode::AccessDenied,
            format!("too many failed logins from this address; try again after {}", until.to_rfc3339()),
        )
        .with_reason("auth_blocked")
        .into());
    }
    Ok(())
}

/// Counts a failed login against its source address, or clears the count after a success.
async fn record_login<S: AdminStore, K: Clock>(
    store: &S,
    clock: &K,
    req: &ApiRequest,
    ok: bool,
) -> Result<(), Failure> {
    let Some(source) = req.source_ip.as_deref() else { return Ok(()) };
    if ok {
        store.clear_auth_failures(source).await?;
    } else {
        let failures = AuthFailures::after_failure(store.auth_failures(source).await?, clock.now());
        store.put_auth_failures(source, &failures).await?;
        if failures.count >= domain::auth::MAX_AUTH_FAILURES {
            tracing::warn!(source_ip = source, failures = failures.count, "source address blocked from logging in");
        }
    }
    Ok(())
}

fn tokens_json(issued: &domain::services::tokens::IssuedTokens) -> Value {
    success(json!({
        "access_token_expire_time": domain::auth::ACCESS_TOKEN_TTL.as_secs(),
        "access_token": issued.access_token.expose(),
        "refresh_token_expire_time": domain::auth::REFRESH_TOKEN_TTL.as_secs(),
        "refresh_token": issued.refresh_token.expose(),
    }))
}

/// `refresh_token` (Yeastar §3.1.2): a new access and refresh token; the old refresh token is
/// used up.
async fn refresh<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let mut f = Fields::new(&body);
    let token = f.string("refresh_token");
    f.finish()?;
    let token = token.ok_or_else(|| ApiError::field("refresh_token", "required", "is required"))?;
    check_not_blocked(&deps.store, &deps.clock, req).await?;
    let ports = TokenPorts { tokens: &deps.store, extensions: &deps.store, random: &deps.random, clock: &deps.clock };
    match refresh_token(&ports, &Secret::new(token)).await {
        Ok(issued) => {
            tracing::info!(principal = issued.principal.scope(), "tokens refreshed");
            Ok(tokens_json(&issued))
        }
        Err(TokenError::InvalidCredentials) => {
            record_login(&deps.store, &deps.clock, req, false).await?;
            tracing::warn!(source_ip = req.source_ip.as_deref().unwrap_or_default(), "refresh with an invalid token");
            Err(ApiError::new(ErrCode::TokenExpired, "the refresh token is invalid, used or expired; call get_token")
                .into())
        }
        Err(TokenError::Randomness) => Err(ApiError::new(ErrCode::Internal, "could not generate a token").into()),
        Err(TokenError::Store(e)) => Err(e.into()),
    }
}

/// `del_token` (Yeastar §3.1.3): revokes the access token the request carries.
async fn revoke<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let token = req.access_token().filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::new(ErrCode::TokenExpired, "the access token is missing, invalid or expired; call get_token")
    })?;
    match authenticate(&deps.store, &deps.clock, Some(token)).await {
        Ok(_) => {}
        Err(AuthError::InvalidToken) => {
            return Err(ApiError::new(ErrCode::TokenExpired, "the access token is missing, invalid or expired").into());
        }
        Err(AuthError::Store(e)) => return Err(e.into()),
    }
    revoke_token(&deps.store, token).await?;
    tracing::info!("access token revoked");
    Ok(success(json!({})))
}

// ---------------------------------------------------------------- channels

/// The `id` of an update's JSON body (`what` names the kind in the error).
fn body_id<T>(body: &Value, what: &str, make: fn(u64) -> Result<T, domain::ids::InvalidId>) -> Result<T, Failure> {
    match body.get("id").and_then(Value::as_u64).map(make) {
        Some(Ok(id)) => Ok(id),
        _ => Err(ApiError::field("id", "required", format!("the {what} id (a positive integer) is required")).into()),
    }
}

fn id_param<T>(req: &ApiRequest, name: &str, make: fn(u64) -> Result<T, domain::ids::InvalidId>) -> Result<T, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let id = f.integer(name);
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| make(v).ok())
        .ok_or_else(|| ApiError::field(name, "format", "must be a positive integer").into())
}

async fn channel_stats<S: AdminStore>(
    store: &S,
    channel: &domain::channel::Channel,
    range: TimeRange,
    now: domain::time::Timestamp,
) -> Result<Vec<(String, Counters)>, Failure> {
    let mut per_number = Vec::with_capacity(channel.numbers.len());
    for rule in &channel.numbers {
        let counters = store.number_stats(channel.id, rule.number.as_str(), range.days(now)).await?;
        per_number.push((rule.number.as_str().to_owned(), counters));
    }
    Ok(per_number)
}

fn time_range(req: &ApiRequest, required: bool) -> Result<TimeRange, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let value = if required { f.string("time_range") } else { f.opt_string("time_range") };
    f.finish()?;
    match value.as_deref() {
        None => Ok(TimeRange::All),
        Some(v) => TimeRange::parse(v).ok_or_else(|| {
            ApiError::field(
                "time_range",
                "enum",
                "must be today, yesterday, last_7_days, last_30_days, this_month or all",
            )
            .into()
        }),
    }
}

async fn channel_create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = channels::parse_create(&req.json_body()?, deps.url_policy)?;
    let channel = create_channel(&admin_ports(deps), draft).await.map_err(admin_failure)?;
    tracing::info!(channel_id = %channel.id, "message channel created");
    check_health_now(deps, &channel).await;
    Ok(success(json!({"id": channel.id})))
}

async fn channel_update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let id = body_id(&body, "channel", ChannelId::new)?;
    let before = existing_channel(deps, id).await?;
    let update = channels::parse_update(&body, &before, deps.url_policy)?;
    let after = update_channel(&admin_ports(deps), &before, update).await.map_err(admin_failure)?;
    tracing::info!(channel_id = %id, webhook_changed = after.webhook_token != before.webhook_token, "message channel updated");
    if after.status == ChannelStatus::NotChecked {
        // New credentials: check them now rather than at the next scheduled run.
        check_health_now(deps, &after).await;
    }
    Ok(success(json!({})))
}

/// Checks a channel's connection right after it was created or its credentials changed. The
/// change is already stored: a failed check is logged and left to the channel-health job.
async fn check_health_now<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    channel: &Channel,
) {
    let id = channel.id;
    let ports = HealthPorts {
        channels: &deps.store,
        ledger: &deps.store,
        provider: &deps.provider,
        events: &deps.events,
        random: &deps.random,
        clock: &deps.clock,
        endpoints: &deps.endpoints,
    };
    match check_now(&ports, channel).await {
        Ok(status) => tracing::info!(channel_id = %id, status = status.map(|s| s.as_str()), "channel checked"),
        Err(error) => {
            tracing::warn!(channel_id = %id, error = %error, "channel check failed; the channel-health job retries")
        }
    }
}

async fn channel_delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ChannelId::new)?;
    let channel = existing_channel(deps, id).await?;
    delete_channel(&admin_ports(deps), &deps.store, &channel).await.map_err(admin_failure)?;
    tracing::info!(channel_id = %id, "message channel deleted");
    Ok(success(json!({})))
}

async fn existing_channel<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    id: ChannelId,
) -> Result<Channel, Failure> {
    Ok(deps
        .store
        .channel(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("message channel {id} does not exist")))?)
}

async fn channel_get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ChannelId::new)?;
    let range = time_range(req, false)?;
    let channel = deps
        .store
        .channel(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("message channel {id} does not exist")))?;
    let stats = channel_stats(&deps.store, &channel, range, deps.clock.now()).await?;
    Ok(success(
        json!({"data": channels::detail_json(&channel, &req.base_url(deps.public_base_url.as_deref()), &stats)}),
    ))
}

async fn channel_query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let base = req.base_url(deps.public_base_url.as_deref());
    let mut list = Vec::new();
    for id in ids {
        let Ok(id) = ChannelId::new(id) else { continue };
        if let Some(channel) = deps.store.channel(id).await? {
            let stats = channel_stats(&deps.store, &channel, TimeRange::All, deps.clock.now()).await?;
            list.push(channels::detail_json(&channel, &base, &stats));
        }
    }
    Ok(success(json!({"list": list})))
}

/// Reads `page` and `page_size` (both required where Yeastar requires them).
/// The `ids` parameter of the `*/query` endpoints: comma-separated positive integers.
fn ids_param(req: &ApiRequest) -> Result<Vec<u64>, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let ids = f.string("ids");
    f.finish()?;
    Ok(ids
        .as_deref()
        .and_then(parse_id_list)
        .ok_or_else(|| ApiError::field("ids", "format", "must be comma-separated positive integers"))?)
}

fn paging(req: &ApiRequest, required: bool) -> Result<(usize, usize), Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let (page, size) = if required {
        (f.integer("page"), f.integer("page_size"))
    } else {
        (f.opt_integer("page").or(Some(1)), f.opt_integer("page_size").or(Some(100)))
    };
    if page.is_some_and(|p| p < 1) {
        f.error("page", "range", "must be at least 1");
    }
    if size.is_some_and(|s| !(1..=1000).contains(&s)) {
        f.error("page_size", "range", "must be between 1 and 1000");
    }
    f.finish()?;
    let page = page.and_then(|p| usize::try_from(p).ok()).unwrap_or(1);
    let size = size.and_then(|s| usize::try_from(s).ok()).unwrap_or(100);
    Ok((page, size))
}

fn page_of<T>(items: Vec<T>, page: usize, size: usize) -> Vec<T> {
    items.into_iter().skip((page - 1).saturating_mul(size)).take(size).collect()
}

async fn channel_list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    channel_page(deps, req, |_| true).await
}

/// `message_channel/search`: the list's parameters plus `search_value`, matched (case-insensitive)
/// against the channel's name, its provider and its numbers.
async fn channel_search<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let needle = f.opt_string("search_value").map(|v| v.trim().to_lowercase()).unwrap_or_default();
    f.finish()?;
    channel_page(deps, req, |c: &Channel| {
        c.name.to_lowercase().contains(&needle)
            || c.provider().slug().contains(&needle)
            || c.numbers.iter().any(|r| r.number.as_str().to_lowercase().contains(&needle))
    })
    .await
}

/// A page of the channels that pass `keep`, with their statistics over `time_range`.
async fn channel_page<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
    keep: impl Fn(&Channel) -> bool,
) -> Result<Value, Failure> {
    let (page, size) = paging(req, true)?;
    let range = time_range(req, true)?;
    let all: Vec<Channel> = deps.store.channels().await?.into_iter().filter(|c| keep(c)).collect();
    let total = all.len();
    let mut list = Vec::new();
    for channel in page_of(all, page, size) {
        let mut totals = Counters::default();
        for (_, c) in channel_stats(&deps.store, &channel, range, deps.clock.now()).await? {
            totals.add(&c);
        }
        list.push(channels::list_item_json(&channel, &totals));
    }
    Ok(success(json!({"total_number": total, "list": list})))
}

// ---------------------------------------------------------------- extensions

async fn extension_create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = directory::parse_extension_create(&req.json_body()?)?;
    let id = create_extension(&admin_ports(deps), draft).await.map_err(admin_failure)?;
    tracing::info!(extension_id = %id, "extension created");
    Ok(success(json!({"id": id})))
}

async fn extension_get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ExtensionId::new)?;
    let ext = deps
        .store
        .extension(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("extension {id} does not exist")))?;
    let mut data = directory::extension_json(&ext);
    data["organization_list"] = groups::extension_organizations(&deps.store, ext.id).await?;
    Ok(success(json!({"data": data})))
}

async fn existing_extension<S: AdminStore>(store: &S, id: ExtensionId) -> Result<Extension, Failure> {
    Ok(store
        .extension(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("extension {id} does not exist")))?)
}

async fn extension_update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let id = body_id(&body, "extension", ExtensionId::new)?;
    let before = existing_extension(&deps.store, id).await?;
    let update = directory::parse_extension_update(&body, &before)?;
    let password_changed = update.user_password.is_some();
    update_extension(&admin_ports(deps), &before, update).await.map_err(admin_failure)?;
    tracing::info!(extension_id = %id, password_changed, "extension updated");
    Ok(success(json!({})))
}

async fn extension_delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ExtensionId::new)?;
    let ext = existing_extension(&deps.store, id).await?;
    delete_extension(&admin_ports(deps), &deps.store, &deps.store, &ext).await.map_err(admin_failure)?;
    tracing::info!(extension_id = %id, "extension deleted");
    Ok(success(json!({})))
}

async fn extension_list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, false)?;
    let all = deps.store.extensions().await?;
    let total = all.len();
    let data: Vec<Value> = page_of(all, page, size).iter().map(directory::extension_json).collect();
    Ok(success(json!({"total_number": total, "data": data})))
}

// ---------------------------------------------------------------- WhatsApp templates

async fn whatsapp_channel<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    id: ChannelId,
) -> Result<Channel, Failure> {
    let channel = existing_channel(deps, id).await?;
    if channel.provider() != domain::channel::Provider::WhatsApp {
        return Err(ApiError::field(
            "omnichannel_id",
            "channel_type",
            format!("message channel {id} is not a WhatsApp channel"),
        )
        .into());
    }
    Ok(channel)
}

async fn whatsapp_templates<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = templates::parse_template_query(&req.query_value())?;
    whatsapp_channel(deps, query.channel).await?;
    let stored = deps.store.templates(query.channel).await?;
    Ok(success(templates::template_page_json(&query, stored)))
}

async fn whatsapp_template_sync<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let mut f = Fields::new(&body);
    let id = f.integer("omnichannel_id");
    f.finish()?;
    let id = id
        .and_then(|v| u64::try_from(v).ok())
        .and_then(|v| ChannelId::new(v).ok())
        .ok_or_else(|| ApiError::field("omnichannel_id", "format", "must be a positive integer channel id"))?;
    let channel = whatsapp_channel(deps, id).await?;
    let ports = TemplateSyncPorts {
        channels: &deps.store,
        store: &deps.store,
        provider: &deps.provider,
        sequences: &deps.store,
        clock: &deps.clock,
        endpoints: &deps.endpoints,
    };
    match sync_channel(&ports, &channel).await {
        Ok(sync) => {
            tracing::info!(channel_id = %id, kept = sync.kept, "WhatsApp templates synchronised on request");
            Ok(success(templates::sync_json(&sync)))
        }
        Err(SyncError::Store(e)) => Err(e.into()),
        Err(error) => Err(ApiError::new(ErrCode::Failure, format!("template sync failed, nothing changed: {error}"))
            .with_reason("template_sync_failed")
            .into()),
    }
}

// ---------------------------------------------------------------- queues

async fn queue_create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = directory::parse_queue_create(&req.json_body()?)?;
    let id = create_queue(&admin_ports(deps), draft).await.map_err(admin_failure)?;
    tracing::info!(queue_id = %id, "message queue created");
    Ok(success(json!({"id": id})))
}

async fn existing_queue<S: AdminStore>(store: &S, id: QueueId) -> Result<MessageQueue, Failure> {
    Ok(store
        .queue(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("message queue {id} does not exist")))?)
}

/// A queue's `message_queue/get` shape, with its members' and managers' extensions looked up.
async fn queue_detail<S: AdminStore>(store: &S, queue: &MessageQueue) -> Result<Value, Failure> {
    let mut people = Vec::new();
    let managers = queue.managers.iter().filter_map(|m| match m {
        domain::directory::QueueManager::Extension(e) => Some(e),
        domain::directory::QueueManager::Email(_) => None,
    });
    for ext in queue.members.iter().chain(managers) {
        if let Some(e) = store.extension(*ext).await? {
            people.push(e);
        }
    }
    Ok(directory::queue_json(queue, &people))
}

async fn queue_get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", QueueId::new)?;
    let queue = existing_queue(&deps.store, id).await?;
    Ok(success(json!({"data": queue_detail(&deps.store, &queue).await?})))
}

async fn queue_query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let mut list = Vec::new();
    for id in ids {
        let Ok(id) = QueueId::new(id) else { continue };
        if let Some(queue) = deps.store.queue(id).await? {
            list.push(queue_detail(&deps.store, &queue).await?);
        }
    }
    Ok(success(json!({"list": list})))
}

async fn queue_search<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, true)?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let needle = f.opt_string("search_value").map(|v| v.trim().to_lowercase()).unwrap_or_default();
    f.finish()?;
    let found: Vec<MessageQueue> =
        deps.store.queues().await?.into_iter().filter(|q| q.name.to_lowercase().contains(&needle)).collect();
    let total = found.len();
    let list: Vec<Value> = page_of(found, page, size).iter().map(|q| json!({"id": q.id, "name": q.name})).collect();
    Ok(success(json!({"total_number": total, "list": list})))
}

async fn queue_update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let id = body_id(&body, "queue", QueueId::new)?;
    let before = existing_queue(&deps.store, id).await?;
    let draft = directory::parse_queue_update(&body, &before)?;
    update_queue(&admin_ports(deps), &before, draft).await.map_err(admin_failure)?;
    tracing::info!(queue_id = %id, "message queue updated");
    Ok(success(json!({})))
}

async fn queue_delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", QueueId::new)?;
    let queue = existing_queue(&deps.store, id).await?;
    delete_queue(&admin_ports(deps), &deps.store, &deps.store, &queue).await.map_err(admin_failure)?;
    tracing::info!(queue_id = %id, "message queue deleted");
    Ok(success(json!({})))
}

/// Evaluations `message_queue/sla` returns by default and at most.
const SLA_HISTORY_DEFAULT: i64 = 96;
const SLA_HISTORY_MAX: i64 = 1000;

async fn queue_sla<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", QueueId::new)?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let limit = f.opt_integer_in("history_size", 1, SLA_HISTORY_MAX).unwrap_or(SLA_HISTORY_DEFAULT);
    f.finish()?;
    let queue = deps
        .store
        .queue(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("message queue {id} does not exist")))?;
    let limit = usize::try_from(limit).unwrap_or(1);
    let report = domain::services::sla::queue_report(&deps.store, &queue, deps.clock.now(), limit).await?;
    Ok(success(json!({"data": directory::sla_report_json(&queue, &report)})))
}

async fn queue_list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, true)?;
    let all = deps.store.queues().await?;
    let total = all.len();
    let list: Vec<Value> = page_of(all, page, size).iter().map(|q| json!({"id": q.id, "name": q.name})).collect();
    Ok(success(json!({"total_number": total, "list": list})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use adapters::memory::{CountingRandom, InMemoryEvents, InMemoryStore, ManualClock, ScriptedProvider};
    use domain::time::Timestamp;
    use lambda_support::testing::apigw_request;

    const GET_TOKEN: &str = include_str!("../../../events/admin-api.get-token.json");
    const CREATE_CHANNEL: &str = include_str!("../../../events/admin-api.message-channel-create.json");

    fn deps() -> Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents> {
        Deps {
            store: InMemoryStore::new(),
            random: CountingRandom::default(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            admin: AdminClient {
                client_id: "switchboard-admin".into(),
                client_secret: Secret::new("switchboard-dev-secret-change-me"),
            },
            public_base_url: Some("https://sms.example.com".into()),
            url_policy: UrlPolicy::HttpsOnly,
            extension_capacity: 50,
            provider: ScriptedProvider::new(),
            endpoints: ProviderEndpoints::default(),
            events: InMemoryEvents::new(),
            chat_log_exports: None,
            campaigns: None,
        }
    }

    async fn json_of(response: Response<Body>) -> (u16, Value) {
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        };
        (status, body)
    }

    async fn call(
        deps: &Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents>,
        request: Request,
    ) -> Value {
        json_of(handle(deps, request).await.unwrap()).await.1
    }

    async fn admin_token(
        deps: &Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents>,
    ) -> String {
        let reply = call(deps, lambda_http::request::from_str(GET_TOKEN).unwrap()).await;
        assert_eq!(reply["errcode"], 0, "{reply}");
        assert_eq!(reply["access_token_expire_time"], 1800);
        assert_eq!(reply["refresh_token_expire_time"], 86400);
        reply["access_token"].as_str().unwrap().to_owned()
    }

    fn get(path: &str, token: &str, query: &[(&str, &str)]) -> Request {
        let mut q = vec![("access_token", token)];
        q.extend_from_slice(query);
        apigw_request("GET", "/openapi/v1.0/x/{action}", path, &q, &[], None)
    }

    /// A POST without a token (`get_token`, `refresh_token`).
    fn post_open(path: &str, body: &Value) -> Request {
        apigw_request("POST", "/openapi/v1.0/x/{action}", path, &[], &[], Some(&body.to_string()))
    }

    fn post(path: &str, token: &str, body: &Value, headers: &[(&str, &str)]) -> Request {
        apigw_request(
            "POST",
            "/openapi/v1.0/x/{action}",
            path,
            &[("access_token", token)],
            headers,
            Some(&body.to_string()),
        )
    }

    async fn extension(
        deps: &Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents>,
        token: &str,
        number: &str,
    ) -> u64 {
        let reply = call(
            deps,
            post(
                "/openapi/v1.0/extension/create",
                token,
                &json!({"number": number, "caller_id_name": "Leo Ball", "user_password": "Agent1234"}),
                &[],
            ),
        )
        .await;
        assert_eq!(reply["errcode"], 0, "{reply}");
        reply["id"].as_u64().unwrap()
    }

    fn seed_body() -> Value {
        let event: Value = serde_json::from_str(CREATE_CHANNEL).unwrap();
        serde_json::from_str(event["body"].as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn when_credentials_are_wrong_should_answer_failure_and_issue_nothing() {
        let deps = deps();
        let body = json!({"username": "switchboard-admin", "password": "guess"}).to_string();
        let reply = call(
            &deps,
            apigw_request("POST", "/openapi/v1.0/get_token", "/openapi/v1.0/get_token", &[], &[], Some(&body)),
        )
        .await;
        assert_eq!(reply["errcode"], -1);
        assert!(reply.get("access_token").is_none());
    }

    #[tokio::test]
    async fn when_the_seed_channel_request_is_sent_should_create_it_and_get_should_mask_credentials() {
        let deps = deps();
        let token = admin_token(&deps).await;
        let ext = extension(&deps, &token, "1000").await;
        assert_eq!(ext, 1);
        // the fixture is seed 004's example with the destination pointing at extension 1
        let request = CREATE_CHANNEL.replace("JZvX9J8RddTcKb58WNQF2tXnLwPhrbUY", &token);
        let reply = call(&deps, lambda_http::request::from_str(&request).unwrap()).await;
        assert_eq!(reply, json!({"errcode": 0, "errmsg": "SUCCESS", "id": 1}));

        let detail = call(&deps, get("/openapi/v1.0/message_channel/get", &token, &[("id", "1")])).await;
        let data = &detail["data"];
        let webhook = data["webhook_url"].as_str().unwrap();
        assert!(webhook.starts_with("https://sms.example.com/api/v1.0/webhook/general/"), "{webhook}");
        assert_eq!(webhook.rsplit('/').next().unwrap().len(), 32);
        let text = data["account_data"].to_string();
        assert!(!text.contains("myAPIKey456") && !text.contains("mySuperSecret123"), "{text}");
        assert!(text.contains("https://api.example.com/message/send"));
        assert_eq!(data["send_rate"], 2);
        assert_eq!(data["dids"][0]["did_number"], "+1234567890");
    }

    #[tokio::test]
    async fn when_a_number_already_belongs_to_a_channel_should_refuse_the_second() {
        let deps = deps();
        let token = admin_token(&deps).await;
        extension(&deps, &token, "1000").await;
        let body = seed_body();
        assert_eq!(call(&deps, post("/openapi/v1.0/message_channel/create", &token, &body, &[])).await["errcode"], 0);
        let reply = call(&deps, post("/openapi/v1.0/message_channel/create", &token, &body, &[])).await;
        assert_eq!(reply["errcode"], 40003, "{reply}");
        assert_eq!(reply["duplicate_field_list"][0]["value"], "+1234567890");
    }

    type TestDeps = Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents>;

    /// Seed 004's channel (id 1, number +1234567890 → extension 1000).
    async fn seed_channel(deps: &TestDeps) -> String {
        let token = admin_token(deps).await;
        extension(deps, &token, "1000").await;
        let reply = call(deps, post("/openapi/v1.0/message_channel/create", &token, &seed_body(), &[])).await;
        assert_eq!(reply["id"], 1, "{reply}");
        token
    }

    async fn update(deps: &TestDeps, token: &str, body: Value) -> Value {
        call(deps, post("/openapi/v1.0/message_channel/update", token, &body, &[])).await
    }

    async fn stored(deps: &TestDeps, id: u64) -> Option<Channel> {
        deps.store.channel(ChannelId::new(id).unwrap()).await.unwrap()
    }

    fn did(number: &str) -> Value {
        json!([{"did_number": number, "destination_type": "extension", "destination_id": "1"}])
    }

    #[tokio::test]
    async fn when_a_channel_is_updated_with_what_get_showed_should_keep_the_masked_credentials_and_move_its_number() {
        let deps = deps();
        let token = seed_channel(&deps).await;
        let before = stored(&deps, 1).await.unwrap();
        let shown = call(&deps, get("/openapi/v1.0/message_channel/get", &token, &[("id", "1")])).await["data"].clone();
        let reply = update(
            &deps,
            &token,
            json!({"id": 1, "name": "Renamed", "account_data": shown["account_data"], "dids": did("+1234567891"),
                   "send_rate": 5}),
        )
        .await;
        assert_eq!(reply, json!({"errcode": 0, "errmsg": "SUCCESS"}));
        let after = stored(&deps, 1).await.unwrap();
        assert_eq!(after.name, "Renamed");
        assert_eq!(after.send_rate.per_second(), 5);
        assert_eq!(after.credentials.to_values(), before.credentials.to_values(), "the masks kept the stored values");
        assert_eq!(after.webhook_token, before.webhook_token);
        assert_eq!(after.numbers[0].number.as_str(), "+1234567891");
        // the old number is free again, the new one taken
        let again = call(&deps, post("/openapi/v1.0/message_channel/create", &token, &seed_body(), &[])).await;
        assert_eq!(again["errcode"], 0, "{again}");
        let mut taken = seed_body();
        taken["dids"] = did("+1234567891");
        let refused = call(&deps, post("/openapi/v1.0/message_channel/create", &token, &taken, &[])).await;
        assert_eq!(refused["errcode"], 40003, "{refused}");
    }

    #[tokio::test]
    async fn when_an_update_is_invalid_should_say_why_and_change_nothing() {
        let deps = deps();
        let token = seed_channel(&deps).await;
        let mut other = seed_body();
        other["dids"] = did("+1234567899");
        assert_eq!(call(&deps, post("/openapi/v1.0/message_channel/create", &token, &other, &[])).await["id"], 2);
        let before = stored(&deps, 1).await.unwrap();

        let provider = update(&deps, &token, json!({"id": 1, "channel": "twilio"})).await;
        assert_eq!(provider["errcode"], 40002, "{provider}");
        assert_eq!(provider["invalid_param_list"][0]["field"], "channel");
        let number = update(&deps, &token, json!({"id": 1, "name": "X", "dids": did("+1234567899")})).await;
        assert_eq!(number["errcode"], 40003, "{number}");
        let rate = update(&deps, &token, json!({"id": 1, "send_rate": 1000})).await;
        assert_eq!(rate["errcode"], 40002, "{rate}");
        let missing = update(&deps, &token, json!({"id": 99, "name": "X"})).await;
        assert_eq!(missing["errcode"], 60001, "{missing}");
        let after = stored(&deps, 1).await.unwrap();
        assert_eq!((after.name.as_str(), after.send_rate), (before.name.as_str(), before.send_rate));
        assert_eq!(after.numbers[0].number, before.numbers[0].number);
    }

    #[tokio::test]
    async fn when_credentials_change_or_a_new_webhook_is_asked_for_should_check_again_and_move_the_url() {
        use domain::health::ChannelHealth;
        use domain::ports::ChannelHealthLedger;
        let deps = deps();
        let token = seed_channel(&deps).await;
        let id = ChannelId::new(1).unwrap();
        deps.store.record_health(id, ChannelHealth::Connected, deps.clock.now()).await.unwrap();
        let before = stored(&deps, 1).await.unwrap();
        deps.clock.advance(std::time::Duration::from_secs(1));

        let reply = update(
            &deps,
            &token,
            json!({"id": 1, "account_data": [{"k": "api_key", "v": "bmV3S2V5"}], "regenerate_webhook": 1}),
        )
        .await;
        assert_eq!(reply["errcode"], 0, "{reply}");
        let after = stored(&deps, 1).await.unwrap();
        assert_eq!(after.credentials.to_values()["api_key"], "newKey");
        // The new key is checked right away (not left for the next scheduled run).
        assert_eq!(deps.provider.calls().len(), 2, "checked when created, and again with the new key");
        match after.status {
            domain::channel::ChannelStatus::Checked { at, .. } => assert_eq!(at, deps.clock.now()),
            other => panic!("expected a fresh check, got {other:?}"),
        }
        assert_ne!(after.webhook_token, before.webhook_token);
        let old = deps.store.channel_by_webhook(before.provider(), &before.webhook_token).await.unwrap();
        assert!(old.is_none(), "the old webhook URL no longer leads anywhere");
        let new = deps.store.channel_by_webhook(after.provider(), &after.webhook_token).await.unwrap();
        assert_eq!(new.map(|c| c.id), Some(id));
    }

    #[tokio::test]
    async fn when_a_channel_has_open_sessions_should_refuse_to_delete_it_else_delete_it_with_its_claims() {
        use adapters::memory::fixtures::pending_inbound;
        use domain::inbound::InboundJob;
        use domain::ports::Inbox;
        use domain::services::routing::{RoutingPorts, route_inbound};
        let deps = deps();
        let token = seed_channel(&deps).await;
        let record = pending_inbound("m1", "+8618012121222", "+1234567890", "hi", deps.clock.now());
        let key = record.key.clone();
        deps.store.insert_pending(&record).await.unwrap();
        let events = adapters::memory::InMemoryEvents::new();
        let routing = RoutingPorts {
            channels: &deps.store,
            inbox: &deps.store,
            sessions: &deps.store,
            sequences: &deps.store,
            events: &events,
            timers: &adapters::memory::InMemoryQueues::new(),
        };
        route_inbound(&routing, &InboundJob { key }).await.unwrap();

        let refused = call(&deps, get("/openapi/v1.0/message_channel/delete", &token, &[("id", "1")])).await;
        assert_eq!(refused["errcode"], 70084, "{refused}");
        assert!(stored(&deps, 1).await.is_some());

        let mut other = seed_body();
        other["dids"] = did("+1234567899");
        assert_eq!(call(&deps, post("/openapi/v1.0/message_channel/create", &token, &other, &[])).await["id"], 2);
        let deleted = call(&deps, get("/openapi/v1.0/message_channel/delete", &token, &[("id", "2")])).await;
        assert_eq!(deleted, json!({"errcode": 0, "errmsg": "SUCCESS"}));
        let gone = call(&deps, get("/openapi/v1.0/message_channel/get", &token, &[("id", "2")])).await;
        assert_eq!(gone["errcode"], 60001);
        assert_eq!(call(&deps, post("/openapi/v1.0/message_channel/create", &token, &other, &[])).await["id"], 3);
    }

    #[tokio::test]
    async fn when_a_destination_does_not_exist_should_say_which() {
        let deps = deps();
        let token = admin_token(&deps).await;
        let reply = call(&deps, post("/openapi/v1.0/message_channel/create", &token, &seed_body(), &[])).await;
        assert_eq!(reply["errcode"], 40002);
        assert_eq!(reply["invalid_param_list"][0]["field"], "dids[0].destination_id");
        assert_eq!(reply["invalid_param_list"][0]["validation_type"], "not_found");
    }

    #[tokio::test]
    async fn when_the_token_is_missing_or_an_agents_should_refuse() {
        let deps = deps();
        let token = admin_token(&deps).await;
        extension(&deps, &token, "1000").await;
        let reply = call(&deps, get("/openapi/v1.0/message_channel/list", "nope", &[])).await;
        assert_eq!(reply["errcode"], 10004);
        let agent = call(
            &deps,
            apigw_request(
                "POST",
                "/openapi/v1.0/get_token",
                "/openapi/v1.0/get_token",
                &[],
                &[],
                Some(&json!({"username": "1000", "password": "Agent1234"}).to_string()),
            ),
        )
        .await;
        let agent_token = agent["access_token"].as_str().unwrap();
        let reply = call(
            &deps,
            get(
                "/openapi/v1.0/message_channel/list",
                agent_token,
                &[("page", "1"), ("page_size", "10"), ("time_range", "all")],
            ),
        )
        .await;
        assert_eq!(reply["errcode"], 10005);
    }

    #[tokio::test]
    async fn when_a_create_is_retried_with_the_same_idempotency_key_should_create_once() {
        let deps = deps();
        let token = admin_token(&deps).await;
        let body = json!({"number": "1001", "user_password": "Agent1234"});
        let first =
            call(&deps, post("/openapi/v1.0/extension/create", &token, &body, &[("Idempotency-Key", "k-1")])).await;
        let again =
            call(&deps, post("/openapi/v1.0/extension/create", &token, &body, &[("Idempotency-Key", "k-1")])).await;
        assert_eq!(first, again);
        let other = json!({"number": "1002", "user_password": "Agent1234"});
        let reused =
            call(&deps, post("/openapi/v1.0/extension/create", &token, &other, &[("Idempotency-Key", "k-1")])).await;
        assert_eq!(reused["errcode"], 40002);
        let list = call(&deps, get("/openapi/v1.0/extension/list", &token, &[])).await;
        assert_eq!(list["total_number"], 1);
    }

    #[tokio::test]
    async fn when_an_address_fails_five_logins_in_a_row_should_refuse_it_for_a_quarter_hour() {
        let deps = deps();
        let wrong = json!({"username": "switchboard-admin", "password": "guess"});
        let right = json!({"username": "switchboard-admin", "password": "switchboard-dev-secret-change-me"});
        // A success clears the count.
        for _ in 0..4 {
            assert_eq!(call(&deps, post_open("/openapi/v1.0/get_token", &wrong)).await["errcode"], -1);
        }
        assert_eq!(call(&deps, post_open("/openapi/v1.0/get_token", &right)).await["errcode"], 0);
        for _ in 0..5 {
            assert_eq!(call(&deps, post_open("/openapi/v1.0/get_token", &wrong)).await["errcode"], -1);
        }
        let blocked = call(&deps, post_open("/openapi/v1.0/get_token", &right)).await;
        assert_eq!(blocked["errcode"], 10005, "even the right password: {blocked}");
        assert_eq!(blocked["reason"], "auth_blocked");
        let refresh = call(&deps, post_open("/openapi/v1.0/refresh_token", &json!({"refresh_token": "x"}))).await;
        assert_eq!(refresh["errcode"], 10005, "{refresh}");
        deps.clock.advance(domain::auth::AUTH_BLOCK);
        assert_eq!(call(&deps, post_open("/openapi/v1.0/get_token", &right)).await["errcode"], 0);
    }

    #[tokio::test]
    async fn when_channels_are_searched_should_match_name_provider_or_number() {
        let deps = deps();
        let token = seed_channel(&deps).await;
        let page = [("page", "1"), ("page_size", "10"), ("time_range", "all")];
        let search = |value: &'static str| {
            let mut q = page.to_vec();
            q.push(("search_value", value));
            get("/openapi/v1.0/message_channel/search", &token, &q)
        };
        let all = call(&deps, get("/openapi/v1.0/message_channel/list", &token, &page)).await;
        assert_eq!(all["total_number"], 1, "{all}");
        let by_number = call(&deps, search("4567890")).await;
        assert_eq!(by_number["total_number"], 1, "{by_number}");
        assert_eq!(by_number["list"], all["list"]);
        assert_eq!(call(&deps, search("GENERAL")).await["total_number"], 1);
        assert_eq!(call(&deps, search("whatsapp")).await["total_number"], 0);
        let missing_paging = call(&deps, get("/openapi/v1.0/message_channel/search", &token, &[])).await;
        assert_eq!(missing_paging["errcode"], 40002, "{missing_paging}");
    }

    #[tokio::test]
    async fn when_tokens_are_refreshed_the_refresh_token_works_once_and_a_revoked_token_is_refused() {
        let deps = deps();
        let body = json!({"username": "switchboard-admin", "password": "switchboard-dev-secret-change-me"});
        let issued = call(&deps, post_open("/openapi/v1.0/get_token", &body)).await;
        let refresh = json!({"refresh_token": issued["refresh_token"]});
        let renewed = call(&deps, post_open("/openapi/v1.0/refresh_token", &refresh)).await;
        assert_eq!(renewed["errcode"], 0, "{renewed}");
        assert_ne!(renewed["access_token"], issued["access_token"]);
        assert_ne!(renewed["refresh_token"], issued["refresh_token"]);
        assert_eq!(renewed["refresh_token_expire_time"], 86400);
        let replayed = call(&deps, post_open("/openapi/v1.0/refresh_token", &refresh)).await;
        assert_eq!(replayed["errcode"], 10004, "a refresh token is used once: {replayed}");
        let with_access =
            call(&deps, post_open("/openapi/v1.0/refresh_token", &json!({"refresh_token": issued["access_token"]})))
                .await;
        assert_eq!(with_access["errcode"], 10004, "an access token is not a refresh token: {with_access}");

        let token = renewed["access_token"].as_str().unwrap();
        let list = call(&deps, get("/openapi/v1.0/extension/list", token, &[])).await;
        assert_eq!(list["errcode"], 0, "{list}");
        let revoked = call(&deps, get("/openapi/v1.0/del_token", token, &[])).await;
        assert_eq!(revoked["errcode"], 0, "{revoked}");
        let refused = call(&deps, get("/openapi/v1.0/extension/list", token, &[])).await;
        assert_eq!(refused["errcode"], 10004, "{refused}");
        let again = call(&deps, get("/openapi/v1.0/del_token", token, &[])).await;
        assert_eq!(again["errcode"], 10004, "{again}");
        // The first access token is unaffected by the refresh (it expires on its own).
        let first =
            call(&deps, get("/openapi/v1.0/extension/list", issued["access_token"].as_str().unwrap(), &[])).await;
        assert_eq!(first["errcode"], 0, "{first}");
    }

    #[tokio::test]
    async fn when_the_plan_s_queue_limits_are_reached_should_refuse_more_queues_and_agents() {
        let deps = deps(); // 50 extensions: 16 queues of up to 25 agents
        let token = admin_token(&deps).await;
        let mut agents = Vec::new();
        for n in 0..26 {
            agents.push(json!({"extension_id": extension(&deps, &token, &format!("{}", 2000 + n)).await}));
        }
        let too_many = json!({"name": "Big", "assignment_mode": "manual", "members": agents});
        let reply = call(&deps, post("/openapi/v1.0/message_queue/create", &token, &too_many, &[])).await;
        assert_eq!(reply["errcode"], 40002, "{reply}");
        assert!(reply.to_string().contains("at most 25 agents"), "{reply}");
        for i in 0..16 {
            let body = json!({"name": format!("Q{i}"), "assignment_mode": "manual", "members": []});
            let reply = call(&deps, post("/openapi/v1.0/message_queue/create", &token, &body, &[])).await;
            assert_eq!(reply["errcode"], 0, "{reply}");
        }
        let body = json!({"name": "Q16", "assignment_mode": "manual", "members": []});
        let reply = call(&deps, post("/openapi/v1.0/message_queue/create", &token, &body, &[])).await;
        assert_eq!(reply["errcode"], 70084, "{reply}");
        assert_eq!(reply["reason"], "queue_limit_reached");
        let update = json!({"id": 1, "members": too_many["members"]});
        let reply = call(&deps, post("/openapi/v1.0/message_queue/update", &token, &update, &[])).await;
        assert_eq!(reply["errcode"], 40002, "an update is held to the same agent limit: {reply}");
    }

    #[tokio::test]
    async fn when_a_delete_is_retried_with_the_same_idempotency_key_should_answer_as_the_first_time() {
        let deps = deps();
        let token = admin_token(&deps).await;
        let body = json!({"name": "Tech Support", "assignment_mode": "manual", "members": []});
        for name in ["1", "2"] {
            let reply = call(&deps, post("/openapi/v1.0/message_queue/create", &token, &body, &[])).await;
            assert_eq!(reply["id"], name.parse::<u64>().unwrap(), "{reply}");
        }
        let delete = |id: &'static str, key: &'static str| {
            let q = [("access_token", token.as_str()), ("id", id)];
            let path = "/openapi/v1.0/message_queue/delete";
            apigw_request("GET", "/openapi/v1.0/x/{action}", path, &q, &[("Idempotency-Key", key)], None)
        };
        let first = call(&deps, delete("1", "del-1")).await;
        assert_eq!(first["errcode"], 0, "{first}");
        let again = call(&deps, delete("1", "del-1")).await;
        assert_eq!(again, first, "the retry gets the first answer, not 'does not exist'");
        let other_target = call(&deps, delete("2", "del-1")).await;
        assert_eq!(other_target["errcode"], 40002, "the same key for another queue: {other_target}");
        let without_key = call(&deps, get("/openapi/v1.0/message_queue/delete", &token, &[("id", "1")])).await;
        assert_eq!(without_key["errcode"], 60001, "{without_key}");
        let left = call(&deps, get("/openapi/v1.0/message_queue/get", &token, &[("id", "2")])).await;
        assert_eq!(left["errcode"], 0, "queue 2 was not deleted: {left}");
    }

    #[tokio::test]
    async fn when_a_queue_is_created_should_list_and_get_it_with_member_numbers() {
        let deps = deps();
        let token = admin_token(&deps).await;
        let a = extension(&deps, &token, "1000").await;
        let b = extension(&deps, &token, "1001").await;
        let reply = call(&deps, post("/openapi/v1.0/message_queue/create", &token,
            &json!({"name": "Tech Support", "assignment_mode": "manual", "members": [{"extension_id": a}, {"extension_id": b}]}), &[])).await;
        assert_eq!(reply["errcode"], 0, "{reply}");
        let got = call(&deps, get("/openapi/v1.0/message_queue/get", &token, &[("id", "1")])).await;
        assert_eq!(got["data"]["members"][1]["ext_num"], "1001");
        assert_eq!(got["data"]["assignment_mode"], "manual");
        let list =
            call(&deps, get("/openapi/v1.0/message_queue/list", &token, &[("page", "1"), ("page_size", "5")])).await;
        assert_eq!(list["list"], json!([{"id": 1, "name": "Tech Support"}]));
    }

    #[tokio::test]
    async fn when_the_action_or_method_is_wrong_should_answer_interface_not_existed() {
        let deps = deps();
        let token = admin_token(&deps).await;
        assert_eq!(call(&deps, get("/openapi/v1.0/message_channel/explode", &token, &[])).await["errcode"], 10001);
        assert_eq!(call(&deps, get("/openapi/v1.0/message_channel/create", &token, &[])).await["errcode"], 10001);
    }
}

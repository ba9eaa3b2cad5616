//! `message_campaign/*`: the administrator's message campaigns (docs/api.md "Message campaigns").
//! Thin: the decisions are in `domain::campaign` and `domain::services::campaigns`.

use adapters::sqs::SqsQueue;
use domain::campaign::{
    Campaign, CampaignRecipient, RecipientState, campaign_detail, campaign_info, parse_campaign_request, recipient_row,
};
use domain::ids::CampaignId;
use domain::openapi::{ApiError, ErrCode, Fields, overlay_update, parse_id_list, success};
use domain::ports::{CampaignStore, ChannelReader, Clock, EventPublisher, ProviderHttp, Random};
use domain::services::campaigns::{
    CampaignAdminPorts, CampaignError, SavedCampaign, create_campaign, delete_campaign, retry_campaign, update_campaign,
};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

use crate::handler::{AdminStore, Deps};

/// The campaign worker's queue and the organisation's time zone.
#[derive(Debug, Clone)]
pub struct Campaigns {
    /// The campaign queue.
    pub queue: SqsQueue,
    /// The organisation's time zone (IANA), for schedules without one.
    pub default_time_zone: String,
}

/// Routes `message_campaign/{action}`.
pub async fn route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    match req.action.as_str() {
        "list" => list(deps, req, None).await,
        "search" => {
            let search = req.query_value().get("search_value").and_then(Value::as_str).map(str::to_lowercase);
            list(deps, req, Some(search.unwrap_or_default())).await
        }
        "get" => get(deps, req).await,
        "query" => query(deps, req).await,
        "recipients" => recipients(deps, req).await,
        "create" => create(deps, req).await,
        "update" => update(deps, req).await,
        "retry" => retry(deps, req).await,
        "delete" => delete(deps, req).await,
        action => Err(ApiError::new(
            ErrCode::InterfaceNotExisted,
            format!("message_campaign/{action} is not an endpoint of this version"),
        )
        .into()),
    }
}

fn failure(e: CampaignError) -> Failure {
    match e {
        CampaignError::Refused(api) => Failure::Api(api),
        CampaignError::Store(s) => Failure::Store(s),
    }
}

fn configured<S: AdminStore, R, K, H, E>(deps: &Deps<S, R, K, H, E>) -> Result<&Campaigns, Failure> {
    deps.campaigns.as_ref().ok_or_else(|| {
        ApiError::new(ErrCode::Internal, "campaigns are not configured in this deployment (CAMPAIGN_QUEUE_URL)").into()
    })
}

/// GET (Yeastar's way) or POST for the mutating calls that take only an `id`.
fn require_get_or_post(req: &ApiRequest) -> Result<(), Failure> {
    if !req.method.eq_ignore_ascii_case("POST") {
        req.require_method("GET")?;
    }
    Ok(())
}

/// `id` from the query string (GET) or the body (POST).
fn id_param(req: &ApiRequest) -> Result<CampaignId, Failure> {
    let source = if req.method.eq_ignore_ascii_case("POST") { req.json_body()? } else { req.query_value() };
    let mut f = Fields::new(&source);
    let id = f.integer("id");
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| CampaignId::new(v).ok())
        .ok_or_else(|| ApiError::field("id", "format", "must be a positive integer (a campaign id)").into())
}

async fn existing<S: CampaignStore>(store: &S, id: CampaignId) -> Result<Campaign, Failure> {
    store
        .campaign(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("campaign {id} does not exist")).into())
}

async fn channel_name<S: ChannelReader>(store: &S, c: &Campaign) -> Result<String, Failure> {
    Ok(store.channel(c.spec.channel_id).await?.map(|ch| ch.name).unwrap_or_default())
}

fn paging(query: &Value) -> Result<(usize, usize), Failure> {
    let mut f = Fields::new(query);
    let page = f.opt_integer_in("page", 1, 100_000).unwrap_or(1);
    let size = f.opt_integer_in("page_size", 1, 1000).unwrap_or(20);
    f.finish()?;
    Ok((usize::try_from(page).unwrap_or(1), usize::try_from(size).unwrap_or(20)))
}

async fn list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
    search: Option<String>,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = req.query_value();
    let (page, size) = paging(&query)?;
    let status = query.get("status").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(s) = &status
        && domain::campaign::CampaignStatus::parse(s).is_none()
    {
        return Err(ApiError::field(
            "status",
            "enum",
            "must be draft, scheduled, pending, executing, completed, stop or retrying",
        )
        .into());
    }
    let mut all = deps.store.campaigns().await?;
    all.retain(|c| status.as_deref().is_none_or(|s| c.status.as_str() == s));
    if let Some(needle) = search.filter(|s| !s.is_empty()) {
        all.retain(|c| c.spec.name.to_lowercase().contains(&needle));
    }
    // newest first, as the web page shows them
    all.sort_by_key(|c| std::cmp::Reverse(c.id));
    let total = all.len();
    let mut data = Vec::new();
    for c in all.iter().skip((page - 1) * size).take(size) {
        data.push(campaign_info(c, &channel_name(&deps.store, c).await?));
    }
    Ok(success(json!({"total_number": total, "data": data})))
}

async fn get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let c = existing(&deps.store, id_param(req)?).await?;
    Ok(success(json!({"data": campaign_detail(&c, &channel_name(&deps.store, &c).await?)})))
}

async fn query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let q = req.query_value();
    let ids = q
        .get("ids")
        .and_then(Value::as_str)
        .and_then(parse_id_list)
        .ok_or_else(|| ApiError::field("ids", "format", "must be comma-separated campaign ids"))?;
    let mut list = Vec::new();
    for id in ids {
        let Ok(id) = CampaignId::new(id) else { continue };
        if let Some(c) = deps.store.campaign(id).await? {
            list.push(campaign_detail(&c, &channel_name(&deps.store, &c).await?));
        }
    }
    Ok(success(json!({"list": list})))
}

/// Ours: the details dialog (seed 001 L9417-9438): the recipients with their result and failure
/// reason, paged, optionally only `succeeded` / `failed` / `sending`.
async fn recipients<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let c = existing(&deps.store, id_param(req)?).await?;
    let query = req.query_value();
    let (page, size) = paging(&query)?;
    let result = query.get("result").and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
    let matches = |r: &CampaignRecipient| match result.as_deref() {
        None => Ok(true),
        Some("succeeded") => Ok(r.state == RecipientState::Sent),
        Some("failed") => Ok(matches!(r.state, RecipientState::Failed | RecipientState::OptedOut)),
        Some("sending") => Ok(!r.state.is_final()),
        Some(_) => Err(ApiError::field("result", "enum", "must be succeeded, failed or sending")),
    };
    let mut rows = Vec::new();
    for r in deps.store.recipients(c.id).await? {
        if matches(&r)? {
            rows.push(r);
        }
    }
    let data: Vec<Value> = rows.iter().skip((page - 1) * size).take(size).map(recipient_row).collect();
    Ok(success(json!({
        "total_number": rows.len(),
        "total": c.total,
        "succeeded": c.counts.sent,
        "failed": c.counts.failed + c.counts.opted_out,
        "opted_out": c.counts.opted_out,
        "remaining": c.remaining(),
        "send_time": c.spec.send_time.or(c.started_at).map(domain::time::Timestamp::as_unix_seconds),
        "data": data,
    })))
}

fn saved_json(saved: &SavedCampaign) -> Value {
    let duplicates: Vec<Value> = saved
        .duplicates
        .iter()
        .map(|d| json!({"line": d.line, "number": d.number, "first_line": d.first_line}))
        .collect();
    success(json!({
        "id": saved.campaign.id,
        "status": saved.campaign.status.as_str(),
        "total": saved.campaign.total,
        "duplicates": duplicates,
    }))
}

fn admin_ports<'a, S: AdminStore, R, K, H, E>(
    deps: &'a Deps<S, R, K, H, E>,
    campaigns: &'a Campaigns,
) -> CampaignAdminPorts<'a, S, S, S, S, S, S, S, S, SqsQueue, E, K> {
    CampaignAdminPorts {
        campaigns: &deps.store,
        channels: &deps.store,
        extensions: &deps.store,
        queues: &deps.store,
        templates: &deps.store,
        phonebooks: &deps.store,
        files: &deps.store,
        sequences: &deps.store,
        work: &campaigns.queue,
        events: &deps.events,
        clock: &deps.clock,
        default_zone: &campaigns.default_time_zone,
    }
}

async fn create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let campaigns = configured(deps)?;
    let body = req.json_body()?;
    let request = parse_campaign_request(&body, &campaigns.default_time_zone)?;
    let saved = create_campaign(&admin_ports(deps, campaigns), &request).await.map_err(failure)?;
    Ok(saved_json(&saved))
}

/// The keys of a request that name the recipients (an update that gives none keeps them).
const RECIPIENT_KEYS: [&str; 5] =
    ["recipient_type", "number_list", "recipient_file_id", "recipient_id", "recipient_num_type"];

async fn update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let campaigns = configured(deps)?;
    let body = req.json_body()?;
    let current = existing(&deps.store, id_param(req)?).await?;
    let recipients_changed = RECIPIENT_KEYS.iter().any(|k| body.get(k).is_some_and(|v| !v.is_null()));
    // The stored campaign as a request, with the changes laid over it.
    let mut base = campaign_detail(&current, "");
    if !recipients_changed && let Value::Object(map) = &mut base {
        let numbers: Vec<Value> = deps
            .store
            .recipients(current.id)
            .await?
            .iter()
            .map(|r| json!({"number": r.number.as_str(), "name": r.contact_name}))
            .collect();
        map.insert("recipient_type".into(), json!("input"));
        map.insert("number_list".into(), Value::Array(numbers));
        map.remove("recipient_id");
        map.remove("recipient_num_type");
    }
    if let Value::Object(map) = &mut base
        && recipients_changed
    {
        for k in RECIPIENT_KEYS {
            map.remove(k);
        }
    }
    let merged = overlay_update(base, &body);
    let request = parse_campaign_request(&merged, &campaigns.default_time_zone)?;
    let saved = update_campaign(&admin_ports(deps, campaigns), &current, &request, recipients_changed)
        .await
        .map_err(failure)?;
    Ok(saved_json(&saved))
}

async fn retry<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    require_get_or_post(req)?;
    let campaigns = configured(deps)?;
    let c = existing(&deps.store, id_param(req)?).await?;
    let after = retry_campaign(&deps.store, &campaigns.queue, &deps.clock, &c).await.map_err(failure)?;
    Ok(success(json!({"id": after.id, "status": after.status.as_str()})))
}

async fn delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    require_get_or_post(req)?;
    let c = existing(&deps.store, id_param(req)?).await?;
    delete_campaign(&deps.store, &c).await.map_err(failure)?;
    Ok(success(json!({})))
}

//! `webhook/query`, `webhook/update` (yeastar-openapi-messaging.md §3.9) and ours in the same
//! conventions: `webhook/failed_deliveries` (the reports parked after their retries ran out) and
//! `webhook/redeliver` (one attempt of a parked report now). docs/api.md "Event push".

use domain::openapi::webhook::{parked_json, parse_parked_id, settings_json};
use domain::openapi::{ApiError, ErrCode, success};
use domain::ports::{Clock, EventPublisher, ProviderHttp, Random};
use domain::services::event_push::{RedeliverOutcome, SettingsError, redeliver, settings, update_settings};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

use super::{AdminStore, Deps, page_of, paging};

/// `GET webhook/query`: the settings (defaults when never set) and the event ids we can push.
pub async fn query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let current = settings(&deps.store).await?;
    Ok(success(json!({ "data": settings_json(&current) })))
}

/// `POST webhook/update`: every field optional; given ones replace the stored ones (the list as a
/// whole). Any invalid field refuses the whole request and changes nothing.
pub async fn update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    match update_settings(&deps.store, &deps.random, &body, deps.url_policy).await {
        Ok(_) => Ok(success(json!({}))),
        Err(SettingsError::Refused(e)) => Err(e.into()),
        Err(SettingsError::Store(e)) => Err(e.into()),
    }
}

/// `GET webhook/failed_deliveries?page&page_size`: parked deliveries, most recent first.
pub async fn failed_deliveries<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, false)?;
    let all = deps.store.parked_deliveries().await?;
    let total = all.len();
    let data: Vec<Value> = page_of(all, page, size).iter().map(parked_json).collect();
    Ok(success(json!({ "total_number": total, "data": data })))
}

/// `POST webhook/redeliver {"id"}`: one attempt now with the webhook's current secret, method and
/// timeout. Delivered: the entry is removed. Failed again: errcode -1 (`redelivery_failed`), the
/// entry stays with the new failure.
pub async fn redeliver_parked<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let id = parse_parked_id(&req.json_body()?)?;
    match redeliver(&deps.store, &deps.provider, &deps.clock, &id).await? {
        RedeliverOutcome::Delivered => Ok(success(json!({}))),
        RedeliverOutcome::NotFound => {
            Err(ApiError::new(ErrCode::DataNotFound, format!("no failed delivery {id}")).into())
        }
        RedeliverOutcome::NotConfigured => Err(ApiError::new(
            ErrCode::ActionForbidden,
            "its webhook URL is no longer configured, or event push is disabled",
        )
        .with_reason("webhook_not_configured")
        .into()),
        RedeliverOutcome::Failed(why) => Err(ApiError::new(
            ErrCode::Failure,
            format!("the webhook did not accept it ({why}); it stays in the failed deliveries"),
        )
        .with_reason("redelivery_failed")
        .into()),
    }
}

//! `phonebook/*`: the phonebooks campaigns take recipients from (docs/api.md "Phonebooks"). Thin:
//! shapes in `domain::openapi::phonebooks`, rules in `domain::phonebook` and
//! `domain::services::phonebooks`.

use domain::ids::PhonebookId;
use domain::openapi::{ApiError, ErrCode, Fields, phonebooks, success};
use domain::phonebook::Phonebook;
use domain::ports::{Clock, EventPublisher, Phonebooks, ProviderHttp, Random};
use domain::services::phonebooks::{PhonebookError, create_phonebook, delete_phonebook, not_found, update_phonebook};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

use crate::handler::{AdminStore, Deps};

/// Largest `page_size`.
const PAGE_SIZE_MAX: i64 = 1000;

/// Routes `phonebook/{action}`.
pub async fn route<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    match req.action.as_str() {
        "list" => list(&deps.store, req).await,
        "get" => get(&deps.store, req).await,
        "create" => create(&deps.store, req).await,
        "update" => update(&deps.store, req).await,
        "delete" => delete(&deps.store, req).await,
        action => Err(ApiError::new(
            ErrCode::InterfaceNotExisted,
            format!("phonebook/{action} is not an endpoint of this version"),
        )
        .into()),
    }
}

fn failure(e: PhonebookError) -> Failure {
    match e {
        PhonebookError::Refused(api) => Failure::Api(api),
        PhonebookError::Store(s) => Failure::Store(s),
    }
}

/// `id` from the query string (GET) or the JSON body (POST).
fn id_of(req: &ApiRequest) -> Result<PhonebookId, Failure> {
    let source = if req.method.eq_ignore_ascii_case("POST") { req.json_body()? } else { req.query_value() };
    let mut f = Fields::new(&source);
    let id = f.integer("id");
    f.finish()?;
    id.and_then(|v| u64::try_from(v).ok())
        .and_then(|v| PhonebookId::new(v).ok())
        .ok_or_else(|| ApiError::field("id", "format", "must be a positive integer (a phonebook id)").into())
}

async fn existing<S: Phonebooks>(store: &S, id: PhonebookId) -> Result<Phonebook, Failure> {
    store.phonebook(id).await?.ok_or_else(|| not_found(id).into())
}

/// `phonebook/list`: `total_number` and `data` (id, name, contact_count) by id, paged with `page`
/// (default 1) and `page_size` (default 100, at most 1000).
async fn list<S: AdminStore>(store: &S, req: &ApiRequest) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let page = f.opt_integer("page").unwrap_or(1);
    let size = f.opt_integer("page_size").unwrap_or(100);
    if page < 1 {
        f.error("page", "range", "must be at least 1");
    }
    if !(1..=PAGE_SIZE_MAX).contains(&size) {
        f.error("page_size", "range", format!("must be between 1 and {PAGE_SIZE_MAX}"));
    }
    f.finish()?;
    let (page, size) = (usize::try_from(page).unwrap_or(1), usize::try_from(size).unwrap_or(100));
    let mut all = store.phonebooks().await?;
    all.sort_by_key(|b| b.id);
    let total = all.len();
    let data: Vec<Value> =
        all.iter().skip((page - 1).saturating_mul(size)).take(size).map(phonebooks::summary_json).collect();
    Ok(success(json!({"total_number": total, "data": data})))
}

async fn get<S: AdminStore>(store: &S, req: &ApiRequest) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let book = existing(store, id_of(req)?).await?;
    Ok(success(json!({"data": phonebooks::phonebook_json(&book)})))
}

async fn create<S: AdminStore>(store: &S, req: &ApiRequest) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = phonebooks::parse_create(&req.json_body()?)?;
    let book = create_phonebook(store, draft).await.map_err(failure)?;
    tracing::info!(phonebook_id = %book.id, contacts = book.contacts.len(), "phonebook created");
    Ok(success(json!({"id": book.id})))
}

async fn update<S: AdminStore>(store: &S, req: &ApiRequest) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let before = existing(store, id_of(req)?).await?;
    let draft = phonebooks::parse_update(&body, &before)?;
    let after = update_phonebook(store, &before, draft).await.map_err(failure)?;
    tracing::info!(phonebook_id = %after.id, contacts = after.contacts.len(), "phonebook updated");
    Ok(success(json!({})))
}

/// `phonebook/delete`: `id` in the query (GET) or the body (POST).
async fn delete<S: AdminStore>(store: &S, req: &ApiRequest) -> Result<Value, Failure> {
    if !req.method.eq_ignore_ascii_case("POST") {
        req.require_method("GET")?;
    }
    let book = existing(store, id_of(req)?).await?;
    delete_phonebook(store, &book).await.map_err(failure)?;
    tracing::info!(phonebook_id = %book.id, "phonebook deleted");
    Ok(success(json!({})))
}

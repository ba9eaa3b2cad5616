//! `extensiongroup/*`, `organization/*` and `system/get_menuoptions` (yeastar-openapi-messaging.md
//! §3.8.3-§3.8.5; the writes are ours in the same conventions).

use domain::groups::{ExtensionGroup, OrgTree, Organization};
use domain::ids::{ExtGroupId, OrganizationId};
use domain::openapi::groups::{self, Menu, OrgDetail};
use domain::openapi::{ApiError, ErrCode, Fields, success};
use domain::ports::{Clock, EventPublisher, ProviderHttp, Random};
use domain::services::groups::{
    create_group, create_organization, delete_group, delete_organization, update_group, update_organization,
};
use lambda_support::openapi::{ApiRequest, Failure};
use serde_json::{Value, json};

use super::{
    AdminStore, Deps, admin_failure, admin_ports, body_id, existing_queue, id_param, ids_param, page_of, paging,
};

/// `sort_by` (one of `allowed`; the first is the default) and `order_by` (`asc` / `desc`).
fn sorting(req: &ApiRequest, allowed: &[&'static str]) -> Result<(&'static str, bool), Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let sort_by = f.opt_string("sort_by");
    let order_by = f.opt_string("order_by");
    let field = match sort_by.as_deref() {
        None | Some("") => allowed.first().copied(),
        Some(given) => {
            let found = allowed.iter().copied().find(|a| *a == given);
            if found.is_none() {
                f.error("sort_by", "enum", format!("must be one of: {}", allowed.join(", ")));
            }
            found
        }
    };
    let desc = match order_by.as_deref() {
        None | Some("") | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            f.error("order_by", "enum", "must be 'asc' or 'desc'");
            false
        }
    };
    f.finish()?;
    Ok((field.unwrap_or("id"), desc))
}

fn search_value(req: &ApiRequest) -> Result<String, Failure> {
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let needle = f.opt_string("search_value").map(|v| v.trim().to_lowercase()).unwrap_or_default();
    f.finish()?;
    Ok(needle)
}

// ---------------------------------------------------------------- extension groups

async fn existing_group<S: AdminStore>(store: &S, id: ExtGroupId) -> Result<ExtensionGroup, Failure> {
    Ok(store
        .group(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("extension group {id} does not exist")))?)
}

/// `extensiongroup/list` (and `search` with `needle`): `total_number` and `data`
/// (ExtGroup_info), sorted by `id` or `name`, paged when asked.
async fn group_page<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
    needle: &str,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, false)?;
    let (sort_by, desc) = sorting(req, &["id", "name"])?;
    let mut found: Vec<ExtensionGroup> =
        deps.store.groups().await?.into_iter().filter(|g| g.name.to_lowercase().contains(needle)).collect();
    if sort_by == "name" {
        found.sort_by(|a, b| a.name.to_lowercase().cmp(&b.name.to_lowercase()).then(a.id.cmp(&b.id)));
    }
    if desc {
        found.reverse();
    }
    let extensions = deps.store.extensions().await?.len();
    let total = found.len();
    let data: Vec<Value> = page_of(found, page, size).iter().map(|g| groups::group_json(g, extensions)).collect();
    Ok(success(json!({"total_number": total, "data": data})))
}

pub(super) async fn group_list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    group_page(deps, req, "").await
}

/// `extensiongroup/search`: the list's parameters plus `search_value` (matched, case-insensitive,
/// against the name).
pub(super) async fn group_search<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    let needle = search_value(req)?;
    group_page(deps, req, &needle).await
}

pub(super) async fn group_get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ExtGroupId::new)?;
    let group = existing_group(&deps.store, id).await?;
    let extensions = deps.store.extensions().await?;
    Ok(success(json!({"data": groups::group_detail_json(&group, &extensions)})))
}

pub(super) async fn group_query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let extensions = deps.store.extensions().await?;
    let mut list = Vec::new();
    for id in ids {
        let Ok(id) = ExtGroupId::new(id) else { continue };
        if let Some(group) = deps.store.group(id).await? {
            list.push(groups::group_detail_json(&group, &extensions));
        }
    }
    Ok(success(json!({"list": list})))
}

pub(super) async fn group_create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = groups::parse_group_create(&req.json_body()?)?;
    let group = create_group(&admin_ports(deps), draft).await.map_err(admin_failure)?;
    tracing::info!(ext_group_id = %group.id, member_select = group.member_select.as_str(), "extension group created");
    Ok(success(json!({"id": group.id})))
}

pub(super) async fn group_update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let id = body_id(&body, "extension group", ExtGroupId::new)?;
    let before = existing_group(&deps.store, id).await?;
    let draft = groups::parse_group_update(&body, &before)?;
    update_group(&admin_ports(deps), &before, draft).await.map_err(admin_failure)?;
    tracing::info!(ext_group_id = %id, "extension group updated");
    Ok(success(json!({})))
}

pub(super) async fn group_delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", ExtGroupId::new)?;
    let group = existing_group(&deps.store, id).await?;
    delete_group(&admin_ports(deps), &deps.store, &group).await.map_err(admin_failure)?;
    tracing::info!(ext_group_id = %id, "extension group deleted");
    Ok(success(json!({})))
}

// ---------------------------------------------------------------- organizations

async fn existing_organization<S: AdminStore>(store: &S, id: OrganizationId) -> Result<Organization, Failure> {
    Ok(store
        .organization(id)
        .await?
        .ok_or_else(|| ApiError::new(ErrCode::DataNotFound, format!("organization {id} does not exist")))?)
}

/// `organization/list`: `organization_list`, the top-level organizations (paged when asked) each
/// with its `children` nested; `is_all` 0 (default) adds `ext_number`, 1 also `ext_list`, 2 shows
/// neither; `sort_by=id` orders siblings by id instead of `order`. `total_number` (ours) counts the
/// top-level organizations.
pub(super) async fn organization_list<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, false)?;
    let (sort_by, desc) = sorting(req, &["order", "id"])?;
    let query = req.query_value();
    let mut f = Fields::new(&query);
    let is_all = f.opt_integer("is_all").unwrap_or(0);
    let detail = OrgDetail::from_is_all(is_all);
    if detail.is_none() {
        f.error("is_all", "enum", "must be 0, 1 or 2");
    }
    f.finish()?;
    let detail = detail.unwrap_or(OrgDetail::Counts);
    let tree = OrgTree::new(deps.store.organizations().await?);
    let by_id = sort_by == "id";
    let roots = groups::sorted(tree.children(None), by_id, desc);
    let total = roots.len();
    let list: Vec<Value> = page_of(roots, page, size)
        .into_iter()
        .map(|o| groups::organization_node_json(&tree, o, detail, by_id, desc))
        .collect();
    Ok(success(json!({"total_number": total, "organization_list": list})))
}

/// `organization/search`: `search_value` matched (case-insensitive) against names; a flat,
/// paged `organization_list` of `organization_info` objects, by id.
pub(super) async fn organization_search<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let (page, size) = paging(req, false)?;
    let needle = search_value(req)?;
    let found: Vec<Organization> =
        deps.store.organizations().await?.into_iter().filter(|o| o.name.to_lowercase().contains(&needle)).collect();
    let total = found.len();
    let list: Vec<Value> = page_of(found, page, size).iter().map(groups::organization_info_json).collect();
    Ok(success(json!({"total_number": total, "organization_list": list})))
}

pub(super) async fn organization_get<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", OrganizationId::new)?;
    let org = existing_organization(&deps.store, id).await?;
    Ok(success(json!({"organization_info": groups::organization_info_json(&org)})))
}

pub(super) async fn organization_query<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let ids = ids_param(req)?;
    let mut list = Vec::new();
    for id in ids {
        let Ok(id) = OrganizationId::new(id) else { continue };
        if let Some(org) = deps.store.organization(id).await? {
            list.push(groups::organization_info_json(&org));
        }
    }
    Ok(success(json!({"list": list})))
}

pub(super) async fn organization_create<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let draft = groups::parse_organization_create(&req.json_body()?)?;
    let org = create_organization(&admin_ports(deps), draft).await.map_err(admin_failure)?;
    tracing::info!(organization_id = %org.id, parent_id = ?org.parent_id.map(|p| p.get()), "organization created");
    Ok(success(json!({"id": org.id})))
}

pub(super) async fn organization_update<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("POST")?;
    let body = req.json_body()?;
    let id = body_id(&body, "organization", OrganizationId::new)?;
    let before = existing_organization(&deps.store, id).await?;
    let draft = groups::parse_organization_update(&body, &before)?;
    update_organization(&admin_ports(deps), &before, draft).await.map_err(admin_failure)?;
    tracing::info!(organization_id = %id, "organization updated");
    Ok(success(json!({})))
}

pub(super) async fn organization_delete<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let id = id_param(req, "id", OrganizationId::new)?;
    let org = existing_organization(&deps.store, id).await?;
    delete_organization(&admin_ports(deps), &deps.store, &org).await.map_err(admin_failure)?;
    tracing::info!(organization_id = %id, "organization deleted");
    Ok(success(json!({})))
}

/// `extension/get`'s `organization_list`: the organizations the extension is placed in.
pub(super) async fn extension_organizations<S: AdminStore>(
    store: &S,
    ext: domain::ids::ExtensionId,
) -> Result<Value, Failure> {
    Ok(groups::extension_organizations_json(&OrgTree::new(store.organizations().await?), ext))
}

// ---------------------------------------------------------------- menu options

/// `system/get_menuoptions`: `data`, the options of `menu` (`extension`, `ext_group`, `org_list`,
/// `queue`, `queue_agent` with the queue `id`) as `{text, value, type}` (`item` for `org_list`).
pub(super) async fn menu_options<S: AdminStore, R: Random, K: Clock, H: ProviderHttp, E: EventPublisher>(
    deps: &Deps<S, R, K, H, E>,
    req: &ApiRequest,
) -> Result<Value, Failure> {
    req.require_method("GET")?;
    let data: Vec<Value> = match groups::parse_menu(&req.query_value())? {
        Menu::Extension => deps.store.extensions().await?.iter().map(groups::extension_option).collect(),
        Menu::ExtGroup => deps.store.groups().await?.iter().map(groups::group_option).collect(),
        Menu::OrgList => groups::org_options(&OrgTree::new(deps.store.organizations().await?)),
        Menu::Queue => deps.store.queues().await?.iter().map(groups::queue_option).collect(),
        Menu::QueueAgent(id) => {
            let queue = existing_queue(&deps.store, id).await?;
            let mut options = Vec::with_capacity(queue.members.len());
            for member in &queue.members {
                if let Some(ext) = deps.store.extension(*member).await? {
                    options.push(groups::extension_option(&ext));
                }
            }
            options
        }
    };
    Ok(success(json!({"data": data})))
}

#[cfg(test)]
mod tests {
    use adapters::memory::{CountingRandom, InMemoryEvents, InMemoryStore, ManualClock, ScriptedProvider};
    use domain::channel::UrlPolicy;
    use domain::provider::ProviderEndpoints;
    use domain::secret::Secret;
    use domain::services::tokens::AdminClient;
    use domain::time::Timestamp;
    use lambda_http::Body;
    use lambda_support::testing::apigw_request;
    use serde_json::{Value, json};

    use super::super::{Deps, handle};

    type TestDeps = Deps<InMemoryStore, CountingRandom, ManualClock, ScriptedProvider, InMemoryEvents>;

    fn deps() -> TestDeps {
        Deps {
            store: InMemoryStore::new(),
            random: CountingRandom::default(),
            clock: ManualClock::new(Timestamp::from_millis(1_795_000_000_000)),
            admin: AdminClient { client_id: "admin".into(), client_secret: Secret::new("admin-secret-123") },
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

    async fn call(
        deps: &TestDeps,
        method: &str,
        path: &str,
        token: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Value {
        let mut q = vec![("access_token", token)];
        q.extend_from_slice(query);
        let body = body.map(|b| b.to_string());
        let request = apigw_request(method, "/openapi/v1.0/x/{action}", path, &q, &[], body.as_deref());
        match handle(deps, request).await.unwrap().body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        }
    }

    async fn token(deps: &TestDeps) -> String {
        let body = json!({"username": "admin", "password": "admin-secret-123"}).to_string();
        let request =
            apigw_request("POST", "/openapi/v1.0/get_token", "/openapi/v1.0/get_token", &[], &[], Some(&body));
        let reply: Value = match handle(deps, request).await.unwrap().body() {
            Body::Text(t) => serde_json::from_str(t).unwrap(),
            other => panic!("unexpected body {other:?}"),
        };
        reply["access_token"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn groups_organizations_and_menus_answer_in_yeastar_shapes_and_refuse_bad_trees() {
        let d = deps();
        let t = token(&d).await;
        let post = |path: &'static str, body: Value| {
            let (d, t) = (&d, t.clone());
            async move { call(d, "POST", &format!("/openapi/v1.0/{path}"), &t, &[], Some(body)).await }
        };
        let get = |path: &'static str, query: Vec<(&'static str, String)>| {
            let (d, t) = (&d, t.clone());
            async move {
                let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
                call(d, "GET", &format!("/openapi/v1.0/{path}"), &t, &q, None).await
            }
        };
        let ext = post("extension/create", json!({"number": "1000", "user_password": "Agent1234"})).await;
        let ext = ext["id"].as_u64().unwrap();
        let g = post(
            "extensiongroup/create",
            json!({"name": "Sales", "member_select": "sel_specific",
                                                     "members": [{"ext_id": ext}]}),
        )
        .await;
        assert_eq!(g["errcode"], 0, "{g}");
        let list = get("extensiongroup/list", vec![]).await;
        assert_eq!(
            list["data"],
            json!([{"id": 1, "name": "Sales", "member_select": "sel_specific", "total_extensions": 1}])
        );

        let root = post("organization/create", json!({"name": "Company"})).await["id"].as_u64().unwrap();
        let sub = post("organization/create", json!({"name": "Support", "parent_id": root, "ext_list": [ext]})).await;
        let sub = sub["id"].as_u64().unwrap();
        let cycle = post("organization/update", json!({"id": root, "parent_id": sub})).await;
        assert_eq!(cycle["errcode"], 40002, "{cycle}");
        assert_eq!(cycle["invalid_param_list"][0]["validation_type"], "cycle");
        let tree = get("organization/list", vec![("is_all", "0".into())]).await;
        assert_eq!(tree["organization_list"][0]["children"][0]["id"], sub, "{tree}");
        assert_eq!(tree["organization_list"][0]["children"][0]["ext_number"], 1);
        let refused = get("organization/delete", vec![("id", root.to_string())]).await;
        assert_eq!(refused["reason"], "organization_has_children", "{refused}");
        let listed = get("extension/delete", vec![("id", ext.to_string())]).await;
        assert_eq!(listed["reason"], "extension_in_use", "{listed}");
        let e = get("extension/get", vec![("id", ext.to_string())]).await;
        assert_eq!(e["data"]["organization_list"], json!([{"id": sub, "name": "Support"}]));
        let menu = get("system/get_menuoptions", vec![("menu", "org_list".into())]).await;
        assert_eq!(
            menu["data"],
            json!([{"text": "Company", "value": root.to_string(), "type": "organization",
                                         "item": [{"text": "Support", "value": sub.to_string()}]}])
        );
        let unknown = get("system/get_menuoptions", vec![("menu", "IVR".into())]).await;
        assert_eq!(unknown["errcode"], 40002, "{unknown}");
    }
}

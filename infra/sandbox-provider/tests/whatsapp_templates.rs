//! The sandbox's Graph `message_templates` listing through real HTTP: the default set, paging
//! with `limit` and `after`, the access token, recording, and the control endpoints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;

use sandbox_provider::{Sandbox, SandboxConfig};
use serde_json::{Value, json};

const TOKEN: &str = "EAAJB-sandbox-system-user";

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig { bind: SocketAddr::from(([127, 0, 0, 1], 0)), api_keys: vec!["k".to_owned()] })
        .await
        .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn listing_url(sandbox: &Sandbox, query: &str) -> String {
    format!("{}/v21.0/102290129340398/message_templates{query}", sandbox.base_url())
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = client().get(url);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn names(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
}

/// `count` approved templates named `t00`, `t01`, ...
fn numbered(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            json!({"name": format!("t{i:02}"), "language": "en_US", "status": "APPROVED", "category": "UTILITY",
                   "id": format!("{}", 9_000 + i), "components": [{"type": "BODY", "text": "Hello {{1}}"}]})
        })
        .collect()
}

#[tokio::test]
async fn when_listing_without_a_token_should_answer_graphs_oauth_error() {
    let sandbox = sandbox().await;
    let url = listing_url(&sandbox, "");
    for token in [None, Some("")] {
        let (status, body) = get(&url, token).await;
        assert_eq!(status, 401, "{token:?}");
        assert_eq!(body["error"]["type"], "OAuthException");
        assert_eq!(body["error"]["code"], 190);
        assert!(body["error"]["message"].is_string());
    }
    let calls = sandbox.provider_calls();
    assert_eq!(calls.len(), 2, "refused calls are recorded too");
    assert_eq!(calls[0].authorization, None);
    assert_eq!(calls[1].authorization.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn when_listing_the_default_templates_should_answer_one_page_in_graphs_shape() {
    // GIVEN a fresh sandbox
    let sandbox = sandbox().await;
    // WHEN the templates are listed with a token
    let (status, page) = get(&listing_url(&sandbox, ""), Some(TOKEN)).await;
    // THEN the default set comes back on one page, without `next`
    assert_eq!(status, 200);
    assert_eq!(names(&page), ["order_update", "spring_sale", "new_arrivals", "win_big", "intro_catalog_offer"]);
    let statuses: Vec<&str> = page["data"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["APPROVED", "APPROVED", "PENDING", "REJECTED", "APPROVED"]);
    let order = &page["data"][0];
    assert_eq!(
        (&order["id"], &order["language"], &order["category"], &order["parameter_format"]),
        (&json!("1667192013751005"), &json!("en_US"), &json!("UTILITY"), &json!("POSITIONAL"))
    );
    assert_eq!(
        order["components"][0],
        json!({"type": "BODY", "text": "Hello {{1}}, your order {{2}} ships today.",
                                              "example": {"body_text": [["Ann", "42"]]}})
    );
    let sale = &page["data"][1];
    assert_eq!((&sale["parameter_format"], &sale["category"]), (&json!("NAMED"), &json!("MARKETING")));
    assert_eq!(sale["components"][0]["format"], "IMAGE");
    assert!(sale["components"][1]["text"].as_str().unwrap().contains("{{first_name}}"));
    assert_eq!(sale["components"][3]["buttons"][0]["url"], "https://shop.example.com/sale/{{1}}");
    assert_eq!(page["data"][4]["components"][2]["buttons"][0]["type"], "CATALOG");
    assert!(page["paging"]["cursors"]["before"].is_string());
    assert!(page["paging"].get("next").is_none() && page["paging"]["cursors"].get("after").is_none(), "{page}");
    // AND the call is recorded
    let calls = sandbox.provider_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "GET");
    assert_eq!(calls[0].path, "/v21.0/102290129340398/message_templates");
    assert_eq!(calls[0].authorization.as_deref(), Some("Bearer EAAJB-sandbox-system-user"));
}

#[tokio::test]
async fn when_more_templates_than_the_limit_should_page_with_after_and_next() {
    // GIVEN seven templates
    let sandbox = sandbox().await;
    sandbox.set_whatsapp_templates(numbered(7));
    // WHEN they are listed three at a time, following `next`
    let (status, first) = get(&listing_url(&sandbox, "?limit=3"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert_eq!(names(&first), ["t00", "t01", "t02"]);
    let after = first["paging"]["cursors"]["after"].as_str().unwrap();
    let next = first["paging"]["next"].as_str().unwrap();
    // THEN `next` is an absolute URL back to the sandbox carrying the limit and the cursor
    assert_eq!(next, listing_url(&sandbox, &format!("?limit=3&after={after}")));
    let (_, second) = get(next, Some(TOKEN)).await;
    assert_eq!(names(&second), ["t03", "t04", "t05"]);
    let (_, last) = get(second["paging"]["next"].as_str().unwrap(), Some(TOKEN)).await;
    assert_eq!(names(&last), ["t06"]);
    assert!(last["paging"].get("next").is_none(), "{last}");
    assert!(last["paging"]["cursors"].get("after").is_none(), "{last}");
    // AND the `after` cursor works when built by hand too, as a client sends it
    let (_, again) = get(&listing_url(&sandbox, &format!("?after={after}")), Some(TOKEN)).await;
    assert_eq!(names(&again), ["t03", "t04", "t05", "t06"]);
    assert_eq!(sandbox.provider_calls().len(), 4);
}

#[tokio::test]
async fn when_no_limit_is_given_should_answer_25_per_page() {
    let sandbox = sandbox().await;
    sandbox.set_whatsapp_templates(numbered(30));
    let (_, first) = get(&listing_url(&sandbox, ""), Some(TOKEN)).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 25);
    assert!(first["paging"]["next"].as_str().unwrap().contains("limit=25&after="), "{first}");
    let (_, second) = get(first["paging"]["next"].as_str().unwrap(), Some(TOKEN)).await;
    assert_eq!(names(&second), ["t25", "t26", "t27", "t28", "t29"]);
    assert!(second["paging"].get("next").is_none());
}

#[tokio::test]
async fn when_the_limit_or_the_cursor_is_invalid_should_answer_graphs_parameter_error() {
    let sandbox = sandbox().await;
    for query in ["?limit=0", "?limit=ten", "?after=not-a-cursor"] {
        let (status, body) = get(&listing_url(&sandbox, query), Some(TOKEN)).await;
        assert_eq!((status, &body["error"]["code"]), (400, &json!(100)), "{query}: {body}");
    }
    // no templates at all: an empty page without paging
    sandbox.set_whatsapp_templates(Vec::new());
    let (status, body) = get(&listing_url(&sandbox, ""), Some(TOKEN)).await;
    assert_eq!((status, body), (200, json!({"data": []})));
}

#[tokio::test]
async fn when_using_the_control_endpoints_should_replace_and_restore_the_templates() {
    let sandbox = sandbox().await;
    let http = client();
    let base = sandbox.base_url();
    let r = http.post(format!("{base}/_sandbox/whatsapp_templates")).json(&numbered(2)).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let (_, page) = get(&listing_url(&sandbox, ""), Some(TOKEN)).await;
    assert_eq!(names(&page), ["t00", "t01"]);
    let r = http.post(format!("{base}/_sandbox/whatsapp_templates")).json(&json!([1, 2])).send().await.unwrap();
    assert!(r.status().is_client_error(), "template objects only");

    let r = http.post(format!("{base}/_sandbox/reset")).send().await.unwrap();
    assert!(r.status().is_success());
    assert!(sandbox.provider_calls().is_empty());
    let (_, page) = get(&listing_url(&sandbox, ""), Some(TOKEN)).await;
    assert_eq!(names(&page).len(), 5, "the default set is back");

    // Other methods on the listing path still reach the generic provider double.
    let r = http.post(listing_url(&sandbox, "")).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(sandbox.provider_calls().last().unwrap().method, "POST");
}

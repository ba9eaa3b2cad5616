//! The HTTP contract: openapi.yaml against template.yaml's HttpApi routes, both ways, and against
//! what the functions serve. template.yaml routes are `{action}` wildcards (method ANY), so the
//! concrete operations the document lists are checked two more ways: every `(resource, action)`
//! arm of a route table in the source of a function behind such a route must be documented, and
//! every documented operation must be answered by its handler on the local stack with the
//! documented method(s) — and refused as an unknown endpoint (errcode 10001, or the gateway's 404)
//! with the others.
//! (`make contract` fuzzes the same document with schemathesis.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use local_stack::plan::RouteBinding;
use local_stack::template::Template;
use serde_json::{Value, json};
use system_tests::{ADMIN_ID, ADMIN_SECRET, TestStack, workspace_root};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every `(path, METHOD)` operation of openapi.yaml.
fn openapi_operations() -> BTreeSet<(String, String)> {
    let doc = Template::load(&workspace_root().join("openapi.yaml")).expect("openapi.yaml parses").document;
    let paths = doc["paths"].as_object().expect("openapi.yaml has paths");
    let mut ops = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((path.clone(), method.to_ascii_uppercase()));
            }
        }
    }
    assert!(!ops.is_empty(), "openapi.yaml lists no operation");
    ops
}

/// template.yaml's plan (every HttpApi route, every function's CodeUri).
fn template_plan() -> local_stack::Plan {
    local_stack::plan(&workspace_root().join("template.yaml"), &BTreeMap::new()).expect("template.yaml plans")
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

/// Whether the template route's path and method cover the documented operation: literal segments
/// equal, a `{param}` of the route takes any one segment (a `{param+}` the rest), a documented
/// `{param}` only a route parameter; `ANY` takes every method.
fn covers(route: &RouteBinding, path: &str, method: &str) -> bool {
    if route.method != "ANY" && !route.method.eq_ignore_ascii_case(method) {
        return false;
    }
    let route_segments: Vec<&str> = route.path.trim_matches('/').split('/').collect();
    let doc_segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    for (i, r) in route_segments.iter().enumerate() {
        if r.starts_with('{') && r.ends_with("+}") {
            return doc_segments.len() > i;
        }
        let Some(d) = doc_segments.get(i) else { return false };
        let matches = if is_param(r) { true } else { !is_param(d) && r == d };
        if !matches {
            return false;
        }
    }
    route_segments.len() == doc_segments.len()
}

/// `(resource, action)` arms of the route tables in a function's source: lines such as
/// `("message_queue" | "message_queues", "delete") => …`, and for a resource handed on whole
/// (`("chat_log", _) => crate::chat_log::route(…)`) the `"action" => …` arms of that module.
fn route_arms(src_dir: &Path) -> BTreeSet<(String, String)> {
    fn quoted_alternatives(part: &str) -> Option<Vec<String>> {
        part.split('|')
            .map(|alt| {
                let alt = alt.trim();
                (alt.len() >= 2 && alt.starts_with('"') && alt.ends_with('"')).then(|| alt[1..alt.len() - 1].to_owned())
            })
            .collect()
    }
    let mut arms = BTreeSet::new();
    let mut files = vec![src_dir.to_path_buf()];
    while let Some(entry) = files.pop() {
        if entry.is_dir() {
            files.extend(std::fs::read_dir(&entry).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if entry.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        for line in std::fs::read_to_string(&entry).unwrap().lines() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix('(') else { continue };
            let Some((inside, target)) = rest.split_once(") =>") else { continue };
            let Some((resources, actions)) = inside.split_once(',') else { continue };
            let Some(resources) = quoted_alternatives(resources) else { continue };
            let actions = match (actions.trim(), target.trim().strip_prefix("crate::")) {
                ("_", Some(module)) => {
                    let module = module.split("::").next().unwrap_or_default();
                    let file = [src_dir.join(format!("{module}.rs")), src_dir.join(module).join("mod.rs")]
                        .into_iter()
                        .find(|f| f.is_file())
                        .unwrap_or_else(|| panic!("{line}: cannot find the module {module} in {}", src_dir.display()));
                    std::fs::read_to_string(file)
                        .unwrap()
                        .lines()
                        .filter_map(|l| l.trim().split_once(" =>").and_then(|(arm, _)| quoted_alternatives(arm)))
                        .flatten()
                        .collect()
                }
                (actions, _) => quoted_alternatives(actions).unwrap_or_default(),
            };
            for r in &resources {
                for a in &actions {
                    arms.insert((r.clone(), a.clone()));
                }
            }
        }
    }
    arms
}

#[test]
fn openapi_yaml_and_template_routes_match_both_ways_and_every_served_action_is_documented() {
    let ops = openapi_operations();
    let plan = template_plan();
    let mut problems = Vec::new();

    for (path, method) in &ops {
        if !plan.routes.iter().any(|r| covers(r, path, method)) {
            problems.push(format!("openapi.yaml {method} {path} has no HttpApi route in template.yaml"));
        }
    }
    for route in &plan.routes {
        if !ops.iter().any(|(path, method)| covers(route, path, method)) {
            problems.push(format!(
                "template.yaml route {} ({}.{}) has no operation in openapi.yaml",
                route.route_key(),
                route.function,
                route.event_name
            ));
        }
    }

    // The `{action}` wildcards: every action a handler's route table serves is documented.
    let documented: BTreeSet<&str> = ops.iter().map(|(path, _)| path.as_str()).collect();
    let mut served = 0;
    for function in &plan.functions {
        let wildcard_prefixes: Vec<String> = plan
            .routes
            .iter()
            .filter(|r| r.function == function.logical_id && r.path.ends_with("/{action}"))
            .map(|r| r.path.trim_end_matches("{action}").to_owned())
            .collect();
        if wildcard_prefixes.is_empty() {
            continue;
        }
        for (resource, action) in route_arms(&function.code_uri.join("src")) {
            let Some(prefix) =
                wildcard_prefixes.iter().find(|p| p.trim_end_matches('/').ends_with(&format!("/{resource}")))
            else {
                continue;
            };
            served += 1;
            let path = format!("{prefix}{action}");
            if !documented.contains(path.as_str()) {
                problems
                    .push(format!("{} serves {resource}/{action} but openapi.yaml has no {path}", function.logical_id));
            }
        }
    }
    assert!(served > 20, "found only {served} served actions in the functions' route tables: is the scan broken?");
    assert!(problems.is_empty(), "openapi.yaml is out of step:\n  {}", problems.join("\n  "));
}

#[test]
fn the_route_matching_of_the_contract_check_is_strict() {
    let route = |method: &str, path: &str| RouteBinding {
        method: method.into(),
        path: path.into(),
        function: "F".into(),
        event_name: "E".into(),
    };
    let any = route("ANY", "/openapi/v1.0/message_channel/{action}");
    assert!(covers(&any, "/openapi/v1.0/message_channel/list", "GET"));
    assert!(covers(&any, "/openapi/v1.0/message_channel/create", "POST"));
    assert!(!covers(&any, "/openapi/v1.0/message_queue/list", "GET"));
    assert!(!covers(&any, "/openapi/v1.0/message_channel/list/x", "GET"));
    assert!(!covers(&any, "/openapi/v1.0/message_channel", "GET"));
    let post = route("POST", "/openapi/v1.0/get_token");
    assert!(covers(&post, "/openapi/v1.0/get_token", "POST"));
    assert!(!covers(&post, "/openapi/v1.0/get_token", "GET"));
    let hook = route("GET", "/api/v1.0/webhook/{provider}/{token}");
    assert!(covers(&hook, "/api/v1.0/webhook/{provider}/{token}", "GET"));
    assert!(!covers(&route("GET", "/api/v1.0/webhook/twilio/{token}"), "/api/v1.0/webhook/{provider}/{token}", "GET"));
}

/// A call to a documented path with no parameters: `(HTTP status, JSON body)`.
async fn call(t: &TestStack, method: &str, path: &str, token: &str) -> (u16, Value) {
    let url = format!("{}{path}", t.base_url());
    let request = match method {
        "GET" => t.http.get(url),
        "POST" => t.http.post(url),
        "PUT" => t.http.put(url),
        "DELETE" => t.http.delete(url),
        other => panic!("openapi.yaml documents {other} {path}; the contract check knows GET, POST, PUT and DELETE"),
    };
    let response = request.query(&[("access_token", token)]).send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({"text": text})))
}

#[tokio::test]
async fn every_documented_operation_is_served_with_its_methods_and_only_those() {
    let t = TestStack::start().await;
    let admin = t.admin_token().await;
    let ops = openapi_operations();
    let paths: BTreeSet<&str> = ops.iter().map(|(p, _)| p.as_str()).collect();
    let mut problems = Vec::new();
    for path in paths {
        if path == "/openapi/v1.0/del_token" {
            continue; // it revokes the token: checked last, with a token of its own
        }
        if path.contains('{') {
            // The provider webhooks: the handler answers an unknown webhook URL itself (JSON with
            // `error`), unlike the gateway's "no route" 404.
            let concrete = path.replace("{provider}", "general").replace("{token}", "0123456789abcdef0123456789abcdef");
            for method in ["GET", "POST"] {
                let (status, body) = call(&t, method, &concrete, &admin).await;
                let documented = ops.contains(&(path.to_owned(), method.to_owned()));
                if documented && (status >= 500 || body.get("error").is_none()) {
                    problems.push(format!("{method} {path}: not answered by its handler: {status} {body}"));
                }
            }
            continue;
        }
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let (status, body) = call(&t, method, path, &admin).await;
            let documented = ops.contains(&(path.to_owned(), method.to_owned()));
            // The gateway's 404 (no route for the method) or the handler's 10001.
            let unknown = (status == 404 && body.get("errcode").is_none()) || body["errcode"] == 10001;
            if status != 200 && !(status == 404 && unknown) {
                problems.push(format!("{method} {path}: HTTP {status} {body}"));
            } else if documented && unknown {
                problems.push(format!("{method} {path} is documented but not served: {body}"));
            } else if !documented && !unknown {
                problems.push(format!("{method} {path} is served but not documented: {body}"));
            }
        }
    }
    assert!(problems.is_empty(), "openapi.yaml does not match what is served:\n  {}", problems.join("\n  "));
    // del_token: GET revokes the token it carries (template.yaml routes no other method to it).
    let spare = t.token(ADMIN_ID, ADMIN_SECRET).await;
    let (status, post) = call(&t, "POST", "/openapi/v1.0/del_token", &spare).await;
    assert_eq!(status, 404, "POST del_token: {post}");
    let (_, get) = call(&t, "GET", "/openapi/v1.0/del_token", &spare).await;
    assert_eq!(get["errcode"], 0, "GET del_token: {get}");
    let (_, again) = call(&t, "GET", "/openapi/v1.0/extension/list", &spare).await;
    assert_eq!(again["errcode"], 10004, "the revoked token: {again}");
}

//! Test helpers: API Gateway HTTP API (payload 2.0) events, built the way the gateway builds them.

use lambda_http::Request;
use serde_json::{Map, Value, json};

/// An HTTP API request event for `method path?query` with a JSON (or empty) body.
pub fn apigw_event(
    method: &str,
    route: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Value {
    let raw_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let mut query_map = Map::new();
    for (k, v) in query {
        query_map.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    let mut header_map = Map::new();
    header_map.insert("host".into(), json!("api.example.com"));
    header_map.insert("content-type".into(), json!("application/json"));
    for (k, v) in headers {
        header_map.insert(k.to_ascii_lowercase(), Value::String((*v).to_owned()));
    }
    let action = path.rsplit('/').next().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": raw_query,
        "headers": header_map,
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.10", "userAgent": "OpenAPI"},
            "requestId": "test-request", "routeKey": format!("{method} {route}"), "stage": "$default",
            "time": "21/Nov/2026:05:36:51 +0000", "timeEpoch": 1_795_757_811_000_i64
        },
        "pathParameters": {"action": action},
        "isBase64Encoded": false
    });
    if !query_map.is_empty() {
        event["queryStringParameters"] = Value::Object(query_map);
    }
    if let Some(b) = body {
        event["body"] = Value::String(b.to_owned());
    }
    event
}

/// The same event as a `lambda_http::Request`.
pub fn apigw_request(
    method: &str,
    route: &str,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Request {
    let event = apigw_event(method, route, path, query, headers, body);
    match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => unreachable_request(&e.to_string()),
    }
}

#[allow(clippy::panic)] // test helper: a malformed fixture is a bug in the test
fn unreachable_request(e: &str) -> Request {
    panic!("test event does not parse: {e}")
}

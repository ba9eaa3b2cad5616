//! The local HTTP API gateway: matches requests against the template's `HttpApi` routes like API
//! Gateway does (`{param}`, `{param+}`, `ANY`, most specific route wins), builds the payload
//! format 2.0 event, invokes the function and maps its answer back to an HTTP response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::functions::{Functions, InvokeError};
use crate::plan::RouteBinding;
use crate::resolve::ACCOUNT_ID;
use crate::server::{self, ServerHandle};

/// Largest request body API Gateway accepts (10 MiB).
pub const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

/// A route ready for matching.
#[derive(Debug, Clone)]
pub struct CompiledRoute {
    /// The binding it came from.
    pub binding: RouteBinding,
    segments: Vec<Segment>,
    is_default: bool,
}

impl CompiledRoute {
    /// Compiles a route binding.
    pub fn new(binding: RouteBinding) -> CompiledRoute {
        let is_default = binding.path == "$default";
        let segments = if is_default {
            Vec::new()
        } else {
            split_path(&binding.path)
                .into_iter()
                .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_suffix('+') {
                        Some(greedy) => Segment::Greedy(greedy.to_owned()),
                        None => Segment::Param(name.to_owned()),
                    },
                    None => Segment::Literal(s.to_owned()),
                })
                .collect()
        };
        CompiledRoute { binding, segments, is_default }
    }

    fn matches(&self, method: &str, path: &[&str]) -> Option<BTreeMap<String, String>> {
        if self.is_default {
            return None;
        }
        if self.binding.method != "ANY" && self.binding.method != method {
            return None;
        }
        let mut params = BTreeMap::new();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => {
                    if path.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let value = path.get(i).filter(|v| !v.is_empty())?;
                    params.insert(name.clone(), percent_decode(value));
                }
                Segment::Greedy(name) => {
                    let rest = path.get(i..).filter(|r| !r.is_empty())?;
                    let joined = rest.join("/");
                    if joined.is_empty() {
                        return None;
                    }
                    params.insert(name.clone(), percent_decode(&joined));
                    return Some(params);
                }
            }
            i += 1;
        }
        (i == path.len()).then_some(params)
    }

    /// Specificity: literal > parameter > greedy, segment by segment; then a longer path; then a
    /// specific method over `ANY`.
    fn specificity(&self) -> (Vec<u8>, usize, bool) {
        let ranks = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 2,
                Segment::Param(_) => 1,
                Segment::Greedy(_) => 0,
            })
            .collect();
        (ranks, self.segments.len(), self.binding.method != "ANY")
    }
}

fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() }
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Finds the most specific route for `method` and `path`, with its path parameters.
pub fn match_route<'a>(
    routes: &'a [CompiledRoute],
    method: &str,
    path: &str,
) -> Option<(&'a CompiledRoute, BTreeMap<String, String>)> {
    let segments = split_path(path);
    routes
        .iter()
        .filter_map(|r| r.matches(method, &segments).map(|p| (r, p)))
        .max_by(|(a, _), (b, _)| a.specificity().cmp(&b.specificity()))
        .or_else(|| routes.iter().find(|r| r.is_default).map(|r| (r, BTreeMap::new())))
}

struct GatewayState {
    routes: Vec<CompiledRoute>,
    functions: Arc<Functions>,
    port: u16,
}

/// The running gateway.
#[derive(Debug)]
pub struct Gateway {
    server: ServerHandle,
}

impl Gateway {
    /// Serves `routes` on `listener`, invoking `functions`.
    pub fn start(
        listener: TcpListener,
        routes: &[RouteBinding],
        functions: Arc<Functions>,
    ) -> std::io::Result<Gateway> {
        let port = listener.local_addr()?.port();
        let state = Arc::new(GatewayState {
            routes: routes.iter().cloned().map(CompiledRoute::new).collect(),
            functions,
            port,
        });
        let router = Router::new().fallback(handle).with_state(state);
        Ok(Gateway { server: server::spawn(listener, router)? })
    }

    /// The address served.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.server.stop();
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

async fn handle(
    State(state): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut response = route_request(&state, peer, request, &request_id).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("apigw-requestid", v);
    }
    response
}

async fn route_request(state: &GatewayState, peer: SocketAddr, request: Request, request_id: &str) -> Response {
    let (parts, body) = request.into_parts();
    let too_large = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_REQUEST_BYTES);
    if too_large {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
    };
    let method = parts.method.as_str().to_owned();
    let raw_path = parts.uri.path().to_owned();
    let Some((route, path_parameters)) = match_route(&state.routes, &method, &raw_path) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let event = build_event(&EventInput {
        method: &parts.method,
        raw_path: &raw_path,
        raw_query: parts.uri.query().unwrap_or_default(),
        version: parts.version,
        headers: &parts.headers,
        body: &body,
        peer,
        port: state.port,
        route_key: &route.binding.route_key(),
        path_parameters: &path_parameters,
        request_id,
        now: time::OffsetDateTime::now_utc(),
    });
    match state.functions.invoke(&route.binding.function, &event).await {
        Ok(answer) => map_response(answer),
        Err(InvokeError::Timeout { .. }) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
        Err(e) => {
            tracing::warn!(route = %route.binding.route_key(), error = %e, "integration failed");
            message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// What [`build_event`] needs from a request.
#[derive(Debug)]
pub struct EventInput<'a> {
    /// Method.
    pub method: &'a Method,
    /// Path as received (still percent-encoded).
    pub raw_path: &'a str,
    /// Query string as received (without `?`).
    pub raw_query: &'a str,
    /// HTTP version.
    pub version: axum::http::Version,
    /// Request headers.
    pub headers: &'a HeaderMap,
    /// Request body.
    pub body: &'a Bytes,
    /// The client's address.
    pub peer: SocketAddr,
    /// The gateway's port.
    pub port: u16,
    /// The matched route key.
    pub route_key: &'a str,
    /// Path parameters of the match.
    pub path_parameters: &'a BTreeMap<String, String>,
    /// The request id.
    pub request_id: &'a str,
    /// When the request arrived.
    pub now: time::OffsetDateTime,
}

fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence.starts_with("text/")
        || essence == "application/json"
        || essence.ends_with("+json")
        || essence == "application/x-www-form-urlencoded"
        || essence == "application/xml"
}

/// Builds the API Gateway HTTP API payload format 2.0 event.
pub fn build_event(input: &EventInput<'_>) -> Value {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for (name, value) in input.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == axum::http::header::COOKIE {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned));
            continue;
        }
        headers
            .entry(name.as_str().to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let ip = input.peer.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for") {
        Some(existing) => format!("{existing}, {ip}"),
        None => ip.clone(),
    };
    headers.insert("x-forwarded-for".to_owned(), forwarded_for);
    headers.insert("x-forwarded-port".to_owned(), input.port.to_string());
    headers.insert("x-forwarded-proto".to_owned(), "http".to_owned());

    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(input.raw_query.as_bytes()) {
        query
            .entry(k.into_owned())
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert_with(|| v.into_owned());
    }

    let domain_name = headers.get("host").cloned().unwrap_or_else(|| format!("127.0.0.1:{}", input.port));
    let host_only = domain_name.split(':').next().unwrap_or_default();
    let domain_prefix = host_only.split('.').next().unwrap_or_default().to_owned();
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let protocol = match input.version {
        axum::http::Version::HTTP_10 => "HTTP/1.0",
        axum::http::Version::HTTP_2 => "HTTP/2.0",
        _ => "HTTP/1.1",
    };
    let time_format =
        time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    let time_text = input.now.format(&time_format).unwrap_or_default();
    let epoch_ms = input.now.unix_timestamp_nanos() / 1_000_000;

    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(input.route_key));
    event.insert("rawPath".into(), json!(input.raw_path));
    event.insert("rawQueryString".into(), json!(input.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), json!(headers));
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), json!(query));
    }
    if !input.path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(input.path_parameters));
    }
    event.insert(
        "requestContext".into(),
        json!({
            "accountId": ACCOUNT_ID,
            "apiId": "local",
            "domainName": domain_name,
            "domainPrefix": domain_prefix,
            "http": {
                "method": input.method.as_str(),
                "path": input.raw_path,
                "protocol": protocol,
                "sourceIp": ip,
                "userAgent": user_agent,
            },
            "requestId": input.request_id,
            "routeKey": input.route_key,
            "stage": "$default",
            "time": time_text,
            "timeEpoch": epoch_ms,
        }),
    );
    let text = is_text(headers.get("content-type").map(String::as_str));
    let (body, is_base64) = if input.body.is_empty() {
        (None, false)
    } else if text {
        match std::str::from_utf8(input.body) {
            Ok(s) => (Some(s.to_owned()), false),
            Err(_) => (Some(BASE64.encode(input.body)), true),
        }
    } else {
        (Some(BASE64.encode(input.body)), true)
    };
    if let Some(body) = body {
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(is_base64));
    Value::Object(event)
}

/// Maps a function's answer to an HTTP response (payload format 2.0 rules).
pub fn map_response(answer: Value) -> Response {
    match answer {
        Value::Object(map) if map.contains_key("statusCode") => structured_response(&map)
            .unwrap_or_else(|| message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")),
        other => {
            let body = other.to_string();
            (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
        }
    }
}

fn structured_response(map: &Map<String, Value>) -> Option<Response> {
    let status = match map.get("statusCode")? {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    let status = StatusCode::from_u16(status).ok()?;
    let mut headers = HeaderMap::new();
    if let Some(Value::Object(h)) = map.get("headers") {
        for (k, v) in h {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            headers.insert(HeaderName::from_bytes(k.as_bytes()).ok()?, HeaderValue::from_str(&value).ok()?);
        }
    }
    if let Some(Value::Array(cookies)) = map.get("cookies") {
        for c in cookies {
            if let Some(c) = c.as_str() {
                headers.append(axum::http::header::SET_COOKIE, HeaderValue::from_str(c).ok()?);
            }
        }
    }
    let is_base64 = map.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false);
    let body: Vec<u8> = match map.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if is_base64 => BASE64.decode(s.as_bytes()).ok()?,
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    if !body.is_empty() && !headers.contains_key(axum::http::header::CONTENT_TYPE) {
        headers.insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Some(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn route(method: &str, path: &str) -> CompiledRoute {
        CompiledRoute::new(RouteBinding {
            method: method.into(),
            path: path.into(),
            function: format!("{method} {path}"),
            event_name: "E".into(),
        })
    }

    fn matched(routes: &[CompiledRoute], method: &str, path: &str) -> Option<String> {
        match_route(routes, method, path).map(|(r, _)| r.binding.function.clone())
    }

    #[test]
    fn when_several_routes_match_should_pick_the_most_specific() {
        let routes = vec![
            route("ANY", "/items/{id}"),
            route("GET", "/items/{id}"),
            route("GET", "/items/special"),
            route("ANY", "/items/{proxy+}"),
            route("ANY", "/"),
        ];
        assert_eq!(matched(&routes, "GET", "/items/special").as_deref(), Some("GET /items/special"));
        assert_eq!(matched(&routes, "GET", "/items/7").as_deref(), Some("GET /items/{id}"));
        assert_eq!(matched(&routes, "DELETE", "/items/7").as_deref(), Some("ANY /items/{id}"));
        assert_eq!(matched(&routes, "GET", "/items/7/parts/9").as_deref(), Some("ANY /items/{proxy+}"));
        assert_eq!(matched(&routes, "GET", "/").as_deref(), Some("ANY /"));
        assert_eq!(matched(&routes, "GET", "/other"), None);
        assert_eq!(matched(&routes, "GET", "/items"), None);
    }

    #[test]
    fn when_a_path_matches_should_decode_its_parameters() {
        let routes = vec![route("POST", "/hook/{provider}/{token}")];
        let (_, params) = match_route(&routes, "POST", "/hook/tel%20nyx/a%2Fb").unwrap();
        assert_eq!(params["provider"], "tel nyx");
        assert_eq!(params["token"], "a/b");
        assert!(match_route(&routes, "GET", "/hook/a/b").is_none());
        assert!(match_route(&routes, "POST", "/hook/a").is_none());
        assert!(match_route(&routes, "POST", "/hook/a/b/c").is_none());
    }

    #[test]
    fn when_no_route_matches_should_fall_back_to_the_default_route() {
        let routes = vec![route("GET", "/a"), route("ANY", "$default")];
        assert_eq!(matched(&routes, "GET", "/a").as_deref(), Some("GET /a"));
        assert_eq!(matched(&routes, "POST", "/zzz").as_deref(), Some("ANY $default"));
    }
}

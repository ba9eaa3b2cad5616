//! The Yeastar OpenAPI HTTP plumbing both API functions share: reading a request (token from
//! `access_token` or `Authorization: Bearer`, `Idempotency-Key`, query and JSON body), checking
//! the caller and the role, running mutating calls idempotently, and writing `errcode` replies.
//! The per-resource shapes and rules live in `domain::openapi` and `domain::services`.

use std::future::Future;

use domain::auth::Principal;
use domain::ids::IdempotencyKey;
use domain::openapi::{ApiError, ErrCode, parse_body, query_object};
use domain::ports::{Clock, IdempotencyStore, StoreError, TokenStore};
use domain::services::idempotency::{Idempotent, StoredReply, fingerprint, run_idempotent};
use domain::services::tokens::{AuthError, authenticate};
use domain::webhook::Headers;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::Value;
use tracing::{error, info, warn};

/// A request as the API handlers see it.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// HTTP method (upper case).
    pub method: String,
    /// Path.
    pub path: String,
    /// The `{action}` path segment (`create`, `get`, ...), or the last path segment.
    pub action: String,
    /// Query parameters in order (repeated keys kept).
    pub query: Vec<(String, String)>,
    /// Headers.
    pub headers: Headers,
    /// Raw body.
    pub body: Vec<u8>,
    /// The host the client used (API Gateway `requestContext.domainName`).
    pub domain_name: Option<String>,
    /// The client's address.
    pub source_ip: Option<String>,
}

impl ApiRequest {
    /// Reads a Lambda HTTP request (API Gateway HTTP API payload 2.0).
    pub fn from_lambda(req: &Request) -> Self {
        // `QueryMap::iter` yields every (key, value) pair, repeated keys included.
        let query = req.query_string_parameters().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let headers = Headers::from_pairs(
            req.headers().iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_owned(), v.to_owned()))),
        );
        let path = req.raw_http_path().to_owned();
        let action = req
            .path_parameters()
            .first("action")
            .map(str::to_owned)
            .unwrap_or_else(|| path.rsplit('/').next().unwrap_or_default().to_owned());
        let (domain_name, source_ip) = match req.request_context() {
            lambda_http::request::RequestContext::ApiGatewayV2(ctx) => {
                (ctx.domain_name.clone(), ctx.http.source_ip.clone())
            }
            _ => (None, None),
        };
        Self {
            method: req.method().as_str().to_owned(),
            path,
            action,
            query,
            headers,
            body: req.body().to_vec(),
            domain_name,
            source_ip,
        }
    }

    /// Whether the call changes something: every POST, and Yeastar's `GET …/delete`.
    pub fn is_mutating(&self) -> bool {
        self.method.eq_ignore_ascii_case("POST") || (self.method.eq_ignore_ascii_case("GET") && self.action == "delete")
    }

    /// Path and query (without the access token, which changes on refresh) for an idempotency
    /// fingerprint: the same key with another target is another request.
    fn fingerprint_target(&self) -> String {
        let query: Vec<String> =
            self.query.iter().filter(|(k, _)| k != "access_token").map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, query.join("&"))
    }

    /// The access token: the `access_token` query parameter (Yeastar) or a Bearer header.
    pub fn access_token(&self) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v.as_str())
            .or_else(|| self.headers.get("authorization").and_then(|h| h.strip_prefix("Bearer ")).map(str::trim))
    }

    /// The `Idempotency-Key` header, validated.
    pub fn idempotency_key(&self) -> Result<Option<IdempotencyKey>, ApiError> {
        match self.headers.get("idempotency-key") {
            None => Ok(None),
            Some(v) => {
                IdempotencyKey::parse(v).map(Some).map_err(|e| ApiError::field("Idempotency-Key", "format", e.reason))
            }
        }
    }

    /// Query parameters (without `access_token`) as a JSON object for `domain::openapi::Fields`.
    pub fn query_value(&self) -> Value {
        query_object(self.query.iter().filter(|(k, _)| k != "access_token").map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// The JSON body as an object.
    pub fn json_body(&self) -> Result<Value, ApiError> {
        parse_body(&self.body)
    }

    /// The public base URL: the configured one, else the scheme and host the client reached us
    /// on (API Gateway's `x-forwarded-proto` and `domainName`).
    pub fn base_url(&self, configured: Option<&str>) -> String {
        match configured {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => {
                let scheme = match self.headers.get("x-forwarded-proto") {
                    Some("http") => "http",
                    _ => "https",
                };
                format!("{scheme}://{}", self.domain_name.as_deref().unwrap_or("localhost"))
            }
        }
    }

    /// Refuses anything but `method`.
    pub fn require_method(&self, method: &str) -> Result<(), ApiError> {
        if self.method.eq_ignore_ascii_case(method) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrCode::InterfaceNotExisted,
                format!("{} {} is not an endpoint; use {method}", self.method, self.path),
            ))
        }
    }
}

/// How an operation failed.
#[derive(Debug)]
pub enum Failure {
    /// A refusal to report with an errcode.
    Api(ApiError),
    /// One of our dependencies failed.
    Store(StoreError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

/// A JSON reply.
pub fn reply(status: u16, body: &Value) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// The reply of a failure.
pub fn failure_reply(failure: &Failure) -> StoredReply {
    match failure {
        Failure::Api(e) => StoredReply { status: e.code.http_status(), body: e.to_json().to_string() },
        Failure::Store(e) => {
            error!(error.message = %e, error.cause_chain = ?e, "dependency failed");
            let api = ApiError::new(ErrCode::Internal, "a dependency is unavailable; retry later");
            StoredReply { status: api.code.http_status(), body: api.to_json().to_string() }
        }
    }
}

fn to_response(r: StoredReply) -> Response<Body> {
    let mut response = Response::new(Body::Text(r.body));
    *response.status_mut() = http::StatusCode::from_u16(r.status).unwrap_or(http::StatusCode::OK);
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// API clients only (channels, queues, directory).
    Admin,
    /// API clients and agents (session and message calls check the acting extension).
    AnyCaller,
}

/// The ports [`serve`] uses.
pub struct ServePorts<'a, T, I, K> {
    /// Tokens.
    pub tokens: &'a T,
    /// Idempotency keys.
    pub idempotency: &'a I,
    /// Time.
    pub clock: &'a K,
}

/// Authenticates the caller, checks `access`, and runs `op` (idempotently for mutating requests —
/// POST, and `GET …/delete` — carrying an `Idempotency-Key`), turning its result into a reply.
pub async fn serve<T, I, K, F, Fut>(
    ports: &ServePorts<'_, T, I, K>,
    req: &ApiRequest,
    access: Access,
    op: F,
) -> Response<Body>
where
    T: TokenStore,
    I: IdempotencyStore,
    K: Clock,
    F: FnOnce(Principal) -> Fut,
    Fut: Future<Output = Result<Value, Failure>>,
{
    let principal = match authenticate(ports.tokens, ports.clock, req.access_token()).await {
        Ok(p) => p,
        Err(AuthError::InvalidToken) => {
            warn!(
                path = req.path.as_str(),
                source_ip = req.source_ip.as_deref().unwrap_or_default(),
                "request with an invalid token"
            );
            return to_response(failure_reply(&Failure::Api(ApiError::new(
                ErrCode::TokenExpired,
                "the access token is missing, invalid or expired; call get_token",
            ))));
        }
        Err(AuthError::Store(e)) => return to_response(failure_reply(&Failure::Store(e))),
    };
    if access == Access::Admin && !principal.is_admin() {
        warn!(principal = principal.scope(), path = req.path.as_str(), "agent token on an administrator endpoint");
        return to_response(failure_reply(&Failure::Api(ApiError::new(
            ErrCode::AccessDenied,
            "this endpoint is for administrator API clients; agent tokens are not allowed",
        ))));
    }
    let key = match req.idempotency_key() {
        Ok(k) => k.filter(|_| req.is_mutating()),
        Err(e) => return to_response(failure_reply(&Failure::Api(e))),
    };
    let print = fingerprint(&req.method, &req.fingerprint_target(), &req.body);
    let run = || async {
        match op(principal.clone()).await {
            Ok(body) => StoredReply { status: 200, body: body.to_string() },
            Err(failure) => failure_reply(&failure),
        }
    };
    match run_idempotent(ports.idempotency, ports.clock, &principal, key.as_ref(), &print, run).await {
        Ok(Idempotent::Fresh(r)) => to_response(r),
        Ok(Idempotent::Replayed(r)) => {
            info!(principal = principal.scope(), "idempotent replay");
            to_response(r)
        }
        Ok(Idempotent::KeyReused) => to_response(failure_reply(&Failure::Api(ApiError::field(
            "Idempotency-Key",
            "duplicate",
            "this key was already used for a different request",
        )))),
        Ok(Idempotent::InProgress) => to_response(failure_reply(&Failure::Api(ApiError::new(
            ErrCode::Processing,
            "a request with this Idempotency-Key is still being processed; retry shortly",
        )))),
        Err(e) => to_response(failure_reply(&Failure::Store(e))),
    }
}

/// The reply to an unauthenticated request's failure (e.g. `get_token`).
pub fn respond(result: Result<Value, Failure>) -> Response<Body> {
    match result {
        Ok(body) => reply(200, &body),
        Err(failure) => to_response(failure_reply(&failure)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comes_from_the_query_or_a_bearer_header() {
        let mut r = ApiRequest { query: vec![("access_token".into(), "abc".into())], ..ApiRequest::default() };
        assert_eq!(r.access_token(), Some("abc"));
        r.query.clear();
        r.headers = Headers::from_pairs([("Authorization", "Bearer xyz")]);
        assert_eq!(r.access_token(), Some("xyz"));
        r.headers = Headers::default();
        assert_eq!(r.access_token(), None);
    }

    #[test]
    fn repeated_query_keys_are_kept_once_per_value() {
        let req =
            crate::testing::apigw_request("GET", "/x/{action}", "/x/list", &[("ids", "1"), ("page", "2")], &[], None);
        let mut query = ApiRequest::from_lambda(&req).query;
        query.sort();
        assert_eq!(query, vec![("ids".to_owned(), "1".to_owned()), ("page".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn base_url_prefers_configuration() {
        let r =
            ApiRequest { domain_name: Some("abc.execute-api.eu-west-1.amazonaws.com".into()), ..ApiRequest::default() };
        assert_eq!(r.base_url(Some("https://sms.example.com/")), "https://sms.example.com");
        assert_eq!(r.base_url(None), "https://abc.execute-api.eu-west-1.amazonaws.com");
        let local = ApiRequest {
            domain_name: Some("127.0.0.1:3000".into()),
            headers: Headers::from_pairs([("X-Forwarded-Proto", "http")]),
            ..ApiRequest::default()
        };
        assert_eq!(local.base_url(None), "http://127.0.0.1:3000");
    }
}

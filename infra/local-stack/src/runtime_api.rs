//! The Lambda Runtime API (`2018-06-01`) served to one function process: `/invocation/next`
//! long-polls for the event assigned to this instance, `/invocation/{id}/response` and
//! `/invocation/{id}/error` complete it, `/init/error` reports a failed initialisation. One
//! [`RuntimeApi`] exists per process generation, on its own loopback port.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use crate::server::{self, ServerHandle};

/// Largest response/error body a function may post (Lambda's synchronous limit is 6 MB).
const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// One invocation handed to an instance.
#[derive(Debug)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event, as JSON bytes.
    pub payload: Bytes,
    /// `Lambda-Runtime-Deadline-Ms` (epoch milliseconds).
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Trace-Id`.
    pub trace_id: String,
    /// Where the outcome goes.
    pub outcome: oneshot::Sender<Outcome>,
}

/// How a function answered an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `POST /invocation/{id}/response` with this body.
    Response(Bytes),
    /// `POST /invocation/{id}/error`.
    Error {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
}

struct ApiState {
    function_arn: String,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    polled: watch::Sender<bool>,
    init_error: watch::Sender<Option<String>>,
}

/// The Runtime API of one process generation.
pub struct RuntimeApi {
    server: ServerHandle,
    state: Arc<ApiState>,
    sender: mpsc::Sender<Invocation>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.server.addr()).finish()
    }
}

impl RuntimeApi {
    /// Starts a Runtime API on `127.0.0.1:0` for the function `function_arn`.
    pub async fn start(function_arn: String) -> std::io::Result<RuntimeApi> {
        let (sender, receiver) = mpsc::channel(1);
        let state = Arc::new(ApiState {
            function_arn,
            queue: tokio::sync::Mutex::new(receiver),
            pending: Mutex::new(HashMap::new()),
            polled: watch::Sender::new(false),
            init_error: watch::Sender::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .with_state(state.clone());
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let server = server::spawn(listener, router)?;
        Ok(RuntimeApi { server, state, sender })
    }

    /// The address, as `AWS_LAMBDA_RUNTIME_API` wants it (`127.0.0.1:port`).
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Queues an invocation for the next `/next` call; fails if the API is gone.
    pub async fn dispatch(&self, invocation: Invocation) -> Result<(), Invocation> {
        self.sender.send(invocation).await.map_err(|e| e.0)
    }

    /// Resolves once the process has called `/next` at least once.
    pub async fn polled(&self) {
        let mut rx = self.state.polled.subscribe();
        let _ = rx.wait_for(|p| *p).await;
    }

    /// Resolves with the `/init/error` report once the process posts one.
    pub async fn init_error(&self) -> String {
        let mut rx = self.state.init_error.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => std::future::pending().await,
        }
    }

    /// The `/init/error` report, if one was posted.
    pub fn init_error_now(&self) -> Option<String> {
        self.state.init_error.borrow().clone()
    }

    /// Stops serving and closes every connection.
    pub fn stop(&self) {
        self.server.stop();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn next(State(state): State<Arc<ApiState>>) -> Response {
    state.polled.send_replace(true);
    let mut queue = state.queue.lock().await;
    let Some(invocation) = queue.recv().await else {
        return (StatusCode::GONE, axum::Json(json!({"errorMessage": "shutting down", "errorType": "ShuttingDown"})))
            .into_response();
    };
    drop(queue);
    let Invocation { request_id, payload, deadline_ms, trace_id, outcome } = invocation;
    lock(&state.pending).insert(request_id.clone(), outcome);
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    put("lambda-runtime-aws-request-id", &request_id);
    put("lambda-runtime-deadline-ms", &deadline_ms.to_string());
    put("lambda-runtime-invoked-function-arn", &state.function_arn);
    put("lambda-runtime-trace-id", &trace_id);
    put("content-type", "application/json");
    (StatusCode::OK, headers, payload).into_response()
}

fn unknown_request(id: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({
            "errorMessage": format!("unknown request id {id}"),
            "errorType": "InvalidRequestID"
        })),
    )
        .into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

async fn response(State(state): State<Arc<ApiState>>, Path(id): Path<String>, body: Bytes) -> Response {
    let Some(sender) = lock(&state.pending).remove(&id) else {
        return unknown_request(&id);
    };
    let _ = sender.send(Outcome::Response(body));
    accepted()
}

/// Reads `{errorMessage, errorType}` (falling back to the error-type header and raw body).
fn diagnostic(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let header_type =
        headers.get("lambda-runtime-function-error-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error_type = parsed
        .as_ref()
        .and_then(|v| v.get("errorType"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(header_type)
        .unwrap_or_else(|| "Unhandled".to_owned());
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("errorMessage"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, message)
}

async fn error(
    State(state): State<Arc<ApiState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(sender) = lock(&state.pending).remove(&id) else {
        return unknown_request(&id);
    };
    let (error_type, message) = diagnostic(&headers, &body);
    let _ = sender.send(Outcome::Error { error_type, message });
    accepted()
}

async fn init_error(State(state): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    let (error_type, message) = diagnostic(&headers, &body);
    state.init_error.send_replace(Some(format!("{error_type}: {message}")));
    accepted()
}

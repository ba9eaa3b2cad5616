//! Function instances: each instance is one child process of the function's real binary talking
//! to its own [`RuntimeApi`]. A [`FunctionPool`] owns a function's instances, hands each
//! invocation to an idle one (one invocation per instance at a time, like Lambda), enforces the
//! timeout, replaces crashed or timed-out processes, and captures their output into a per-function
//! ring buffer and optional log file.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::runtime_api::{Invocation, Outcome, RuntimeApi};

/// How many output lines a function's ring buffer keeps.
pub const LOG_RING_LINES: usize = 2000;
/// How many output lines of one process are quoted in start/crash errors.
const TAIL_LINES: usize = 40;

/// Why an invocation failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum InvokeError {
    /// No function with that logical id.
    #[error("no function {function} in the template")]
    UnknownFunction {
        /// The logical id.
        function: String,
    },
    /// No such event on that function.
    #[error("function {function} has no schedule {event}")]
    UnknownEvent {
        /// The logical id.
        function: String,
        /// The event name.
        event: String,
    },
    /// The function reported an error (`/invocation/{id}/error`).
    #[error("{error_type}: {message}")]
    Function {
        /// `errorType`.
        error_type: String,
        /// `errorMessage`.
        message: String,
    },
    /// The function did not answer within its Timeout; its process was replaced.
    #[error("{function} timed out after {timeout:?}")]
    Timeout {
        /// The logical id.
        function: String,
        /// The function's Timeout.
        timeout: Duration,
    },
    /// The process exited during the invocation; it was replaced.
    #[error("{function} crashed during the invocation ({status}); output tail:\n{output_tail}")]
    Crashed {
        /// The logical id.
        function: String,
        /// The exit status.
        status: String,
        /// The last lines the process printed.
        output_tail: String,
    },
    /// The function answered with a body that is not JSON.
    #[error("{function} returned a response that is not JSON: {reason}")]
    InvalidResponse {
        /// The logical id.
        function: String,
        /// The parse error.
        reason: String,
    },
    /// The function cannot take invocations (the stack is shutting down, or a restart failed).
    #[error("{function} is unavailable: {reason}")]
    Unavailable {
        /// The logical id.
        function: String,
        /// Why.
        reason: String,
    },
}

/// Why an instance could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The binary does not exist.
    #[error(
        "binary for {function} not found at {path}: run `cargo build --workspace --bins` (and `--examples` for test lambdas) first"
    )]
    MissingBinary {
        /// The logical id.
        function: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The process could not be spawned, or its Runtime API could not listen.
    #[error("cannot start {function} ({path}): {source}")]
    Spawn {
        /// The logical id.
        function: String,
        /// The binary.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The process posted `/runtime/init/error`.
    #[error("{function} failed to initialise: {message}; output tail:\n{output_tail}")]
    InitFailed {
        /// The logical id.
        function: String,
        /// The reported error.
        message: String,
        /// The last lines the process printed.
        output_tail: String,
    },
    /// The process exited before asking for its first invocation.
    #[error("{function} exited during initialisation ({status}); output tail:\n{output_tail}")]
    ExitedDuringInit {
        /// The logical id.
        function: String,
        /// The exit status.
        status: String,
        /// The last lines the process printed.
        output_tail: String,
    },
    /// The process did not ask for its first invocation in time.
    #[error("{function} did not call /runtime/invocation/next within {timeout:?}; output tail:\n{output_tail}")]
    InitTimeout {
        /// The logical id.
        function: String,
        /// How long we waited.
        timeout: Duration,
        /// The last lines the process printed.
        output_tail: String,
    },
}

/// Output of one function's processes: a ring buffer and an optional append-only file.
#[derive(Debug)]
pub struct LogSink {
    ring: Mutex<VecDeque<String>>,
    file: Option<tokio::sync::Mutex<tokio::fs::File>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl LogSink {
    /// A sink that also appends to `<log_dir>/<logical_id>.log` when `log_dir` is set.
    pub async fn new(log_dir: Option<&Path>, logical_id: &str) -> std::io::Result<LogSink> {
        let file = match log_dir {
            Some(dir) => {
                tokio::fs::create_dir_all(dir).await?;
                let file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{logical_id}.log")))
                    .await?;
                Some(tokio::sync::Mutex::new(file))
            }
            None => None,
        };
        Ok(LogSink { ring: Mutex::new(VecDeque::new()), file })
    }

    /// Records one line.
    pub async fn push(&self, line: String) {
        if let Some(file) = &self.file {
            let mut file = file.lock().await;
            let _ = file.write_all(format!("{line}\n").as_bytes()).await;
            let _ = file.flush().await;
        }
        let mut ring = lock(&self.ring);
        if ring.len() >= LOG_RING_LINES {
            ring.pop_front();
        }
        ring.push_back(line);
    }

    /// Everything still in the ring buffer, oldest first.
    pub fn lines(&self) -> Vec<String> {
        lock(&self.ring).iter().cloned().collect()
    }
}

/// Everything needed to start a function's processes.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// Logical id.
    pub logical_id: String,
    /// Physical function name.
    pub function_name: String,
    /// Function ARN.
    pub function_arn: String,
    /// The binary to run.
    pub binary: PathBuf,
    /// Timeout.
    pub timeout: Duration,
    /// The complete environment except `AWS_LAMBDA_RUNTIME_API` (added per process).
    pub environment: BTreeMap<String, String>,
    /// How long a new process may take to call `/next`.
    pub init_timeout: Duration,
}

/// The operating-system ids of a pool's live processes (for [`FunctionPool::kill_all`]).
type LivePids = Arc<Mutex<std::collections::BTreeSet<u32>>>;

struct Process {
    pid: Option<u32>,
    live: LivePids,
    api: RuntimeApi,
    exited: watch::Receiver<Option<String>>,
    kill: Option<oneshot::Sender<()>>,
    supervisor: JoinHandle<()>,
    readers: Vec<JoinHandle<()>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            lock(&self.live).remove(&pid);
        }
        self.api.stop();
        self.supervisor.abort();
        for r in &self.readers {
            r.abort();
        }
    }
}

impl Process {
    async fn spawn(spec: &FunctionSpec, sink: Arc<LogSink>, live: LivePids) -> Result<Process, StartError> {
        if !spec.binary.is_file() {
            return Err(StartError::MissingBinary { function: spec.logical_id.clone(), path: spec.binary.clone() });
        }
        let spawn_error =
            |source| StartError::Spawn { function: spec.logical_id.clone(), path: spec.binary.clone(), source };
        let api = RuntimeApi::start(spec.function_arn.clone()).await.map_err(spawn_error)?;
        let mut child = Command::new(&spec.binary)
            .env_clear()
            .envs(&spec.environment)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let pid = child.id();
        if let Some(pid) = pid {
            lock(&live).insert(pid);
        }
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(tokio::spawn(pump(out, sink.clone(), tail.clone())));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(tokio::spawn(pump(err, sink, tail.clone())));
        }
        let (exit_tx, exited) = watch::channel(None);
        let (kill, kill_rx) = oneshot::channel::<()>();
        let supervisor = tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            let status = match status {
                Ok(s) => s.to_string(),
                Err(e) => format!("unknown status: {e}"),
            };
            exit_tx.send_replace(Some(status));
        });
        Ok(Process { pid, live, api, exited, kill: Some(kill), supervisor, readers, tail })
    }

    fn exit_status(&self) -> Option<String> {
        self.exited.borrow().clone()
    }

    async fn wait_exit(&self) -> String {
        let mut rx = self.exited.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone().unwrap_or_default(),
            Err(_) => "supervisor gone".to_owned(),
        }
    }

    /// The last lines printed, after giving the output pumps a moment to drain.
    async fn tail(&self) -> String {
        for r in &self.readers {
            if !r.is_finished() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        lock(&self.tail).iter().cloned().collect::<Vec<_>>().join("\n")
    }

    async fn kill(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), self.wait_exit()).await;
        self.api.stop();
    }

    async fn wait_ready(&self, spec: &FunctionSpec) -> Result<(), StartError> {
        enum Ready {
            Polled,
            InitError(String),
            Exited(String),
        }
        let result = tokio::time::timeout(spec.init_timeout, async {
            tokio::select! {
                biased;
                message = self.api.init_error() => Ready::InitError(message),
                _ = self.api.polled() => Ready::Polled,
                status = self.wait_exit() => Ready::Exited(status),
            }
        })
        .await;
        let function = spec.logical_id.clone();
        match result {
            Ok(Ready::Polled) => Ok(()),
            Ok(Ready::InitError(message)) => {
                Err(StartError::InitFailed { function, message, output_tail: self.tail().await })
            }
            Ok(Ready::Exited(status)) => {
                let output_tail = self.tail().await;
                match self.api.init_error_now() {
                    Some(message) => Err(StartError::InitFailed { function, message, output_tail }),
                    None => Err(StartError::ExitedDuringInit { function, status, output_tail }),
                }
            }
            Err(_) => {
                Err(StartError::InitTimeout { function, timeout: spec.init_timeout, output_tail: self.tail().await })
            }
        }
    }
}

async fn pump<R: AsyncRead + Unpin>(stream: R, sink: Arc<LogSink>, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).trim_end_matches(['\n', '\r']).to_owned();
                {
                    let mut t = lock(&tail);
                    if t.len() >= TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line.clone());
                }
                sink.push(line).await;
            }
        }
    }
}

/// Returns an instance to the idle queue when dropped.
struct IdleGuard<'a> {
    idle: &'a mpsc::UnboundedSender<usize>,
    index: usize,
}

impl Drop for IdleGuard<'_> {
    fn drop(&mut self) {
        let _ = self.idle.send(self.index);
    }
}

/// All instances of one function.
pub struct FunctionPool {
    spec: FunctionSpec,
    sink: Arc<LogSink>,
    slots: Vec<tokio::sync::Mutex<Option<Process>>>,
    idle_tx: mpsc::UnboundedSender<usize>,
    idle_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<usize>>,
    closed: AtomicBool,
    live: LivePids,
}

impl std::fmt::Debug for FunctionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionPool")
            .field("function", &self.spec.logical_id)
            .field("instances", &self.slots.len())
            .finish()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// An X-Ray trace header: `Root=1-<8 hex>-<24 hex>;Parent=<16 hex>;Sampled=0`.
pub fn new_trace_id() -> String {
    let secs = now_ms() / 1000;
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("Root=1-{:08x}-{};Parent={};Sampled=0", secs & 0xffff_ffff, &a[..24], &b[..16])
}

impl FunctionPool {
    /// Starts `instances` processes in parallel and waits until each has called `/next` once.
    pub async fn start(spec: FunctionSpec, sink: Arc<LogSink>, instances: usize) -> Result<FunctionPool, StartError> {
        let instances = instances.max(1);
        let live = LivePids::default();
        let started = futures::future::join_all((0..instances).map(|_| async {
            let process = Process::spawn(&spec, sink.clone(), live.clone()).await?;
            process.wait_ready(&spec).await?;
            Ok::<_, StartError>(process)
        }))
        .await;
        let mut slots = Vec::with_capacity(instances);
        for process in started {
            slots.push(tokio::sync::Mutex::new(Some(process?)));
        }
        let (idle_tx, idle_rx) = mpsc::unbounded_channel();
        for index in 0..instances {
            let _ = idle_tx.send(index);
        }
        Ok(FunctionPool {
            spec,
            sink,
            slots,
            idle_tx,
            idle_rx: tokio::sync::Mutex::new(idle_rx),
            closed: AtomicBool::new(false),
            live,
        })
    }

    /// The function's spec.
    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    /// The function's captured output.
    pub fn logs(&self) -> Vec<String> {
        self.sink.lines()
    }

    /// Invokes the function with `payload` on the next idle instance.
    pub async fn invoke(&self, payload: &Value) -> Result<Value, InvokeError> {
        let function = self.spec.logical_id.clone();
        let unavailable =
            |reason: &str| InvokeError::Unavailable { function: function.clone(), reason: reason.to_owned() };
        if self.closed.load(Ordering::SeqCst) {
            return Err(unavailable("the stack is shutting down"));
        }
        let body = serde_json::to_vec(payload).map_err(|e| unavailable(&e.to_string()))?;
        let index = {
            let mut idle = self.idle_rx.lock().await;
            idle.recv().await.ok_or_else(|| unavailable("shut down"))?
        };
        let _guard = IdleGuard { idle: &self.idle_tx, index };
        let slot = self.slots.get(index).ok_or_else(|| unavailable("no such instance"))?;
        let mut slot = slot.lock().await;
        if slot.as_ref().is_none_or(|p| p.exit_status().is_some()) {
            // Exited while idle (or a restart failed earlier): start a fresh process first.
            self.replace(&mut slot).await;
        }
        let Some(process) = slot.as_mut() else {
            return Err(unavailable("its process could not be restarted"));
        };
        let (tx, rx) = oneshot::channel();
        let request_id = uuid::Uuid::new_v4().to_string();
        let timeout_ms = u64::try_from(self.spec.timeout.as_millis()).unwrap_or(u64::MAX);
        let invocation = Invocation {
            request_id: request_id.clone(),
            payload: Bytes::from(body),
            deadline_ms: now_ms().saturating_add(timeout_ms),
            trace_id: new_trace_id(),
            outcome: tx,
        };
        if process.api.dispatch(invocation).await.is_err() {
            self.replace(&mut slot).await;
            return Err(unavailable("its Runtime API was closed"));
        }
        enum Ended {
            Outcome(Result<Outcome, oneshot::error::RecvError>),
            Exited,
            TimedOut,
        }
        let ended = tokio::select! {
            biased;
            outcome = rx => Ended::Outcome(outcome),
            _ = process.wait_exit() => Ended::Exited,
            _ = tokio::time::sleep(self.spec.timeout) => Ended::TimedOut,
        };
        match ended {
            Ended::Outcome(Ok(Outcome::Response(bytes))) => {
                if bytes.is_empty() {
                    return Ok(Value::Null);
                }
                serde_json::from_slice(&bytes)
                    .map_err(|e| InvokeError::InvalidResponse { function, reason: e.to_string() })
            }
            Ended::Outcome(Ok(Outcome::Error { error_type, message })) => {
                Err(InvokeError::Function { error_type, message })
            }
            Ended::Outcome(Err(_)) | Ended::Exited => {
                let status = process.wait_exit().await;
                let output_tail = process.tail().await;
                tracing::warn!(function = %function, request_id, %status, "function crashed; restarting it");
                self.replace(&mut slot).await;
                Err(InvokeError::Crashed { function, status, output_tail })
            }
            Ended::TimedOut => {
                tracing::warn!(function = %function, request_id, timeout = ?self.spec.timeout, "function timed out; restarting it");
                self.replace(&mut slot).await;
                Err(InvokeError::Timeout { function, timeout: self.spec.timeout })
            }
        }
    }

    /// Kills the slot's process (if any) and starts a fresh one.
    async fn replace(&self, slot: &mut Option<Process>) {
        if let Some(mut old) = slot.take() {
            old.kill().await;
        }
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        match Process::spawn(&self.spec, self.sink.clone(), self.live.clone()).await {
            Ok(p) => *slot = Some(p),
            Err(e) => {
                tracing::error!(function = %self.spec.logical_id, error = %e, "cannot restart function");
            }
        }
    }

    /// Crash injection: SIGKILLs every live process of the function, as if the machine under a
    /// Lambda died mid-invocation. A running invocation ends as [`InvokeError::Crashed`] (an SQS
    /// message it was handling is not deleted, so it comes back after its visibility timeout);
    /// each process is replaced. Returns how many were killed.
    pub fn kill_all(&self) -> usize {
        let pids: Vec<u32> = lock(&self.live).iter().copied().collect();
        let mut killed = 0;
        for pid in pids {
            let status = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status();
            if status.is_ok_and(|s| s.success()) {
                killed += 1;
            }
        }
        tracing::warn!(function = %self.spec.logical_id, killed, "function processes killed (crash injection)");
        killed
    }

    /// Kills every process and waits for them to exit.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        for slot in &self.slots {
            if let Some(mut p) = slot.lock().await.take() {
                p.kill().await;
            }
        }
    }
}

/// Every function's pool, by logical id.
#[derive(Debug, Default)]
pub struct Functions {
    pools: BTreeMap<String, Arc<FunctionPool>>,
}

impl Functions {
    /// A collection of started pools.
    pub fn new(pools: impl IntoIterator<Item = FunctionPool>) -> Functions {
        Functions { pools: pools.into_iter().map(|p| (p.spec.logical_id.clone(), Arc::new(p))).collect() }
    }

    /// The pool of `logical_id`.
    pub fn pool(&self, logical_id: &str) -> Option<&Arc<FunctionPool>> {
        self.pools.get(logical_id)
    }

    /// Invokes `logical_id` with `payload`.
    pub async fn invoke(&self, logical_id: &str, payload: &Value) -> Result<Value, InvokeError> {
        match self.pools.get(logical_id) {
            Some(pool) => pool.invoke(payload).await,
            None => Err(InvokeError::UnknownFunction { function: logical_id.to_owned() }),
        }
    }

    /// The captured output of `logical_id` (empty for unknown functions).
    pub fn logs(&self, logical_id: &str) -> Vec<String> {
        self.pools.get(logical_id).map(|p| p.logs()).unwrap_or_default()
    }

    /// Kills every process of every function.
    pub async fn shutdown(&self) {
        futures::future::join_all(self.pools.values().map(|p| p.shutdown())).await;
    }
}

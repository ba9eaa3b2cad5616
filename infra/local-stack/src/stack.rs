//! The handle: [`LocalStack::start`] plans the template, provisions the emulator, starts every
//! function's processes, the HTTP gateway, the SQS pollers and the schedules, and gives tests and
//! `make dev` access to physical names, invocations, schedules, event taps and function output.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::event_tap::{EventTap, TapError};
use crate::functions::{FunctionPool, FunctionSpec, Functions, InvokeError, LogSink, StartError};
use crate::gateway::Gateway;
use crate::plan::{FunctionBinding, Plan, PlanError, plan_with};
use crate::provision::{
    AwsClients, DUMMY_ACCESS_KEY_ID, DUMMY_SECRET_ACCESS_KEY, DUMMY_SESSION_TOKEN, ProvisionError, provision,
};
use crate::resolve::{ACCOUNT_ID, Physical, Pseudo, Resolver, scalar_string};
use crate::scheduler::{schedule_event, spawn_schedule};
use crate::sqs_source::{PollContext, spawn_pollers};

/// How long a new function process may take to ask for its first invocation.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Environment variables inherited from this process by every function process.
pub const INHERITED_ENV: &[&str] = &["PATH", "HOME", "RUST_BACKTRACE", "RUST_LOG"];

/// Everything [`LocalStack::start`] needs.
#[derive(Debug, Clone)]
pub struct LocalStackConfig {
    /// The SAM template.
    pub template_path: PathBuf,
    /// The workspace root.
    pub workspace_root: PathBuf,
    /// Where the function binaries are (`<binary_name>` in it).
    pub bin_dir: PathBuf,
    /// The emulator's endpoint (`AWS_ENDPOINT_URL` of every function).
    pub aws_endpoint_url: String,
    /// `AWS_REGION`.
    pub region: String,
    /// Prepended to every physical name ("" for `make dev`, unique per test).
    pub resource_prefix: String,
    /// Where the HTTP API is served (port 0: any free port).
    pub http_bind: SocketAddr,
    /// Template parameter overrides.
    pub parameter_overrides: BTreeMap<String, String>,
    /// Extra environment per function logical id, or for all functions under `"*"`.
    pub env_overrides: BTreeMap<String, BTreeMap<String, String>>,
    /// When set, each function's output is appended to `<log_dir>/<LogicalId>.log`.
    pub log_dir: Option<PathBuf>,
    /// `WaitTimeSeconds` of each SQS receive.
    pub sqs_poll_wait_seconds: i32,
    /// Poll loops per SQS event without `MaximumConcurrency`.
    pub default_sqs_concurrency: usize,
    /// Upper bound of poll loops per SQS event.
    pub max_sqs_concurrency: usize,
    /// Instances started for a function with HTTP routes.
    pub http_instances_per_function: usize,
    /// Whether schedules fire on their own.
    pub schedules_enabled: bool,
}

impl LocalStackConfig {
    /// Defaults for the workspace at `root`: `template.yaml`, binaries in `target/debug` (or
    /// `$CARGO_TARGET_DIR/debug` when that is set), `us-east-1`, no prefix, `127.0.0.1:3000`,
    /// 1 s SQS long polls, 2 (max 3) pollers per SQS event, 2 instances per HTTP function,
    /// schedules off.
    pub fn for_workspace(root: &Path, aws_endpoint_url: &str) -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .map(|t| if t.is_absolute() { t } else { root.join(t) })
            .unwrap_or_else(|| root.join("target"));
        LocalStackConfig {
            template_path: root.join("template.yaml"),
            workspace_root: root.to_path_buf(),
            bin_dir: target.join("debug"),
            aws_endpoint_url: aws_endpoint_url.to_owned(),
            region: "us-east-1".to_owned(),
            resource_prefix: String::new(),
            http_bind: SocketAddr::from(([127, 0, 0, 1], 3000)),
            parameter_overrides: BTreeMap::new(),
            env_overrides: BTreeMap::new(),
            log_dir: None,
            sqs_poll_wait_seconds: 1,
            default_sqs_concurrency: 2,
            max_sqs_concurrency: 3,
            http_instances_per_function: 2,
            schedules_enabled: false,
        }
    }
}

/// Why the stack could not start (or a stack operation failed).
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// The template could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The emulator could not be provisioned.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A function's environment could not be resolved.
    #[error("environment of {function}: {source}")]
    Environment {
        /// The logical id.
        function: String,
        /// The resolution error.
        source: PlanError,
    },
    /// A function could not be started.
    #[error(transparent)]
    Start(#[from] StartError),
    /// The HTTP API address could not be bound.
    #[error("cannot serve the HTTP API on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The log directory could not be used.
    #[error("cannot write function logs: {0}")]
    Logs(std::io::Error),
    /// No resource of that kind with that logical id.
    #[error("no {kind} {logical_id} in the template")]
    UnknownResource {
        /// What was asked for.
        kind: &'static str,
        /// The logical id.
        logical_id: String,
    },
    /// The event tap could not be created.
    #[error(transparent)]
    Tap(#[from] TapError),
}

/// The running local system.
pub struct LocalStack {
    config: LocalStackConfig,
    plan: Plan,
    resolver: Resolver,
    clients: AwsClients,
    functions: Arc<Functions>,
    gateway: Gateway,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack")
            .field("prefix", &self.config.resource_prefix)
            .field("http", &self.gateway.addr())
            .finish()
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.gateway.stop();
    }
}

/// The physical name and ARN of a function.
fn function_physical(config: &LocalStackConfig, f: &FunctionBinding) -> (String, String) {
    let name = format!("{}{}", config.resource_prefix, f.function_name);
    let arn = format!("arn:aws:lambda:{}:{ACCOUNT_ID}:function:{name}", config.region);
    (name, arn)
}

fn log_stream_name() -> String {
    let today = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year]/[month]/[day]");
    format!("{}/[$LATEST]{}", today.format(&format).unwrap_or_default(), uuid::Uuid::new_v4().simple())
}

/// The complete environment of a function's processes (without `AWS_LAMBDA_RUNTIME_API`).
fn function_environment(
    config: &LocalStackConfig,
    resolver: &Resolver,
    f: &FunctionBinding,
) -> Result<BTreeMap<String, String>, StackError> {
    let env_error = |source| StackError::Environment { function: f.logical_id.clone(), source };
    let mut env = BTreeMap::new();
    for key in INHERITED_ENV {
        if let Ok(v) = std::env::var(key) {
            env.insert((*key).to_owned(), v);
        }
    }
    for (key, value) in &f.environment {
        let Some(resolved) = resolver.resolve(value).map_err(env_error)? else {
            continue;
        };
        let text = scalar_string(&resolved).ok_or_else(|| {
            env_error(PlanError::Invalid {
                location: format!("{}.Environment.Variables.{key}", f.logical_id),
                reason: "an environment variable must be a scalar".to_owned(),
            })
        })?;
        env.insert(key.clone(), text);
    }
    let logging = |key: &str| -> Result<Option<String>, StackError> {
        match f.logging_config.get(key) {
            None => Ok(None),
            Some(v) => Ok(Some(resolver.resolve_string(v).map_err(env_error)?)),
        }
    };
    let (name, _) = function_physical(config, f);
    let mut put = |k: &str, v: String| {
        env.insert(k.to_owned(), v);
    };
    put("AWS_LAMBDA_FUNCTION_NAME", name.clone());
    put("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned());
    put("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_size.to_string());
    put("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"));
    put("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name());
    put("AWS_LAMBDA_LOG_FORMAT", logging("LogFormat")?.unwrap_or_else(|| "Text".to_owned()));
    if let Some(level) = logging("ApplicationLogLevel")? {
        put("AWS_LAMBDA_LOG_LEVEL", level);
    }
    put("AWS_REGION", config.region.clone());
    put("AWS_DEFAULT_REGION", config.region.clone());
    put("AWS_ACCESS_KEY_ID", DUMMY_ACCESS_KEY_ID.to_owned());
    put("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET_ACCESS_KEY.to_owned());
    put("AWS_SESSION_TOKEN", DUMMY_SESSION_TOKEN.to_owned());
    put("AWS_ENDPOINT_URL", config.aws_endpoint_url.clone());
    put("_HANDLER", "bootstrap".to_owned());
    for scope in ["*", f.logical_id.as_str()] {
        if let Some(overrides) = config.env_overrides.get(scope) {
            env.extend(overrides.clone());
        }
    }
    Ok(env)
}

impl LocalStack {
    /// Plans, provisions and starts everything (see the module docs).
    pub async fn start(config: LocalStackConfig) -> Result<LocalStack, StackError> {
        let pseudo = Pseudo::new(&config.region, &config.resource_prefix);
        let plan = plan_with(&config.template_path, &config.parameter_overrides, &pseudo)?;
        for line in plan.describe() {
            tracing::info!(prefix = %config.resource_prefix, "binding: {line}");
        }
        // Fail before touching the emulator when a binary has not been built.
        if let Some(f) = plan.functions.iter().find(|f| !config.bin_dir.join(&f.binary_name).is_file()) {
            return Err(StartError::MissingBinary {
                function: f.logical_id.clone(),
                path: config.bin_dir.join(&f.binary_name),
            }
            .into());
        }
        let clients = AwsClients::new(&config.aws_endpoint_url, &config.region).await;
        let mut resolver = plan.resolver();
        for f in &plan.functions {
            let (name, arn) = function_physical(&config, f);
            resolver.add_resource(&f.logical_id, Physical::Function { name, arn });
        }
        provision(&plan, &clients, &mut resolver, &config.resource_prefix).await?;

        let listener = TcpListener::bind(config.http_bind)
            .await
            .map_err(|source| StackError::Bind { addr: config.http_bind, source })?;

        let mut starts = Vec::new();
        for f in &plan.functions {
            let environment = function_environment(&config, &resolver, f)?;
            let (function_name, function_arn) = function_physical(&config, f);
            let spec = FunctionSpec {
                logical_id: f.logical_id.clone(),
                function_name,
                function_arn,
                binary: config.bin_dir.join(&f.binary_name),
                timeout: f.timeout,
                environment,
                init_timeout: INIT_TIMEOUT,
            };
            let sink =
                Arc::new(LogSink::new(config.log_dir.as_deref(), &f.logical_id).await.map_err(StackError::Logs)?);
            let instances = instance_count(&config, &plan, &f.logical_id);
            starts.push(FunctionPool::start(spec, sink, instances));
        }
        let pools = futures::future::try_join_all(starts).await?;
        let functions = Arc::new(Functions::new(pools));
        let gateway = Gateway::start(listener, &plan.routes, functions.clone())
            .map_err(|source| StackError::Bind { addr: config.http_bind, source })?;

        let mut tasks = Vec::new();
        for source in plan.sqs_sources.iter().filter(|s| s.enabled) {
            let Some(Physical::Queue { url, arn, .. }) = resolver.resource(&source.queue) else {
                return Err(StackError::UnknownResource { kind: "queue", logical_id: source.queue.clone() });
            };
            let concurrency = sqs_concurrency(&config, source.maximum_concurrency);
            tasks.extend(spawn_pollers(
                PollContext {
                    binding: source.clone(),
                    queue_url: url.clone(),
                    queue_arn: arn.clone(),
                    region: config.region.clone(),
                    wait_seconds: config.sqs_poll_wait_seconds,
                    sqs: clients.sqs.clone(),
                    functions: functions.clone(),
                },
                concurrency,
            ));
        }
        if config.schedules_enabled {
            for schedule in plan.schedules.iter().filter(|s| s.enabled) {
                tasks.push(spawn_schedule(
                    schedule.clone(),
                    functions.clone(),
                    config.region.clone(),
                    plan.pseudo.stack_name.clone(),
                ));
            }
        }
        tracing::info!(
            prefix = %config.resource_prefix,
            http = %gateway.addr(),
            functions = plan.functions.len(),
            routes = plan.routes.len(),
            "local stack started"
        );
        Ok(LocalStack { config, plan, resolver, clients, functions, gateway, tasks })
    }

    /// `http://127.0.0.1:<port>` of the HTTP API.
    pub fn http_base_url(&self) -> String {
        format!("http://{}", self.gateway.addr())
    }

    /// The plan the stack runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The configuration the stack was started with.
    pub fn config(&self) -> &LocalStackConfig {
        &self.config
    }

    /// SDK clients pointed at the emulator.
    pub fn clients(&self) -> &AwsClients {
        &self.clients
    }

    /// The physical identity of any resource.
    pub fn physical(&self, logical_id: &str) -> Option<&Physical> {
        self.resolver.resource(logical_id)
    }

    /// The physical name of table `logical_id`.
    pub fn table_name(&self, logical_id: &str) -> Option<String> {
        match self.physical(logical_id) {
            Some(Physical::Table { name, .. }) => Some(name.clone()),
            _ => None,
        }
    }

    /// The URL of queue `logical_id`.
    pub fn queue_url(&self, logical_id: &str) -> Option<String> {
        match self.physical(logical_id) {
            Some(Physical::Queue { url, .. }) => Some(url.clone()),
            _ => None,
        }
    }

    /// The physical name of event bus `logical_id`.
    pub fn event_bus_name(&self, logical_id: &str) -> Option<String> {
        match self.physical(logical_id) {
            Some(Physical::EventBus { name, .. }) => Some(name.clone()),
            _ => None,
        }
    }

    /// The value of template parameter `name` (after overrides).
    pub fn parameter(&self, name: &str) -> Option<String> {
        self.resolver.parameter(name)
    }

    /// Invokes function `logical_id` synchronously.
    pub async fn invoke(&self, logical_id: &str, payload: Value) -> Result<Value, InvokeError> {
        self.functions.invoke(logical_id, &payload).await
    }

    /// Fires schedule `event_name` of function `logical_id` now.
    pub async fn fire_schedule(&self, logical_id: &str, event_name: &str) -> Result<Value, InvokeError> {
        let binding =
            self.plan.schedules.iter().find(|s| s.function == logical_id && s.event_name == event_name).ok_or_else(
                || InvokeError::UnknownEvent { function: logical_id.to_owned(), event: event_name.to_owned() },
            )?;
        let event =
            schedule_event(binding, &self.config.region, &self.plan.pseudo.stack_name, time::OffsetDateTime::now_utc());
        self.functions.invoke(logical_id, &event).await
    }

    /// Subscribes a fresh SQS queue to every event of bus `bus_logical_id`.
    pub async fn event_tap(&self, bus_logical_id: &str) -> Result<EventTap, StackError> {
        let Some(Physical::EventBus { name, arn }) = self.physical(bus_logical_id) else {
            return Err(StackError::UnknownResource { kind: "event bus", logical_id: bus_logical_id.to_owned() });
        };
        Ok(EventTap::create(&self.clients, &self.config.resource_prefix, name, arn).await?)
    }

    /// Crash injection: kills every process of function `logical_id` (see
    /// [`crate::functions::FunctionPool::kill_all`]); how many were killed.
    pub fn kill_function(&self, logical_id: &str) -> usize {
        self.functions.pool(logical_id).map_or(0, |p| p.kill_all())
    }

    /// Everything function `logical_id` printed (last [`crate::functions::LOG_RING_LINES`]).
    pub fn function_logs(&self, logical_id: &str) -> Vec<String> {
        self.functions.logs(logical_id)
    }

    /// Stops pollers, schedules and the gateway, and kills every function process.
    pub async fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        self.gateway.stop();
        self.functions.shutdown().await;
    }
}

fn sqs_concurrency(config: &LocalStackConfig, maximum: Option<usize>) -> usize {
    maximum.unwrap_or(config.default_sqs_concurrency).min(config.max_sqs_concurrency).max(1)
}

/// Instances for a function: `http_instances_per_function` if it has routes, plus one per SQS
/// poll loop feeding it; at least one.
fn instance_count(config: &LocalStackConfig, plan: &Plan, logical_id: &str) -> usize {
    let http =
        if plan.routes.iter().any(|r| r.function == logical_id) { config.http_instances_per_function } else { 0 };
    let sqs: usize = plan
        .sqs_sources
        .iter()
        .filter(|s| s.function == logical_id && s.enabled)
        .map(|s| sqs_concurrency(config, s.maximum_concurrency))
        .sum();
    (http + sqs).max(1)
}

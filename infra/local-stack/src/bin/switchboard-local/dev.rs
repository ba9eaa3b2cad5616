//! The `up` command (`make dev`): reads its settings from the environment, reuses or starts the
//! emulator, starts the local stack with schedules on, prints the bindings and runs until Ctrl-C
//! (or SIGTERM).
//! `dev` (`make dev`) adds the sandbox provider and demo data (module `demo`).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use local_stack::resolve::Physical;
use local_stack::{LocalStack, LocalStackConfig, MotoError, MotoServer, StackError};

/// Why `up` failed.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The workspace root could not be found.
    #[error("cannot find the workspace root (a directory with template.yaml); set SWITCHBOARD_ROOT")]
    Root,
    /// A setting is malformed.
    #[error("{name}={value:?} is not valid: {reason}")]
    Setting {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Why.
        reason: String,
    },
    /// The emulator could not be started.
    #[error(transparent)]
    Moto(#[from] MotoError),
    /// The stack could not be started.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// Waiting for Ctrl-C or printing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The sandbox provider could not start.
    #[error(transparent)]
    Sandbox(#[from] sandbox_provider::SandboxError),
    /// Creating the demo data through the API failed.
    #[error("demo setup failed: {0}")]
    Demo(String),
}

/// Settings of `up`, from the environment.
#[derive(Debug, Clone)]
pub struct DevSettings {
    /// Workspace root.
    pub root: PathBuf,
    /// `SWITCHBOARD_API_BIND` (default `127.0.0.1:3000`).
    pub api_bind: SocketAddr,
    /// `SWITCHBOARD_EMULATOR_URL` (default `http://127.0.0.1:4566`).
    pub emulator_url: String,
    /// `SWITCHBOARD_MOTO_BIN` (default `<root>/.venv/bin/moto-server-serialized`, moto_server with DynamoDB requests serialised).
    pub moto_bin: PathBuf,
    /// `SWITCHBOARD_ADMIN_CLIENT_ID`.
    pub admin_client_id: String,
    /// `SWITCHBOARD_ADMIN_CLIENT_SECRET`.
    pub admin_client_secret: String,
    /// `SWITCHBOARD_SANDBOX_BIND` (default `127.0.0.1:3100`).
    pub sandbox_bind: SocketAddr,
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

fn find_root() -> Option<PathBuf> {
    if let Ok(root) = std::env::var("SWITCHBOARD_ROOT") {
        return Some(PathBuf::from(root));
    }
    let mut dir = std::env::current_dir().ok()?;
    loop {
        if dir.join("template.yaml").is_file() && dir.join("Cargo.toml").is_file() {
            return Some(dir);
        }
        if !dir.pop() {
            return None;
        }
    }
}

fn socket_addr(name: &'static str, value: &str) -> Result<SocketAddr, DevError> {
    let invalid = |reason: String| DevError::Setting { name, value: value.to_owned(), reason };
    value.to_socket_addrs().map_err(|e| invalid(e.to_string()))?.next().ok_or_else(|| invalid("no address".to_owned()))
}

impl DevSettings {
    /// Reads the settings.
    pub fn from_env() -> Result<DevSettings, DevError> {
        let root = find_root().ok_or(DevError::Root)?;
        let api_bind = socket_addr("SWITCHBOARD_API_BIND", &var("SWITCHBOARD_API_BIND", "127.0.0.1:3000"))?;
        let default_moto = root.join(".venv/bin/moto-server-serialized");
        Ok(DevSettings {
            api_bind,
            emulator_url: var("SWITCHBOARD_EMULATOR_URL", "http://127.0.0.1:4566").trim_end_matches('/').to_owned(),
            moto_bin: PathBuf::from(var("SWITCHBOARD_MOTO_BIN", &default_moto.display().to_string())),
            admin_client_id: var("SWITCHBOARD_ADMIN_CLIENT_ID", "switchboard-admin"),
            admin_client_secret: var("SWITCHBOARD_ADMIN_CLIENT_SECRET", "switchboard-dev-secret-change-me"),
            sandbox_bind: socket_addr("SWITCHBOARD_SANDBOX_BIND", &var("SWITCHBOARD_SANDBOX_BIND", "127.0.0.1:3100"))?,
            root,
        })
    }

    /// The stack configuration these settings give.
    pub fn stack_config(&self) -> LocalStackConfig {
        let mut config = LocalStackConfig::for_workspace(&self.root, &self.emulator_url);
        config.http_bind = self.api_bind;
        config.parameter_overrides = BTreeMap::from([
            ("AdminClientId".to_owned(), self.admin_client_id.clone()),
            ("AdminClientSecret".to_owned(), self.admin_client_secret.clone()),
            ("PublicBaseUrl".to_owned(), format!("http://{}", self.api_bind)),
            ("AllowHttpProviderUrls".to_owned(), "true".to_owned()),
            // the sandbox provider also plays Twilio, Telnyx, Meta's Graph API, ... (it records)
            ("ProviderApiBaseUrl".to_owned(), format!("http://{}", self.sandbox_bind)),
            // SLA alarm mail goes to the emulator's SES (readable at {emulator}/moto-api/data.json)
            ("SlaMailFrom".to_owned(), "sla-alerts@switchboard.local".to_owned()),
        ]);
        config.log_dir = Some(self.root.join(".local/logs"));
        config.schedules_enabled = true;
        config
    }
}

/// Reuses the emulator at the URL, or starts moto there.
async fn ensure_emulator(settings: &DevSettings) -> Result<Option<MotoServer>, DevError> {
    if MotoServer::is_running_at(&settings.emulator_url).await {
        tracing::info!(url = %settings.emulator_url, "reusing the running emulator");
        return Ok(None);
    }
    let hostport = settings.emulator_url.split("://").nth(1).unwrap_or(&settings.emulator_url);
    let bind = socket_addr("SWITCHBOARD_EMULATOR_URL", hostport)?;
    let log = settings.root.join(".local/logs/moto.log");
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    tracing::info!(%bind, "starting moto");
    let server = MotoServer::start_with_log(&settings.moto_bin, bind, Some(&log)).await?;
    Ok(Some(server))
}

/// Prints where everything is.
fn print_bindings(stack: &LocalStack, log_dir: Option<&Path>) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "Switchboard local stack is up")?;
    writeln!(out, "  HTTP API:  {}", stack.http_base_url())?;
    writeln!(out, "  emulator:  {}", stack.config().aws_endpoint_url)?;
    if let Some(dir) = log_dir {
        writeln!(out, "  logs:      {}", dir.display())?;
    }
    for route in &stack.plan().routes {
        writeln!(out, "  route      {} -> {}", route.route_key(), route.function)?;
    }
    let ids = stack
        .plan()
        .tables
        .iter()
        .map(|t| &t.logical_id)
        .chain(stack.plan().queues.iter().map(|q| &q.logical_id))
        .chain(stack.plan().event_buses.iter().map(|b| &b.logical_id));
    for id in ids {
        match stack.physical(id) {
            Some(Physical::Table { name, .. }) => writeln!(out, "  table      {id}: {name}")?,
            Some(Physical::Queue { url, .. }) => writeln!(out, "  queue      {id}: {url}")?,
            Some(Physical::EventBus { name, .. }) => writeln!(out, "  event bus  {id}: {name}")?,
            _ => {}
        }
    }
    for s in &stack.plan().sqs_sources {
        writeln!(out, "  sqs        {} -> {}", s.queue, s.function)?;
    }
    for s in &stack.plan().schedules {
        writeln!(out, "  schedule   {} -> {} ({})", s.expression, s.function, s.event_name)?;
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

/// Runs `up` (or `dev` when `with_demo`) until Ctrl-C or SIGTERM.
pub async fn up(with_demo: bool) -> Result<(), DevError> {
    let settings = DevSettings::from_env()?;
    let moto = ensure_emulator(&settings).await?;
    let config = settings.stack_config();
    let log_dir = config.log_dir.clone();
    let stack = LocalStack::start(config).await?;
    print_bindings(&stack, log_dir.as_deref())?;
    let demo = if with_demo { Some(crate::demo::start(&stack, &settings).await?) } else { None };
    wait_for_stop().await?;
    tracing::info!("shutting down");
    if let Some(demo) = demo {
        demo.stop().await;
    }
    stack.shutdown().await;
    drop(moto);
    Ok(())
}

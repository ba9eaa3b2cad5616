//! `sandbox-provider`: runs the fake SMS provider until Ctrl-C or SIGTERM. `SANDBOX_BIND` (default
//! `127.0.0.1:3100`) and `SANDBOX_API_KEY` (default `sandbox-api-key`) configure it.

use std::net::SocketAddr;
use std::process::ExitCode;

use sandbox_provider::{Sandbox, SandboxConfig};

fn var(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let bind = var("SANDBOX_BIND", "127.0.0.1:3100");
    let bind: SocketAddr = match bind.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("sandbox-provider: SANDBOX_BIND={bind:?} is not an address: {e}");
            return ExitCode::from(2);
        }
    };
    let config = SandboxConfig { bind, api_keys: vec![var("SANDBOX_API_KEY", "sandbox-api-key")] };
    let sandbox = match Sandbox::start(config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sandbox-provider: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        send = %sandbox.send_url(),
        verify = %sandbox.verify_url(),
        control = %format!("{}/_sandbox/", sandbox.base_url()),
        "sandbox provider ready"
    );
    if let Err(e) = wait_for_stop().await {
        eprintln!("sandbox-provider: cannot wait for a stop signal: {e}");
    }
    sandbox.shutdown().await;
    ExitCode::SUCCESS
}

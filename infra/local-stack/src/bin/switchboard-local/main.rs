//! `switchboard-local`: command-line entry of the local stack. It only parses the command and
//! sets up logging; the steps of each command live in `dev`.

mod demo;
mod dev;

use std::process::ExitCode;

const USAGE: &str = "usage: switchboard-local up|dev\n\n  up   start the emulator (if needed) and the whole template on loopback; Ctrl-C stops it\n  dev  `up`, plus the sandbox SMS provider, a demo agent and channel, a walk-through, and live events";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let command = std::env::args().nth(1);
    match command.as_deref() {
        Some("up") => match dev::up(false).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard-local: {e}");
                ExitCode::FAILURE
            }
        },
        Some("dev") => match dev::up(true).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchboard-local: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

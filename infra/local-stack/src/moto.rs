//! The AWS emulator process: starts moto's server on loopback, waits until it answers, and
//! makes sure it dies with us. moto runs under a small `sh` watchdog that kills it as soon as
//! our end of its stdin pipe closes, which happens when the [`MotoServer`] is dropped *and* when
//! this process dies for any reason (a `static` server in a test binary is never dropped).

use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// moto's account id is pinned to the one local ARNs and events use.
pub const MOTO_ACCOUNT_ID: &str = crate::resolve::ACCOUNT_ID;

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The moto_server executable does not exist.
    #[error("moto_server not found at {path} (install moto[server] into .venv)")]
    MissingBinary {
        /// Where it was expected.
        path: PathBuf,
    },
    /// A free port could not be found or the process could not be spawned.
    #[error("cannot start moto_server: {0}")]
    Io(#[from] std::io::Error),
    /// moto exited before answering.
    #[error("moto_server exited ({status}) before answering on {url}")]
    Exited {
        /// Its exit status.
        status: String,
        /// The URL it should have answered on.
        url: String,
    },
    /// moto did not answer in time.
    #[error("moto_server did not answer on {url} within {timeout:?}")]
    Timeout {
        /// The URL polled.
        url: String,
        /// How long we waited.
        timeout: Duration,
    },
}

/// A running moto server.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    stdin: Option<ChildStdin>,
    addr: SocketAddr,
}

const WATCHDOG: &str = r#""$0" -H "$1" -p "$2" >"$3" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null' EXIT INT TERM HUP
while read -r _; do :; done
kill $moto 2>/dev/null
wait $moto 2>/dev/null
"#;

/// Startup wait.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl MotoServer {
    /// Starts `bin` (moto_server) on `bind` (port 0: a free port), logging nowhere.
    pub async fn start(bin: &Path, bind: SocketAddr) -> Result<MotoServer, MotoError> {
        Self::start_with_log(bin, bind, None).await
    }

    /// Like [`MotoServer::start`], appending moto's output to `log` when given.
    pub async fn start_with_log(bin: &Path, bind: SocketAddr, log: Option<&Path>) -> Result<MotoServer, MotoError> {
        if !bin.is_file() {
            return Err(MotoError::MissingBinary { path: bin.to_path_buf() });
        }
        let addr = if bind.port() == 0 {
            let probe = TcpListener::bind(bind)?;
            probe.local_addr()?
        } else {
            bind
        };
        let log = log.map(|p| p.display().to_string()).unwrap_or_else(|| "/dev/null".to_owned());
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(bin)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(log)
            .env("MOTO_ACCOUNT_ID", MOTO_ACCOUNT_ID)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = child.stdin.take();
        let mut server = MotoServer { child, stdin, addr };
        let url = server.endpoint_url();
        let started = Instant::now();
        loop {
            if Self::is_running_at(&url).await {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                return Err(MotoError::Exited { status: status.to_string(), url });
            }
            if started.elapsed() > START_TIMEOUT {
                server.stop();
                return Err(MotoError::Timeout { url, timeout: START_TIMEOUT });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address moto listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether a moto server answers `GET <url>/moto-api/` (2 s timeout).
    pub async fn is_running_at(url: &str) -> bool {
        let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(2)).no_proxy().build() else {
            return false;
        };
        let url = format!("{}/moto-api/", url.trim_end_matches('/'));
        matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
    }

    /// Stops moto (the watchdog kills it when its stdin closes).
    pub fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.flush();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

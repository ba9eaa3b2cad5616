//! Shared test setup: the moto server, unique prefixes, fixture paths and stack start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use local_stack::{LocalStack, LocalStackConfig, MotoServer, StackError};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// `<target>/debug/examples`, where `cargo test` puts the `echo_lambda` example.
pub fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(|deps| deps.parent()).map(|profile| profile.join("examples")).unwrap()
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
}

/// The endpoint of the moto server shared by this test binary.
pub async fn moto_url() -> String {
    static MOTO: tokio::sync::OnceCell<MotoServer> = tokio::sync::OnceCell::const_new();
    init_tracing();
    MOTO.get_or_init(|| async {
        let bin = workspace_root().join(".venv/bin/moto_server");
        MotoServer::start(&bin, SocketAddr::from(([127, 0, 0, 1], 0))).await.expect("moto starts")
    })
    .await
    .endpoint_url()
}

pub fn unique_prefix() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("t{}-", NEXT.fetch_add(1, Ordering::SeqCst))
}

/// A config for `template` (a fixture name) with a fresh prefix and an ephemeral HTTP port.
pub async fn config(template: &str) -> LocalStackConfig {
    let mut config = LocalStackConfig::for_workspace(&workspace_root(), &moto_url().await);
    config.template_path = fixture(template);
    config.bin_dir = examples_dir();
    config.resource_prefix = unique_prefix();
    config.http_bind = SocketAddr::from(([127, 0, 0, 1], 0));
    config
}

/// A config for `http.yaml` (which needs its `Secret` parameter).
pub async fn http_config() -> LocalStackConfig {
    let mut config = config("http.yaml").await;
    config.parameter_overrides.insert("Secret".to_owned(), "s3cr3t".to_owned());
    config
}

pub async fn start(config: LocalStackConfig) -> LocalStack {
    match LocalStack::start(config).await {
        Ok(stack) => stack,
        Err(e) => panic!("stack failed to start: {e}"),
    }
}

pub async fn start_err(config: LocalStackConfig) -> StackError {
    match LocalStack::start(config).await {
        Ok(_) => panic!("stack started but should not have"),
        Err(e) => e,
    }
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The function's output, for assertion messages.
pub fn logs(stack: &LocalStack, function: &str) -> String {
    stack.function_logs(function).join("\n")
}

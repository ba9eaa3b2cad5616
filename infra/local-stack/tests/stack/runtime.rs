//! Function processes and the Runtime API: round trip, context, environment, errors, timeouts,
//! crashes, init failures, output capture and shutdown.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use local_stack::{InvokeError, StackError, StartError};
use serde_json::{Value, json};

use crate::common::{eventually, http_config, logs, start, start_err};

#[tokio::test]
async fn when_invoked_directly_should_round_trip_the_event_through_the_runtime_api() {
    let stack = start(http_config().await).await;
    let event = json!({"hello": "world", "n": [1, 2, 3]});
    let answer = stack.invoke("EchoFunction", event.clone()).await.unwrap();
    assert_eq!(answer, event);
    stack.shutdown().await;
}

#[tokio::test]
async fn when_invoked_should_pass_the_lambda_context_headers() {
    let config = http_config().await;
    let prefix = config.resource_prefix.clone();
    let stack = start(config).await;
    let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    let ctx = stack.invoke("EchoFunction", json!({"context": true})).await.unwrap();
    let request_id = ctx["request_id"].as_str().unwrap();
    assert_eq!(request_id.len(), 36, "{ctx}");
    let deadline = ctx["deadline"].as_u64().unwrap();
    // Timeout: 2 s for EchoFunction.
    assert!(deadline >= before + 1_900 && deadline <= before + 3_000, "deadline {deadline} vs now {before}");
    assert_eq!(
        ctx["invoked_function_arn"],
        format!("arn:aws:lambda:us-east-1:000000000000:function:{prefix}EchoFunction")
    );
    let trace = ctx["xray_trace_id"].as_str().unwrap();
    let parts: Vec<&str> = trace.split(';').collect();
    assert_eq!(parts.len(), 3, "{trace}");
    let root: Vec<&str> = parts[0].strip_prefix("Root=1-").unwrap().split('-').collect();
    assert_eq!(root[0].len(), 8, "{trace}");
    assert_eq!(root[1].len(), 24, "{trace}");
    assert!(root.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit())));
    let parent = parts[1].strip_prefix("Parent=").unwrap();
    assert_eq!(parent.len(), 16, "{trace}");
    assert_eq!(parts[2], "Sampled=0");
    assert_eq!(ctx["function_name"], format!("{prefix}EchoFunction"));
    assert_eq!(ctx["memory"], 256);
    assert_eq!(ctx["version"], "$LATEST");
    assert_eq!(ctx["log_group"], format!("/aws/lambda/{prefix}EchoFunction"));
    assert!(ctx["log_stream"].as_str().unwrap().contains("[$LATEST]"));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_spawned_should_see_only_the_resolved_template_and_lambda_environment() {
    let mut config = http_config().await;
    let endpoint = config.aws_endpoint_url.clone();
    let prefix = config.resource_prefix.clone();
    config.env_overrides = BTreeMap::from([
        (
            "*".to_owned(),
            BTreeMap::from([("FROM_STAR".to_owned(), "star".to_owned()), ("OVERRIDDEN".to_owned(), "star".to_owned())]),
        ),
        ("EchoFunction".to_owned(), BTreeMap::from([("OVERRIDDEN".to_owned(), "echo".to_owned())])),
    ]);
    let stack = start(config).await;
    let names = [
        "TABLE",
        "QUEUE_URL",
        "BUS_ARN",
        "STAGE",
        "SECRET",
        "MAYBE",
        "NEVER",
        "OVERRIDDEN",
        "FROM_STAR",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_FORMAT",
        "AWS_LAMBDA_LOG_LEVEL",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "_HANDLER",
        "AWS_LAMBDA_RUNTIME_API",
        "CARGO_MANIFEST_DIR",
        "CARGO_PKG_NAME",
    ];
    let env = stack.invoke("EchoFunction", json!({ "env": names })).await.unwrap();
    let table = stack.table_name("ItemsTable").unwrap();
    assert_eq!(table, format!("{prefix}items-test"));
    assert_eq!(env["TABLE"], table.as_str());
    assert_eq!(env["QUEUE_URL"], stack.queue_url("Inbox").unwrap().as_str());
    assert!(env["BUS_ARN"].as_str().unwrap().ends_with(&format!(":event-bus/{prefix}test-bus")), "{env}");
    assert_eq!(env["STAGE"], "test");
    assert_eq!(env["SECRET"], "s3cr3t");
    assert_eq!(env["MAYBE"], "yes");
    assert_eq!(env["NEVER"], Value::Null);
    assert_eq!(env["OVERRIDDEN"], "echo");
    assert_eq!(env["FROM_STAR"], "star");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], format!("{prefix}EchoFunction"));
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_FORMAT"], "JSON");
    assert_eq!(env["AWS_LAMBDA_LOG_LEVEL"], "DEBUG");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "testing");
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "testing");
    assert_eq!(env["AWS_SESSION_TOKEN"], "testing");
    assert_eq!(env["AWS_ENDPOINT_URL"], endpoint.as_str());
    assert_eq!(env["_HANDLER"], "bootstrap");
    assert!(env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap().starts_with("127.0.0.1:"));
    // The test process has these; functions must not inherit them.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    assert_eq!(env["CARGO_MANIFEST_DIR"], Value::Null);
    assert_eq!(env["CARGO_PKG_NAME"], Value::Null);
    assert_eq!(stack.parameter("Secret").as_deref(), Some("s3cr3t"));
    assert_eq!(stack.parameter("Env").as_deref(), Some("test"));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_function_reports_an_error_should_return_its_type_and_message() {
    let stack = start(http_config().await).await;
    let err = stack.invoke("EchoFunction", json!({"fail": "boom"})).await.unwrap_err();
    assert_eq!(err, InvokeError::Function { error_type: "EchoFailure".to_owned(), message: "boom".to_owned() });
    // The instance keeps serving.
    let ok = stack.invoke("EchoFunction", json!({"a": 1})).await.unwrap();
    assert_eq!(ok, json!({"a": 1}));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_function_exceeds_its_timeout_should_fail_and_replace_the_process() {
    let mut config = http_config().await;
    config.http_instances_per_function = 1;
    let stack = start(config).await;
    let started = Instant::now();
    let err = stack.invoke("EchoFunction", json!({"sleep_ms": 10_000})).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, InvokeError::Timeout { timeout, .. } if timeout == Duration::from_secs(2)), "{err}");
    assert!(elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(5), "{elapsed:?}");
    // The only instance was replaced by a fresh process that answers at once.
    let started = Instant::now();
    let ok = stack.invoke("EchoFunction", json!({"b": 2})).await.unwrap();
    assert_eq!(ok, json!({"b": 2}));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        logs(&stack, "EchoFunction").matches("echo_lambda: started").count() >= 2,
        "{}",
        logs(&stack, "EchoFunction")
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_process_exits_mid_invocation_should_report_a_crash_and_restart_it() {
    let mut config = http_config().await;
    config.http_instances_per_function = 1;
    let stack = start(config).await;
    let err = stack.invoke("EchoFunction", json!({"exit": 3})).await.unwrap_err();
    match &err {
        InvokeError::Crashed { status, output_tail, .. } => {
            assert!(status.contains('3'), "{status}");
            assert!(output_tail.contains("exiting with 3"), "{output_tail}");
        }
        other => panic!("expected a crash, got {other}"),
    }
    let ok = stack.invoke("EchoFunction", json!({"c": 3})).await.unwrap();
    assert_eq!(ok, json!({"c": 3}));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_a_function_posts_an_init_error_should_fail_start_with_the_error_and_output() {
    let mut config = http_config().await;
    config.env_overrides = BTreeMap::from([(
        "TickFunction".to_owned(),
        BTreeMap::from([("ECHO_INIT_ERROR".to_owned(), "no config".to_owned())]),
    )]);
    let err = start_err(config).await;
    let text = err.to_string();
    assert!(
        matches!(&err, StackError::Start(StartError::InitFailed { function, .. }) if function == "TickFunction"),
        "{text}"
    );
    assert!(text.contains("EchoInitError: no config"), "{text}");
    assert!(text.contains("echo_lambda: init failed"), "{text}");
}

#[tokio::test]
async fn when_a_function_exits_before_polling_should_fail_start_with_its_output() {
    let mut config = http_config().await;
    config.env_overrides =
        BTreeMap::from([("*".to_owned(), BTreeMap::from([("ECHO_EXIT_AT_START".to_owned(), "4".to_owned())]))]);
    let err = start_err(config).await;
    let text = err.to_string();
    assert!(matches!(&err, StackError::Start(StartError::ExitedDuringInit { .. })), "{text}");
    assert!(text.contains("exiting at start"), "{text}");
}

#[tokio::test]
async fn when_a_binary_is_missing_should_fail_start_naming_the_build_command() {
    let mut config = http_config().await;
    config.bin_dir = std::env::temp_dir().join("no-such-bin-dir");
    let err = start_err(config).await;
    assert!(matches!(&err, StackError::Start(StartError::MissingBinary { .. })), "{err}");
    assert!(err.to_string().contains("cargo build --workspace --bins"), "{err}");
}

#[tokio::test]
async fn when_a_required_parameter_is_missing_should_fail_start_naming_it() {
    let mut config = http_config().await;
    config.parameter_overrides.clear();
    let err = start_err(config).await;
    assert!(err.to_string().contains("Secret"), "{err}");
}

#[tokio::test]
async fn when_functions_print_should_keep_lines_in_memory_and_in_the_log_file() {
    let mut config = http_config().await;
    let dir = std::env::temp_dir().join(format!("ls-logs-{}-{}", std::process::id(), config.resource_prefix));
    config.log_dir = Some(dir.clone());
    let stack = start(config).await;
    stack.invoke("EchoFunction", json!({"x": 1})).await.unwrap();
    let lines = eventually(Duration::from_secs(5), || async {
        let lines = stack.function_logs("EchoFunction");
        lines.iter().any(|l| l.starts_with("echo_lambda: handled")).then_some(lines)
    })
    .await
    .expect("the handled line reaches the ring buffer");
    assert!(lines.iter().any(|l| l == "echo_lambda: started"));
    let file = std::fs::read_to_string(dir.join("EchoFunction.log")).unwrap();
    assert!(file.contains("echo_lambda: handled"), "{file}");
    assert!(stack.function_logs("Nope").is_empty());
    stack.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn when_invocations_exceed_instances_should_run_one_at_a_time_per_instance() {
    let mut config = http_config().await;
    config.http_instances_per_function = 2;
    let stack = start(config).await;
    let started = Instant::now();
    let calls = (0..4).map(|i| stack.invoke("EchoFunction", json!({"sleep_ms": 500, "i": i})));
    let answers = futures::future::join_all(calls).await;
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.unwrap()["i"], i);
    }
    let elapsed = started.elapsed();
    // 4 calls of 500 ms on 2 instances: two rounds (one at a time would take 2 s, all at once 0.5 s).
    assert!(elapsed >= Duration::from_millis(1000) && elapsed < Duration::from_millis(2000), "{elapsed:?}");
    stack.shutdown().await;
}

async fn pid_of(stack: &local_stack::LocalStack) -> u64 {
    stack.invoke("EchoFunction", json!({"pid": true})).await.unwrap()["pid"].as_u64().unwrap()
}

/// Whether `pid` runs (a zombie waiting to be reaped counts as dead).
fn alive(pid: u64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}

#[tokio::test]
async fn when_the_stack_shuts_down_should_kill_every_function_process() {
    let stack = start(http_config().await).await;
    let pid = pid_of(&stack).await;
    assert!(alive(pid));
    let env = stack.invoke("EchoFunction", json!({"env": ["AWS_LAMBDA_RUNTIME_API"]})).await.unwrap();
    let api = env["AWS_LAMBDA_RUNTIME_API"].as_str().unwrap().to_owned();
    let client = reqwest::Client::new();
    let url = format!("http://{api}/2018-06-01/runtime/invocation/nope/response");
    // The instance's Runtime API answers while it runs (an unknown request id is a 400).
    let status = client.post(&url).body("{}").send().await.unwrap().status();
    assert_eq!(status, 400);
    stack.shutdown().await;
    assert!(!alive(pid), "process {pid} survived shutdown");
    assert!(client.post(&url).body("{}").send().await.is_err(), "the Runtime API still answers after shutdown");
}

#[tokio::test]
async fn when_the_stack_is_dropped_should_kill_every_function_process() {
    let stack = start(http_config().await).await;
    let pid = pid_of(&stack).await;
    assert!(alive(pid));
    drop(stack);
    let gone = eventually(Duration::from_secs(5), || async { (!alive(pid)).then_some(()) }).await;
    assert!(gone.is_some(), "process {pid} survived the drop");
}

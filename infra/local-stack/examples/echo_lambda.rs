//! A tiny Lambda used by the local-stack tests. It echoes its event and, on request, fails,
//! sleeps, exits, reports its environment or Lambda context, or answers with a given value. For
//! HTTP API events the request is read from the JSON body; for SQS events each record's body
//! decides whether that record fails (`batchItemFailures`).
//!
//! Commands (JSON object): `{"fail": "msg"}`, `{"sleep_ms": n}`, `{"exit": code}`,
//! `{"env": ["NAME", ..]}`, `{"context": true}`, `{"pid": true}`, `{"respond": value}`.
//! SQS record bodies: `{"fail": true}`, `{"fail_until_receive": n}`,
//! `{"bad_identifier_until_receive": n}`, `{"fail_batch": true}`, `{"fail_batch_until_receive": n}`.
//! Environment: `ECHO_INIT_ERROR=msg` reports `/runtime/init/error` and exits;
//! `ECHO_EXIT_AT_START=code` exits before polling.

use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::{Map, Value, json};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    if let Ok(message) = std::env::var("ECHO_INIT_ERROR") {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API")?;
        reqwest::Client::new()
            .post(format!("http://{api}/2018-06-01/runtime/init/error"))
            .header("lambda-runtime-function-error-type", "Runtime.EchoInit")
            .json(&json!({"errorType": "EchoInitError", "errorMessage": message}))
            .send()
            .await?;
        eprintln!("echo_lambda: init failed: {message}");
        std::process::exit(1);
    }
    if let Ok(code) = std::env::var("ECHO_EXIT_AT_START") {
        eprintln!("echo_lambda: exiting at start");
        std::process::exit(code.parse().unwrap_or(1));
    }
    eprintln!("echo_lambda: started");
    lambda_runtime::run(service_fn(handle)).await
}

fn failure(message: &str) -> Diagnostic {
    Diagnostic { error_type: "EchoFailure".to_owned(), error_message: message.to_owned() }
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let (payload, context) = event.into_parts();
    eprintln!("echo_lambda: handled {}", context.request_id);
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        return sqs(records);
    }
    let command = if payload.get("rawPath").is_some() {
        payload.get("body").and_then(Value::as_str).and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
    } else {
        payload.clone()
    };
    if let Some(ms) = command.get("sleep_ms").and_then(Value::as_u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(code) = command.get("exit").and_then(Value::as_i64) {
        eprintln!("echo_lambda: exiting with {code}");
        std::process::exit(i32::try_from(code).unwrap_or(1));
    }
    if let Some(message) = command.get("fail").and_then(Value::as_str) {
        return Err(failure(message));
    }
    if let Some(names) = command.get("env").and_then(Value::as_array) {
        let mut out = Map::new();
        for name in names.iter().filter_map(Value::as_str) {
            out.insert(name.to_owned(), json!(std::env::var(name).ok()));
        }
        return Ok(Value::Object(out));
    }
    if command.get("context") == Some(&Value::Bool(true)) {
        return Ok(json!({
            "request_id": context.request_id,
            "deadline": context.deadline,
            "invoked_function_arn": context.invoked_function_arn,
            "xray_trace_id": context.xray_trace_id,
            "function_name": context.env_config.function_name,
            "memory": context.env_config.memory,
            "version": context.env_config.version,
            "log_group": context.env_config.log_group,
            "log_stream": context.env_config.log_stream,
        }));
    }
    if command.get("pid") == Some(&Value::Bool(true)) {
        return Ok(json!({ "pid": std::process::id() }));
    }
    if let Some(value) = command.get("respond") {
        return Ok(value.clone());
    }
    Ok(payload)
}

fn sqs(records: &[Value]) -> Result<Value, Diagnostic> {
    let mut failures = Vec::new();
    for record in records {
        let id = record["messageId"].as_str().unwrap_or_default();
        let body = record["body"].as_str().unwrap_or_default();
        let count: u64 =
            record["attributes"]["ApproximateReceiveCount"].as_str().and_then(|c| c.parse().ok()).unwrap_or(0);
        eprintln!("echo_lambda: record {id} receive {count} body {body}");
        eprintln!("echo_lambda: record-json {record}");
        let command: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        let until = |key: &str| command.get(key).and_then(Value::as_u64);
        if command.get("fail_batch") == Some(&Value::Bool(true))
            || until("fail_batch_until_receive").is_some_and(|n| count < n)
        {
            return Err(failure("the whole batch fails"));
        }
        if command.get("fail") == Some(&Value::Bool(true)) || until("fail_until_receive").is_some_and(|n| count < n) {
            failures.push(json!({ "itemIdentifier": id }));
        }
        if until("bad_identifier_until_receive").is_some_and(|n| count < n) {
            failures.push(json!({ "itemIdentifier": "" }));
        }
    }
    Ok(json!({ "batchItemFailures": failures }))
}

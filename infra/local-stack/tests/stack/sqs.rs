//! SQS event sources: Lambda's event shape, partial batch failures, whole-batch failures and
//! dead-letter redrive (done by moto on ReceiveMessage after maxReceiveCount receives).

use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use local_stack::LocalStack;
use serde_json::Value;

use crate::common::{config, eventually, logs, start};

async fn sqs_stack() -> LocalStack {
    let mut config = config("sqs.yaml").await;
    // One poll loop per source, so that messages sent together arrive in one batch.
    config.max_sqs_concurrency = 1;
    start(config).await
}

async fn send_batch(stack: &LocalStack, queue: &str, bodies: &[&str]) {
    let entries: Vec<SendMessageBatchRequestEntry> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(*body).build().unwrap())
        .collect();
    let out = stack
        .clients()
        .sqs
        .send_message_batch()
        .queue_url(stack.queue_url(queue).unwrap())
        .set_entries(Some(entries))
        .send()
        .await
        .unwrap();
    assert!(out.failed.is_empty(), "{:?}", out.failed);
}

/// How many times the function received a record with exactly this body.
fn receives(stack: &LocalStack, function: &str, body: &str) -> usize {
    stack
        .function_logs(function)
        .iter()
        .filter(|l| l.starts_with("echo_lambda: record ") && l.ends_with(&format!(" body {body}")))
        .count()
}

async fn queue_is_empty(stack: &LocalStack, queue: &str) -> bool {
    let attributes = stack
        .clients()
        .sqs
        .get_queue_attributes()
        .queue_url(stack.queue_url(queue).unwrap())
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap_or_default();
    attributes.values().all(|v| v == "0")
}

#[tokio::test]
async fn when_a_message_arrives_should_invoke_with_the_lambda_sqs_event() {
    let stack = sqs_stack().await;
    stack
        .clients()
        .sqs
        .send_message()
        .queue_url(stack.queue_url("PlainQueue").unwrap())
        .message_body(r#"{"shape":1}"#)
        .message_attributes(
            "kind",
            MessageAttributeValue::builder().data_type("String").string_value("greeting").build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    let record = eventually(Duration::from_secs(10), || async {
        stack
            .function_logs("PlainFunction")
            .iter()
            .find_map(|l| l.strip_prefix("echo_lambda: record-json "))
            .map(str::to_owned)
    })
    .await
    .unwrap_or_else(|| panic!("no record: {}", logs(&stack, "PlainFunction")));
    let record: Value = serde_json::from_str(&record).unwrap();
    let typed: aws_lambda_events::sqs::SqsMessage = serde_json::from_value(record.clone()).unwrap();
    assert_eq!(typed.body.as_deref(), Some(r#"{"shape":1}"#));
    assert_eq!(typed.event_source.as_deref(), Some("aws:sqs"));
    assert_eq!(typed.aws_region.as_deref(), Some("us-east-1"));
    let Some(local_stack::resolve::Physical::Queue { arn, .. }) = stack.physical("PlainQueue") else {
        panic!("no queue")
    };
    assert_eq!(typed.event_source_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(typed.md5_of_body.as_deref().map(str::len), Some(32));
    for key in ["ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"] {
        assert!(typed.attributes.contains_key(key), "{key} missing in {record}");
    }
    let kind = &typed.message_attributes["kind"];
    assert_eq!(kind.string_value.as_deref(), Some("greeting"));
    assert_eq!(kind.data_type.as_deref(), Some("String"));
    assert!(kind.string_list_values.is_empty());
    assert!(
        eventually(Duration::from_secs(5), || async { queue_is_empty(&stack, "PlainQueue").await.then_some(()) })
            .await
            .is_some(),
        "the handled message was not deleted"
    );
    stack.shutdown().await;
}

#[tokio::test]
async fn when_a_record_is_reported_failed_should_redeliver_it_and_delete_the_others() {
    let stack = sqs_stack().await;
    send_batch(&stack, "WorkQueue", &[r#"{"ok":1}"#, r#"{"fail_until_receive":2}"#, r#"{"ok":2}"#]).await;
    let retried = eventually(Duration::from_secs(15), || async {
        (receives(&stack, "WorkerFunction", r#"{"fail_until_receive":2}"#) >= 2).then_some(())
    })
    .await;
    assert!(retried.is_some(), "{}", logs(&stack, "WorkerFunction"));
    let drained =
        eventually(Duration::from_secs(10), || async { queue_is_empty(&stack, "WorkQueue").await.then_some(()) }).await;
    assert!(drained.is_some(), "{}", logs(&stack, "WorkerFunction"));
    // Past another visibility timeout, the successful records were never delivered again.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receives(&stack, "WorkerFunction", r#"{"ok":1}"#), 1);
    assert_eq!(receives(&stack, "WorkerFunction", r#"{"ok":2}"#), 1);
    assert_eq!(receives(&stack, "WorkerFunction", r#"{"fail_until_receive":2}"#), 2);
    stack.shutdown().await;
}

#[tokio::test]
async fn when_a_failure_names_no_valid_item_should_retry_the_whole_batch() {
    let stack = sqs_stack().await;
    send_batch(&stack, "WorkQueue", &[r#"{"ok":3}"#, r#"{"bad_identifier_until_receive":2}"#]).await;
    let retried = eventually(Duration::from_secs(15), || async {
        (receives(&stack, "WorkerFunction", r#"{"ok":3}"#) >= 2).then_some(())
    })
    .await;
    assert!(retried.is_some(), "{}", logs(&stack, "WorkerFunction"));
    let drained =
        eventually(Duration::from_secs(10), || async { queue_is_empty(&stack, "WorkQueue").await.then_some(()) }).await;
    assert!(drained.is_some(), "{}", logs(&stack, "WorkerFunction"));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_the_invocation_fails_should_retry_every_record_and_else_delete_all() {
    let stack = sqs_stack().await;
    // PlainFunction does not report batch item failures: its listed failures are ignored...
    send_batch(&stack, "PlainQueue", &[r#"{"fail":true}"#, r#"{"ok":5}"#]).await;
    let drained =
        eventually(Duration::from_secs(10), || async { queue_is_empty(&stack, "PlainQueue").await.then_some(()) })
            .await;
    assert!(drained.is_some(), "{}", logs(&stack, "PlainFunction"));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receives(&stack, "PlainFunction", r#"{"fail":true}"#), 1);
    // ...but an invocation error leaves the whole batch for another try.
    send_batch(&stack, "PlainQueue", &[r#"{"ok":6}"#, r#"{"fail_batch_until_receive":2}"#]).await;
    let retried = eventually(Duration::from_secs(15), || async {
        (receives(&stack, "PlainFunction", r#"{"ok":6}"#) >= 2).then_some(())
    })
    .await;
    assert!(retried.is_some(), "{}", logs(&stack, "PlainFunction"));
    stack.shutdown().await;
}

#[tokio::test]
async fn when_a_record_keeps_failing_should_end_up_in_the_dead_letter_queue() {
    let stack = sqs_stack().await;
    let body = r#"{"fail":true,"poison":1}"#;
    send_batch(&stack, "PoisonQueue", &[body]).await;
    let dlq = stack.queue_url("PoisonDLQ").unwrap();
    let sqs = stack.clients().sqs.clone();
    let dead = eventually(Duration::from_secs(20), || {
        let sqs = sqs.clone();
        let dlq = dlq.clone();
        async move {
            let out = sqs.receive_message().queue_url(dlq).wait_time_seconds(1).send().await.unwrap();
            out.messages.unwrap_or_default().into_iter().next().and_then(|m| m.body)
        }
    })
    .await;
    assert_eq!(dead.as_deref(), Some(body), "{}", logs(&stack, "WorkerFunction"));
    // maxReceiveCount 2: the function saw it exactly twice; the source queue is empty.
    assert_eq!(receives(&stack, "WorkerFunction", body), 2);
    assert!(queue_is_empty(&stack, "PoisonQueue").await);
    stack.shutdown().await;
}

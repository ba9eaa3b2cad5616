//! SQS event sources: poll loops that receive from a queue, build the event exactly as Lambda
//! does (`Records[]` with `eventSource: aws:sqs`), invoke the function and delete what succeeded
//! (all records, or — with `ReportBatchItemFailures` — every record not listed in
//! `batchItemFailures`). Failed records stay in the queue and come back after its visibility
//! timeout; moto itself moves a record to the `RedrivePolicy` dead-letter queue on the receive
//! after `maxReceiveCount` receives.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tokio::task::JoinHandle;

use crate::functions::{Functions, InvokeError};
use crate::plan::SqsSourceBinding;

/// One received message, in the shape the event needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// `messageId`.
    pub message_id: String,
    /// `receiptHandle`.
    pub receipt_handle: String,
    /// `body`.
    pub body: String,
    /// `md5OfBody`.
    pub md5_of_body: String,
    /// System attributes (`ApproximateReceiveCount`, `SentTimestamp`, ...).
    pub attributes: BTreeMap<String, String>,
    /// Message attributes in Lambda's shape.
    pub message_attributes: BTreeMap<String, Value>,
}

impl From<&Message> for ReceivedMessage {
    fn from(m: &Message) -> Self {
        let attributes = m.attributes.iter().flatten().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect();
        let message_attributes = m
            .message_attributes
            .iter()
            .flatten()
            .map(|(name, a)| {
                let mut v = Map::new();
                if let Some(s) = &a.string_value {
                    v.insert("stringValue".into(), json!(s));
                }
                if let Some(b) = &a.binary_value {
                    v.insert("binaryValue".into(), json!(BASE64.encode(b.as_ref())));
                }
                v.insert("stringListValues".into(), json!(a.string_list_values.clone().unwrap_or_default()));
                v.insert(
                    "binaryListValues".into(),
                    json!(a.binary_list_values.iter().flatten().map(|b| BASE64.encode(b.as_ref())).collect::<Vec<_>>()),
                );
                v.insert("dataType".into(), json!(a.data_type));
                (name.clone(), Value::Object(v))
            })
            .collect();
        ReceivedMessage {
            message_id: m.message_id.clone().unwrap_or_default(),
            receipt_handle: m.receipt_handle.clone().unwrap_or_default(),
            body: m.body.clone().unwrap_or_default(),
            md5_of_body: m.md5_of_body.clone().unwrap_or_default(),
            attributes,
            message_attributes,
        }
    }
}

/// Builds the Lambda SQS event for a batch.
pub fn build_event(messages: &[ReceivedMessage], queue_arn: &str, region: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": m.attributes,
                "messageAttributes": m.message_attributes,
                "md5OfBody": m.md5_of_body,
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            })
        })
        .collect();
    json!({ "Records": records })
}

/// The message ids to delete after an invocation, following Lambda's rules: an error deletes
/// nothing; success deletes everything unless `report_batch_item_failures`, in which case every
/// record not listed in `batchItemFailures` is deleted — and an invalid response (not an object,
/// a missing, empty or unknown `itemIdentifier`) fails the whole batch.
pub fn records_to_delete(
    message_ids: &[String],
    outcome: &Result<Value, InvokeError>,
    report_batch_item_failures: bool,
) -> Vec<String> {
    let Ok(answer) = outcome else {
        return Vec::new();
    };
    if !report_batch_item_failures {
        return message_ids.to_vec();
    }
    match failed_items(message_ids, answer) {
        Some(failed) => message_ids.iter().filter(|id| !failed.contains(*id)).cloned().collect(),
        None => Vec::new(),
    }
}

/// The ids listed in `batchItemFailures`, or `None` when the response fails the whole batch.
fn failed_items(message_ids: &[String], answer: &Value) -> Option<HashSet<String>> {
    let known: HashSet<&String> = message_ids.iter().collect();
    let map = match answer {
        Value::Null => return Some(HashSet::new()),
        Value::Object(map) => map,
        _ => return None,
    };
    let items = match map.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(HashSet::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return None,
    };
    let mut failed = HashSet::new();
    for item in items {
        let id = item.get("itemIdentifier").and_then(Value::as_str)?;
        if id.is_empty() || !known.contains(&id.to_owned()) {
            return None;
        }
        failed.insert(id.to_owned());
    }
    Some(failed)
}

/// Everything one poll loop needs.
#[derive(Debug, Clone)]
pub struct PollContext {
    /// The event source.
    pub binding: SqsSourceBinding,
    /// The queue URL.
    pub queue_url: String,
    /// The queue ARN (`eventSourceARN`).
    pub queue_arn: String,
    /// `awsRegion`.
    pub region: String,
    /// `WaitTimeSeconds` of each receive.
    pub wait_seconds: i32,
    /// The SQS client.
    pub sqs: aws_sdk_sqs::Client,
    /// The functions to invoke.
    pub functions: Arc<Functions>,
}

/// Starts `concurrency` poll loops for one event source.
pub fn spawn_pollers(context: PollContext, concurrency: usize) -> Vec<JoinHandle<()>> {
    let context = Arc::new(context);
    (0..concurrency.max(1)).map(|_| tokio::spawn(poll_loop(context.clone()))).collect()
}

async fn poll_loop(ctx: Arc<PollContext>) {
    loop {
        let messages = match receive_batch(&ctx).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(queue = %ctx.binding.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "ReceiveMessage failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        process_batch(&ctx, &messages).await;
    }
}

async fn receive(ctx: &PollContext, max: i32, wait: i32) -> Result<Vec<ReceivedMessage>, aws_sdk_sqs::Error> {
    let out = ctx
        .sqs
        .receive_message()
        .queue_url(&ctx.queue_url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(wait.max(0))
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(aws_sdk_sqs::Error::from)?;
    Ok(out.messages.iter().flatten().map(ReceivedMessage::from).collect())
}

async fn receive_batch(ctx: &PollContext) -> Result<Vec<ReceivedMessage>, aws_sdk_sqs::Error> {
    let batch_size = i32::try_from(ctx.binding.batch_size).unwrap_or(10).max(1);
    let mut messages = receive(ctx, batch_size.min(10), ctx.wait_seconds).await?;
    let window = ctx.binding.maximum_batching_window;
    if window.is_zero() || messages.is_empty() {
        return Ok(messages);
    }
    let deadline = Instant::now() + window;
    while (messages.len() as i32) < batch_size {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        let wait = i32::try_from(remaining.as_secs()).unwrap_or(i32::MAX).min(ctx.wait_seconds);
        let more = receive(ctx, (batch_size - messages.len() as i32).min(10), wait).await?;
        if more.is_empty() && wait == 0 {
            tokio::time::sleep(remaining.min(Duration::from_millis(200))).await;
        }
        messages.extend(more);
    }
    Ok(messages)
}

async fn process_batch(ctx: &PollContext, messages: &[ReceivedMessage]) {
    let event = build_event(messages, &ctx.queue_arn, &ctx.region);
    let outcome = ctx.functions.invoke(&ctx.binding.function, &event).await;
    if let Err(e) = &outcome {
        tracing::warn!(function = %ctx.binding.function, queue = %ctx.binding.queue, error = %e, "batch failed; records will be retried");
    }
    let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
    let delete: HashSet<String> =
        records_to_delete(&ids, &outcome, ctx.binding.report_batch_item_failures).into_iter().collect();
    let entries: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .filter(|m| delete.contains(&m.message_id))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(&m.receipt_handle).build().ok()
        })
        .collect();
    for chunk in entries.chunks(10) {
        let result =
            ctx.sqs.delete_message_batch().queue_url(&ctx.queue_url).set_entries(Some(chunk.to_vec())).send().await;
        match result {
            Ok(out) if !out.failed.is_empty() => {
                tracing::warn!(queue = %ctx.binding.queue, failed = ?out.failed, "some deletes failed");
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(queue = %ctx.binding.queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "DeleteMessageBatch failed");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    #[test]
    fn when_the_invocation_fails_should_delete_nothing() {
        let err = Err(InvokeError::Timeout { function: "F".into(), timeout: Duration::from_secs(1) });
        assert!(records_to_delete(&ids(), &err, true).is_empty());
        assert!(records_to_delete(&ids(), &err, false).is_empty());
    }

    #[test]
    fn when_partial_failures_are_reported_should_delete_the_others() {
        let answer = Ok(json!({"batchItemFailures": [{"itemIdentifier": "b"}]}));
        assert_eq!(records_to_delete(&ids(), &answer, true), vec!["a", "c"]);
        // Without ReportBatchItemFailures the response is ignored.
        assert_eq!(records_to_delete(&ids(), &answer, false), ids());
    }

    #[test]
    fn when_the_response_lists_nothing_should_delete_everything() {
        for answer in [json!(null), json!({}), json!({"batchItemFailures": []}), json!({"batchItemFailures": null})] {
            assert_eq!(records_to_delete(&ids(), &Ok(answer), true), ids());
        }
    }

    #[test]
    fn when_an_item_identifier_is_invalid_should_fail_the_whole_batch() {
        for answer in [
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"itemId": "a"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
            json!({"batchItemFailures": "a"}),
            json!("ok"),
        ] {
            assert!(records_to_delete(&ids(), &Ok(answer.clone()), true).is_empty(), "{answer}");
        }
    }

    #[test]
    fn when_building_the_event_should_match_the_lambda_sqs_event_type() {
        let message = ReceivedMessage {
            message_id: "m1".into(),
            receipt_handle: "r1".into(),
            body: "{\"x\":1}".into(),
            md5_of_body: "abc".into(),
            attributes: BTreeMap::from([
                ("ApproximateReceiveCount".to_owned(), "1".to_owned()),
                ("SentTimestamp".to_owned(), "1700000000000".to_owned()),
                ("SenderId".to_owned(), "AIDAEXAMPLE".to_owned()),
                ("ApproximateFirstReceiveTimestamp".to_owned(), "1700000000001".to_owned()),
            ]),
            message_attributes: BTreeMap::from([(
                "kind".to_owned(),
                json!({"stringValue": "a", "stringListValues": [], "binaryListValues": [], "dataType": "String"}),
            )]),
        };
        let event = build_event(&[message], "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1");
        let parsed: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(event).unwrap();
        let record = &parsed.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m1"));
        assert_eq!(record.event_source.as_deref(), Some("aws:sqs"));
        assert_eq!(record.event_source_arn.as_deref(), Some("arn:aws:sqs:us-east-1:000000000000:q"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "1");
        assert_eq!(record.message_attributes["kind"].string_value.as_deref(), Some("a"));
    }
}

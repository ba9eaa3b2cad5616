//! SQS batches with Lambda's partial-failure semantics, written once.
//!
//! Records run concurrently (`join_all`, not `spawn`: no `Send` bound needed). Each record's body
//! is parsed into the job type; a body that cannot be parsed can never succeed, so it is logged
//! and acknowledged (it is not ours, or a bug: retrying would only poison the queue). A job that
//! fails with a retryable error is reported in `batchItemFailures` and comes back after the
//! queue's visibility timeout (and goes to the dead-letter queue after `maxReceiveCount`); a
//! permanent failure is logged and acknowledged.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use serde::de::DeserializeOwned;
use tracing::{Instrument, error, info_span, warn};

/// What became of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Handled (or nothing to do): delete it.
    Done,
    /// Failed in a way a later attempt may fix: report it so SQS redelivers it.
    Retry,
    /// Failed for good: delete it (the failure is logged and, where it matters, recorded).
    Drop,
}

/// Runs `handle` on every record and builds the batch response.
pub async fn process_batch<J, F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    J: DeserializeOwned,
    F: Fn(J) -> Fut,
    Fut: Future<Output = RecordOutcome>,
{
    let tasks = event.records.into_iter().map(|record| {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = info_span!("sqs_record", message_id = %message_id, receive_count = receive_count(&record));
        let handle = &handle;
        async move {
            let outcome = match parse::<J>(&record) {
                Ok(job) => handle(job).await,
                Err(reason) => {
                    error!(reason = %reason, "unparseable queue message dropped");
                    RecordOutcome::Drop
                }
            };
            if outcome == RecordOutcome::Retry {
                warn!("record will be retried");
            }
            (message_id, outcome)
        }
        .instrument(span)
    });
    let mut response = SqsBatchResponse::default();
    for (message_id, outcome) in futures::future::join_all(tasks).await {
        if outcome == RecordOutcome::Retry {
            response.add_failure(message_id);
        }
    }
    response
}

/// Turns a use case's result into the record's outcome: success is done; an error is retried when
/// `is_retryable` says a later attempt may succeed, and dropped (logged as an error) otherwise.
pub fn outcome_of<T: std::fmt::Debug, E: std::fmt::Display + std::fmt::Debug>(
    result: Result<T, E>,
    is_retryable: impl Fn(&E) -> bool,
) -> RecordOutcome {
    match result {
        Ok(done) => {
            tracing::debug!(outcome = ?done, "record handled");
            RecordOutcome::Done
        }
        Err(e) if is_retryable(&e) => {
            error!(error.message = %e, error.cause_chain = ?e, "record failed; it will be retried");
            RecordOutcome::Retry
        }
        Err(e) => {
            error!(error.message = %e, error.cause_chain = ?e, "record failed permanently; dropped");
            RecordOutcome::Drop
        }
    }
}

fn receive_count(record: &SqsMessage) -> u32 {
    record.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn parse<J: DeserializeOwned>(record: &SqsMessage) -> Result<J, String> {
    let body = record.body.as_deref().ok_or("the record has no body")?;
    serde_json::from_str(body).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Job {
        n: u32,
    }

    fn event(bodies: &[&str]) -> SqsEvent {
        let records: Vec<serde_json::Value> = bodies
            .iter()
            .enumerate()
            .map(|(i, b)| serde_json::json!({"messageId": format!("m{i}"), "body": b, "attributes": {"ApproximateReceiveCount": "1"}}))
            .collect();
        serde_json::from_value(serde_json::json!({"Records": records})).unwrap()
    }

    #[tokio::test]
    async fn when_records_fail_retryably_should_report_only_those() {
        let e = event(&[r#"{"n":1}"#, r#"{"n":2}"#, "not json", r#"{"n":4}"#]);
        let response = process_batch(e, |job: Job| async move {
            match job.n {
                2 => RecordOutcome::Retry,
                4 => RecordOutcome::Drop,
                _ => RecordOutcome::Done,
            }
        })
        .await;
        let ids: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, vec!["m1"]);
    }
}

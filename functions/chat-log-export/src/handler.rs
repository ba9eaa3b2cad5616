//! SQS batch → `run_export` per record (the queue delivers one at a time: each export gets the
//! whole invocation). A retryable failure is reported as a batch item failure so SQS redelivers
//! the request (the export then starts again); a deadline or permanent failure is recorded on
//! the job and the record acknowledged.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use domain::chat_log::ExportRequest;
use domain::ports::{
    ChannelReader, ChatLogStore, Clock, ExportJobs, ExportStorage, ExtensionDirectory, QueueDirectory, SessionStore,
};
use domain::services::chat_logs::{ExportError, ExportPorts, run_export};
use domain::time::Timestamp;
use lambda_runtime::{Error, LambdaEvent};
use lambda_support::sqs::{outcome_of, process_batch};
use tracing::{Instrument, info_span};

/// Time kept back from the invocation's deadline to record a failure and abort the upload.
pub const DEADLINE_MARGIN_MILLIS: i64 = 30_000;

/// What the handler needs.
pub struct Deps<S, A, K> {
    /// Sessions, messages, jobs and the directory (one DynamoDB store in production).
    pub store: S,
    /// The export bucket.
    pub storage: A,
    /// Time.
    pub clock: K,
}

/// When this invocation must stop writing: the runtime's deadline less a margin (at least half
/// of what is left when the margin does not fit).
pub fn stop_at(deadline_ms: u64, now: Timestamp) -> Timestamp {
    let deadline = Timestamp::from_millis(i64::try_from(deadline_ms).unwrap_or(i64::MAX));
    let left = deadline.as_millis() - now.as_millis();
    let margin = DEADLINE_MARGIN_MILLIS.min(left / 2).max(0);
    Timestamp::from_millis(deadline.as_millis() - margin)
}

/// Handles one batch.
pub async fn handle<S, A, K>(deps: &Deps<S, A, K>, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, Error>
where
    S: ChatLogStore + SessionStore + ExportJobs + ExtensionDirectory + QueueDirectory + ChannelReader,
    A: ExportStorage,
    K: Clock,
{
    let deadline = stop_at(event.context.deadline, deps.clock.now());
    let ports = ExportPorts { store: &deps.store, directory: &deps.store, storage: &deps.storage, clock: &deps.clock };
    Ok(process_batch(event.payload, |request: ExportRequest| {
        let ports = &ports;
        let span = info_span!("chat_log_export", export_id = %request.export_id);
        async move {
            let result = run_export(ports, &request.export_id, deadline).await;
            if let Ok(outcome) = &result {
                tracing::info!(outcome = ?outcome, "chat-log export finished");
            }
            outcome_of(result, ExportError::retryable)
        }
        .instrument(span)
    })
    .await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    use adapters::export::{PartSink, ZipCsvArchive};
    use adapters::memory::{InMemoryStore, ManualClock};
    use domain::channel::{Destination, Provider};
    use domain::chat_log::{ChatLogFilter, ExportId, ExportJob, ExportState};
    use domain::ids::{ChannelId, ExtensionId, ExtensionNumber, MessageId, QueueId, SessionId};
    use domain::message::{DeliveryState, Direction, Message, Origin, Sender};
    use domain::phone::{BusinessNumber, CustomerAddress};
    use domain::ports::StoreError;
    use domain::session::{LastMessage, Session, SessionKey, SessionStatus};
    use serde_json::json;

    /// Objects by key, written through a multipart-like sink.
    #[derive(Clone, Default)]
    struct MemoryBucket(Arc<Mutex<BTreeMap<String, Vec<u8>>>>);

    struct MemorySink {
        bucket: MemoryBucket,
        key: String,
        parts: Vec<u8>,
    }

    impl PartSink for MemorySink {
        async fn upload_part(&mut self, _number: i32, bytes: Vec<u8>) -> Result<(), StoreError> {
            self.parts.extend(bytes);
            Ok(())
        }
        async fn complete(&mut self) -> Result<(), StoreError> {
            self.bucket.0.lock().unwrap().insert(self.key.clone(), std::mem::take(&mut self.parts));
            Ok(())
        }
        async fn abort(&mut self) {
            self.parts.clear();
        }
    }

    impl ExportStorage for MemoryBucket {
        type Archive = ZipCsvArchive<MemorySink>;
        async fn create_archive(&self, object_key: &str) -> Result<Self::Archive, StoreError> {
            Ok(ZipCsvArchive::new(MemorySink { bucket: self.clone(), key: object_key.into(), parts: Vec::new() }))
        }
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn session(id: u64, created: &str, closed: bool) -> Session {
        let key = SessionKey {
            channel_id: ChannelId::new(1).unwrap(),
            business_number: BusinessNumber::parse("+14102161183").unwrap(),
            customer: CustomerAddress::parse(&format!("+861801212122{id}")).unwrap(),
        };
        let first = LastMessage::new(MessageId::new(id * 10).unwrap(), Some("hi"), true, at(created));
        let mut s = Session::open_from_inbound(
            SessionId::new(id).unwrap(),
            key,
            Provider::General,
            Destination::Queue(QueueId::new(2).unwrap()),
            first,
            None,
        );
        if closed {
            s.status = SessionStatus::Closed { at: at(created) };
        }
        s
    }

    fn message(session: &Session, id: u64, text: &str, inbound: bool) -> Message {
        Message {
            session_id: session.id,
            msg_id: MessageId::new(id).unwrap(),
            channel_id: session.key.channel_id,
            direction: if inbound { Direction::Inbound } else { Direction::Outbound },
            sender: if inbound {
                Sender::Customer { address: session.key.customer.clone() }
            } else {
                Sender::Extension { id: ExtensionId::new(7).unwrap(), number: ExtensionNumber::parse("3000").unwrap() }
            },
            origin: if inbound { Origin::Customer } else { Origin::Agent },
            text: Some(text.into()),
            media: Vec::new(),
            created_at: session.created_at,
            delivery: if inbound {
                DeliveryState::Received
            } else {
                DeliveryState::Sent { provider_message_id: "p".into(), at: session.created_at }
            },
            attempts: 1,
            provider_message_id: None,
            events_published: true,
            receipt: None,
            template: None,
        }
    }

    fn event(id: &ExportId, deadline_ms: u64) -> LambdaEvent<SqsEvent> {
        let sqs: SqsEvent = serde_json::from_value(json!({"Records": [{
            "messageId": "m1", "body": json!({"export_id": id.as_str()}).to_string(),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}]}))
        .unwrap();
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline_ms;
        LambdaEvent::new(sqs, context)
    }

    fn unzip(bytes: &[u8], name: &str) -> Vec<Vec<String>> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut text = String::new();
        zip.by_name(name).unwrap().read_to_string(&mut text).unwrap();
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        reader.records().map(|r| r.unwrap().iter().map(str::to_owned).collect()).collect()
    }

    #[tokio::test]
    async fn an_export_writes_both_files_for_the_filtered_sessions_and_records_progress() {
        let store = InMemoryStore::new();
        let (a, b, old) = (
            session(1, "2026-01-05T10:00:00Z", true),
            session(2, "2026-01-20T10:00:00Z", false),
            session(3, "2025-06-01T00:00:00Z", true),
        );
        for s in [&a, &b, &old] {
            store.put_session(s.clone());
        }
        store.put_message(message(&a, 11, "hello, \"agent\"", true));
        store.put_message(message(&a, 12, "hi there", false));
        store.put_message(message(&b, 21, "second", true));
        store.put_message(message(&old, 31, "too old", true));
        let clock = ManualClock::new(at("2026-02-01T00:00:00Z"));
        let id = ExportId::from_random_bytes([7; 16]);
        let filter = ChatLogFilter::between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        store.put_export(&ExportJob::new(id.clone(), filter, clock.now())).await.unwrap();
        let bucket = MemoryBucket::default();
        let deps = Deps { store, storage: bucket.clone(), clock };

        let far = u64::try_from(at("2026-02-01T00:15:00Z").as_millis()).unwrap();
        let response = handle(&deps, event(&id, far)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());

        let job = deps.store.export_job(&id).await.unwrap().unwrap();
        let ExportState::Done { object_key, bytes } = &job.state else { panic!("{:?}", job.state) };
        assert_eq!(
            (job.progress.sessions_done, job.progress.sessions_total, job.progress.messages_done),
            (2, Some(2), 3)
        );
        let stored = bucket.0.lock().unwrap().get(object_key).cloned().unwrap();
        assert_eq!(stored.len() as u64, *bytes);

        let sessions = unzip(&stored, "Session_Record.csv");
        assert_eq!(sessions[0], domain::chat_log::SESSION_RECORD_HEADER.map(str::to_owned).to_vec());
        let ids: Vec<&str> = sessions[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(ids, ["2", "1"], "newest first, the old session left out");
        assert_eq!(sessions[2][15], "2", "message count");
        let messages = unzip(&stored, "Chat_Data_Record.csv");
        assert_eq!(messages[0], domain::chat_log::CHAT_DATA_RECORD_HEADER.map(str::to_owned).to_vec());
        let texts: Vec<&str> = messages[1..].iter().map(|r| r[8].as_str()).collect();
        assert_eq!(texts, ["second", "hello, \"agent\"", "hi there"]);

        // a redelivered request changes nothing
        let response = handle(&deps, event(&id, far)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(deps.store.export_job(&id).await.unwrap().unwrap(), job);
    }

    #[tokio::test]
    async fn an_export_past_its_deadline_fails_with_a_reason_and_stores_nothing() {
        let store = InMemoryStore::new();
        store.put_session(session(1, "2026-01-05T10:00:00Z", true));
        let clock = ManualClock::new(at("2026-02-01T00:00:00Z"));
        let id = ExportId::from_random_bytes([8; 16]);
        let filter = ChatLogFilter::between(at("2026-01-01T00:00:00Z"), at("2026-02-01T00:00:00Z"));
        store.put_export(&ExportJob::new(id.clone(), filter, clock.now())).await.unwrap();
        let bucket = MemoryBucket::default();
        let deps = Deps { store, storage: bucket.clone(), clock };
        let now = u64::try_from(at("2026-02-01T00:00:00Z").as_millis()).unwrap();
        handle(&deps, event(&id, now)).await.unwrap();
        let job = deps.store.export_job(&id).await.unwrap().unwrap();
        let ExportState::Failed { reason } = &job.state else { panic!("{:?}", job.state) };
        assert!(reason.contains("time limit"), "{reason}");
        assert!(bucket.0.lock().unwrap().is_empty());
    }

    #[test]
    fn the_stop_time_keeps_a_margin_before_the_deadline() {
        let now = Timestamp::from_millis(1_000_000);
        assert_eq!(stop_at(1_000_000 + 900_000, now), Timestamp::from_millis(1_000_000 + 870_000));
        assert_eq!(stop_at(1_000_000 + 10_000, now), Timestamp::from_millis(1_000_000 + 5_000));
        assert_eq!(stop_at(1_000_000, now), now);
    }
}

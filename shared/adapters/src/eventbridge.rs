//! EventBridge publisher: every domain event goes to the bus with source `switchboard`, its
//! type as detail-type and its versioned `detail` (with the stable event id) as JSON.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use domain::events::{DomainEvent, EVENT_SOURCE};
use domain::ports::{EventPublisher, StoreError};
use tracing::info;

/// Entries per `PutEvents` call (the API maximum).
const BATCH: usize = 10;
/// Attempts for entries the service reports as failed.
const ATTEMPTS: usize = 3;

/// Publishes to one event bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus_name: String,
}

impl EventBridgePublisher {
    /// A publisher to `bus_name`.
    pub fn new(client: Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }

    fn entry(&self, event: &DomainEvent) -> Result<PutEventsRequestEntry, StoreError> {
        let detail = serde_json::to_string(&event.detail()).map_err(|e| StoreError::permanent("encode event", e))?;
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus_name)
            .source(EVENT_SOURCE)
            .detail_type(event.event_type())
            .detail(detail)
            .build())
    }
}

impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), StoreError> {
        for chunk in events.chunks(BATCH) {
            let mut pending: Vec<PutEventsRequestEntry> =
                chunk.iter().map(|e| self.entry(e)).collect::<Result<_, _>>()?;
            for attempt in 1..=ATTEMPTS {
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(pending.clone()))
                    .send()
                    .await
                    .map_err(|e| StoreError::retryable("publish events", e))?;
                if out.failed_entry_count() == 0 {
                    pending.clear();
                    break;
                }
                // Keep only the entries that failed (results are in request order).
                let results = out.entries();
                pending = pending
                    .into_iter()
                    .zip(results.iter())
                    .filter(|(_, r)| r.error_code().is_some())
                    .map(|(e, _)| e)
                    .collect();
                if attempt == ATTEMPTS {
                    return Err(StoreError::retryable("publish events", format!("{} entries failed", pending.len())));
                }
            }
            for event in chunk {
                let (session_id, msg_id) = event.ids();
                info!(
                    event_id = event.event_id(),
                    event_type = event.event_type(),
                    session_id = session_id.map(|s| s.get()),
                    msg_id = msg_id.map(|m| m.get()),
                    "event published"
                );
            }
        }
        Ok(())
    }
}

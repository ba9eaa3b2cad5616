//! Use case: apply providers' delivery reports (status callbacks) to our outbound messages.
//!
//! A report names the message by the id the provider returned when it accepted the send. The
//! report is first recorded under that id, keeping only the strongest (see
//! [`ReportedStatus::rank`]): so a late, repeated or out-of-order callback never downgrades what
//! is recorded. If the sender has already linked the id to its message, the receipt goes onto the
//! message (again only if stronger) and a `message.receipt` event is published. A callback can
//! beat the sender's own write of the send result; then the report waits under the id, and the
//! sender applies it right after linking ([`settle_after_send`]). Both sides write the same item
//! atomically, so whichever comes second sees the other: no report is lost to the race.

use tracing::info;

use crate::events::DomainEvent;
use crate::ids::{ChannelId, MessageId, SessionId};
use crate::message::{DeliveryState, Message, Receipt};
use crate::ports::{EventPublisher, ReceiptLedger, StoreError};
use crate::webhook::StatusReport;

/// What became of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOutcome {
    /// A `sent` report: not a receipt, nothing recorded.
    NotAReceipt,
    /// Recorded; the message holds it (now or already) and its event is out.
    Applied,
    /// A stronger report was recorded before; nothing changed.
    Superseded,
    /// Recorded under the provider id; the sender applies it when it records the send.
    AwaitingSend,
}

/// Records one report and, once its message is known, applies it and publishes its event.
pub async fn apply_report<R, E>(
    receipts: &R,
    events: &E,
    channel: ChannelId,
    report: &StatusReport,
) -> Result<ReportOutcome, StoreError>
where
    R: ReceiptLedger,
    E: EventPublisher,
{
    if report.status.rank() == 0 {
        return Ok(ReportOutcome::NotAReceipt);
    }
    let receipt = Receipt { status: report.status.clone(), at: report.at };
    let record = receipts.record_receipt(channel, &report.provider_message_id, &receipt).await?;
    if record.strongest.status.rank() > receipt.status.rank() {
        return Ok(ReportOutcome::Superseded);
    }
    let Some((session_id, msg_id)) = record.message else {
        info!(channel_id = %channel, provider_message_id = report.provider_message_id.as_str(), status = report.status.name(),
            "delivery report before the send was recorded; kept for the sender");
        return Ok(ReportOutcome::AwaitingSend);
    };
    // Equal rank: a repeated callback, or a crash after recording. Applying and publishing again
    // is harmless (the write is conditional, the event id is stable).
    put_on_message(receipts, events, channel, session_id, msg_id, &report.provider_message_id, record.strongest)
        .await?;
    info!(channel_id = %channel, session_id = %session_id, msg_id = %msg_id, status = report.status.name(), "delivery report applied");
    Ok(ReportOutcome::Applied)
}

/// Applies a report that reached us before the send result was recorded. Called by the sender
/// after it records a `sent` message (and again by the outbox until the message is announced).
pub async fn settle_after_send<R, E>(receipts: &R, events: &E, message: &Message) -> Result<bool, StoreError>
where
    R: ReceiptLedger,
    E: EventPublisher,
{
    let DeliveryState::Sent { provider_message_id, .. } = &message.delivery else {
        return Ok(false);
    };
    // only receipts are recorded (`sent` reports never are)
    let Some(receipt) = receipts.recorded_receipt(message.channel_id, provider_message_id).await? else {
        return Ok(false);
    };
    put_on_message(
        receipts,
        events,
        message.channel_id,
        message.session_id,
        message.msg_id,
        provider_message_id,
        receipt,
    )
    .await?;
    info!(session_id = %message.session_id, msg_id = %message.msg_id, "early delivery report applied after the send");
    Ok(true)
}

/// Puts `receipt` on the message (unless it holds one as strong) and publishes its event; both
/// are safe to repeat.
async fn put_on_message<R, E>(
    receipts: &R,
    events: &E,
    channel_id: ChannelId,
    session_id: SessionId,
    msg_id: MessageId,
    provider_message_id: &str,
    receipt: Receipt,
) -> Result<(), StoreError>
where
    R: ReceiptLedger,
    E: EventPublisher,
{
    receipts.apply_receipt(session_id, msg_id, &receipt).await?;
    let provider_message_id = provider_message_id.to_owned();
    events
        .publish(&[DomainEvent::MessageReceipt { session_id, msg_id, channel_id, provider_message_id, receipt }])
        .await
}

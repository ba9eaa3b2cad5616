//! Use case: check every channel's connection on a schedule (seed 001 §1.4.3, "periodically";
//! issue: Connected / Unauthorized / Services unavailable / Unknown / Request failed).
//!
//! A run looks at every enabled channel and checks the ones that are due: never checked (so a
//! new channel is checked by the next run, within a minute of its creation) or last checked
//! [`CHECK_INTERVAL`] ago. The check itself is [`crate::health`]'s: the General contract's
//! challenge, or a cheap authenticated read on the provider's API; providers with no such call
//! keep their status. The result is recorded only if no later check is (overlapping runs), and a
//! change of status publishes `channel.health_changed`. A run costs one read of the channel list
//! plus one provider call and one write per due channel.

use std::time::Duration;

use futures::future::join_all;
use tracing::{info, warn};

use crate::channel::{Channel, ChannelStatus};
use crate::events::DomainEvent;
use crate::health::{self, ChannelHealth};
use crate::ports::{
    ChannelHealthLedger, ChannelReader, Clock, EventPublisher, HealthWrite, ProviderHttp, Random, StoreError,
};
use crate::provider::ProviderEndpoints;
use crate::time::Timestamp;

/// How often a channel is checked.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The ports the health job uses.
pub struct HealthPorts<'a, C, L, H, E, R, K> {
    /// Channels.
    pub channels: &'a C,
    /// Where results are recorded.
    pub ledger: &'a L,
    /// Provider HTTP.
    pub provider: &'a H,
    /// The event bus.
    pub events: &'a E,
    /// Challenges.
    pub random: &'a R,
    /// Time.
    pub clock: &'a K,
    /// Where the providers' APIs are.
    pub endpoints: &'a ProviderEndpoints,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Channels due for a check.
    pub due: usize,
    /// Checks made and recorded.
    pub checked: usize,
    /// Checks whose status differs from the one before (events published).
    pub changed: usize,
    /// Due channels whose provider offers no check (status kept).
    pub not_checkable: usize,
}

/// Whether a channel is due for a check at `now`.
pub fn is_due(channel: &Channel, now: Timestamp) -> bool {
    channel.enabled
        && match channel.status {
            ChannelStatus::NotChecked => true,
            ChannelStatus::Checked { at, .. } => now.since(at) >= CHECK_INTERVAL,
        }
}

enum Checked {
    Recorded { previous: Option<ChannelHealth>, current: ChannelHealth, at: Timestamp },
    NotCheckable,
    Skipped,
}

/// Runs one pass.
pub async fn check_channels<C, L, H, E, R, K>(
    ports: &HealthPorts<'_, C, L, H, E, R, K>,
) -> Result<HealthReport, StoreError>
where
    C: ChannelReader,
    L: ChannelHealthLedger,
    H: ProviderHttp,
    E: EventPublisher,
    R: Random,
    K: Clock,
{
    let now = ports.clock.now();
    let due: Vec<Channel> = ports.channels.channels().await?.into_iter().filter(|c| is_due(c, now)).collect();
    let mut report = HealthReport { due: due.len(), ..HealthReport::default() };
    let results = join_all(due.iter().map(|channel| check_one(ports, channel))).await;
    let mut events = Vec::new();
    for (channel, result) in due.iter().zip(results) {
        match result? {
            Checked::Recorded { previous, current, at } => {
                report.checked += 1;
                if health::health_change(previous, current) {
                    report.changed += 1;
                    info!(channel_id = %channel.id, previous = previous.map(ChannelHealth::as_str), status = current.as_str(), "channel status changed");
                    events.push(DomainEvent::ChannelHealthChanged { channel_id: channel.id, previous, current, at });
                }
            }
            Checked::NotCheckable => report.not_checkable += 1,
            Checked::Skipped => {}
        }
    }
    if !events.is_empty()
        && let Err(error) = ports.events.publish(&events).await
    {
        // the status is recorded; only the notification of this change is lost
        warn!(error = %error, "could not publish channel status changes");
    }
    Ok(report)
}

/// Checks one channel now (right after it is created or its credentials change), recording the
/// result as a scheduled run would and announcing a change. Returns the status found (`None`:
/// the provider has no check, or a later check was recorded first).
pub async fn check_now<C, L, H, E, R, K>(
    ports: &HealthPorts<'_, C, L, H, E, R, K>,
    channel: &Channel,
) -> Result<Option<ChannelHealth>, StoreError>
where
    L: ChannelHealthLedger,
    H: ProviderHttp,
    E: EventPublisher,
    R: Random,
    K: Clock,
{
    match check_one(ports, channel).await? {
        Checked::Recorded { previous, current, at } => {
            if health::health_change(previous, current) {
                let event = DomainEvent::ChannelHealthChanged { channel_id: channel.id, previous, current, at };
                if let Err(error) = ports.events.publish(&[event]).await {
                    warn!(channel_id = %channel.id, error = %error, "could not publish the channel status change");
                }
            }
            Ok(Some(current))
        }
        Checked::NotCheckable | Checked::Skipped => Ok(None),
    }
}

async fn check_one<C, L, H, E, R, K>(
    ports: &HealthPorts<'_, C, L, H, E, R, K>,
    channel: &Channel,
) -> Result<Checked, StoreError>
where
    L: ChannelHealthLedger,
    H: ProviderHttp,
    R: Random,
    K: Clock,
{
    let challenge = health::challenge_from_random(ports.random.bytes::<24>());
    let Some(check) = health::health_check(&channel.credentials, ports.endpoints, &challenge) else {
        return Ok(Checked::NotCheckable);
    };
    let response = ports.provider.execute(&check.request).await;
    let current = check.classify(&response);
    let at = ports.clock.now();
    Ok(match ports.ledger.record_health(channel.id, current, at).await? {
        HealthWrite::Recorded { previous } => Checked::Recorded { previous: previous.health(), current, at },
        HealthWrite::Stale | HealthWrite::Missing => Checked::Skipped,
    })
}

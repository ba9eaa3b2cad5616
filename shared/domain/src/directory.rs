//! The directory: extensions (agents) and message queues, which routing rules, queue membership
//! and permissions reference (decisions.md "Scope and shape": the project owns the directory).

use serde::{Deserialize, Serialize};

use crate::ids::{ExtensionId, ExtensionNumber, QueueId};
use crate::time::Timestamp;

/// An extension user: an agent who can log in with its number and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// Id.
    pub id: ExtensionId,
    /// Extension number (login name).
    pub number: ExtensionNumber,
    /// Caller ID name shown to colleagues (Yeastar `caller_id_name`).
    pub caller_id_name: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// E-mail address.
    pub email_addr: String,
    /// Mobile number.
    pub mobile_number: String,
    /// PHC string of the Argon2id hash of `user_password`.
    pub password_hash: String,
    /// When it was created.
    pub created_at: Timestamp,
}

impl Extension {
    /// `Name<number>`, the way the seeds' chat logs show agents (seed 000 L2646).
    pub fn display(&self) -> String {
        let name = if self.caller_id_name.is_empty() {
            format!("{} {}", self.first_name, self.last_name).trim().to_owned()
        } else {
            self.caller_id_name.clone()
        };
        format!("{name}<{}>", self.number)
    }
}

/// Chat assignment mode of a message queue (Yeastar `assignment_mode`, seed 001 §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AssignmentMode {
    /// Manual Pickup (the default): agents pick sessions up explicitly.
    #[default]
    Manual,
    /// Auto-Pickup: the first agent to reply takes the session.
    Auto,
    /// Disable Pickup: a shared inbox; sessions never get an owner.
    None,
}

impl AssignmentMode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentMode::Manual => "manual",
            AssignmentMode::Auto => "auto",
            AssignmentMode::None => "none",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "manual" => Some(Self::Manual),
            "auto" => Some(Self::Auto),
            "none" => Some(Self::None),
            _ => None,
        }
    }
}

/// A message queue and its agents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageQueue {
    /// Id.
    pub id: QueueId,
    /// Name.
    pub name: String,
    /// Chat assignment mode.
    pub assignment_mode: AssignmentMode,
    /// Agents (extension ids), in the order the administrator gave them.
    pub members: Vec<ExtensionId>,
    /// Service level settings (decisions.md "SLA").
    pub sla: SlaSettings,
    /// Who is told when the service level falls below its threshold or recovers.
    pub managers: Vec<QueueManager>,
    /// When it was created.
    pub created_at: Timestamp,
}

/// A queue's service level settings (decisions.md "SLA"; seed 001 §5.2 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaSettings {
    /// A session is answered in time if an agent first replies less than this many seconds
    /// after it entered the queue (`sla_time`, 1 to 604 800 s, default 60).
    pub sla_time_secs: u32,
    /// How often, in minutes, the figure is computed over the last interval and compared with
    /// the threshold (`evaluation_interval`, 1 to 1440, default 15).
    pub evaluation_interval_mins: u32,
    /// Alarm below this percentage (`alarm_threshold`, 0 to 100, default 80).
    pub alarm_threshold_percent: u8,
}

impl SlaSettings {
    /// `sla_time` bounds (seconds).
    pub const SLA_TIME_RANGE: std::ops::RangeInclusive<u32> = 1..=604_800;
    /// `evaluation_interval` bounds (minutes).
    pub const EVALUATION_INTERVAL_RANGE: std::ops::RangeInclusive<u32> = 1..=1440;

    /// The answer deadline as a duration.
    pub fn sla_time(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.sla_time_secs))
    }

    /// The evaluation interval as a duration.
    pub fn evaluation_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.evaluation_interval_mins) * 60)
    }
}

impl Default for SlaSettings {
    fn default() -> Self {
        Self { sla_time_secs: 60, evaluation_interval_mins: 15, alarm_threshold_percent: 80 }
    }
}

/// Someone told about a queue's service level: an extension (at its e-mail address) or an
/// e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueManager {
    /// An extension; mailed at its `email_addr`.
    Extension(ExtensionId),
    /// An address.
    Email(String),
}

impl MessageQueue {
    /// Whether an extension is an agent of this queue.
    pub fn has_agent(&self, ext: ExtensionId) -> bool {
        self.members.contains(&ext)
    }
}

/// Message-queue limits by the organisation's extension capacity (the plan's "Maximum Number of
/// Extensions" N, seed 000 L2531-2533): N ≤ 50 → 16 queues of up to 25 agents; 50 < N ≤ 200 →
/// 32 / 60; N > 200 → 64 / 120.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Queues at most.
    pub max_queues: usize,
    /// Agents per queue at most.
    pub max_agents: usize,
}

impl QueueLimits {
    /// The tier of an extension capacity.
    pub fn for_extension_capacity(capacity: u32) -> Self {
        match capacity {
            0..=50 => Self { max_queues: 16, max_agents: 25 },
            51..=200 => Self { max_queues: 32, max_agents: 60 },
            _ => Self { max_queues: 64, max_agents: 120 },
        }
    }
}

#[cfg(test)]
mod limits_tests {
    use super::*;

    #[test]
    fn the_tiers_follow_the_seed_table() {
        let at = |n| QueueLimits::for_extension_capacity(n);
        assert_eq!(at(50), QueueLimits { max_queues: 16, max_agents: 25 });
        assert_eq!(at(51), QueueLimits { max_queues: 32, max_agents: 60 });
        assert_eq!(at(200), QueueLimits { max_queues: 32, max_agents: 60 });
        assert_eq!(at(201), QueueLimits { max_queues: 64, max_agents: 120 });
    }
}

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
    /// When it was created.
    pub created_at: Timestamp,
}

impl MessageQueue {
    /// Whether an extension is an agent of this queue.
    pub fn has_agent(&self, ext: ExtensionId) -> bool {
        self.members.contains(&ext)
    }
}

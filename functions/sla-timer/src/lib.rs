//! The SLA-timer function (SQS, the SLA timer queue): each message is one queued session's
//! breach timer. It waits out the queue's `sla_time` in delayed hops of at most 15 minutes, then
//! records and announces `session.sla_breached` if no agent has replied
//! (`domain::services::sla::fire_timer`).

pub mod config;
pub mod handler;

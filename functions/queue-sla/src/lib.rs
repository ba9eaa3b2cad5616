//! The queue-SLA function (EventBridge schedule, every minute): evaluates each message queue's
//! service level once per window of its evaluation interval, raising one alarm when it falls
//! below the threshold and one recovery when it returns, each as an event and an e-mail to the
//! queue's managers (`domain::services::sla`).

pub mod config;
pub mod handler;

//! The event-push function (SQS, the event-push queue): Yeastar webhook event push
//! (docs/api.md "Event push"). The queue receives every domain event an EventBridge rule selects
//! (`domain::services::event_push::push_event` turns each into reports 30031/30032/30038 and
//! delivers them, signed, to the subscribed webhooks) and this function's own delayed retries
//! (`retry_delivery`), one per webhook that failed.

pub mod config;
pub mod handler;

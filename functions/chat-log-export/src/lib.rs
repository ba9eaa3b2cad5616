//! The chat-log export function (SQS, the chat-log export queue): each message names one export
//! job, which is run in this invocation (`domain::services::chat_logs::run_export`): the matching
//! sessions and their messages, paged from the Conversation table, streamed as CSV into a zip that
//! is uploaded to the export bucket in parts. An export that cannot finish before the invocation's
//! deadline fails with a reason on the job (docs/api.md "Chat logs").

pub mod config;
pub mod handler;

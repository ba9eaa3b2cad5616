//! Tracing initialisation: Lambda's advanced logging controls decide the format and level
//! (`AWS_LAMBDA_LOG_FORMAT=JSON`, `AWS_LAMBDA_LOG_LEVEL`), `RUST_LOG` otherwise. In JSON every
//! line carries the current span's fields, so the runtime's `requestId` and our `session_id` /
//! `msg_id` span fields appear on every line they concern.

/// Installs the global subscriber. Call first in `main`.
pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}

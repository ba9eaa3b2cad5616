//! Mapping of SDK errors into [`StoreError`]s (retryable or permanent) and of transaction
//! cancellations into per-item reasons. The source error is always kept.

use std::error::Error;
use std::fmt::Debug;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use domain::ports::StoreError;

/// Error codes that a later retry may not see.
const RETRYABLE_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "TransactionInProgressException",
];

/// Classifies an SDK error.
pub fn store_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::ServiceError(ctx) => ctx.err().code().is_some_and(|c| RETRYABLE_CODES.contains(&c)),
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    StoreError { operation, retryable, source: Box::new(err) }
}

/// Per-item cancellation codes of a cancelled transaction (`None` entries mean "not the cause"),
/// or `None` when the error is not a cancellation.
pub fn cancellation_reasons<R>(
    err: &SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
) -> Option<Vec<Option<String>>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err {
        SdkError::ServiceError(ctx) => match ctx.err() {
            TransactWriteItemsError::TransactionCanceledException(e) => Some(
                e.cancellation_reasons().iter().map(|r| r.code().filter(|c| *c != "None").map(str::to_owned)).collect(),
            ),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a cancellation was caused by a conflicting concurrent transaction (retry it).
pub fn is_conflict(reasons: &[Option<String>]) -> bool {
    reasons.iter().flatten().any(|c| c == "TransactionConflict")
}

/// Whether the item at `index` failed its condition.
pub fn failed_condition(reasons: &[Option<String>], index: usize) -> bool {
    reasons.get(index).and_then(Option::as_deref) == Some("ConditionalCheckFailed")
}

/// A decode failure as a permanent store error.
pub fn corrupt(operation: &'static str, err: impl Into<Box<dyn Error + Send + Sync>>) -> StoreError {
    StoreError::permanent(operation, err)
}

//! DynamoDB SDK helpers shared by the stores of this crate: attribute
//! values in and out, SDK errors, throttling, and the backoff between write
//! attempts.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;

/// Attempts at one write before giving up as busy.
pub const WRITE_ATTEMPTS_MAX: u32 = 6;
/// The first backoff; it doubles per attempt.
pub const BACKOFF_BASE_MS: u64 = 25;

pub(crate) fn sdk_error<
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

pub(crate) fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "TransactionInProgressException"
        )
    )
}

pub(crate) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(crate) fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request could not be built: {e}"))
}

/// Waits before write attempt `attempt + 1` (see `event_store::retry_delay`).
pub(crate) async fn backoff(attempt: u32) {
    tokio::time::sleep(event_store::retry_delay(
        Duration::from_millis(BACKOFF_BASE_MS),
        attempt,
    ))
    .await;
}

pub(crate) fn get_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

pub(crate) fn get_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// FNV-1a, 64 bits: stable across builds and platforms (unlike the
/// standard library's hasher), so an item keeps its shard
/// (webhook deliveries, maturity entries).
pub(crate) fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hash ^= u64::from(b'#');
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        for byte in part.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

//! Validated identifiers: stream ids and idempotency keys.

use std::fmt;

use ledger_domain::Event;
use serde::{Deserialize, Serialize};

use crate::{IDEMPOTENCY_KEY_LEN_MAX, STREAM_ID_LEN_MAX, StoreError};

/// Checks a key-like value: 1 to `max` bytes of printable ASCII, no spaces.
pub(crate) fn check_token(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
    if value.is_empty() || value.len() > max {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("must be 1 to {max} bytes, got {}", value.len()),
        });
    }
    if let Some(c) = value.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(StoreError::InvalidInput {
            field,
            reason: format!("contains {c:?}; only printable ASCII without spaces is allowed"),
        });
    }
    Ok(())
}

/// A stream id: `tenant/aggregate/id`, printable ASCII without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamId(String);

impl StreamId {
    pub fn new(value: impl Into<String>) -> Result<Self, StoreError> {
        let value = value.into();
        check_token("stream", &value, STREAM_ID_LEN_MAX)?;
        Ok(StreamId(value))
    }

    /// The stream a domain event belongs to.
    pub fn of(event: &Event) -> Result<Self, StoreError> {
        StreamId::new(event.stream_name())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An idempotency key, unique within one stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn new(value: impl Into<String>) -> Result<Self, StoreError> {
        let value = value.into();
        check_token("idempotency_key", &value, IDEMPOTENCY_KEY_LEN_MAX)?;
        Ok(IdempotencyKey(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

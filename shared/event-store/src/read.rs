//! Reads: stored events, global-order pages and cursors, and read checks.

use chrono::{DateTime, Utc};
use ledger_domain::Event;
use serde::{Deserialize, Serialize};

use crate::{NewEvent, READ_LIMIT_MAX, StoreError, StreamId};

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub stream: StreamId,
    pub version: u64,
    pub event_type: String,
    pub schema_version: u16,
    pub payload: String,
    pub payload_hash: String,
    pub recorded_at: DateTime<Utc>,
}

impl StoredEvent {
    /// Decodes the payload into a domain event. An unknown type or schema
    /// version, or a payload that does not parse, names the stream and version.
    pub fn decode(&self) -> Result<Event, StoreError> {
        let corrupt = |reason: String| StoreError::CorruptEvent {
            stream: self.stream.to_string(),
            version: self.version,
            reason,
        };
        if self.schema_version != ledger_domain::events::EVENT_SCHEMA_VERSION {
            return Err(corrupt(format!(
                "unknown schema version {}",
                self.schema_version
            )));
        }
        let event: Event =
            serde_json::from_str(&self.payload).map_err(|e| corrupt(e.to_string()))?;
        if event.type_name() != self.event_type {
            return Err(corrupt(format!(
                "stored type {} does not match payload type {}",
                self.event_type,
                event.type_name()
            )));
        }
        Ok(event)
    }
}

/// An opaque position in the store's global order. Adapters define its
/// content; callers only store it and hand it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor(pub String);

/// One page of the global read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub events: Vec<StoredEvent>,
    /// Where the next read resumes; equal to the input when nothing was new.
    pub next: Cursor,
}

/// Checks a read limit.
pub fn check_read_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 || limit > READ_LIMIT_MAX {
        return Err(StoreError::LimitExceeded {
            what: "read limit".to_owned(),
            got: limit,
            limit: READ_LIMIT_MAX,
        });
    }
    Ok(())
}

/// Checks a projection name.
pub fn check_projection_name(name: &str) -> Result<(), StoreError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(StoreError::InvalidInput {
            field: "projection",
            reason: format!("{name:?} must be 1 to 64 ASCII letters, digits, - or _"),
        });
    }
    Ok(())
}

/// Domain events as the store would hold them when appended in this order,
/// each at the next version of its stream: what a projection is fed, for
/// tests and tools that project without a store.
pub fn stored_in_order(events: &[Event]) -> Result<Vec<StoredEvent>, StoreError> {
    let mut versions: std::collections::HashMap<StreamId, u64> = std::collections::HashMap::new();
    events
        .iter()
        .map(|e| {
            let stream = StreamId::of(e)?;
            let version = versions.entry(stream.clone()).or_insert(0);
            *version += 1;
            let new = NewEvent::from_domain(e)?;
            Ok(StoredEvent {
                stream,
                version: *version,
                event_type: new.event_type,
                schema_version: new.schema_version,
                payload: new.payload,
                payload_hash: new.payload_hash,
                recorded_at: new.recorded_at,
            })
        })
        .collect()
}

//! Appends: new events, append requests, their validation and results.

use chrono::{DateTime, Utc};
use ledger_domain::Event;

use crate::idempotency::sha256_hex;
use crate::ids::check_token;
use crate::{
    EVENT_ITEM_BYTES_MAX, EVENT_ITEM_OVERHEAD_BYTES, IDEMPOTENCY_ANSWER_BYTES_MAX,
    IDEMPOTENCY_KEY_LEN_MAX, IdempotencyKey, IdempotencyRecord, StoreError, StreamId,
    TRANSACTION_ITEMS_MAX,
};

/// An event about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_type: String,
    pub schema_version: u16,
    /// The event as JSON.
    pub payload: String,
    /// SHA-256 over type, schema version and the payload less its recorded
    /// time: what idempotency compares.
    pub payload_hash: String,
    pub recorded_at: DateTime<Utc>,
}

impl NewEvent {
    /// Wraps raw JSON. The hash covers the whole payload.
    pub fn raw(
        event_type: impl Into<String>,
        schema_version: u16,
        payload: String,
        recorded_at: DateTime<Utc>,
    ) -> Self {
        let event_type = event_type.into();
        let payload_hash = sha256_hex(&[
            event_type.as_bytes(),
            &schema_version.to_be_bytes(),
            payload.as_bytes(),
        ]);
        NewEvent {
            event_type,
            schema_version,
            payload,
            payload_hash,
            recorded_at,
        }
    }

    /// Serialises a domain event. Its hash leaves out `recorded_at`, so a
    /// retry of the same command a second later is recognised as the same.
    pub fn from_domain(event: &Event) -> Result<Self, StoreError> {
        let invalid = |e: serde_json::Error| StoreError::InvalidInput {
            field: "event",
            reason: e.to_string(),
        };
        // Serialised once, straight from the struct (no intermediate tree:
        // a 500-item batch is ~100 KB). The fingerprint is the same text
        // without its top-level `"recorded_at":"...",` member; no string
        // value can contain that text unescaped.
        let payload = serde_json::to_string(event).map_err(invalid)?;
        let recorded_at = serde_json::to_string(&event.recorded_at()).map_err(invalid)?;
        let member = format!("\"recorded_at\":{recorded_at},");
        let at = payload
            .find(&member)
            .ok_or_else(|| StoreError::InvalidInput {
                field: "event",
                reason: "recorded_at is not a member of the serialised event".to_owned(),
            })?;
        let event_type = event.type_name().to_owned();
        let schema_version = event.schema_version();
        // Hashed in two parts around the member: no copy of the payload.
        let payload_hash = sha256_hex(&[
            event_type.as_bytes(),
            &schema_version.to_be_bytes(),
            &payload.as_bytes()[..at],
            &payload.as_bytes()[at + member.len()..],
        ]);
        Ok(NewEvent {
            event_type,
            schema_version,
            payload,
            payload_hash,
            recorded_at: event.recorded_at(),
        })
    }

    /// The approximate size of the stored item.
    pub fn item_bytes(&self, stream: &StreamId) -> usize {
        self.payload.len()
            + self.event_type.len()
            + stream.as_str().len()
            + EVENT_ITEM_OVERHEAD_BYTES
    }
}

/// One append: events for one stream at an expected version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    pub stream: StreamId,
    /// The version the caller read: 0 for a stream that must not exist yet.
    pub expected_version: u64,
    pub events: Vec<NewEvent>,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl AppendRequest {
    pub fn new(stream: StreamId, expected_version: u64, events: Vec<NewEvent>) -> Self {
        AppendRequest {
            stream,
            expected_version,
            events,
            idempotency_key: None,
        }
    }

    pub fn with_idempotency_key(mut self, key: IdempotencyKey) -> Self {
        self.idempotency_key = Some(key);
        self
    }

    /// Appends domain events (which must all belong to one stream).
    pub fn from_domain(expected_version: u64, events: &[Event]) -> Result<Self, StoreError> {
        let first = events.first().ok_or_else(|| StoreError::InvalidInput {
            field: "events",
            reason: "an append needs at least one event".to_owned(),
        })?;
        let stream = StreamId::of(first)?;
        let mut new_events = Vec::with_capacity(events.len());
        for event in events {
            if StreamId::of(event)? != stream {
                return Err(StoreError::InvalidInput {
                    field: "events",
                    reason: format!("event for {} in an append to {stream}", event.stream_name()),
                });
            }
            new_events.push(NewEvent::from_domain(event)?);
        }
        Ok(AppendRequest::new(stream, expected_version, new_events))
    }

    /// The fingerprint of the whole append, compared on idempotent replays.
    pub fn request_hash(&self) -> String {
        if let [single] = self.events.as_slice() {
            return single.payload_hash.clone();
        }
        let parts: Vec<&[u8]> = self
            .events
            .iter()
            .map(|e| e.payload_hash.as_bytes())
            .collect();
        sha256_hex(&parts)
    }

    /// Store items this append writes or checks, as DynamoDB counts them: one
    /// per event, one to check the expected version exists, and one
    /// idempotency guard when the stream already has events (a new stream's
    /// first event is its own guard).
    pub fn store_items(&self) -> usize {
        let continues = usize::from(self.expected_version > 0);
        let guard = usize::from(self.expected_version > 0 && self.idempotency_key.is_some());
        self.events.len() + continues + guard
    }

    /// The checks every adapter applies before writing anything.
    pub fn validate(&self) -> Result<(), StoreError> {
        if self.events.is_empty() {
            return Err(StoreError::InvalidInput {
                field: "events",
                reason: "an append needs at least one event".to_owned(),
            });
        }
        for (i, event) in self.events.iter().enumerate() {
            let bytes = event.item_bytes(&self.stream);
            if bytes > EVENT_ITEM_BYTES_MAX {
                return Err(StoreError::LimitExceeded {
                    what: format!(
                        "event {i} of the append to {} ({})",
                        self.stream, event.event_type
                    ),
                    got: bytes,
                    limit: EVENT_ITEM_BYTES_MAX,
                });
            }
        }
        self.expected_version
            .checked_add(self.events.len() as u64)
            .filter(|v| *v <= i64::MAX as u64)
            .ok_or_else(|| StoreError::InvalidInput {
                field: "expected_version",
                reason: "out of range".to_owned(),
            })?;
        Ok(())
    }
}

/// Checks a transaction's shape before any write.
pub fn validate_transaction(requests: &[AppendRequest]) -> Result<(), StoreError> {
    if requests.is_empty() {
        return Err(StoreError::InvalidInput {
            field: "requests",
            reason: "a transaction needs at least one append".to_owned(),
        });
    }
    check_appends(requests, 0)
}

/// Checks an [`EventStore::append_once`](crate::EventStore::append_once) before any write: the appends
/// (none is allowed: a request that changes nothing still keeps its answer)
/// and the record, which is one more store item of the transaction.
pub fn validate_once(
    appends: &[AppendRequest],
    record: &IdempotencyRecord,
) -> Result<(), StoreError> {
    check_token(
        "request_hash",
        &record.request_hash,
        IDEMPOTENCY_KEY_LEN_MAX,
    )?;
    if record.answer.len() > IDEMPOTENCY_ANSWER_BYTES_MAX {
        return Err(StoreError::LimitExceeded {
            what: format!(
                "the answer kept for idempotency key {:?}",
                record.scope.key.as_str()
            ),
            got: record.answer.len(),
            limit: IDEMPOTENCY_ANSWER_BYTES_MAX,
        });
    }
    check_appends(appends, 1)
}

fn check_appends(requests: &[AppendRequest], extra_items: usize) -> Result<(), StoreError> {
    let items: usize = requests
        .iter()
        .map(AppendRequest::store_items)
        .sum::<usize>()
        + extra_items;
    if items > TRANSACTION_ITEMS_MAX {
        return Err(StoreError::LimitExceeded {
            what: "store items in one transaction".to_owned(),
            got: items,
            limit: TRANSACTION_ITEMS_MAX,
        });
    }
    let mut streams: Vec<&StreamId> = requests.iter().map(|r| &r.stream).collect();
    streams.sort();
    if let Some(pair) = streams.windows(2).find(|w| w[0] == w[1]) {
        return Err(StoreError::InvalidInput {
            field: "requests",
            reason: format!("stream {} appears twice in one transaction", pair[0]),
        });
    }
    requests.iter().try_for_each(AppendRequest::validate)
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub stream: StreamId,
    pub first_version: u64,
    pub last_version: u64,
    /// True when this was an idempotent replay: nothing was written now.
    pub duplicate: bool,
}

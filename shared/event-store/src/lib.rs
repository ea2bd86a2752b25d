//! The event store port.
//!
//! Semantics every adapter implements, and that the conformance suite checks:
//! - **Optimistic concurrency.** An append names the version it expects the
//!   stream to be at (0 for a new stream). If the stream is elsewhere, the
//!   append fails with [`StoreError::VersionConflict`] and writes nothing. Of
//!   concurrent appenders at the same version, exactly one wins.
//! - **Idempotency.** An append may carry an idempotency key, unique within
//!   its stream. Repeating it with the same events returns the original
//!   result (`duplicate: true`) and writes nothing; repeating it with other
//!   events is [`StoreError::IdempotencyConflict`]. What is compared is the
//!   events' fingerprint (type, schema version and payload, but not the
//!   recorded time, which a retry naturally changes).
//! - **Request idempotency.** A caller's request (an HTTP post, a queue
//!   message) may be written once per key with [`EventStore::append_once`]:
//!   one [`IdempotencyRecord`] per (tenant, operation, key), holding the
//!   fingerprint of the request's facts and the caller's original answer,
//!   written in the same atomic write as the request's appends, on the
//!   condition that it does not exist yet. The fingerprint is the caller's
//!   (of the facts it was given, never of the events it stamped: a retry
//!   stamps other times), so a concurrent or later identical retry is
//!   answered with the original answer ([`Once::Replayed`]) and the same key
//!   with other facts, whichever streams they touch, is
//!   [`StoreError::IdempotencyConflict`].
//! - **Atomic transactions** of several appends, at most
//!   [`TRANSACTION_ITEMS_MAX`] store items, all or nothing.
//! - **Limits checked before any write**: events per append, payload size.
//! - **Global reads** in an order consistent with every stream's order, from
//!   a resumable [`Cursor`], and projection checkpoints that hold a cursor.

pub mod webhooks;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use ledger_domain::Event;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The most store items one transaction may write: DynamoDB's
/// `TransactWriteItems` limit, applied to every adapter alike.
pub const TRANSACTION_ITEMS_MAX: usize = 100;
/// The largest stored event item, in bytes: DynamoDB's 400 KB item limit,
/// read as 400,000 bytes (the strictest reading, which every emulator and
/// every region accepts).
pub const EVENT_ITEM_BYTES_MAX: usize = 400_000;
/// Bytes reserved in an item for everything but the payload (key, type,
/// hashes, times, idempotency fields and DynamoDB's attribute names).
pub const EVENT_ITEM_OVERHEAD_BYTES: usize = 1024;
/// The longest stream id, in bytes.
pub const STREAM_ID_LEN_MAX: usize = 256;
/// The longest idempotency key, in bytes.
pub const IDEMPOTENCY_KEY_LEN_MAX: usize = 128;
/// The most events one read returns.
pub const READ_LIMIT_MAX: usize = 1000;
/// The longest operation name of a request's idempotency record, in bytes.
pub const OPERATION_LEN_MAX: usize = 64;
/// The largest answer an idempotency record keeps, in bytes (a bulk of 99
/// commission results is about 15 KB).
pub const IDEMPOTENCY_ANSWER_BYTES_MAX: usize = 64 * 1024;

/// Everything that can go wrong with the store, as business facts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream} is at version {actual}, not the expected {expected}")]
    VersionConflict {
        stream: String,
        expected: u64,
        actual: u64,
    },
    #[error(
        "idempotency key {key:?} of {stream} was used for another request (stored hash {stored_hash}, this request {request_hash})"
    )]
    IdempotencyConflict {
        /// The stream the key belongs to, or for a request's key its scope
        /// (`tenant/operation`).
        stream: String,
        key: String,
        stored_hash: String,
        request_hash: String,
    },
    #[error("{what} is {got}; the limit is {limit}")]
    LimitExceeded {
        what: String,
        got: usize,
        limit: usize,
    },
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("event {stream}@{version} cannot be read: {reason}")]
    CorruptEvent {
        stream: String,
        version: u64,
        reason: String,
    },
    #[error("cursor {cursor:?} is not valid for this store: {reason}")]
    InvalidCursor { cursor: String, reason: String },
    #[error("the store is busy (throttled or contended) after {attempts} attempts: {detail}")]
    Busy { attempts: u32, detail: String },
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy { .. } | StoreError::Unavailable(_))
    }
}

/// Checks a key-like value: 1 to `max` bytes of printable ASCII, no spaces.
fn check_token(field: &'static str, value: &str, max: usize) -> Result<(), StoreError> {
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

/// The operation a request's idempotency key is scoped to, such as
/// `ingest.commissions`: 1 to [`OPERATION_LEN_MAX`] bytes of lower-case
/// ASCII letters, digits, `.`, `_` and `-`. One key may be used once per
/// operation: the same key on another route is another request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operation(String);

impl Operation {
    pub fn new(value: impl Into<String>) -> Result<Self, StoreError> {
        let value = value.into();
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
        if value.is_empty() || value.len() > OPERATION_LEN_MAX || !value.chars().all(allowed) {
            return Err(StoreError::InvalidInput {
                field: "operation",
                reason: format!(
                    "{value:?} must be 1 to {OPERATION_LEN_MAX} lower-case ASCII letters, digits, . _ or -"
                ),
            });
        }
        Ok(Operation(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where one request's idempotency record lives: one record per tenant,
/// operation and key. The same key in another tenant, or for another
/// operation, is another request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyScope {
    pub tenant: ledger_domain::TenantId,
    pub operation: Operation,
    pub key: IdempotencyKey,
}

impl IdempotencyScope {
    pub fn new(tenant: ledger_domain::TenantId, operation: Operation, key: IdempotencyKey) -> Self {
        IdempotencyScope {
            tenant,
            operation,
            key,
        }
    }

    /// `tenant#operation#key`: unambiguous, since neither a tenant id nor an
    /// operation can contain `#`.
    pub fn record_id(&self) -> String {
        format!("{}#{}#{}", self.tenant, self.operation, self.key.as_str())
    }
}

/// `tenant/operation`, as conflicts name it.
impl fmt::Display for IdempotencyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.tenant, self.operation)
    }
}

/// A request's idempotency record: which request (its scope), the
/// fingerprint of its facts, and what the caller answered the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: IdempotencyScope,
    /// [`fingerprint`] of the request's facts, as the caller received them.
    pub request_hash: String,
    /// The caller's answer, opaque to the store (the callers keep a small
    /// JSON document), at most [`IDEMPOTENCY_ANSWER_BYTES_MAX`] bytes.
    pub answer: String,
}

impl IdempotencyRecord {
    /// What finding `stored` under this record's scope means: the stored
    /// answer when the facts are the same, a conflict when they are not.
    pub fn replay(&self, stored: &IdempotencyRecord) -> Result<Once, StoreError> {
        if stored.request_hash == self.request_hash {
            return Ok(Once::Replayed(stored.answer.clone()));
        }
        Err(StoreError::IdempotencyConflict {
            stream: self.scope.to_string(),
            key: self.scope.key.as_str().to_owned(),
            stored_hash: stored.request_hash.clone(),
            request_hash: self.request_hash.clone(),
        })
    }
}

/// The fingerprint of a request's facts: SHA-256 (hex) of their canonical
/// serialisation, which the caller defines (the facts it was given, with
/// defaults it filled in from the clock left out).
pub fn fingerprint(canonical: &[u8]) -> String {
    sha256_hex(&[canonical])
}

/// What [`EventStore::append_once`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// The appends and the record were written together.
    Written(Vec<Appended>),
    /// The same request was written before (or concurrently, and won):
    /// nothing was written now; this is the answer it stored.
    Replayed(String),
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

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

/// Checks an [`EventStore::append_once`] before any write: the appends
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

/// The event store port.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends to one stream. See the crate docs for the semantics.
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let mut results = self.append_transaction(vec![request]).await?;
        results
            .pop()
            .ok_or_else(|| StoreError::Unavailable("empty transaction result".to_owned()))
    }

    /// Appends to several streams atomically. Idempotent replays inside the
    /// transaction are reported as duplicates and not written again; any
    /// conflict fails the whole transaction and writes nothing.
    async fn append_transaction(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Appended>, StoreError>;

    /// Appends atomically, once per request: the appends (possibly none) and
    /// `record`, on the condition that no record exists for its scope.
    /// When one does, nothing is written and the answer is decided by it:
    /// the same request hash is [`Once::Replayed`] with the stored answer
    /// (whatever the appends would have done now), another is
    /// [`StoreError::IdempotencyConflict`]. Otherwise the appends behave as
    /// in [`EventStore::append_transaction`]; the record counts as one more
    /// of the transaction's [`TRANSACTION_ITEMS_MAX`] items.
    async fn append_once(
        &self,
        appends: Vec<AppendRequest>,
        record: IdempotencyRecord,
    ) -> Result<Once, StoreError>;

    /// The idempotency record of a scope, read consistently.
    async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Reads a stream from `from_version` (inclusive, 1-based), in order:
    /// `limit` events, fewer only where the stream ends, however large the
    /// events are (never a page cut short by a store's response size).
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Reads events in the global order after `after` (from the start when None).
    async fn read_all(&self, after: Option<&Cursor>, limit: usize) -> Result<Page, StoreError>;

    /// The cursor a projection saved last.
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Cursor>, StoreError>;

    /// Saves a projection's cursor.
    async fn save_checkpoint(&self, projection: &str, cursor: &Cursor) -> Result<(), StoreError>;
}

/// A shared or boxed store is a store: functions build one at cold start and
/// hand it to handlers behind whichever pointer suits them.
macro_rules! forward_store {
    ($pointer:ident) => {
        #[async_trait]
        impl<T: EventStore + ?Sized> EventStore for std::sync::$pointer<T> {
            async fn append_transaction(
                &self,
                requests: Vec<AppendRequest>,
            ) -> Result<Vec<Appended>, StoreError> {
                (**self).append_transaction(requests).await
            }
            async fn append_once(
                &self,
                appends: Vec<AppendRequest>,
                record: IdempotencyRecord,
            ) -> Result<Once, StoreError> {
                (**self).append_once(appends, record).await
            }
            async fn idempotency_record(
                &self,
                scope: &IdempotencyScope,
            ) -> Result<Option<IdempotencyRecord>, StoreError> {
                (**self).idempotency_record(scope).await
            }
            async fn read_stream(
                &self,
                stream: &StreamId,
                from_version: u64,
                limit: usize,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                (**self).read_stream(stream, from_version, limit).await
            }
            async fn read_all(
                &self,
                after: Option<&Cursor>,
                limit: usize,
            ) -> Result<Page, StoreError> {
                (**self).read_all(after, limit).await
            }
            async fn load_checkpoint(
                &self,
                projection: &str,
            ) -> Result<Option<Cursor>, StoreError> {
                (**self).load_checkpoint(projection).await
            }
            async fn save_checkpoint(
                &self,
                projection: &str,
                cursor: &Cursor,
            ) -> Result<(), StoreError> {
                (**self).save_checkpoint(projection, cursor).await
            }
        }
    };
}

forward_store!(Arc);

/// A commission whose hold period ends at `matures_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueCommission {
    pub tenant_id: String,
    pub commission_id: String,
    pub matures_at: DateTime<Utc>,
    /// Where the schedule keeps it; opaque, handed back to `remove`.
    pub slot: String,
}

/// The maturity schedule: commissions still in their hold period, by the
/// time it ends. Kept by the ledger projector; read and pruned by the
/// scheduled maturing job.
#[async_trait]
pub trait MaturitySchedule: Send + Sync {
    /// Up to `limit` commissions due at `now`, earliest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize)
    -> Result<Vec<DueCommission>, StoreError>;
    /// Removes a commission from the schedule (matured, or nothing to mature).
    async fn remove(&self, due: &DueCommission) -> Result<(), StoreError>;
}

/// One line of an owner's journal, as the ledger projection keeps it: the
/// event, and its signed changes (minor units) per account field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    /// Where the line sits in the owner's journal; the next page starts after it.
    pub token: String,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub effective_at: String,
    pub deltas: std::collections::BTreeMap<String, i64>,
}

/// The most candidates one `payout_candidates` page returns.
pub const CANDIDATE_PAGE_MAX: usize = 1000;

/// A page of payout candidates and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CandidatePage {
    pub candidates: Vec<ledger_domain::PayoutCandidate>,
    /// Opaque; `None` once every candidate was read.
    pub next: Option<String>,
}

/// An event of a tenant the ledger projection could not project and set
/// aside ("parked") instead of skipping it: its balances miss the event
/// until an operator projects it again (`ledger-admin projection retry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub stream: String,
    pub version: u64,
    /// Why it could not be projected.
    pub reason: String,
    /// When it was parked (RFC 3339).
    pub parked_at: String,
}

/// What payout drafting reads from the ledger projection: one tenant's
/// affiliate balances with money available, each with the affiliate's
/// payout profile, how many drafted batches the projection has applied
/// (the draft sequence a new draft must follow), and the events it parked
/// (drafting refuses while there are any).
#[async_trait]
pub trait PayoutReads: Send + Sync {
    /// Up to `limit` (affiliate, currency) balances with a positive
    /// available balance, after the opaque `after` token of a previous page.
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CandidatePage, StoreError>;

    /// How many of the tenant's drafted batches the projection has applied.
    async fn batches_drafted(&self, tenant_id: &ledger_domain::TenantId)
    -> Result<u64, StoreError>;

    /// The tenant's parked events, oldest stream first (at most
    /// [`PARKED_EVENTS_MAX`]). A projection that stops at an event it cannot
    /// project instead of parking it has none.
    async fn parked_events(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<Vec<ParkedEvent>, StoreError>;
}

/// The most parked events one `parked_events` read returns.
pub const PARKED_EVENTS_MAX: usize = 1000;

#[async_trait]
impl<T: PayoutReads + ?Sized> PayoutReads for std::sync::Arc<T> {
    async fn payout_candidates(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<CandidatePage, StoreError> {
        (**self).payout_candidates(tenant_id, after, limit).await
    }
    async fn batches_drafted(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<u64, StoreError> {
        (**self).batches_drafted(tenant_id).await
    }
    async fn parked_events(
        &self,
        tenant_id: &ledger_domain::TenantId,
    ) -> Result<Vec<ParkedEvent>, StoreError> {
        (**self).parked_events(tenant_id).await
    }
}

/// Reads a stored profile snapshot (JSON) into a profile.
pub fn decode_profile(json: &str) -> Result<ledger_domain::PayoutProfile, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Unavailable(format!("stored payout profile is unreadable: {e}")))
}

/// A candidate from a stored balance row. Stored fields are signed (debit
/// positive): available is a credit, so the money available is its
/// negation; receivable is a debit.
pub fn payout_candidate(
    affiliate: &str,
    currency: &str,
    available: i64,
    receivable: i64,
    profile: Option<&str>,
) -> Result<ledger_domain::PayoutCandidate, StoreError> {
    let bad = |reason: String| {
        StoreError::Unavailable(format!("balance row {affiliate}/{currency}: {reason}"))
    };
    let affiliate_id =
        ledger_domain::AffiliateId::new(affiliate).map_err(|e| bad(e.to_string()))?;
    let currency =
        ledger_domain::money::currency_from_code(currency).map_err(|e| bad(e.to_string()))?;
    let money = |minor: i64| {
        ledger_domain::Money::from_minor(minor, currency).map_err(|e| bad(e.to_string()))
    };
    Ok(ledger_domain::PayoutCandidate {
        affiliate_id,
        available: money(available.checked_neg().unwrap_or(i64::MAX))?,
        receivable: money(receivable.max(0))?,
        profile: profile.map(decode_profile).transpose()?,
    })
}

/// A balance row: signed minor units per field (debit positive).
pub type Fields = std::collections::BTreeMap<String, i64>;

/// A page of journal lines.
#[derive(Debug, Clone, Default)]
pub struct JournalPage {
    pub lines: Vec<JournalLine>,
    pub next: Option<String>,
}

/// One balance row of a tenant: an affiliate's or the tenant's own, in one
/// currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRow {
    pub owner: ledger_domain::projection::BalanceOwner,
    pub currency: String,
    pub fields: Fields,
}

/// A page of a tenant's balance rows and where the next page starts.
#[derive(Debug, Clone, Default)]
pub struct TenantRowPage {
    pub rows: Vec<TenantRow>,
    /// Opaque; `None` once every row was read.
    pub next: Option<String>,
}

/// The most rows one `tenant_rows` page returns.
pub const TENANT_ROWS_PAGE_MAX: usize = 1000;

/// What readers of the ledger projection (the API, statements, the trial
/// balance) read, wherever it is kept.
#[async_trait]
pub trait LedgerReads: Send + Sync {
    /// One owner's balance rows, by currency.
    async fn balances(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
    ) -> Result<Vec<(String, Fields)>, StoreError>;
    /// One owner's journal in one currency, oldest first, after a page token.
    async fn journal(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<JournalPage, StoreError>;
    /// Every balance row of a tenant (affiliates' and its own), in pages of
    /// at most `limit` ([`TENANT_ROWS_PAGE_MAX`]), after an opaque token.
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TenantRowPage, StoreError>;
}

#[async_trait]
impl<T: LedgerReads + ?Sized> LedgerReads for std::sync::Arc<T> {
    async fn balances(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
    ) -> Result<Vec<(String, Fields)>, StoreError> {
        (**self).balances(owner).await
    }
    async fn journal(
        &self,
        owner: &ledger_domain::projection::BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<JournalPage, StoreError> {
        (**self).journal(owner, currency, after, limit).await
    }
    async fn tenant_rows(
        &self,
        tenant_id: &ledger_domain::TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<TenantRowPage, StoreError> {
        (**self).tenant_rows(tenant_id, after, limit).await
    }
}

/// Checks a `tenant_rows` page size.
pub fn check_tenant_rows_limit(limit: usize) -> Result<(), StoreError> {
    if limit == 0 || limit > TENANT_ROWS_PAGE_MAX {
        return Err(StoreError::LimitExceeded {
            what: "tenant balance rows page".to_owned(),
            got: limit,
            limit: TENANT_ROWS_PAGE_MAX,
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

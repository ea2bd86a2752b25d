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

mod append;
mod error;
mod idempotency;
mod ids;
mod ledger_reads;
mod limits;
mod maturity;
mod payout_reads;
mod read;
mod retry;
mod store;

pub use append::{AppendRequest, Appended, NewEvent, validate_once, validate_transaction};
pub use error::StoreError;
pub use idempotency::{IdempotencyRecord, IdempotencyScope, Once, Operation, fingerprint};
pub use ids::{IdempotencyKey, StreamId};
pub use ledger_reads::{
    Fields, JournalLine, JournalPage, LedgerReads, TENANT_ROWS_PAGE_MAX, TenantRow, TenantRowPage,
    TenantRowPages, check_tenant_rows_limit,
};
pub use limits::{
    EVENT_ITEM_BYTES_MAX, EVENT_ITEM_OVERHEAD_BYTES, IDEMPOTENCY_ANSWER_BYTES_MAX,
    IDEMPOTENCY_KEY_LEN_MAX, OPERATION_LEN_MAX, READ_LIMIT_MAX, STREAM_ID_LEN_MAX,
    TRANSACTION_ITEMS_MAX,
};
pub use maturity::{DueCommission, MaturitySchedule};
pub use payout_reads::{
    CANDIDATE_PAGE_MAX, CandidatePage, PARKED_EVENTS_MAX, ParkedEvent, PayoutReads,
    check_candidate_limit, decode_profile, payout_candidate,
};
pub use read::{
    Cursor, Page, StoredEvent, check_projection_name, check_read_limit, stored_in_order,
};
pub use retry::{RETRY_DELAY_CAP_FACTOR, retry_delay};
pub use store::EventStore;

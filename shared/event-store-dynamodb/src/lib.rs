//! The event store on DynamoDB.
//!
//! Layout: one item per event, partition key = stream, sort key = version.
//! Every event is put with `attribute_not_exists(stream)`, so a version is
//! written once, and the first event of a stream is guarded like every other.
//!
//! Writes per append:
//! - a new stream with one event (a new commission): one conditional
//!   `PutItem`. The event item itself carries the idempotency key and request
//!   hash, so it is its own idempotency guard: one item written, not two;
//! - anything else: one `TransactWriteItems` with a `ConditionCheck` that the
//!   expected version exists (so no append leaves a gap), the events, and,
//!   for a keyed append to an existing stream, a guard item in the
//!   idempotency table;
//! - a request written once
//!   ([`EventStore::append_once`](event_store::EventStore::append_once)):
//!   one `TransactWriteItems` of its appends' items and its idempotency record
//!   (in the idempotency table, conditional on not existing). A new
//!   commission posted with a key therefore costs two items, not one: the
//!   price of recognising a retry by its request (whose events a retry
//!   stamps anew) and of refusing the key for another commission, which no
//!   item of that commission's stream can do. A request that writes no
//!   event (every commission already recorded) puts its record alone. The
//!   record's put returns the existing record when it fails, so a retry
//!   that lost the race is answered without another read.
//!
//! A failed condition is resolved by reading what is there: the same key and
//! the same events is an idempotent replay (the original result), the same
//! key and other events an idempotency conflict, anything else a version
//! conflict. Transaction conflicts and throttling are retried with bounded
//! exponential backoff.
//!
//! Global reads follow the table's DynamoDB Stream (NEW_IMAGE), shard by
//! shard, parents before children, so each stream's events come in version
//! order; they need the `stream-reads` feature (on by default; the Lambda
//! functions turn it off, none reads the stream) and a Streams client
//! ([`DynamoEventStore::from_config`] builds one), else `read_all` is
//! refused as unsupported. DynamoDB keeps stream records for 24 hours: the cursor is for
//! projectors that keep up; rebuilding from older history reads the table
//! ([`table_scan`]: a paged, parallel scan of the events table).

pub mod counter;
pub mod projection;
pub mod schema;
pub mod table_scan;
pub mod webhooks;

mod append;
mod bootstrap;
mod checkpoints;
mod idempotency;
mod items;
mod reads;
mod sdk;
mod store;
#[cfg(feature = "stream-reads")]
mod stream_reads;

pub use bootstrap::ledger_on_dynamodb;
pub use counter::{WriteCounter, WriteCounts};
pub use items::{stored_event, stored_event_from_stream_image};
pub use reads::STREAM_READ_PAGES_MAX;
pub use sdk::{BACKOFF_BASE_MS, WRITE_ATTEMPTS_MAX};
pub use store::DynamoEventStore;

// The crate's own helpers, imported from its root by its modules.
use items::stored_from_item;
use sdk::{backoff, build_error, get_n, get_s, is_throttling, n, s, sdk_error, stable_hash};

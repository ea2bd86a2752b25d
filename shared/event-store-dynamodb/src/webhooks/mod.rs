//! The webhook port on DynamoDB: one table, `{prefix}webhooks`.
//!
//! Items (keys `pk` / `sk`, both strings):
//! - an endpoint: `pk` = `{tenant}#endpoints`, `sk` = `{endpoint_id}`, so a
//!   tenant's endpoints are one query, by id;
//! - a delivery: `pk` = `{tenant}#deliveries#{endpoint_id}`, `sk` =
//!   `{event_id}`: event ids sort by time, so an endpoint's deliveries
//!   newest first are one query read backwards.
//!
//! Each item holds its record's whole JSON in `body`, its `version` as a
//! number (every write is conditional on it: `attribute_not_exists(pk)` to
//! create or enqueue, `version = :expected` to update or save) and, for a
//! delivery, its `status`. While a delivery is pending it also has the
//! attributes of the sparse index `due`: `due_shard` (`due#{n}`, n a stable
//! hash of tenant and endpoint modulo [`DUE_SHARDS`], so one tenant's
//! retries never make a hot partition) and `due_at`
//! (`{next_attempt_at as 16 digits of microseconds}#{tenant}#{endpoint}#{event}`).
//! A delivered or parked delivery is written without them and leaves the
//! index. The index projects every attribute, so `due` reads whole
//! deliveries from it; it is eventually consistent, so a delivery just
//! saved may show up once more: the worker's conditional save settles it.

use aws_sdk_dynamodb::Client;

mod items;
mod requests;
mod store;
mod table;

pub use items::due_shard;
pub use table::create_webhook_table;

/// Attribute names of the webhooks table.
pub mod attr {
    pub const PK: &str = "pk";
    pub const SK: &str = "sk";
    pub const BODY: &str = "body";
    pub const VERSION: &str = "version";
    pub const STATUS: &str = "status";
    pub const DUE_SHARD: &str = "due_shard";
    pub const DUE_AT: &str = "due_at";
}

/// The sparse index of pending deliveries.
pub const DUE_INDEX: &str = "due";
/// Partitions of the due index; `due` queries each of them.
pub const DUE_SHARDS: u64 = 16;
/// The largest item DynamoDB stores is 400 KB; a record whose JSON is over
/// this is refused before any write (room is left for the other attributes).
pub const WEBHOOK_BODY_BYTES_MAX: usize = 390 * 1024;
/// Query pages one `deliveries` call reads at most when a status filter
/// skips most items; past it, the page is returned short, with `next` set
/// to where the reading stopped.
pub const DELIVERY_QUERY_PAGES_MAX: usize = 64;

/// The webhooks table's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookTable {
    pub name: String,
}

impl WebhookTable {
    /// `{prefix}webhooks`.
    pub fn with_prefix(prefix: &str) -> Self {
        WebhookTable {
            name: format!("{prefix}webhooks"),
        }
    }
}

/// The webhook store on DynamoDB.
#[derive(Clone)]
pub struct DynamoWebhooks {
    client: Client,
    table: String,
}

impl DynamoWebhooks {
    pub fn new(client: Client, table: WebhookTable) -> Self {
        DynamoWebhooks {
            client,
            table: table.name,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

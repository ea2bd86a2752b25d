//! Counts DynamoDB request units at the SDK, as DynamoDB bills them on
//! demand, from what each operation sends and what it gets back.
//!
//! Writes (from the input): PutItem, UpdateItem and DeleteItem cost one
//! write unit per started KB of the item; BatchWriteItem the same per item;
//! TransactWriteItems twice that per item, condition checks included. A
//! refused conditional write is billed too, so it is counted.
//!
//! Reads (from the output): GetItem one unit per started 4 KB of the item
//! (at least one, found or not); Query and Scan one per started 4 KB of the
//! items of each page together (at least one); BatchGetItem per item;
//! TransactGetItems twice per item. Eventually consistent reads cost half.
//!
//! Item size as DynamoDB computes it: the UTF-8 length of each attribute
//! name plus the size of its value (strings and binaries their bytes;
//! numbers one byte per two significant digits plus one; booleans and
//! nulls one byte; lists and maps three bytes plus one per element plus
//! the elements; sets the sum of their elements). For an update, the item
//! is not known from the request: its key, the attribute names and the
//! values the update sets stand for it (a lower bound; every update in this
//! ledger touches items far below 1 KB). A delete and a condition check
//! count their key (likewise below 1 KB).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::get_item::{GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::query::{QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::scan::{ScanInput, ScanOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{
    TransactGetItemsInput, TransactGetItemsOutput,
};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

/// Bytes per write unit and per read unit.
pub const WRITE_UNIT_BYTES: usize = 1024;
pub const READ_UNIT_BYTES: usize = 4096;

/// The size of a number: one byte per two significant digits, plus one.
fn number_size(text: &str) -> usize {
    let digits: String = text
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.max(1).div_ceil(2) + 1
}

/// The size of one attribute value.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| value_size(e) + 1).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| k.len() + value_size(e) + 1)
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// The size of an item (or of a key).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// What an update stands for: its key, and the names and values it sets.
fn update_size(
    key: Option<&HashMap<String, AttributeValue>>,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, AttributeValue>>,
) -> usize {
    key.map(item_size).unwrap_or(0)
        + names
            .map(|n| n.values().map(String::len).sum())
            .unwrap_or(0)
        + values
            .map(|v| v.values().map(value_size).sum())
            .unwrap_or(0)
}

fn write_units(size: usize) -> u64 {
    size.div_ceil(WRITE_UNIT_BYTES).max(1) as u64
}

/// Read units, in halves (an eventually consistent read of 4 KB is one half).
fn read_halves(size: usize, consistent: bool) -> u64 {
    let units = size.div_ceil(READ_UNIT_BYTES).max(1) as u64;
    if consistent { units * 2 } else { units }
}

/// A snapshot of the counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Units {
    /// DynamoDB operations of any kind.
    pub requests: u64,
    pub write_requests: u64,
    pub read_requests: u64,
    pub write_units: u64,
    /// Read units times two (so halves stay whole).
    pub read_halves: u64,
    /// Write units by table.
    pub write_units_by_table: BTreeMap<String, u64>,
}

impl Units {
    pub fn read_units(&self) -> f64 {
        self.read_halves as f64 / 2.0
    }

    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Units) -> Units {
        let mut by_table = BTreeMap::new();
        for (table, units) in &self.write_units_by_table {
            let earlier = before.write_units_by_table.get(table).copied().unwrap_or(0);
            if *units > earlier {
                by_table.insert(table.clone(), units - earlier);
            }
        }
        Units {
            requests: self.requests - before.requests,
            write_requests: self.write_requests - before.write_requests,
            read_requests: self.read_requests - before.read_requests,
            write_units: self.write_units - before.write_units,
            read_halves: self.read_halves - before.read_halves,
            write_units_by_table: by_table,
        }
    }

    pub fn add(&mut self, other: &Units) {
        self.requests += other.requests;
        self.write_requests += other.write_requests;
        self.read_requests += other.read_requests;
        self.write_units += other.write_units;
        self.read_halves += other.read_halves;
        for (table, units) in &other.write_units_by_table {
            *self.write_units_by_table.entry(table.clone()).or_default() += units;
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    write_requests: AtomicU64,
    read_requests: AtomicU64,
    write_units: AtomicU64,
    read_halves: AtomicU64,
    by_table: Mutex<BTreeMap<String, u64>>,
}

/// An SDK interceptor counting request units. Clones share their counts.
#[derive(Debug, Clone, Default)]
pub struct UnitCounter {
    counts: Arc<Counts>,
}

/// A read waiting for its answer, kept in the operation's config bag.
#[derive(Debug, Clone, Copy)]
enum PendingRead {
    /// GetItem, Query or Scan: one page, rounded as a whole.
    Single { consistent: bool },
    /// BatchGetItem: each item rounded on its own.
    Batch { consistent: bool },
    /// TransactGetItems: each item twice.
    Transact,
}

impl Storable for PendingRead {
    type Storer = StoreReplace<Self>;
}

impl UnitCounter {
    pub fn snapshot(&self) -> Units {
        Units {
            requests: self.counts.requests.load(Ordering::Relaxed),
            write_requests: self.counts.write_requests.load(Ordering::Relaxed),
            read_requests: self.counts.read_requests.load(Ordering::Relaxed),
            write_units: self.counts.write_units.load(Ordering::Relaxed),
            read_halves: self.counts.read_halves.load(Ordering::Relaxed),
            write_units_by_table: self
                .counts
                .by_table
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }

    fn write(&self, items: &[(&str, u64)]) {
        self.counts.write_requests.fetch_add(1, Ordering::Relaxed);
        let mut by_table = self
            .counts
            .by_table
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (table, units) in items {
            self.counts.write_units.fetch_add(*units, Ordering::Relaxed);
            *by_table.entry((*table).to_owned()).or_default() += units;
        }
    }
}

impl Intercept for UnitCounter {
    fn name(&self) -> &'static str {
        "UnitCounter"
    }

    fn read_before_serialization(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let input = context.input();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            let size = put.item().map(item_size).unwrap_or(0);
            self.write(&[(put.table_name().unwrap_or(""), write_units(size))]);
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            let size = update_size(
                update.key(),
                update.expression_attribute_names(),
                update.expression_attribute_values(),
            );
            self.write(&[(update.table_name().unwrap_or(""), write_units(size))]);
        } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            let size = delete.key().map(item_size).unwrap_or(0);
            self.write(&[(delete.table_name().unwrap_or(""), write_units(size))]);
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            let mut items = Vec::new();
            for (table, requests) in batch.request_items().into_iter().flatten() {
                for request in requests {
                    let size = match (request.put_request(), request.delete_request()) {
                        (Some(put), _) => item_size(put.item()),
                        (None, Some(delete)) => item_size(delete.key()),
                        (None, None) => 0,
                    };
                    items.push((table.as_str(), write_units(size)));
                }
            }
            self.write(&items);
        } else if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            let mut items = Vec::new();
            for item in tx.transact_items() {
                let (table, size) = if let Some(put) = item.put() {
                    (put.table_name(), item_size(put.item()))
                } else if let Some(update) = item.update() {
                    (
                        update.table_name(),
                        update_size(
                            Some(update.key()),
                            update.expression_attribute_names(),
                            update.expression_attribute_values(),
                        ),
                    )
                } else if let Some(delete) = item.delete() {
                    (delete.table_name(), item_size(delete.key()))
                } else if let Some(check) = item.condition_check() {
                    (check.table_name(), item_size(check.key()))
                } else {
                    ("", 0)
                };
                items.push((table, 2 * write_units(size)));
            }
            self.write(&items);
        } else {
            let pending = if let Some(get) = input.downcast_ref::<GetItemInput>() {
                Some(PendingRead::Single {
                    consistent: get.consistent_read().unwrap_or(false),
                })
            } else if let Some(query) = input.downcast_ref::<QueryInput>() {
                Some(PendingRead::Single {
                    consistent: query.consistent_read().unwrap_or(false),
                })
            } else if let Some(scan) = input.downcast_ref::<ScanInput>() {
                Some(PendingRead::Single {
                    consistent: scan.consistent_read().unwrap_or(false),
                })
            } else if let Some(batch) = input.downcast_ref::<BatchGetItemInput>() {
                let consistent = batch
                    .request_items()
                    .into_iter()
                    .flat_map(HashMap::values)
                    .any(|k| k.consistent_read().unwrap_or(false));
                Some(PendingRead::Batch { consistent })
            } else if input.downcast_ref::<TransactGetItemsInput>().is_some() {
                Some(PendingRead::Transact)
            } else {
                None
            };
            if let Some(pending) = pending {
                self.counts.read_requests.fetch_add(1, Ordering::Relaxed);
                cfg.interceptor_state().store_put(pending);
            }
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(pending) = cfg.load::<PendingRead>().copied() else {
            return Ok(());
        };
        let output = context.output_or_error().and_then(Result::ok);
        let halves = match pending {
            PendingRead::Single { consistent } => {
                let size = output
                    .map(|o| {
                        if let Some(get) = o.downcast_ref::<GetItemOutput>() {
                            get.item().map(item_size).unwrap_or(0)
                        } else if let Some(query) = o.downcast_ref::<QueryOutput>() {
                            query.items().iter().map(item_size).sum()
                        } else if let Some(scan) = o.downcast_ref::<ScanOutput>() {
                            scan.items().iter().map(item_size).sum()
                        } else {
                            0
                        }
                    })
                    .unwrap_or(0);
                read_halves(size, consistent)
            }
            PendingRead::Batch { consistent } => output
                .and_then(|o| o.downcast_ref::<BatchGetItemOutput>())
                .and_then(|b| b.responses())
                .map(|r| {
                    r.values()
                        .flatten()
                        .map(|item| read_halves(item_size(item), consistent))
                        .sum()
                })
                .unwrap_or(0),
            PendingRead::Transact => output
                .and_then(|o| o.downcast_ref::<TransactGetItemsOutput>())
                .map(|t| {
                    t.responses()
                        .iter()
                        .map(|r| 2 * read_halves(r.item().map(item_size).unwrap_or(0), true))
                        .sum()
                })
                .unwrap_or(0),
        };
        self.counts.read_halves.fetch_add(halves, Ordering::Relaxed);
        Ok(())
    }
}

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
//! - a request written once ([`EventStore::append_once`]): one
//!   `TransactWriteItems` of its appends' items and its idempotency record
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
//! order. DynamoDB keeps stream records for 24 hours: the cursor is for
//! projectors that keep up; rebuilding from older history reads the table
//! ([`table_scan`]: a paged, parallel scan of the events table).

pub mod counter;
pub mod projection;
pub mod schema;
pub mod table_scan;
pub mod webhooks;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use chrono::{DateTime, Utc};
use event_store::{
    AppendRequest, Appended, Cursor, EventStore, IdempotencyRecord, IdempotencyScope, Once, Page,
    READ_LIMIT_MAX, StoreError, StoredEvent, StreamId, check_projection_name, check_read_limit,
    validate_once, validate_transaction,
};
use schema::{Tables, attr};
use tokio::sync::OnceCell;

pub use counter::{WriteCounter, WriteCounts};

/// Attempts at one write before giving up as busy.
pub const WRITE_ATTEMPTS_MAX: u32 = 6;
/// The first backoff; it doubles per attempt.
pub const BACKOFF_BASE_MS: u64 = 25;
/// Stream shards visited per global read, and records pages per shard.
const SHARDS_PER_READ_MAX: usize = 1000;
const EMPTY_PAGES_PER_SHARD_MAX: usize = 4;
/// Query pages one `read_stream` follows at most. A page stops at 1 MB and
/// an event is at most 400 KB, so every page but the last holds at least
/// two events and a read of at most [`READ_LIMIT_MAX`] events never needs
/// this many; reaching it is an error, never a short read.
pub const STREAM_READ_PAGES_MAX: usize = READ_LIMIT_MAX;
/// What sets a request's idempotency record apart in the idempotency table.
const RECORD_ID_PREFIX: &str = "request ";
/// The owner of the record's item among a transaction's items.
const RECORD_OWNER: usize = usize::MAX;

/// The DynamoDB event store.
#[derive(Clone)]
pub struct DynamoEventStore {
    client: Client,
    streams: aws_sdk_dynamodbstreams::Client,
    tables: Tables,
    stream_arn: std::sync::Arc<OnceCell<String>>,
}

fn sdk_error<
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
>(
    what: &str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(e)))
}

fn is_throttling(code: Option<&str>) -> bool {
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

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request could not be built: {e}"))
}

/// What went wrong with a write attempt.
enum Attempt {
    /// These request indexes failed their conditions.
    ConditionsFailed(Vec<usize>),
    /// The request's idempotency record exists (as it was returned, when
    /// it was).
    RecordExists(Option<HashMap<String, AttributeValue>>),
    /// Contention or throttling: try again.
    Retry(String),
}

fn record_id(scope: &IdempotencyScope) -> AttributeValue {
    s(format!("{RECORD_ID_PREFIX}{}", scope.record_id()))
}

fn record_item(record: &IdempotencyRecord) -> HashMap<String, AttributeValue> {
    let scope = &record.scope;
    HashMap::from([
        (attr::ID.to_owned(), record_id(scope)),
        (attr::TENANT.to_owned(), s(scope.tenant.as_str())),
        (attr::OPERATION.to_owned(), s(scope.operation.as_str())),
        (attr::IDEMPOTENCY_KEY.to_owned(), s(scope.key.as_str())),
        (attr::REQUEST_HASH.to_owned(), s(&record.request_hash)),
        (attr::ANSWER.to_owned(), s(&record.answer)),
        (
            attr::RECORDED_AT.to_owned(),
            s(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
        ),
    ])
}

fn record_from_item(
    scope: &IdempotencyScope,
    item: &HashMap<String, AttributeValue>,
) -> Result<IdempotencyRecord, StoreError> {
    let need = |name: &str| {
        get_s(item, name).ok_or_else(|| {
            StoreError::Unavailable(format!(
                "idempotency record {} has no {name}",
                scope.record_id()
            ))
        })
    };
    Ok(IdempotencyRecord {
        scope: scope.clone(),
        request_hash: need(attr::REQUEST_HASH)?,
        answer: need(attr::ANSWER)?,
    })
}

async fn backoff(attempt: u32) {
    // Exponential with a little spread from the clock, so contending writers
    // do not retry in lockstep.
    let spread = u64::from(Utc::now().timestamp_subsec_micros() % 1000) / 100;
    let ms = BACKOFF_BASE_MS.saturating_mul(1 << attempt.min(8)) + spread;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

impl DynamoEventStore {
    /// Wraps clients built once at start-up.
    pub fn new(client: Client, streams: aws_sdk_dynamodbstreams::Client, tables: Tables) -> Self {
        DynamoEventStore {
            client,
            streams,
            tables,
            stream_arn: std::sync::Arc::new(OnceCell::new()),
        }
    }

    /// Builds both clients from one SDK configuration, with an optional
    /// write counter.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        tables: Tables,
        counter: Option<WriteCounter>,
    ) -> Self {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
        if let Some(counter) = counter {
            builder = builder.interceptor(counter);
        }
        let client = Client::from_conf(builder.build());
        let streams = aws_sdk_dynamodbstreams::Client::new(config);
        DynamoEventStore::new(client, streams, tables)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    fn event_items(&self, request: &AppendRequest) -> Vec<HashMap<String, AttributeValue>> {
        let request_hash = request.request_hash();
        let last = request.expected_version + request.events.len() as u64;
        request
            .events
            .iter()
            .enumerate()
            .map(|(i, event)| {
                let mut item = HashMap::with_capacity(10);
                item.insert(attr::STREAM.to_owned(), s(request.stream.as_str()));
                item.insert(
                    attr::VERSION.to_owned(),
                    n(request.expected_version + 1 + i as u64),
                );
                item.insert(attr::EVENT_TYPE.to_owned(), s(&event.event_type));
                item.insert(
                    attr::SCHEMA_VERSION.to_owned(),
                    n(u64::from(event.schema_version)),
                );
                item.insert(attr::PAYLOAD.to_owned(), s(&event.payload));
                item.insert(attr::PAYLOAD_HASH.to_owned(), s(&event.payload_hash));
                item.insert(
                    attr::RECORDED_AT.to_owned(),
                    s(event
                        .recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
                );
                if let (0, Some(key)) = (i, &request.idempotency_key) {
                    item.insert(attr::IDEMPOTENCY_KEY.to_owned(), s(key.as_str()));
                    item.insert(attr::REQUEST_HASH.to_owned(), s(&request_hash));
                    item.insert(attr::APPEND_LAST_VERSION.to_owned(), n(last));
                }
                item
            })
            .collect()
    }

    fn guard_id(request: &AppendRequest) -> Option<String> {
        request
            .idempotency_key
            .as_ref()
            .filter(|_| request.expected_version > 0)
            .map(|key| format!("{}#{}", request.stream, key.as_str()))
    }

    /// The transaction items of each request, and which request each item
    /// belongs to (cancellation reasons come back in item order).
    fn transact_items(
        &self,
        requests: &[&AppendRequest],
    ) -> Result<(Vec<TransactWriteItem>, Vec<usize>), StoreError> {
        let mut items = Vec::new();
        let mut owners = Vec::new();
        for (index, request) in requests.iter().enumerate() {
            if request.expected_version > 0 {
                let check = ConditionCheck::builder()
                    .table_name(&self.tables.events)
                    .key(attr::STREAM, s(request.stream.as_str()))
                    .key(attr::VERSION, n(request.expected_version))
                    .condition_expression("attribute_exists(#s)")
                    .expression_attribute_names("#s", attr::STREAM)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
                owners.push(index);
            }
            for item in self.event_items(request) {
                let put = Put::builder()
                    .table_name(&self.tables.events)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#s)")
                    .expression_attribute_names("#s", attr::STREAM)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().put(put).build());
                owners.push(index);
            }
            if let Some(id) = Self::guard_id(request) {
                let last = request.expected_version + request.events.len() as u64;
                let put = Put::builder()
                    .table_name(&self.tables.idempotency)
                    .item(attr::ID, s(id))
                    .item(attr::STREAM, s(request.stream.as_str()))
                    .item(attr::FIRST_VERSION, n(request.expected_version + 1))
                    .item(attr::APPEND_LAST_VERSION, n(last))
                    .item(attr::REQUEST_HASH, s(request.request_hash()))
                    .condition_expression("attribute_not_exists(#i)")
                    .expression_attribute_names("#i", attr::ID)
                    .build()
                    .map_err(build_error)?;
                items.push(TransactWriteItem::builder().put(put).build());
                owners.push(index);
            }
        }
        Ok((items, owners))
    }

    /// A request's record alone: one conditional put.
    async fn put_record(
        &self,
        record: &IdempotencyRecord,
    ) -> Result<Result<(), Attempt>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(record_item(record)))
            .condition_expression("attribute_not_exists(#i)")
            .expression_attribute_names("#i", attr::ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) => match e.err() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                    failed,
                ) => Ok(Err(Attempt::RecordExists(failed.item().cloned()))),
                err if is_throttling(err.code()) => Ok(Err(Attempt::Retry(err.to_string()))),
                _ => Err(StoreError::Unavailable(format!(
                    "put idempotency record: {}",
                    DisplayErrorContext(&e.into_err())
                ))),
            },
            Err(e) => Err(sdk_error("put idempotency record", e)),
        }
    }

    async fn try_write(
        &self,
        requests: &[&AppendRequest],
        record: Option<&IdempotencyRecord>,
    ) -> Result<Result<(), Attempt>, StoreError> {
        if let (Some(record), []) = (record, requests) {
            return self.put_record(record).await;
        }
        // The common case, a new stream with one event, is one conditional put.
        if let ([single], None) = (requests, record) {
            if single.expected_version == 0 && single.events.len() == 1 {
                let item = self.event_items(single).remove(0);
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.tables.events)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(#s)")
                    .expression_attribute_names("#s", attr::STREAM)
                    .send()
                    .await;
                return match result {
                    Ok(_) => Ok(Ok(())),
                    Err(SdkError::ServiceError(e))
                        if e.err().is_conditional_check_failed_exception() =>
                    {
                        Ok(Err(Attempt::ConditionsFailed(vec![0])))
                    }
                    Err(SdkError::ServiceError(e)) if is_throttling(e.err().code()) => {
                        Ok(Err(Attempt::Retry(e.err().to_string())))
                    }
                    Err(e) => Err(sdk_error("put event", e)),
                };
            }
        }
        let (mut items, mut owners) = self.transact_items(requests)?;
        if let Some(record) = record {
            let put = Put::builder()
                .table_name(&self.tables.idempotency)
                .set_item(Some(record_item(record)))
                .condition_expression("attribute_not_exists(#i)")
                .expression_attribute_names("#i", attr::ID)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .build()
                .map_err(build_error)?;
            items.push(TransactWriteItem::builder().put(put).build());
            owners.push(RECORD_OWNER);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(SdkError::ServiceError(e)) => {
                let err = e.err();
                if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancel) = err {
                    let reasons = cancel.cancellation_reasons();
                    // The record decides first: a request written before
                    // (or concurrently, winning) is answered by it.
                    let record_failed = reasons.iter().zip(&owners).find(|(r, owner)| {
                        **owner == RECORD_OWNER && r.code() == Some("ConditionalCheckFailed")
                    });
                    if let Some((reason, _)) = record_failed {
                        return Ok(Err(Attempt::RecordExists(reason.item().cloned())));
                    }
                    let codes: Vec<Option<&str>> = reasons.iter().map(|r| r.code()).collect();
                    let mut failed: Vec<usize> = codes
                        .iter()
                        .zip(&owners)
                        .filter(|(code, owner)| {
                            **code == Some("ConditionalCheckFailed") && **owner != RECORD_OWNER
                        })
                        .map(|(_, owner)| *owner)
                        .collect();
                    failed.dedup();
                    if !failed.is_empty() {
                        return Ok(Err(Attempt::ConditionsFailed(failed)));
                    }
                    // TransactionConflict, throttling, or no reasons given.
                    return Ok(Err(Attempt::Retry(format!("transaction cancelled: {codes:?}"))));
                }
                if is_throttling(err.code()) {
                    return Ok(Err(Attempt::Retry(err.to_string())));
                }
                Err(StoreError::Unavailable(format!(
                    "transact write: {}",
                    DisplayErrorContext(&e.into_err())
                )))
            }
            Err(e) => Err(sdk_error("transact write", e)),
        }
    }

    /// Reads one event item (consistently).
    async fn get_event(
        &self,
        stream: &StreamId,
        version: u64,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.events)
            .key(attr::STREAM, s(stream.as_str()))
            .key(attr::VERSION, n(version))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get event", e))?;
        Ok(out.item)
    }

    /// The original result of an earlier append with this request's key,
    /// a conflict when its events differ, or None when there is none.
    async fn replay(&self, request: &AppendRequest) -> Result<Option<Appended>, StoreError> {
        let Some(key) = &request.idempotency_key else {
            return Ok(None);
        };
        let request_hash = request.request_hash();
        // A new stream's key lives on its first event; a continuing stream's
        // in the guard table.
        let found = if request.expected_version == 0 {
            self.get_event(&request.stream, 1).await?.and_then(|item| {
                let stored_key = get_s(&item, attr::IDEMPOTENCY_KEY)?;
                (stored_key == key.as_str()).then(|| {
                    (
                        1,
                        get_n(&item, attr::APPEND_LAST_VERSION).unwrap_or(1),
                        get_s(&item, attr::REQUEST_HASH).unwrap_or_default(),
                    )
                })
            })
        } else {
            let id = Self::guard_id(request).unwrap_or_default();
            let out = self
                .client
                .get_item()
                .table_name(&self.tables.idempotency)
                .key(attr::ID, s(id))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("get idempotency guard", e))?;
            out.item.map(|item| {
                (
                    get_n(&item, attr::FIRST_VERSION).unwrap_or(0),
                    get_n(&item, attr::APPEND_LAST_VERSION).unwrap_or(0),
                    get_s(&item, attr::REQUEST_HASH).unwrap_or_default(),
                )
            })
        };
        match found {
            None => Ok(None),
            Some((first, last, stored_hash)) if stored_hash == request_hash => Ok(Some(Appended {
                stream: request.stream.clone(),
                first_version: first,
                last_version: last,
                duplicate: true,
            })),
            Some((_, _, stored_hash)) => Err(StoreError::IdempotencyConflict {
                stream: request.stream.to_string(),
                key: key.as_str().to_owned(),
                stored_hash,
                request_hash,
            }),
        }
    }

    /// A request's idempotency record (consistently).
    async fn get_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.idempotency)
            .key(attr::ID, record_id(scope))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get idempotency record", e))?;
        out.item
            .map(|item| record_from_item(scope, &item))
            .transpose()
    }

    /// Writes the appends, and the record when there is one, with bounded
    /// retries: the body of both `append_transaction` and `append_once`.
    async fn write(
        &self,
        requests: &[AppendRequest],
        record: Option<&IdempotencyRecord>,
    ) -> Result<Once, StoreError> {
        let mut results: Vec<Option<Appended>> = vec![None; requests.len()];
        // Keyed appends to existing streams may be replays with a fresh
        // expected version: recognise them before writing.
        for (i, request) in requests.iter().enumerate() {
            if request.expected_version > 0 {
                results[i] = self.replay(request).await?;
            }
        }
        let mut written = false;
        for attempt in 0..WRITE_ATTEMPTS_MAX {
            let pending: Vec<usize> = (0..requests.len())
                .filter(|i| results[*i].is_none())
                .collect();
            if pending.is_empty() && record.is_none() {
                break;
            }
            let batch: Vec<&AppendRequest> = pending.iter().map(|i| &requests[*i]).collect();
            let detail = match self.try_write(&batch, record).await? {
                Ok(()) => {
                    for i in pending {
                        let r = &requests[i];
                        results[i] = Some(Appended {
                            stream: r.stream.clone(),
                            first_version: r.expected_version + 1,
                            last_version: r.expected_version + r.events.len() as u64,
                            duplicate: false,
                        });
                    }
                    written = true;
                    break;
                }
                Err(Attempt::RecordExists(item)) => {
                    let Some(record) = record else {
                        return Err(StoreError::Unavailable(
                            "an idempotency record was reported for a write without one".to_owned(),
                        ));
                    };
                    let stored = match item.filter(|i| i.contains_key(attr::REQUEST_HASH)) {
                        Some(item) => Some(record_from_item(&record.scope, &item)?),
                        None => self.get_record(&record.scope).await?,
                    };
                    match stored {
                        Some(stored) => return record.replay(&stored),
                        // Refused, yet not there to read: ask again.
                        None => "the idempotency record was refused but not found".to_owned(),
                    }
                }
                Err(Attempt::ConditionsFailed(failed)) => {
                    for local in failed {
                        let i = pending[local];
                        let request = &requests[i];
                        match self.replay(request).await? {
                            Some(original) => results[i] = Some(original),
                            None => {
                                // The record decides first here too: only
                                // it tells this request's own earlier write
                                // from another writer's, and a cancellation
                                // is not relied on to name every condition
                                // that failed. One read, on conflicts only.
                                if let Some(record) = record {
                                    if let Some(stored) = self.get_record(&record.scope).await? {
                                        return record.replay(&stored);
                                    }
                                }
                                return Err(StoreError::VersionConflict {
                                    stream: request.stream.to_string(),
                                    expected: request.expected_version,
                                    actual: self.current_version(&request.stream).await?,
                                });
                            }
                        }
                    }
                    continue;
                }
                Err(Attempt::Retry(detail)) => detail,
            };
            if attempt + 1 == WRITE_ATTEMPTS_MAX {
                return Err(StoreError::Busy {
                    attempts: WRITE_ATTEMPTS_MAX,
                    detail,
                });
            }
            tracing::debug!(attempt, %detail, "dynamodb write contended; backing off");
            backoff(attempt).await;
        }
        if record.is_some() && !written {
            return Err(StoreError::Busy {
                attempts: WRITE_ATTEMPTS_MAX,
                detail: "conditions kept failing".to_owned(),
            });
        }
        results
            .into_iter()
            .map(|r| {
                r.ok_or_else(|| StoreError::Busy {
                    attempts: WRITE_ATTEMPTS_MAX,
                    detail: "conditions kept failing".to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Once::Written)
    }

    async fn current_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.events)
            .key_condition_expression("#s = :s")
            .expression_attribute_names("#s", attr::STREAM)
            .expression_attribute_values(":s", s(stream.as_str()))
            .scan_index_forward(false)
            .limit(1)
            .consistent_read(true)
            .projection_expression("#v")
            .expression_attribute_names("#v", attr::VERSION)
            .send()
            .await
            .map_err(|e| sdk_error("query stream version", e))?;
        Ok(out
            .items()
            .first()
            .and_then(|item| get_n(item, attr::VERSION))
            .unwrap_or(0))
    }

    async fn stream_arn(&self) -> Result<String, StoreError> {
        self.stream_arn
            .get_or_try_init(|| async {
                let out = self
                    .client
                    .describe_table()
                    .table_name(&self.tables.events)
                    .send()
                    .await
                    .map_err(|e| sdk_error("describe events table", e))?;
                out.table()
                    .and_then(|t| t.latest_stream_arn())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        StoreError::Unavailable(format!(
                            "table {} has no stream enabled",
                            self.tables.events
                        ))
                    })
            })
            .await
            .cloned()
    }

    /// The stream's shards, parents before children.
    async fn shards(&self, arn: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        for _ in 0..SHARDS_PER_READ_MAX {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| sdk_error("describe stream", e))?;
            let Some(description) = out.stream_description else {
                break;
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
                }
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        // Order parents first: a shard goes after the one it was split from.
        let ids: Vec<String> = shards.iter().map(|(id, _)| id.clone()).collect();
        let mut ordered: Vec<(String, Option<String>)> = Vec::with_capacity(shards.len());
        while !shards.is_empty() {
            let before = shards.len();
            shards.retain(|(id, parent)| {
                let ready = match parent {
                    Some(p) => !ids.contains(p) || ordered.iter().any(|(o, _)| o == p),
                    None => true,
                };
                if ready {
                    ordered.push((id.clone(), parent.clone()));
                }
                !ready
            });
            if shards.len() == before {
                // A cycle cannot happen in DynamoDB; keep whatever is left.
                ordered.append(&mut shards);
            }
        }
        Ok(ordered)
    }
}

fn get_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn get_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// Builds a stored event from an item's attributes (read through the given
/// getters, so any attribute representation works), naming what is missing.
pub fn stored_event(
    get_s: impl Fn(&str) -> Option<String>,
    get_n: impl Fn(&str) -> Option<u64>,
) -> Result<StoredEvent, StoreError> {
    let stream = get_s(attr::STREAM).unwrap_or_default();
    let version = get_n(attr::VERSION).unwrap_or(0);
    let corrupt = |reason: String| StoreError::CorruptEvent {
        stream: stream.clone(),
        version,
        reason,
    };
    let need_s =
        |name: &str| get_s(name).ok_or_else(|| corrupt(format!("attribute {name} is missing")));
    let recorded_at_text = need_s(attr::RECORDED_AT)?;
    let recorded_at: DateTime<Utc> = DateTime::parse_from_rfc3339(&recorded_at_text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(format!("recorded_at {recorded_at_text:?}: {e}")))?;
    let schema_version = get_n(attr::SCHEMA_VERSION)
        .and_then(|v| u16::try_from(v).ok())
        .ok_or_else(|| corrupt("schema_version is missing or out of range".to_owned()))?;
    if version == 0 {
        return Err(corrupt("version is missing".to_owned()));
    }
    Ok(StoredEvent {
        stream: StreamId::new(stream.clone())?,
        version,
        event_type: need_s(attr::EVENT_TYPE)?,
        schema_version,
        payload: need_s(attr::PAYLOAD)?,
        payload_hash: need_s(attr::PAYLOAD_HASH)?,
        recorded_at,
    })
}

fn stored_from_item(item: &HashMap<String, AttributeValue>) -> Result<StoredEvent, StoreError> {
    stored_event(|name| get_s(item, name), |name| get_n(item, name))
}

fn stored_from_image(
    image: &HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
) -> Result<StoredEvent, StoreError> {
    stored_event(
        |name| image.get(name).and_then(|v| v.as_s().ok()).cloned(),
        |name| {
            image
                .get(name)
                .and_then(|v| v.as_n().ok())
                .and_then(|v| v.parse().ok())
        },
    )
}

const CURSOR_PREFIX: &str = "dynamodb-streams:";

fn parse_cursor(cursor: Option<&Cursor>) -> Result<BTreeMap<String, String>, StoreError> {
    let Some(cursor) = cursor else {
        return Ok(BTreeMap::new());
    };
    cursor
        .0
        .strip_prefix(CURSOR_PREFIX)
        .and_then(|json| serde_json::from_str::<BTreeMap<String, String>>(json).ok())
        .ok_or_else(|| StoreError::InvalidCursor {
            cursor: cursor.0.clone(),
            reason: format!("expected {CURSOR_PREFIX}{{shard: sequence number}}"),
        })
}

fn format_cursor(positions: &BTreeMap<String, String>) -> Cursor {
    Cursor(format!(
        "{CURSOR_PREFIX}{}",
        serde_json::to_string(positions).unwrap_or_else(|_| "{}".to_owned())
    ))
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn append_transaction(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Appended>, StoreError> {
        validate_transaction(&requests)?;
        match self.write(&requests, None).await? {
            Once::Written(appended) => Ok(appended),
            Once::Replayed(_) => Err(StoreError::Unavailable(
                "a write without an idempotency record was answered by one".to_owned(),
            )),
        }
    }

    async fn append_once(
        &self,
        appends: Vec<AppendRequest>,
        record: IdempotencyRecord,
    ) -> Result<Once, StoreError> {
        validate_once(&appends, &record)?;
        self.write(&appends, Some(&record)).await
    }

    async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_record(scope).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_read_limit(limit)?;
        // A query page stops at 1 MB: follow LastEvaluatedKey until the
        // range is complete (`limit` events, or the end of the stream).
        let mut events = Vec::new();
        let mut start = None;
        for _ in 0..STREAM_READ_PAGES_MAX {
            let remaining = limit - events.len();
            let out = self
                .client
                .query()
                .table_name(&self.tables.events)
                .key_condition_expression("#s = :s AND #v >= :v")
                .expression_attribute_names("#s", attr::STREAM)
                .expression_attribute_names("#v", attr::VERSION)
                .expression_attribute_values(":s", s(stream.as_str()))
                .expression_attribute_values(":v", n(from_version.max(1)))
                .consistent_read(true)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("query stream", e))?;
            for item in out.items() {
                events.push(stored_from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() && events.len() < limit => start = Some(key),
                _ => return Ok(events),
            }
        }
        Err(StoreError::Unavailable(format!(
            "reading {stream} from version {from_version} took more than {STREAM_READ_PAGES_MAX} query pages"
        )))
    }

    async fn read_all(&self, after: Option<&Cursor>, limit: usize) -> Result<Page, StoreError> {
        check_read_limit(limit)?;
        let mut positions = parse_cursor(after)?;
        let arn = self.stream_arn().await?;
        for (shard_id, _) in self.shards(&arn).await? {
            let mut request = self
                .streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(&shard_id);
            request = match positions.get(&shard_id) {
                Some(sequence) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .map_err(|e| sdk_error("get shard iterator", e))?
                .shard_iterator;
            for _ in 0..EMPTY_PAGES_PER_SHARD_MAX {
                let Some(it) = iterator.take() else { break };
                let out = self
                    .streams
                    .get_records()
                    .shard_iterator(it)
                    .limit(i32::try_from(limit).unwrap_or(1000))
                    .send()
                    .await
                    .map_err(|e| sdk_error("get stream records", e))?;
                let mut events = Vec::new();
                for record in out.records() {
                    let Some(data) = record.dynamodb() else {
                        continue;
                    };
                    if let Some(sequence) = data.sequence_number() {
                        positions.insert(shard_id.clone(), sequence.to_owned());
                    }
                    // Events are only ever inserted; anything else is not an event.
                    if record.event_name().map(|e| e.as_str()) != Some("INSERT") {
                        continue;
                    }
                    let image = data.new_image().ok_or_else(|| StoreError::CorruptEvent {
                        stream: String::new(),
                        version: 0,
                        reason: "stream record without a new image: the table's stream must be NEW_IMAGE".to_owned(),
                    })?;
                    events.push(stored_from_image(image)?);
                }
                if !out.records().is_empty() {
                    return Ok(Page {
                        events,
                        next: format_cursor(&positions),
                    });
                }
                iterator = out.next_shard_iterator;
            }
        }
        Ok(Page {
            events: Vec::new(),
            next: format_cursor(&positions),
        })
    }

    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Cursor>, StoreError> {
        check_projection_name(projection)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.checkpoints)
            .key(attr::ID, s(projection))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get checkpoint", e))?;
        Ok(out
            .item
            .and_then(|item| get_s(&item, attr::CURSOR))
            .map(Cursor))
    }

    async fn save_checkpoint(&self, projection: &str, cursor: &Cursor) -> Result<(), StoreError> {
        check_projection_name(projection)?;
        // A stream cursor, or a position of a scan of the events table.
        if cursor.0.starts_with(table_scan::TABLE_SCAN_CURSOR_PREFIX) {
            table_scan::TableScan::from_cursor(cursor)?;
        } else {
            parse_cursor(Some(cursor))?;
        }
        self.client
            .put_item()
            .table_name(&self.tables.checkpoints)
            .item(attr::ID, s(projection))
            .item(attr::CURSOR, s(&cursor.0))
            .item(attr::UPDATED_AT, s(Utc::now().to_rfc3339()))
            .send()
            .await
            .map_err(|e| sdk_error("put checkpoint", e))?;
        Ok(())
    }
}

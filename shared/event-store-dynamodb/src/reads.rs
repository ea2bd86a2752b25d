//! Reads: one stream's events (a consistent query, page by page), one
//! event item, a stream's current version, and global reads following the
//! table's DynamoDB Stream shard by shard, with their cursor.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use event_store::{
    Cursor, Page, READ_LIMIT_MAX, StoreError, StoredEvent, StreamId, check_read_limit,
};

use crate::items::stored_from_image;
use crate::schema::attr;
use crate::{DynamoEventStore, get_n, n, s, sdk_error, stored_from_item};

/// Stream shards visited per global read, and records pages per shard.
const SHARDS_PER_READ_MAX: usize = 1000;
const EMPTY_PAGES_PER_SHARD_MAX: usize = 4;
/// Query pages one `read_stream` follows at most. A page stops at 1 MB and
/// an event is at most 400 KB, so every page but the last holds at least
/// two events and a read of at most [`READ_LIMIT_MAX`] events never needs
/// this many; reaching it is an error, never a short read.
pub const STREAM_READ_PAGES_MAX: usize = READ_LIMIT_MAX;

const CURSOR_PREFIX: &str = "dynamodb-streams:";

pub(crate) fn parse_cursor(
    cursor: Option<&Cursor>,
) -> Result<BTreeMap<String, String>, StoreError> {
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

pub(crate) fn format_cursor(positions: &BTreeMap<String, String>) -> Cursor {
    Cursor(format!(
        "{CURSOR_PREFIX}{}",
        serde_json::to_string(positions).unwrap_or_else(|_| "{}".to_owned())
    ))
}

impl DynamoEventStore {
    /// The body of `read_stream`.
    pub(crate) async fn query_stream(
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

    /// The body of `read_all`.
    pub(crate) async fn read_stream_records(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
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

    /// Reads one event item (consistently).
    pub(crate) async fn get_event(
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

    pub(crate) async fn current_version(&self, stream: &StreamId) -> Result<u64, StoreError> {
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

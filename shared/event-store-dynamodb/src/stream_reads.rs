//! Global reads (`read_all`) following the events table's DynamoDB Stream,
//! shard by shard, parents before children, so each stream's events come
//! in version order. Only in builds with the `stream-reads` feature: the
//! admin CLI and the local stack read the stream; no Lambda function does
//! (the projector gets stream records from its event source mapping), so
//! none links the Streams client.

use std::collections::BTreeMap;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use event_store::{Page, StoreError};

use crate::items::stored_from_image;
use crate::reads::format_cursor;
use crate::{DynamoEventStore, sdk_error};

/// Stream shards visited per global read, and records pages per shard.
const SHARDS_PER_READ_MAX: usize = 1000;
const EMPTY_PAGES_PER_SHARD_MAX: usize = 4;

/// One page of the stream after `positions` (shard: sequence number).
pub(crate) async fn read(
    store: &DynamoEventStore,
    streams: &aws_sdk_dynamodbstreams::Client,
    mut positions: BTreeMap<String, String>,
    limit: usize,
) -> Result<Page, StoreError> {
    let arn = stream_arn(store).await?;
    for (shard_id, _) in shards(streams, &arn).await? {
        let mut request = streams
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
            let out = streams
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
                    reason:
                        "stream record without a new image: the table's stream must be NEW_IMAGE"
                            .to_owned(),
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

async fn stream_arn(store: &DynamoEventStore) -> Result<String, StoreError> {
    store
        .stream_arn
        .get_or_try_init(|| async {
            let out = store
                .client
                .describe_table()
                .table_name(&store.tables.events)
                .send()
                .await
                .map_err(|e| sdk_error("describe events table", e))?;
            out.table()
                .and_then(|t| t.latest_stream_arn())
                .map(str::to_owned)
                .ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "table {} has no stream enabled",
                        store.tables.events
                    ))
                })
        })
        .await
        .cloned()
}

/// The stream's shards, parents before children.
async fn shards(
    streams: &aws_sdk_dynamodbstreams::Client,
    arn: &str,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    let mut shards = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..SHARDS_PER_READ_MAX {
        let out = streams
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

//! Reads: one stream's events (a consistent query, page by page), one
//! event item, a stream's current version, and global reads following the
//! table's DynamoDB Stream shard by shard, with their cursor.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::{
    Cursor, Page, READ_LIMIT_MAX, StoreError, StoredEvent, StreamId, check_read_limit,
};

use crate::schema::attr;
use crate::{DynamoEventStore, get_n, n, s, sdk_error, stored_from_item};

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

#[cfg(feature = "stream-reads")]
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

    /// The body of `read_all`: the table's DynamoDB Stream, shard by
    /// shard, in builds with the `stream-reads` feature.
    pub(crate) async fn read_stream_records(
        &self,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page, StoreError> {
        check_read_limit(limit)?;
        let positions = parse_cursor(after)?;
        #[cfg(feature = "stream-reads")]
        if let Some(streams) = &self.streams {
            return crate::stream_reads::read(self, streams, positions, limit).await;
        }
        let _ = positions;
        Err(StoreError::Unsupported(
            "global reads follow the table's DynamoDB Stream: this store has no Streams client (build with the stream-reads feature and give it one)".to_owned(),
        ))
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
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Region};
    use event_store::{EventStore, StoreError};

    use crate::DynamoEventStore;
    use crate::schema::Tables;

    #[tokio::test]
    async fn a_store_without_a_streams_client_refuses_global_reads_for_good() {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        let store = DynamoEventStore::new(client, Tables::with_prefix("t-"));
        let err = store.read_all(None, 10).await.unwrap_err();
        assert!(matches!(err, StoreError::Unsupported(_)), "{err}");
        assert!(!err.is_retryable());
        // A bad cursor is still named as such, before anything else.
        let bad = event_store::Cursor("nope".into());
        assert!(matches!(
            store.read_all(Some(&bad), 10).await,
            Err(StoreError::InvalidCursor { .. })
        ));
    }
}

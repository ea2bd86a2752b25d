//! A paged, parallel read of the events table itself, for rebuilding a
//! projection from the whole history (the table's stream keeps 24 hours).
//!
//! A `Scan` split in `TotalSegments` segments: each segment is read page by
//! page (`Limit` items, and at most 1 MB, per page) from its
//! `ExclusiveStartKey`, the segments of one round concurrently. A segment
//! holds whole streams (segments split the partition keys), and DynamoDB
//! returns a partition's items in sort key order, so each stream's events
//! come in version order; this is checked, not assumed: a stream that does
//! not start at version 1 or skips a version within a segment is an error.
//! There is no order across streams: what is read is only for consumers
//! whose result does not depend on it (the ledger projection is sums per
//! balance item, journal lines keyed by event, and conditional puts).
//!
//! The position is a [`Cursor`] (`dynamodb-table-scan:{...}`), which can be
//! saved as a checkpoint to resume a scan where it stopped.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::{Cursor, StoreError, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::schema::attr;
use crate::{DynamoEventStore, get_n, get_s, n, s, sdk_error, stored_from_item};

/// Items evaluated per page of one segment at most.
pub const TABLE_SCAN_PAGE_MAX: usize = 1000;
/// Segments of one scan at most (each round reads one page of each).
pub const TABLE_SCAN_SEGMENTS_MAX: u32 = 64;

pub(crate) const TABLE_SCAN_CURSOR_PREFIX: &str = "dynamodb-table-scan:";

/// Where one segment stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentPosition {
    NotStarted,
    /// The last event read: the next page starts after it.
    After {
        stream: String,
        version: u64,
    },
    Done,
}

/// Where a scan of the events table stands, segment by segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableScan {
    total_segments: u32,
    segments: Vec<SegmentPosition>,
}

impl TableScan {
    /// A scan from the first event, in `total_segments` segments.
    pub fn new(total_segments: u32) -> Result<Self, StoreError> {
        if total_segments == 0 || total_segments > TABLE_SCAN_SEGMENTS_MAX {
            return Err(StoreError::LimitExceeded {
                what: "table scan segments".to_owned(),
                got: total_segments as usize,
                limit: TABLE_SCAN_SEGMENTS_MAX as usize,
            });
        }
        Ok(TableScan {
            total_segments,
            segments: vec![SegmentPosition::NotStarted; total_segments as usize],
        })
    }

    pub fn total_segments(&self) -> u32 {
        self.total_segments
    }

    /// Whether every segment has been read to its end.
    pub fn is_done(&self) -> bool {
        self.segments.iter().all(|p| *p == SegmentPosition::Done)
    }

    pub fn to_cursor(&self) -> Cursor {
        Cursor(format!(
            "{TABLE_SCAN_CURSOR_PREFIX}{}",
            serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
        ))
    }

    pub fn from_cursor(cursor: &Cursor) -> Result<Self, StoreError> {
        let invalid = |reason: String| StoreError::InvalidCursor {
            cursor: cursor.0.clone(),
            reason,
        };
        let json = cursor
            .0
            .strip_prefix(TABLE_SCAN_CURSOR_PREFIX)
            .ok_or_else(|| invalid(format!("expected {TABLE_SCAN_CURSOR_PREFIX}{{...}}")))?;
        let scan: TableScan = serde_json::from_str(json).map_err(|e| invalid(e.to_string()))?;
        if scan.total_segments == 0
            || scan.total_segments > TABLE_SCAN_SEGMENTS_MAX
            || scan.segments.len() != scan.total_segments as usize
        {
            return Err(invalid("segments do not match total_segments".to_owned()));
        }
        Ok(scan)
    }
}

/// One page of one segment: its events as returned, and where it ends.
struct SegmentPage {
    events: Vec<StoredEvent>,
    position: SegmentPosition,
}

impl DynamoEventStore {
    /// Reads the next page of every segment of `scan` not read to its end
    /// (concurrently, at most `limit` items each) and moves `scan` past
    /// them. The events come sorted by stream and version. A round may
    /// return no event before the end: the scan is over when
    /// [`TableScan::is_done`]. Resume from [`TableScan::to_cursor`].
    pub async fn scan_events_table(
        &self,
        scan: &mut TableScan,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if limit == 0 || limit > TABLE_SCAN_PAGE_MAX {
            return Err(StoreError::LimitExceeded {
                what: "table scan page".to_owned(),
                got: limit,
                limit: TABLE_SCAN_PAGE_MAX,
            });
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (segment, position) in scan.segments.iter().enumerate() {
            if *position == SegmentPosition::Done {
                continue;
            }
            let store = self.clone();
            let position = position.clone();
            let total = scan.total_segments;
            tasks.spawn(async move {
                let page = store
                    .scan_segment(segment as u32, total, &position, limit)
                    .await;
                (segment, page)
            });
        }
        let mut events = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (segment, page) = joined.map_err(|e| {
                StoreError::Unavailable(format!("table scan segment task failed: {e}"))
            })?;
            let page = page?;
            events.extend(page.events);
            if let Some(slot) = scan.segments.get_mut(segment) {
                *slot = page.position;
            }
        }
        events.sort_by(|a, b| (a.stream.as_str(), a.version).cmp(&(b.stream.as_str(), b.version)));
        Ok(events)
    }

    /// One page of one segment, from `position`, checking that each stream
    /// comes in version order from version 1.
    async fn scan_segment(
        &self,
        segment: u32,
        total_segments: u32,
        position: &SegmentPosition,
        limit: usize,
    ) -> Result<SegmentPage, StoreError> {
        let mut last: Option<(String, u64)> = match position {
            SegmentPosition::Done => {
                return Ok(SegmentPage {
                    events: Vec::new(),
                    position: SegmentPosition::Done,
                });
            }
            SegmentPosition::NotStarted => None,
            SegmentPosition::After { stream, version } => Some((stream.clone(), *version)),
        };
        let start = last.as_ref().map(|(stream, version)| {
            HashMap::from([
                (attr::STREAM.to_owned(), s(stream.as_str())),
                (attr::VERSION.to_owned(), n(*version)),
            ])
        });
        let out = self
            .client
            .scan()
            .table_name(&self.tables.events)
            .segment(segment as i32)
            .total_segments(total_segments as i32)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("scan events table", e))?;
        let mut events = Vec::with_capacity(out.items().len());
        for item in out.items() {
            let event = stored_from_item(item)?;
            let expected = match &last {
                Some((stream, version)) if stream == event.stream.as_str() => version + 1,
                _ => 1,
            };
            if event.version != expected {
                return Err(StoreError::Unavailable(format!(
                    "the events table scan returned {}@{} where version {expected} was due: a stream must come whole and in version order",
                    event.stream, event.version
                )));
            }
            last = Some((event.stream.to_string(), event.version));
            events.push(event);
        }
        let position = match out.last_evaluated_key() {
            None => SegmentPosition::Done,
            Some(key) if key.is_empty() => SegmentPosition::Done,
            Some(key) => position_of(key)?,
        };
        Ok(SegmentPage { events, position })
    }
}

/// The position after a page: its last evaluated key.
fn position_of(key: &HashMap<String, AttributeValue>) -> Result<SegmentPosition, StoreError> {
    match (get_s(key, attr::STREAM), get_n(key, attr::VERSION)) {
        (Some(stream), Some(version)) => Ok(SegmentPosition::After { stream, version }),
        _ => Err(StoreError::Unavailable(
            "the events table scan returned a last key without stream and version".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_position_survives_its_cursor_and_bad_ones_are_refused() {
        let mut scan = TableScan::new(3).unwrap();
        assert!(!scan.is_done());
        scan.segments[0] = SegmentPosition::Done;
        scan.segments[1] = SegmentPosition::After {
            stream: "acme/commission/c-1".to_owned(),
            version: 2,
        };
        let back = TableScan::from_cursor(&scan.to_cursor()).unwrap();
        assert_eq!(back, scan);
        scan.segments[1] = SegmentPosition::Done;
        scan.segments[2] = SegmentPosition::Done;
        assert!(scan.is_done());

        assert!(TableScan::new(0).is_err());
        assert!(TableScan::new(TABLE_SCAN_SEGMENTS_MAX + 1).is_err());
        for bad in [
            "dynamodb-streams:{}",
            "dynamodb-table-scan:nope",
            r#"dynamodb-table-scan:{"total_segments":2,"segments":["done"]}"#,
        ] {
            assert!(
                TableScan::from_cursor(&Cursor(bad.to_owned())).is_err(),
                "{bad}"
            );
        }
    }
}

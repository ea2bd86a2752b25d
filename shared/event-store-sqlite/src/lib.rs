//! The embedded event store: SQLite in one local file (WAL), with the same
//! semantics as the DynamoDB adapter. A person can open the file with
//! `sqlite3` and read their ledger:
//!
//! ```sql
//! SELECT position, stream, version, event_type, payload FROM events ORDER BY position;
//! ```
//!
//! The global order is SQLite's `position` (an autoincrement rowid), which is
//! assigned inside the write transaction, so it is consistent with each
//! stream's version order and never goes backwards.
//!
//! Reads in index order bound their rows by stepping no further (`take`),
//! not with `LIMIT ?`: SQLite's planner reads a bound LIMIT's value, so a
//! statement with one is compiled again on every execution (measured: every
//! stream read of a bulk ingest was re-prepared, about a fifth of its CPU).
//! A query that sorts keeps its `LIMIT`, which bounds the sorter.

mod append;
pub mod projection;
pub mod webhooks;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use event_store::{
    AppendRequest, Appended, Cursor, EventStore, IdempotencyRecord, IdempotencyScope, Once, Page,
    StoreError, StoredEvent, StreamId, check_projection_name, check_read_limit, validate_once,
    validate_transaction,
};
use rusqlite::{Connection, OptionalExtension, params};

use append::{append_all, append_once_in, load_record};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS events (
    -- The global order. A plain rowid (no AUTOINCREMENT bookkeeping): rows
    -- are never deleted, so a position is never reused.
    position            INTEGER PRIMARY KEY,
    stream              TEXT    NOT NULL,
    version             INTEGER NOT NULL,
    event_type          TEXT    NOT NULL,
    schema_version      INTEGER NOT NULL,
    payload             TEXT    NOT NULL,
    payload_hash        TEXT    NOT NULL,
    recorded_at         TEXT    NOT NULL,
    -- Set on the first event of an append that carried an idempotency key.
    idempotency_key     TEXT,
    request_hash        TEXT,
    append_last_version INTEGER,
    UNIQUE (stream, version)
);
-- Idempotency keys need no index of their own: a new stream's first event
-- is its own guard (UNIQUE (stream, version)), and a continuing stream's keys
-- are looked up inside the same IMMEDIATE transaction that inserts, through
-- the (stream, version) index.
-- Events are never edited or deleted: the database refuses it.
CREATE TRIGGER IF NOT EXISTS events_are_immutable_update BEFORE UPDATE ON events
    BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
CREATE TRIGGER IF NOT EXISTS events_are_immutable_delete BEFORE DELETE ON events
    BEGIN SELECT RAISE(ABORT, 'events are immutable'); END;
-- One record per keyed request: its tenant, operation and key, the
-- fingerprint of its facts and the answer it got, inserted in the
-- transaction of the request's events (the primary key refuses a second).
CREATE TABLE IF NOT EXISTS idempotency_records (
    tenant          TEXT NOT NULL,
    operation       TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    answer          TEXT NOT NULL,
    recorded_at     TEXT NOT NULL,
    PRIMARY KEY (tenant, operation, idempotency_key)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS idempotency_records_are_immutable BEFORE UPDATE ON idempotency_records
    BEGIN SELECT RAISE(ABORT, 'idempotency records are immutable'); END;
CREATE TABLE IF NOT EXISTS checkpoints (
    projection TEXT PRIMARY KEY,
    cursor     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#;

/// One stream's events in order (bounded by the reader, see the crate doc).
const STREAM_EVENTS: &str = "SELECT stream, version, event_type, schema_version, payload, payload_hash, recorded_at \
     FROM events WHERE stream = ?1 ORDER BY version";

/// The embedded store. Cheap to clone; one connection serialises writers,
/// which is what SQLite does anyway.
#[derive(Clone)]
pub struct SqliteEventStore {
    conn: Arc<Mutex<Connection>>,
}

pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

/// Versions are u64 in the port; SQLite stores i64. The port bounds
/// versions to i64::MAX, so these conversions are exact.
pub(crate) fn v_to_sql(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

impl SqliteEventStore {
    /// Opens (creating if needed) the store in a file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(unavailable)?;
        Self::init(conn)
    }

    /// An in-memory store, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(unavailable)?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
        // WAL: readers never block the writer; NORMAL sync is durable across
        // process crashes (the WAL is fsynced at checkpoints) and fast.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(unavailable)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(unavailable)?;
        conn.execute_batch(SCHEMA).map_err(unavailable)?;
        projection::create_schema(&conn)?;
        conn.execute_batch(webhooks::SCHEMA).map_err(unavailable)?;
        Ok(SqliteEventStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub(crate) async fn with_conn<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Unavailable("sqlite connection poisoned".to_owned()))?;
            f(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }
}

/// Up to `limit` events after a global position, in order, each with its
/// position: the global read and the projector's.
pub(crate) fn read_after(
    conn: &Connection,
    start: i64,
    limit: usize,
) -> Result<Vec<(i64, StoredEvent)>, StoreError> {
    let mut statement = conn
        .prepare_cached(
            "SELECT stream, version, event_type, schema_version, payload, payload_hash, recorded_at, position \
             FROM events WHERE position > ?1 ORDER BY position",
        )
        .map_err(unavailable)?;
    let mut rows = statement.query(params![start]).map_err(unavailable)?;
    let mut events = Vec::new();
    while events.len() < limit {
        let Some(row) = rows.next().map_err(unavailable)? else {
            break;
        };
        let position: i64 = row.get(7).map_err(unavailable)?;
        events.push((
            position,
            to_stored(row_to_event(row).map_err(unavailable)?)?,
        ));
    }
    Ok(events)
}

fn parse_time(stream: &str, version: u64, text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::CorruptEvent {
            stream: stream.to_owned(),
            version,
            reason: format!("recorded_at {text:?}: {e}"),
        })
}

pub(crate) fn row_to_event(
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<(String, i64, String, i64, String, String, String)> {
    Ok((
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
    ))
}

pub(crate) fn to_stored(
    raw: (String, i64, String, i64, String, String, String),
) -> Result<StoredEvent, StoreError> {
    let (stream, version, event_type, schema_version, payload, payload_hash, recorded_at) = raw;
    let version = version as u64;
    let recorded_at = parse_time(&stream, version, &recorded_at)?;
    let schema_version = u16::try_from(schema_version).map_err(|_| StoreError::CorruptEvent {
        stream: stream.clone(),
        version,
        reason: format!("schema version {schema_version} out of range"),
    })?;
    Ok(StoredEvent {
        stream: StreamId::new(stream)?,
        version,
        event_type,
        schema_version,
        payload,
        payload_hash,
        recorded_at,
    })
}

fn parse_cursor(cursor: Option<&Cursor>) -> Result<i64, StoreError> {
    match cursor {
        None => Ok(0),
        Some(c) => {
            c.0.strip_prefix("sqlite:")
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| StoreError::InvalidCursor {
                    cursor: c.0.clone(),
                    reason: "expected sqlite:<position>".to_owned(),
                })
        }
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append_transaction(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Appended>, StoreError> {
        validate_transaction(&requests)?;
        self.with_conn(move |conn| append_all(conn, &requests))
            .await
    }

    async fn append_once(
        &self,
        appends: Vec<AppendRequest>,
        record: IdempotencyRecord,
    ) -> Result<Once, StoreError> {
        validate_once(&appends, &record)?;
        self.with_conn(move |conn| append_once_in(conn, &appends, &record))
            .await
    }

    async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let scope = scope.clone();
        self.with_conn(move |conn| load_record(conn, &scope)).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        check_read_limit(limit)?;
        let stream = stream.clone();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT stream, version, event_type, schema_version, payload, payload_hash, recorded_at \
                     FROM events WHERE stream = ?1 AND version >= ?2 ORDER BY version",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![stream.as_str(), v_to_sql(from_version.max(1))], row_to_event)
                .map_err(unavailable)?;
            rows.take(limit).map(|r| r.map_err(unavailable).and_then(to_stored)).collect()
        })
        .await
    }

    /// One blocking call for every stream: a bulk ingest of 99 commissions
    /// takes the connection once, not 99 times.
    async fn read_streams(
        &self,
        streams: &[StreamId],
        limit: usize,
    ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
        let streams = streams.to_vec();
        self.with_conn(move |conn| {
            let mut statement = conn.prepare_cached(STREAM_EVENTS).map_err(unavailable)?;
            streams
                .iter()
                .map(|stream| {
                    statement
                        .query_map(params![stream.as_str()], row_to_event)
                        .map_err(unavailable)?
                        .take(limit)
                        .map(|r| r.map_err(unavailable).and_then(to_stored))
                        .collect()
                })
                .collect()
        })
        .await
    }

    async fn read_all(&self, after: Option<&Cursor>, limit: usize) -> Result<Page, StoreError> {
        check_read_limit(limit)?;
        let start = parse_cursor(after)?;
        self.with_conn(move |conn| {
            let events = read_after(conn, start, limit)?;
            let last = events.last().map_or(start, |(position, _)| *position);
            Ok(Page {
                events: events.into_iter().map(|(_, event)| event).collect(),
                next: Cursor(format!("sqlite:{last}")),
            })
        })
        .await
    }

    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Cursor>, StoreError> {
        check_projection_name(projection)?;
        let projection = projection.to_owned();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT cursor FROM checkpoints WHERE projection = ?1",
                [projection],
                |r| r.get(0),
            )
            .optional()
            .map(|c: Option<String>| c.map(Cursor))
            .map_err(unavailable)
        })
        .await
    }

    async fn save_checkpoint(&self, projection: &str, cursor: &Cursor) -> Result<(), StoreError> {
        check_projection_name(projection)?;
        parse_cursor(Some(cursor))?;
        let projection = projection.to_owned();
        let cursor = cursor.0.clone();
        self.with_conn(move |conn| {
            conn.execute(
                "INSERT INTO checkpoints (projection, cursor, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (projection) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
                params![projection, cursor, Utc::now().to_rfc3339()],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bulk ingest reads 99 streams with one statement: it is compiled
    /// once, not again for every stream (as a bound `LIMIT ?` made it), and
    /// the limit still bounds each stream's rows.
    #[tokio::test]
    async fn stream_reads_are_not_recompiled_and_stay_bounded() {
        let store = SqliteEventStore::in_memory().expect("store");
        store
            .with_conn(|conn| {
                for (stream, version) in [("a", 1), ("a", 2), ("a", 3), ("b", 1)] {
                    conn.execute(
                        "INSERT INTO events (stream, version, event_type, schema_version, payload, payload_hash, recorded_at) \
                         VALUES (?1, ?2, 'CommissionRecorded', 1, '{}', 'h', '2026-01-01T00:00:00Z')",
                        params![stream, version],
                    )
                    .map_err(unavailable)?;
                }
                Ok(())
            })
            .await
            .expect("rows");
        let streams = [
            StreamId::new("a").expect("id"),
            StreamId::new("b").expect("id"),
        ];
        for _ in 0..5 {
            let read = store.read_streams(&streams, 2).await.expect("read");
            let versions: Vec<Vec<u64>> = read
                .iter()
                .map(|events| events.iter().map(|e| e.version).collect())
                .collect();
            assert_eq!(versions, vec![vec![1, 2], vec![1]]);
        }
        let recompiled = store
            .with_conn(|conn| {
                let statement = conn.prepare_cached(STREAM_EVENTS).map_err(unavailable)?;
                Ok(statement.get_status(rusqlite::StatementStatus::RePrepare))
            })
            .await
            .expect("status");
        assert_eq!(recompiled, 0, "the stream read was compiled again");
    }
}

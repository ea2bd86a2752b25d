//! The write path: appends in one IMMEDIATE transaction, with their
//! idempotency keys and records. SQLite serialises writers, so a concurrent
//! identical request finds the winner's rows here and writes nothing.

use chrono::Utc;
use event_store::{
    AppendRequest, Appended, IdempotencyRecord, IdempotencyScope, Once, StoreError, StreamId,
};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Transaction, params};

use crate::{unavailable, v_to_sql};

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation)
}

fn stream_version(tx: &Transaction<'_>, stream: &StreamId) -> Result<u64, StoreError> {
    let version: Option<i64> = tx
        .prepare_cached("SELECT MAX(version) FROM events WHERE stream = ?1")
        .and_then(|mut s| s.query_row([stream.as_str()], |r| r.get(0)))
        .map_err(unavailable)?;
    Ok(version.unwrap_or(0) as u64)
}

/// Looks up an earlier append with the same key: the original result, or
/// a conflict when its events differ.
fn replay(
    tx: &Transaction<'_>,
    request: &AppendRequest,
    request_hash: &str,
) -> Result<Option<Appended>, StoreError> {
    let Some(key) = &request.idempotency_key else {
        return Ok(None);
    };
    let found: Option<(i64, String, i64)> = tx
        .prepare_cached(
            "SELECT version, request_hash, append_last_version FROM events \
             WHERE stream = ?1 AND idempotency_key = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![request.stream.as_str(), key.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(unavailable)?;
    match found {
        None => Ok(None),
        Some((first, stored_hash, last)) if stored_hash == request_hash => Ok(Some(Appended {
            stream: request.stream.clone(),
            first_version: first as u64,
            last_version: last as u64,
            duplicate: true,
        })),
        Some((_, stored_hash, _)) => Err(StoreError::IdempotencyConflict {
            stream: request.stream.to_string(),
            key: key.as_str().to_owned(),
            stored_hash,
            request_hash: request_hash.to_owned(),
        }),
    }
}

fn insert(
    tx: &Transaction<'_>,
    request: &AppendRequest,
    request_hash: &str,
) -> Result<Result<Appended, ()>, StoreError> {
    let expected = request.expected_version;
    if expected > 0 {
        // The expected version must exist, or the append would leave a gap.
        let exists: Option<i64> = tx
            .prepare_cached("SELECT 1 FROM events WHERE stream = ?1 AND version = ?2")
            .and_then(|mut s| {
                s.query_row(params![request.stream.as_str(), v_to_sql(expected)], |r| {
                    r.get(0)
                })
                .optional()
            })
            .map_err(unavailable)?;
        if exists.is_none() {
            return Ok(Err(()));
        }
    }
    let last = expected + request.events.len() as u64;
    let mut statement = tx
        .prepare_cached(
            "INSERT INTO events (stream, version, event_type, schema_version, payload, payload_hash, \
             recorded_at, idempotency_key, request_hash, append_last_version) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .map_err(unavailable)?;
    for (i, event) in request.events.iter().enumerate() {
        let version = expected + 1 + i as u64;
        let first = i == 0;
        let key = request
            .idempotency_key
            .as_ref()
            .filter(|_| first)
            .map(|k| k.as_str());
        let result = statement.execute(params![
            request.stream.as_str(),
            v_to_sql(version),
            event.event_type,
            event.schema_version,
            event.payload,
            event.payload_hash,
            event
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            key,
            key.map(|_| request_hash),
            key.map(|_| v_to_sql(last)),
        ]);
        match result {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Ok(Err(())),
            Err(e) => return Err(unavailable(e)),
        }
    }
    Ok(Ok(Appended {
        stream: request.stream.clone(),
        first_version: expected + 1,
        last_version: last,
        duplicate: false,
    }))
}

fn exec_cached(tx: &Transaction<'_>, sql: &str) -> Result<(), StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut s| s.execute([]))
        .map(|_| ())
        .map_err(unavailable)
}

pub(crate) fn append_all(
    conn: &mut Connection,
    requests: &[AppendRequest],
) -> Result<Vec<Appended>, StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    let results = append_in(&tx, requests)?;
    tx.commit().map_err(unavailable)?;
    Ok(results)
}

/// The record of a scope, inside a transaction.
pub(crate) fn load_record(
    conn: &Connection,
    scope: &IdempotencyScope,
) -> Result<Option<IdempotencyRecord>, StoreError> {
    conn.prepare_cached(
        "SELECT request_hash, answer FROM idempotency_records \
         WHERE tenant = ?1 AND operation = ?2 AND idempotency_key = ?3",
    )
    .and_then(|mut s| {
        s.query_row(
            params![
                scope.tenant.as_str(),
                scope.operation.as_str(),
                scope.key.as_str()
            ],
            |r| {
                Ok(IdempotencyRecord {
                    scope: scope.clone(),
                    request_hash: r.get(0)?,
                    answer: r.get(1)?,
                })
            },
        )
        .optional()
    })
    .map_err(unavailable)
}

/// Looks the record up and writes the appends with it in one IMMEDIATE
/// transaction: writers are serialised, so a concurrent identical request
/// finds the winner's record here and writes nothing.
pub(crate) fn append_once_in(
    conn: &mut Connection,
    appends: &[AppendRequest],
    record: &IdempotencyRecord,
) -> Result<Once, StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    if let Some(stored) = load_record(&tx, &record.scope)? {
        // Dropping the transaction rolls it back: nothing was written.
        return record.replay(&stored);
    }
    let results = append_in(&tx, appends)?;
    tx.prepare_cached(
        "INSERT INTO idempotency_records \
         (tenant, operation, idempotency_key, request_hash, answer, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            record.scope.tenant.as_str(),
            record.scope.operation.as_str(),
            record.scope.key.as_str(),
            record.request_hash,
            record.answer,
            Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ])
    })
    .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    Ok(Once::Written(results))
}

/// The appends of one transaction, in order; the caller commits.
fn append_in(
    tx: &Transaction<'_>,
    requests: &[AppendRequest],
) -> Result<Vec<Appended>, StoreError> {
    let mut results = Vec::with_capacity(requests.len());
    for request in requests {
        let request_hash = request.request_hash();
        // A continuing stream may already hold this key at an earlier
        // version: check it first. A new stream cannot, so its insert is the
        // only statement on the common path (its first event is its guard).
        if request.expected_version > 0 {
            if let Some(original) = replay(tx, request, &request_hash)? {
                results.push(original);
                continue;
            }
        }
        // A failed statement undoes itself; only a multi-event append needs
        // a savepoint to undo the events inserted before a failing one.
        let savepoint = request.events.len() > 1;
        if savepoint {
            exec_cached(tx, "SAVEPOINT append_one")?;
        }
        match insert(tx, request, &request_hash)? {
            Ok(appended) => {
                if savepoint {
                    exec_cached(tx, "RELEASE append_one")?;
                }
                results.push(appended);
            }
            Err(()) => {
                if savepoint {
                    exec_cached(tx, "ROLLBACK TO append_one")?;
                    exec_cached(tx, "RELEASE append_one")?;
                }
                if let Some(original) = replay(tx, request, &request_hash)? {
                    results.push(original);
                    continue;
                }
                return Err(StoreError::VersionConflict {
                    stream: request.stream.to_string(),
                    expected: request.expected_version,
                    actual: stream_version(tx, &request.stream)?,
                });
            }
        }
    }
    Ok(results)
}

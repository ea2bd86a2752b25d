//! The ledger projection on the embedded store: journal lines and balances,
//! derived from the events in global order.
//!
//! What an event writes is decided in one place, the domain's
//! [`ledger_domain::projection::plan`], which the DynamoDB adapter calls too;
//! this module only writes the plan. One projector step runs in one SQLite
//! transaction: read the events after the checkpoint, plan them, write the
//! journal lines, each touched balance row once (coalesced), the maturity
//! entries, profile snapshots and draft counts, and move the checkpoint. A
//! crash anywhere leaves everything as before the step, so each event is
//! projected exactly once. Balance rows are ordinary columns, readable with
//! `sqlite3`:
//!
//! ```sql
//! SELECT owner, currency, pending, available, reserved, receivable, paid_out FROM balances;
//! ```

mod reads;

use std::collections::BTreeMap;

use event_store::{StoreError, StoredEvent};
use ledger_domain::projection::{AffiliateField, BalanceOwner, TENANT_FIELDS, plan};
use ledger_domain::{AffiliateId, TenantId};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::{SqliteEventStore, unavailable};

/// The projector's checkpoint name.
pub const LEDGER_PROJECTION: &str = "ledger";
/// The most events one projector step takes.
pub const PROJECTION_BATCH_MAX: usize = 10_000;
/// The most journal lines one read returns.
pub const JOURNAL_PAGE_MAX: usize = 500;

/// The balance columns, in order. Affiliate rows use the first five, tenant
/// rows the rest.
pub const BALANCE_FIELDS: [&str; 10] = [
    AffiliateField::NAMES[0],
    AffiliateField::NAMES[1],
    AffiliateField::NAMES[2],
    AffiliateField::NAMES[3],
    AffiliateField::NAMES[4],
    TENANT_FIELDS[0],
    TENANT_FIELDS[1],
    TENANT_FIELDS[2],
    TENANT_FIELDS[3],
    TENANT_FIELDS[4],
];

/// The projection's tables, all derived from the events (so they can be
/// dropped and rebuilt at any time).
const PROJECTION_TABLES: [&str; 5] = [
    "journal_lines",
    "balances",
    "maturities",
    "payout_profiles",
    "payout_drafting",
];

const PROJECTION_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS balances (
    owner              TEXT    NOT NULL,
    currency           TEXT    NOT NULL,
    pending            INTEGER NOT NULL DEFAULT 0,
    available          INTEGER NOT NULL DEFAULT 0,
    reserved           INTEGER NOT NULL DEFAULT 0,
    receivable         INTEGER NOT NULL DEFAULT 0,
    paid_out           INTEGER NOT NULL DEFAULT 0,
    commission_expense INTEGER NOT NULL DEFAULT 0,
    clearing_stripe    INTEGER NOT NULL DEFAULT 0,
    clearing_paypal    INTEGER NOT NULL DEFAULT 0,
    clearing_sepa      INTEGER NOT NULL DEFAULT 0,
    clearing_sandbox   INTEGER NOT NULL DEFAULT 0,
    -- The last event position folded into this row.
    position           INTEGER NOT NULL,
    PRIMARY KEY (owner, currency)
);
-- Commissions in their hold period, for the maturing job (which removes an
-- entry once it has matured it or found nothing left to mature).
CREATE TABLE IF NOT EXISTS maturities (
    tenant_id     TEXT NOT NULL,
    commission_id TEXT NOT NULL,
    matures_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, commission_id)
);
CREATE INDEX IF NOT EXISTS maturities_due ON maturities (matures_at);
-- The latest payout profile of each affiliate, with its stream version.
CREATE TABLE IF NOT EXISTS payout_profiles (
    owner   TEXT    NOT NULL PRIMARY KEY,
    profile TEXT    NOT NULL,
    version INTEGER NOT NULL
);
-- How many drafted batches of each tenant are applied (the draft guard).
CREATE TABLE IF NOT EXISTS payout_drafting (
    tenant_id       TEXT    NOT NULL PRIMARY KEY,
    batches_drafted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_lines (
    owner        TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    -- recorded_at#stream#version: the line's place in the journal, the same
    -- key the DynamoDB projection sorts by.
    line         TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    stream       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    event_type   TEXT    NOT NULL,
    effective_at TEXT    NOT NULL,
    -- {"available": -1000, "reserved": 1000}: signed minor units per field.
    deltas       TEXT    NOT NULL,
    PRIMARY KEY (owner, currency, line)
);
"#;

/// Creates the projection's tables. A file written by an earlier layout
/// (journal lines keyed by position, profiles by position) has its
/// projection dropped and its checkpoint cleared, so the projector rebuilds
/// it from the events, which are never touched.
pub(crate) fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    let current = |table: &str, column: &str| -> Result<bool, StoreError> {
        let mut statement = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(unavailable)?;
        let columns = statement
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(columns.is_empty() || columns.iter().any(|c| c == column))
    };
    if !current("journal_lines", "line")? || !current("payout_profiles", "version")? {
        for table in PROJECTION_TABLES {
            conn.execute(&format!("DROP TABLE IF EXISTS {table}"), [])
                .map_err(unavailable)?;
        }
        conn.execute(
            "DELETE FROM checkpoints WHERE projection = ?1",
            [LEDGER_PROJECTION],
        )
        .map_err(unavailable)?;
    }
    conn.execute_batch(PROJECTION_SCHEMA).map_err(unavailable)
}

/// What one projector step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectionReport {
    pub events: usize,
    pub journal_lines: usize,
    /// Balance rows written: one per (owner, currency) touched.
    pub balance_writes: usize,
    /// The position the checkpoint now stands at.
    pub position: i64,
}

/// A balance row as stored: signed minor units (debit positive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub owner: String,
    pub currency: String,
    pub fields: BTreeMap<&'static str, i64>,
    pub position: i64,
}

fn checkpoint(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    let cursor: Option<String> = tx
        .query_row(
            "SELECT cursor FROM checkpoints WHERE projection = ?1",
            [LEDGER_PROJECTION],
            |r| r.get(0),
        )
        .optional()
        .map_err(unavailable)?;
    match cursor {
        None => Ok(0),
        Some(c) => c
            .strip_prefix("sqlite:")
            .and_then(|n| n.parse().ok())
            .ok_or(StoreError::InvalidCursor {
                cursor: c.clone(),
                reason: "expected sqlite:<position>".to_owned(),
            }),
    }
}

fn owner_key(tenant_id: &TenantId, affiliate_id: &AffiliateId) -> String {
    BalanceOwner::Affiliate {
        tenant_id: tenant_id.clone(),
        affiliate_id: affiliate_id.clone(),
    }
    .key()
}

/// What a step decided outside the connection's lock: the checkpoint it
/// read from, the plan of the events after it, the position of the last
/// planned one, and the error it stops at.
struct PlannedStep {
    start: i64,
    last: Option<i64>,
    batch: ledger_domain::projection::ProjectionBatch,
    stop: Option<StoreError>,
    rows: StepRows,
}

/// A step's rows as they are bound to its statements, made before the lock
/// is taken: keys, times and JSON formatted, amounts in column order.
#[derive(Default)]
struct StepRows {
    lines: Vec<LineRow>,
    /// Tenant, commission, due key.
    maturities: Vec<(String, String, String)>,
    /// Owner key, profile JSON, version.
    profiles: Vec<(String, String, i64)>,
    /// Owner key, currency, one amount per [`BALANCE_FIELDS`] column.
    balances: Vec<(String, &'static str, [i64; BALANCE_FIELDS.len()])>,
    /// A profile that does not serialise: the step fails before it writes.
    unwritable: Option<StoreError>,
}

struct LineRow {
    owner: String,
    currency: &'static str,
    key: String,
    position: i64,
    stream: String,
    version: i64,
    event_type: &'static str,
    effective_at: String,
    deltas: String,
}

impl StepRows {
    fn of(batch: &ledger_domain::projection::ProjectionBatch, positions: &[i64]) -> Self {
        let mut rows = StepRows::default();
        for (event, &position) in batch.events.iter().zip(positions) {
            for line in &event.lines {
                rows.lines.push(LineRow {
                    owner: line.owner.key(),
                    currency: line.currency,
                    key: line.key.clone(),
                    position,
                    stream: line.stream.clone(),
                    version: crate::v_to_sql(line.version),
                    event_type: line.event_type,
                    effective_at: line.effective_at_text(),
                    deltas: line.deltas_json(),
                });
            }
            if let Some(m) = &event.maturity {
                rows.maturities.push((
                    m.tenant_id.as_str().to_owned(),
                    m.commission_id.as_str().to_owned(),
                    m.due_key(),
                ));
            }
            if let Some(p) = &event.profile {
                match p.json() {
                    Ok(json) => {
                        rows.profiles
                            .push((p.owner.key(), json, crate::v_to_sql(p.version)))
                    }
                    Err(e) => {
                        rows.unwritable.get_or_insert(StoreError::CorruptEvent {
                            stream: event.stream.clone(),
                            version: event.version,
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        for ((owner, currency), fields) in &batch.balances.rows {
            let amounts = BALANCE_FIELDS.map(|f| fields.get(f).copied().unwrap_or(0));
            rows.balances.push((owner.key(), currency, amounts));
        }
        rows
    }
}

/// Decodes, then plans. An unreadable or unpostable event ends the step
/// just before it: what precedes it is projected now, and the next step
/// stops at it with the error, never skipping it.
fn plan_step(start: i64, events: &[(i64, StoredEvent)]) -> PlannedStep {
    let mut decoded = Vec::with_capacity(events.len());
    let mut unreadable = None;
    for (position, stored) in events {
        match stored.decode() {
            Ok(event) => decoded.push((*position, stored, event)),
            Err(error) => {
                unreadable = Some(error);
                break;
            }
        }
    }
    let batch = plan(
        decoded
            .iter()
            .map(|(_, stored, event)| (stored.stream.as_str(), stored.version, event)),
    );
    let stop = match batch.stopped {
        Some((index, ref error)) => {
            let stored = decoded[index].1;
            Some(StoreError::CorruptEvent {
                stream: stored.stream.to_string(),
                version: stored.version,
                reason: error.to_string(),
            })
        }
        None => unreadable,
    };
    let positions: Vec<i64> = decoded
        .iter()
        .take(batch.events.len())
        .map(|d| d.0)
        .collect();
    let rows = StepRows::of(&batch, &positions);
    PlannedStep {
        start,
        last: positions.last().copied(),
        batch,
        stop,
        rows,
    }
}

/// Writes a planned step in its transaction, if the checkpoint still stands
/// where the step read from (otherwise another step projected those events,
/// or the projection was reset: nothing is written).
fn write_step(
    tx: &Transaction<'_>,
    step: &mut PlannedStep,
) -> Result<ProjectionReport, StoreError> {
    let (start, batch, rows) = (step.start, &step.batch, &mut step.rows);
    let now_at = checkpoint(tx)?;
    if now_at != start {
        return Ok(ProjectionReport {
            position: now_at,
            ..ProjectionReport::default()
        });
    }
    let Some(last) = step.last else {
        return match step.stop.take() {
            Some(error) => Err(error),
            None => Ok(ProjectionReport {
                position: start,
                ..ProjectionReport::default()
            }),
        };
    };
    if let Some(error) = rows.unwritable.take() {
        return Err(error);
    }
    {
        let mut insert_line = tx
            .prepare_cached(
                "INSERT INTO journal_lines (owner, currency, line, position, stream, version, event_type, effective_at, deltas) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .map_err(unavailable)?;
        for l in &rows.lines {
            insert_line
                .execute(params![
                    l.owner,
                    l.currency,
                    l.key,
                    l.position,
                    l.stream,
                    l.version,
                    l.event_type,
                    l.effective_at,
                    l.deltas,
                ])
                .map_err(unavailable)?;
        }
        let mut schedule = tx
            .prepare_cached(
                "INSERT OR IGNORE INTO maturities (tenant_id, commission_id, matures_at) VALUES (?1, ?2, ?3)",
            )
            .map_err(unavailable)?;
        for (tenant, commission, due) in &rows.maturities {
            schedule
                .execute(params![tenant, commission, due])
                .map_err(unavailable)?;
        }
        let mut keep_profile = tx
            .prepare_cached(
                "INSERT INTO payout_profiles (owner, profile, version) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (owner) DO UPDATE SET profile = excluded.profile, version = excluded.version \
                 WHERE excluded.version >= payout_profiles.version",
            )
            .map_err(unavailable)?;
        for (owner, json, version) in &rows.profiles {
            keep_profile
                .execute(params![owner, json, version])
                .map_err(unavailable)?;
        }
    }
    write_balances(tx, &rows.balances, last)?;
    for (tenant_id, n) in &batch.drafted_batches {
        tx.prepare_cached(
            "INSERT INTO payout_drafting (tenant_id, batches_drafted) VALUES (?1, ?2) \
             ON CONFLICT (tenant_id) DO UPDATE SET batches_drafted = batches_drafted + excluded.batches_drafted",
        )
        .and_then(|mut s| s.execute(params![tenant_id.as_str(), n]))
        .map_err(unavailable)?;
    }
    tx.execute(
        "INSERT INTO checkpoints (projection, cursor, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (projection) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        params![LEDGER_PROJECTION, format!("sqlite:{last}"), chrono::Utc::now().to_rfc3339()],
    )
    .map_err(unavailable)?;
    Ok(ProjectionReport {
        events: batch.events.len(),
        journal_lines: rows.lines.len(),
        balance_writes: batch.balances.row_count(),
        position: last,
    })
}

/// Adds the coalesced deltas: one upsert per (owner, currency) row.
fn write_balances(
    tx: &Transaction<'_>,
    rows: &[(String, &'static str, [i64; BALANCE_FIELDS.len()])],
    position: i64,
) -> Result<(), StoreError> {
    let columns = BALANCE_FIELDS.join(", ");
    let placeholders = (3..3 + BALANCE_FIELDS.len())
        .map(|i| format!("?{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let updates = BALANCE_FIELDS
        .iter()
        .map(|f| format!("{f} = {f} + excluded.{f}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO balances (owner, currency, {columns}, position) VALUES (?1, ?2, {placeholders}, ?{}) \
         ON CONFLICT (owner, currency) DO UPDATE SET {updates}, position = excluded.position",
        3 + BALANCE_FIELDS.len()
    );
    let mut upsert = tx.prepare_cached(&sql).map_err(unavailable)?;
    for (owner, currency, amounts) in rows {
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![owner, currency];
        values.extend(amounts.iter().map(|a| a as &dyn rusqlite::ToSql));
        values.push(&position);
        upsert
            .execute(rusqlite::params_from_iter(values))
            .map_err(unavailable)?;
    }
    Ok(())
}

impl SqliteEventStore {
    /// Projects up to `limit` new events into the journal and balances, in
    /// one transaction. Returns what it did; zero events when caught up.
    pub async fn project_ledger(&self, limit: usize) -> Result<ProjectionReport, StoreError> {
        if limit == 0 || limit > PROJECTION_BATCH_MAX {
            return Err(StoreError::LimitExceeded {
                what: "projection batch".to_owned(),
                got: limit,
                limit: PROJECTION_BATCH_MAX,
            });
        }
        // The events are read under the connection's lock, decoded and
        // planned without it (ingest keeps appending meanwhile: that work is
        // most of a step), and written in one IMMEDIATE transaction that
        // first checks the checkpoint has not moved.
        let (start, events) = self
            .with_conn(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let start = checkpoint(&tx)?;
                Ok((start, crate::read_after(&tx, start, limit)?))
            })
            .await?;
        if events.is_empty() {
            return Ok(ProjectionReport {
                position: start,
                ..ProjectionReport::default()
            });
        }
        let step = tokio::task::spawn_blocking(move || plan_step(start, &events))
            .await
            .map_err(unavailable)?;
        let (report, step) = self
            .with_conn(move |conn| {
                let mut step = step;
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let report = write_step(&tx, &mut step)?;
                tx.commit().map_err(unavailable)?;
                Ok((report, step))
            })
            .await?;
        // The plan is freed after the lock is released.
        drop(step);
        Ok(report)
    }

    /// Clears the ledger projection (journal lines, balance rows, maturity
    /// schedule, profiles, draft counters) and its checkpoint, in one
    /// transaction, so the next projector steps rebuild it from the events.
    /// The events are untouched (and cannot be touched).
    pub async fn reset_ledger_projection(&self) -> Result<(), StoreError> {
        self.with_conn(|conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            for table in PROJECTION_TABLES {
                tx.execute(&format!("DELETE FROM {table}"), [])
                    .map_err(unavailable)?;
            }
            tx.execute(
                "DELETE FROM checkpoints WHERE projection = ?1",
                [LEDGER_PROJECTION],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)
        })
        .await
    }

    /// How many events the store holds, and how many the ledger projection
    /// has applied (its checkpoint's position).
    pub async fn projection_progress(&self) -> Result<(u64, u64), StoreError> {
        self.with_conn(|conn| {
            let total: i64 = conn
                .query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| {
                    r.get(0)
                })
                .map_err(unavailable)?;
            let tx = conn.transaction().map_err(unavailable)?;
            let done = checkpoint(&tx)?;
            Ok((total.max(0) as u64, done.max(0) as u64))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_store::{AppendRequest, EventStore, StreamId};

    /// A plan made from a checkpoint that then moved (another step
    /// projected its events, or the projection was reset) writes nothing:
    /// no journal line twice, the checkpoint not moved back.
    #[tokio::test]
    async fn a_plan_whose_checkpoint_moved_writes_nothing() {
        let store = SqliteEventStore::in_memory().expect("store");
        let events = ledger_domain::sample::mixed_events(3, 40, 2);
        let mut versions = std::collections::HashMap::new();
        for event in &events {
            let stream = StreamId::of(event).expect("stream");
            let version = versions.entry(stream).or_insert(0u64);
            let request =
                AppendRequest::from_domain(*version, std::slice::from_ref(event)).expect("request");
            store.append(request).await.expect("append");
            *version += 1;
        }
        let stale = store
            .with_conn(|conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let start = checkpoint(&tx)?;
                Ok((start, crate::read_after(&tx, start, 1_000)?))
            })
            .await
            .expect("read");
        let mut stale = plan_step(stale.0, &stale.1);
        assert_eq!(stale.batch.events.len(), 40, "every event planned");
        let projected = store.project_ledger(1_000).await.expect("project");
        assert_eq!(projected.events, 40);
        let (report, lines, at) = store
            .with_conn(move |conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(unavailable)?;
                let report = write_step(&tx, &mut stale)?;
                let lines: i64 = tx
                    .query_row("SELECT COUNT(*) FROM journal_lines", [], |r| r.get(0))
                    .map_err(unavailable)?;
                let at = checkpoint(&tx)?;
                tx.commit().map_err(unavailable)?;
                Ok((report, lines, at))
            })
            .await
            .expect("write");
        assert_eq!(report.events, 0, "the stale plan wrote nothing");
        assert_eq!(lines as usize, projected.journal_lines);
        assert_eq!(at, projected.position, "the checkpoint stays where it was");
    }
}

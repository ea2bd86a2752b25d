//! The ledger projection on the embedded store: journal lines and balances,
//! derived from the events in global order.
//!
//! One projector step runs in one SQLite transaction: read the events after
//! the checkpoint, post them, write the journal lines, write each touched
//! balance row once (coalesced), move the checkpoint. A crash anywhere
//! leaves everything as before the step, so each event is projected exactly
//! once. Balance rows are ordinary columns, readable with `sqlite3`:
//!
//! ```sql
//! SELECT owner, currency, pending, available, reserved, receivable, paid_out FROM balances;
//! ```

use std::collections::BTreeMap;

use event_store::{JournalLine, StoreError, StoredEvent};
use ledger_domain::projection::{BATCHES_DRAFTED_FIELD, BalanceDeltas, BalanceOwner, DRAFTS_ROW};
use ledger_domain::{AffiliateId, TenantId, journal_entry};
use rusqlite::{OptionalExtension, Transaction, params};

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
    "pending",
    "available",
    "reserved",
    "receivable",
    "paid_out",
    "commission_expense",
    "clearing_stripe",
    "clearing_paypal",
    "clearing_sepa",
    "clearing_sandbox",
];

pub(crate) const PROJECTION_SCHEMA: &str = r#"
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
-- Commissions in their hold period, for the maturing job.
CREATE TABLE IF NOT EXISTS maturities (
    tenant_id     TEXT NOT NULL,
    commission_id TEXT NOT NULL,
    matures_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, commission_id)
);
CREATE INDEX IF NOT EXISTS maturities_due ON maturities (matures_at);
-- The latest payout profile of each affiliate (a snapshot per event).
CREATE TABLE IF NOT EXISTS payout_profiles (
    owner    TEXT    NOT NULL PRIMARY KEY,
    profile  TEXT    NOT NULL,
    position INTEGER NOT NULL
);
-- How many drafted batches of each tenant are applied (the draft guard).
CREATE TABLE IF NOT EXISTS payout_drafting (
    tenant_id       TEXT    NOT NULL PRIMARY KEY,
    batches_drafted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal_lines (
    owner        TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    position     INTEGER NOT NULL,
    stream       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    event_type   TEXT    NOT NULL,
    effective_at TEXT    NOT NULL,
    -- {"available": -1000, "reserved": 1000}: signed minor units per field.
    deltas       TEXT    NOT NULL,
    PRIMARY KEY (owner, currency, position)
);
"#;

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

/// Keeps the maturity schedule: a recorded commission is due at its
/// maturity; once matured or wholly reversed it is no longer.
fn schedule_maturity(tx: &Transaction<'_>, event: &ledger_domain::Event) -> Result<(), StoreError> {
    use ledger_domain::EventBody;
    let tenant = event.tenant_id().as_str();
    match event.body() {
        EventBody::CommissionRecorded(e) => {
            tx.prepare_cached("INSERT OR IGNORE INTO maturities (tenant_id, commission_id, matures_at) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![tenant, e.commission_id.as_str(), time_key(e.matures_at)]))
                .map_err(unavailable)?;
        }
        EventBody::CommissionMatured(e) => remove_maturity(tx, tenant, e.commission_id.as_str())?,
        EventBody::CommissionReversed(e) if e.whole => {
            remove_maturity(tx, tenant, e.commission_id.as_str())?
        }
        _ => {}
    }
    Ok(())
}

fn remove_maturity(tx: &Transaction<'_>, tenant: &str, commission: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM maturities WHERE tenant_id = ?1 AND commission_id = ?2")
        .and_then(|mut s| s.execute(params![tenant, commission]))
        .map(|_| ())
        .map_err(unavailable)
}

/// A time as a fixed-width UTC string, so text order is time order.
fn time_key(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn project_step(tx: &Transaction<'_>, limit: usize) -> Result<ProjectionReport, StoreError> {
    let start = checkpoint(tx)?;
    let mut events: Vec<(i64, StoredEvent)> = Vec::new();
    {
        let mut statement = tx
            .prepare_cached(
                "SELECT stream, version, event_type, schema_version, payload, payload_hash, recorded_at, position \
                 FROM events WHERE position > ?1 ORDER BY position LIMIT ?2",
            )
            .map_err(unavailable)?;
        let mut rows = statement
            .query(params![start, limit as i64])
            .map_err(unavailable)?;
        while let Some(row) = rows.next().map_err(unavailable)? {
            let position: i64 = row.get(7).map_err(unavailable)?;
            events.push((
                position,
                crate::to_stored(crate::row_to_event(row).map_err(unavailable)?)?,
            ));
        }
    }
    // Read and post every event first. An unreadable one ends the step just
    // before it: what precedes it is projected now, and the next step stops
    // at it with the error, never skipping it.
    let mut posted = Vec::with_capacity(events.len());
    for (position, stored) in &events {
        let corrupt = |reason: String| StoreError::CorruptEvent {
            stream: stored.stream.to_string(),
            version: stored.version,
            reason,
        };
        let entry = stored.decode().and_then(|event| {
            journal_entry(&event)
                .map(|entry| (event, entry))
                .map_err(|e| corrupt(e.to_string()))
        });
        match entry {
            Ok((event, entry)) => posted.push((*position, stored, event, entry)),
            Err(error) if posted.is_empty() => return Err(error),
            Err(_) => break,
        }
    }
    let Some((last, ..)) = posted.last() else {
        return Ok(ProjectionReport {
            position: start,
            ..ProjectionReport::default()
        });
    };
    let last = *last;
    let mut deltas = BalanceDeltas::default();
    let mut journal_lines = 0;
    {
        let mut insert_line = tx
            .prepare_cached(
                "INSERT INTO journal_lines (owner, currency, position, stream, version, event_type, effective_at, deltas) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(unavailable)?;
        for (position, stored, event, entry) in &posted {
            let corrupt = |reason: String| StoreError::CorruptEvent {
                stream: stored.stream.to_string(),
                version: stored.version,
                reason,
            };
            let mut own = BalanceDeltas::default();
            own.add(entry).map_err(|e| corrupt(e.to_string()))?;
            deltas.add(entry).map_err(|e| corrupt(e.to_string()))?;
            schedule_maturity(tx, event)?;
            if let ledger_domain::EventBody::PayoutProfileChanged(e) = event.body() {
                let owner = owner_key(event.tenant_id(), &e.affiliate_id);
                let json = serde_json::to_string(&e.profile).map_err(|e| corrupt(e.to_string()))?;
                tx.prepare_cached(
                    "INSERT INTO payout_profiles (owner, profile, position) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (owner) DO UPDATE SET profile = excluded.profile, position = excluded.position",
                )
                .and_then(|mut s| s.execute(params![owner, json, position]))
                .map_err(unavailable)?;
            }
            let effective_at = event.effective_at().to_rfc3339();
            for ((owner, currency), fields) in &own.rows {
                if !matches!(owner, BalanceOwner::Affiliate { .. }) {
                    continue;
                }
                let json = format!(
                    "{{{}}}",
                    fields
                        .iter()
                        .map(|(f, v)| format!("\"{f}\":{v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                );
                insert_line
                    .execute(params![
                        owner.key(),
                        currency,
                        position,
                        stored.stream.as_str(),
                        stored.version as i64,
                        stored.event_type,
                        effective_at,
                        json
                    ])
                    .map_err(unavailable)?;
                journal_lines += 1;
            }
        }
    }
    {
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
            "INSERT INTO balances (owner, currency, {columns}, position) VALUES (?1, ?2, {placeholders}, ?13) \
             ON CONFLICT (owner, currency) DO UPDATE SET {updates}, position = excluded.position"
        );
        let mut upsert = tx.prepare_cached(&sql).map_err(unavailable)?;
        for ((owner, currency), fields) in &deltas.rows {
            if *currency == DRAFTS_ROW {
                let BalanceOwner::Tenant { tenant_id } = owner else {
                    continue;
                };
                let n = fields.get(BATCHES_DRAFTED_FIELD).copied().unwrap_or(0);
                tx.prepare_cached(
                    "INSERT INTO payout_drafting (tenant_id, batches_drafted) VALUES (?1, ?2) \
                     ON CONFLICT (tenant_id) DO UPDATE SET batches_drafted = batches_drafted + excluded.batches_drafted",
                )
                .and_then(|mut s| s.execute(params![tenant_id.as_str(), n]))
                .map_err(unavailable)?;
                continue;
            }
            let values: Vec<i64> = BALANCE_FIELDS
                .iter()
                .map(|f| fields.get(f).copied().unwrap_or(0))
                .collect();
            upsert
                .execute(params![
                    owner.key(),
                    currency,
                    values[0],
                    values[1],
                    values[2],
                    values[3],
                    values[4],
                    values[5],
                    values[6],
                    values[7],
                    values[8],
                    values[9],
                    last
                ])
                .map_err(unavailable)?;
        }
    }
    tx.execute(
        "INSERT INTO checkpoints (projection, cursor, updated_at) VALUES (?1, ?2, ?3) \
         ON CONFLICT (projection) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        params![LEDGER_PROJECTION, format!("sqlite:{last}"), chrono::Utc::now().to_rfc3339()],
    )
    .map_err(unavailable)?;
    Ok(ProjectionReport {
        events: posted.len(),
        journal_lines,
        balance_writes: deltas.row_count(),
        position: last,
    })
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
        self.with_conn(move |conn| {
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let report = project_step(&tx, limit)?;
            tx.commit().map_err(unavailable)?;
            Ok(report)
        })
        .await
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
            for table in [
                "journal_lines",
                "balances",
                "maturities",
                "payout_profiles",
                "payout_drafting",
            ] {
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

    /// The projected balance row of an affiliate (None before its first event).
    pub async fn affiliate_balance(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
        currency: &str,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.balance_row(owner_key(tenant_id, affiliate_id), currency.to_owned())
            .await
    }

    /// The projected balance row of a tenant's own accounts.
    pub async fn tenant_balance(
        &self,
        tenant_id: &TenantId,
        currency: &str,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.balance_row(
            BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            }
            .key(),
            currency.to_owned(),
        )
        .await
    }

    async fn balance_row(
        &self,
        owner: String,
        currency: String,
    ) -> Result<Option<BalanceRow>, StoreError> {
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT {}, position FROM balances WHERE owner = ?1 AND currency = ?2",
                BALANCE_FIELDS.join(", ")
            );
            conn.query_row(&sql, params![owner, currency], |row| {
                let mut fields = BTreeMap::new();
                for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                    fields.insert(*f, row.get::<_, i64>(i)?);
                }
                Ok(BalanceRow {
                    owner: owner.clone(),
                    currency: currency.clone(),
                    fields,
                    position: row.get(BALANCE_FIELDS.len())?,
                })
            })
            .optional()
            .map_err(unavailable)
        })
        .await
    }

    /// Every projected balance row, sorted by owner and currency.
    pub async fn all_balances(&self) -> Result<Vec<BalanceRow>, StoreError> {
        self.balance_rows(None).await
    }

    async fn balance_rows(&self, owner: Option<String>) -> Result<Vec<BalanceRow>, StoreError> {
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT owner, currency, {}, position FROM balances WHERE ?1 IS NULL OR owner = ?1 ORDER BY owner, currency",
                BALANCE_FIELDS.join(", ")
            );
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let rows = statement
                .query_map([owner], |row| {
                    let mut fields = BTreeMap::new();
                    for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                        fields.insert(*f, row.get::<_, i64>(i + 2)?);
                    }
                    Ok(BalanceRow { owner: row.get(0)?, currency: row.get(1)?, fields, position: row.get(2 + BALANCE_FIELDS.len())? })
                })
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }

    /// An affiliate's journal in one currency, oldest first, after a position.
    pub async fn affiliate_journal(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
        currency: &str,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<JournalLine>, StoreError> {
        self.owner_journal(
            owner_key(tenant_id, affiliate_id),
            currency,
            after_position,
            limit,
        )
        .await
    }

    /// An owner's journal in one currency, oldest first, after a position.
    pub async fn owner_journal(
        &self,
        owner: String,
        currency: &str,
        after_position: i64,
        limit: usize,
    ) -> Result<Vec<JournalLine>, StoreError> {
        if limit == 0 || limit > JOURNAL_PAGE_MAX {
            return Err(StoreError::LimitExceeded {
                what: "journal page size".to_owned(),
                got: limit,
                limit: JOURNAL_PAGE_MAX,
            });
        }
        let currency = currency.to_owned();
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT position, stream, version, event_type, effective_at, deltas FROM journal_lines \
                     WHERE owner = ?1 AND currency = ?2 AND position > ?3 ORDER BY position LIMIT ?4",
                )
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![owner, currency, after_position, limit as i64], |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, row.get::<_, i64>(2)?, row.get::<_, String>(3)?, row.get::<_, String>(4)?, row.get::<_, String>(5)?))
                })
                .map_err(unavailable)?;
            let mut lines = Vec::new();
            for row in rows {
                let (position, stream, version, event_type, effective_at, deltas) = row.map_err(unavailable)?;
                let deltas: BTreeMap<String, i64> = serde_json::from_str(&deltas).map_err(|e| StoreError::CorruptEvent {
                    stream: stream.clone(),
                    version: version as u64,
                    reason: format!("journal line deltas: {e}"),
                })?;
                lines.push(JournalLine { token: position.to_string(), stream, version: version as u64, event_type, effective_at, deltas });
            }
            Ok(lines)
        })
        .await
    }
}

impl SqliteEventStore {
    /// Every projected balance row of an affiliate, one per currency.
    pub async fn affiliate_balances(
        &self,
        tenant_id: &TenantId,
        affiliate_id: &AffiliateId,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        self.balance_rows(Some(owner_key(tenant_id, affiliate_id)))
            .await
    }
}

#[async_trait::async_trait]
impl event_store::MaturitySchedule for SqliteEventStore {
    async fn due(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<event_store::DueCommission>, StoreError> {
        event_store::check_read_limit(limit)?;
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached("SELECT tenant_id, commission_id, matures_at FROM maturities WHERE matures_at <= ?1 ORDER BY matures_at LIMIT ?2")
                .map_err(unavailable)?;
            let rows = statement
                .query_map(params![time_key(now), limit as i64], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(unavailable)?;
            let mut due = Vec::new();
            for row in rows {
                let (tenant_id, commission_id, at) = row.map_err(unavailable)?;
                let matures_at = chrono::DateTime::parse_from_rfc3339(&at)
                    .map_err(|e| StoreError::Unavailable(format!("maturities: bad time {at:?}: {e}")))?
                    .with_timezone(&chrono::Utc);
                due.push(event_store::DueCommission { tenant_id, commission_id, matures_at, slot: at });
            }
            Ok(due)
        })
        .await
    }

    async fn remove(&self, due: &event_store::DueCommission) -> Result<(), StoreError> {
        let (tenant, commission) = (due.tenant_id.clone(), due.commission_id.clone());
        self.with_conn(move |conn| {
            conn.execute(
                "DELETE FROM maturities WHERE tenant_id = ?1 AND commission_id = ?2",
                params![tenant, commission],
            )
            .map(|_| ())
            .map_err(unavailable)
        })
        .await
    }
}

#[async_trait::async_trait]
impl event_store::PayoutReads for SqliteEventStore {
    async fn payout_candidates(
        &self,
        tenant_id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::CandidatePage, StoreError> {
        if limit == 0 || limit > event_store::CANDIDATE_PAGE_MAX {
            return Err(StoreError::LimitExceeded {
                what: "payout candidates page".to_owned(),
                got: limit,
                limit: event_store::CANDIDATE_PAGE_MAX,
            });
        }
        let prefix = format!("{tenant_id}/affiliate/");
        // Owners of this tenant sort between "t/affiliate/" and "t/affiliate0".
        let end = format!("{tenant_id}/affiliate0");
        let (after_owner, after_currency) = match after {
            None => (prefix.clone(), String::new()),
            Some(token) => match token.split_once(' ') {
                Some((o, c)) if o.starts_with(&prefix) => (o.to_owned(), c.to_owned()),
                _ => {
                    return Err(StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: "not a payout candidates token of this tenant".to_owned(),
                    });
                }
            },
        };
        self.with_conn(move |conn| {
            let mut statement = conn
                .prepare_cached(
                    "SELECT b.owner, b.currency, b.available, b.receivable, p.profile FROM balances b \
                     LEFT JOIN payout_profiles p ON p.owner = b.owner \
                     WHERE (b.owner, b.currency) > (?1, ?2) AND b.owner < ?3 AND b.available < 0 \
                     ORDER BY b.owner, b.currency LIMIT ?4",
                )
                .map_err(unavailable)?;
            let mut rows = statement
                .query(params![after_owner, after_currency, end, limit as i64])
                .map_err(unavailable)?;
            let mut candidates = Vec::new();
            let mut last = None;
            while let Some(row) = rows.next().map_err(unavailable)? {
                let owner: String = row.get(0).map_err(unavailable)?;
                let currency: String = row.get(1).map_err(unavailable)?;
                let available: i64 = row.get(2).map_err(unavailable)?;
                let receivable: i64 = row.get(3).map_err(unavailable)?;
                let profile: Option<String> = row.get(4).map_err(unavailable)?;
                candidates.push(event_store::payout_candidate(owner.strip_prefix(&prefix).unwrap_or(&owner), &currency, available, receivable, profile.as_deref())?);
                last = Some(format!("{owner} {currency}"));
            }
            let next = if candidates.len() == limit { last } else { None };
            Ok(event_store::CandidatePage { candidates, next })
        })
        .await
    }

    async fn batches_drafted(&self, tenant_id: &TenantId) -> Result<u64, StoreError> {
        let tenant = tenant_id.to_string();
        self.with_conn(move |conn| {
            conn.query_row(
                "SELECT batches_drafted FROM payout_drafting WHERE tenant_id = ?1",
                [tenant],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0) as u64)
            .map_err(unavailable)
        })
        .await
    }
}

impl SqliteEventStore {
    /// A page of one tenant's balance rows after `(owner, currency)`.
    async fn tenant_rows_after(
        &self,
        tenant_id: &TenantId,
        after: Option<(String, String)>,
        limit: usize,
    ) -> Result<Vec<BalanceRow>, StoreError> {
        // Owner keys start `tenant/`; `0` is the character after `/`.
        let low = format!("{tenant_id}/");
        let high = format!("{tenant_id}0");
        let (after_owner, after_currency) = after.unwrap_or_default();
        self.with_conn(move |conn| {
            let sql = format!(
                "SELECT owner, currency, {}, position FROM balances \
                 WHERE owner >= ?1 AND owner < ?2 AND (owner, currency) > (?3, ?4) \
                 ORDER BY owner, currency LIMIT ?5",
                BALANCE_FIELDS.join(", ")
            );
            let mut statement = conn.prepare_cached(&sql).map_err(unavailable)?;
            let rows = statement
                .query_map(
                    params![low, high, after_owner, after_currency, limit as i64],
                    |row| {
                        let mut fields = BTreeMap::new();
                        for (i, f) in BALANCE_FIELDS.iter().enumerate() {
                            fields.insert(*f, row.get::<_, i64>(i + 2)?);
                        }
                        Ok(BalanceRow {
                            owner: row.get(0)?,
                            currency: row.get(1)?,
                            fields,
                            position: row.get(2 + BALANCE_FIELDS.len())?,
                        })
                    },
                )
                .map_err(unavailable)?;
            rows.map(|r| r.map_err(unavailable)).collect()
        })
        .await
    }
}

fn public_fields(fields: BTreeMap<&'static str, i64>) -> event_store::Fields {
    fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[async_trait::async_trait]
impl event_store::LedgerReads for SqliteEventStore {
    async fn balances(
        &self,
        owner: &BalanceOwner,
    ) -> Result<Vec<(String, event_store::Fields)>, StoreError> {
        Ok(self
            .balance_rows(Some(owner.key()))
            .await?
            .into_iter()
            .map(|r| (r.currency, public_fields(r.fields)))
            .collect())
    }

    async fn journal(
        &self,
        owner: &BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::JournalPage, StoreError> {
        let after_position = match after {
            None => 0,
            Some(token) => token
                .parse::<i64>()
                .map_err(|_| StoreError::InvalidCursor {
                    cursor: token.to_owned(),
                    reason: "not a journal page token".into(),
                })?,
        };
        let lines = self
            .owner_journal(owner.key(), currency, after_position, limit)
            .await?;
        let next = (lines.len() == limit)
            .then(|| lines.last().map(|l| l.token.clone()))
            .flatten();
        Ok(event_store::JournalPage { lines, next })
    }

    async fn tenant_rows(
        &self,
        tenant_id: &TenantId,
        after: Option<&str>,
        limit: usize,
    ) -> Result<event_store::TenantRowPage, StoreError> {
        event_store::check_tenant_rows_limit(limit)?;
        let after = match after {
            None => None,
            Some(token) => Some(
                token
                    .split_once(' ')
                    .filter(|(o, _)| o.starts_with(&format!("{tenant_id}/")))
                    .map(|(o, c)| (o.to_owned(), c.to_owned()))
                    .ok_or_else(|| StoreError::InvalidCursor {
                        cursor: token.to_owned(),
                        reason: "not a balance rows token of this tenant".to_owned(),
                    })?,
            ),
        };
        let rows = self.tenant_rows_after(tenant_id, after, limit).await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| format!("{} {}", r.owner, r.currency)))
            .flatten();
        let rows = rows
            .into_iter()
            .filter(|r| !r.currency.starts_with('#'))
            .map(|r| {
                let owner = BalanceOwner::from_key(&r.owner).ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "balance row owner {:?} is unreadable",
                        r.owner
                    ))
                })?;
                Ok(event_store::TenantRow {
                    owner,
                    currency: r.currency,
                    fields: public_fields(r.fields),
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(event_store::TenantRowPage { rows, next })
    }
}

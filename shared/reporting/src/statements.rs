//! Generating, storing and listing statements.
//!
//! Keys: `statements/{tenant}/{affiliate}/{currency}/{YYYY-MM}/v{NNNN}.csv`
//! and `.json`. Each version is created once (conditional put) and never
//! replaced. Regenerating a period whose ledger has not changed writes
//! nothing; if it changed (a late event), the next version is written with
//! the reason and the version it supersedes. Each version written is also
//! recorded as a `statement.published` event in the statement's stream
//! (`statement/{affiliate}/{currency}/{YYYY-MM}`), after its files: a run
//! that stops between the two records it when it runs again (the period
//! is then unchanged, and its latest version has no event yet).

use chrono::{DateTime, Utc};
use event_store::{AppendRequest, EventStore, Fields, JournalLine, LedgerReads, StreamId};
use file_store::FileStore;
use ledger_domain::events::{AggregateRef, EventBody, StatementPublished, stream_name};
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{Actor, AffiliateId, Event, TenantId};
use serde::Serialize;

use crate::ReportError;
use crate::statement::{Period, Statement, VersionMeta, sha256_hex};

/// Journal lines read per page.
const JOURNAL_PAGE: usize = 500;
/// Balance rows read per page.
const ROWS_PAGE: usize = 1000;

/// Where an affiliate's statements are kept.
pub fn statement_prefix(tenant_id: &TenantId, affiliate_id: &AffiliateId) -> String {
    format!("statements/{tenant_id}/{affiliate_id}/")
}

fn version_key(statement: &Statement, version: u32, extension: &str) -> String {
    format!(
        "{}{}/{}/v{version:04}.{extension}",
        statement_prefix(&statement.tenant_id, &statement.affiliate_id),
        statement.currency.code(),
        statement.period.label
    )
}

/// One stored statement file, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedStatement {
    pub currency: String,
    pub period: String,
    pub version: u32,
    pub json_key: String,
    pub csv_key: String,
}

/// Reads `…/{currency}/{period}/v{NNNN}.json` under an affiliate's prefix.
fn parse_listed(prefix: &str, key: &str) -> Option<ListedStatement> {
    let rest = key.strip_prefix(prefix)?;
    let mut parts = rest.split('/');
    let (currency, period, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let version: u32 = file
        .strip_prefix('v')?
        .strip_suffix(".json")?
        .parse()
        .ok()?;
    let base = format!("{prefix}{currency}/{period}/v{version:04}");
    Some(ListedStatement {
        currency: currency.to_owned(),
        period: period.to_owned(),
        version,
        json_key: format!("{base}.json"),
        csv_key: format!("{base}.csv"),
    })
}

/// Every stored statement version of one affiliate, by currency, period
/// and version.
pub async fn list_statements(
    files: &FileStore,
    tenant_id: &TenantId,
    affiliate_id: &AffiliateId,
) -> Result<Vec<ListedStatement>, ReportError> {
    let prefix = statement_prefix(tenant_id, affiliate_id);
    let mut listed: Vec<_> = files
        .list(&prefix)
        .await?
        .iter()
        .filter_map(|k| parse_listed(&prefix, k))
        .collect();
    listed.sort_by(|a, b| {
        (&a.currency, &a.period, a.version).cmp(&(&b.currency, &b.period, b.version))
    });
    Ok(listed)
}

/// What storing one statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Stored {
    /// A new version was written.
    Created { version: u32 },
    /// The latest version already says exactly this.
    Unchanged { version: u32 },
}

/// Writes a statement as the next version of its period, unless the latest
/// version has the same content.
pub async fn store_statement(
    files: &FileStore,
    statement: &Statement,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Stored, ReportError> {
    Ok(store_version(files, statement, reason, now).await?.0)
}

/// [`store_statement`], also answering what the latest version says about
/// itself (the one written, or the unchanged one's stored metadata).
async fn store_version(
    files: &FileStore,
    statement: &Statement,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(Stored, VersionMeta), ReportError> {
    let csv = statement.to_csv();
    let content_sha256 = sha256_hex(&csv);
    // Two attempts: a concurrent writer may take the version we chose.
    for _ in 0..3 {
        let prefix = format!(
            "{}{}/{}/",
            statement_prefix(&statement.tenant_id, &statement.affiliate_id),
            statement.currency.code(),
            statement.period.label
        );
        let latest = files
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|k| {
                k.strip_prefix(&prefix)?
                    .strip_prefix('v')?
                    .strip_suffix(".json")?
                    .parse::<u32>()
                    .ok()
            })
            .max();
        let mut supersedes = None;
        if let Some(version) = latest {
            let bytes = files
                .read(&version_key(statement, version, "json"))
                .await?
                .unwrap_or_default();
            // The JSON's top level carries the version's metadata.
            if let Ok(meta) = serde_json::from_slice::<VersionMeta>(&bytes)
                && meta.content_sha256 == content_sha256
                && meta.version == version
            {
                return Ok((Stored::Unchanged { version }, meta));
            }
            supersedes = Some(version);
        }
        let version = latest.map_or(1, |v| v + 1);
        let meta = VersionMeta {
            version,
            supersedes,
            reason: match supersedes {
                None => reason.to_owned(),
                Some(v) => format!(
                    "{reason}; the ledger changed since version {v} (late or corrected events in the period)"
                ),
            },
            generated_at: now,
            content_sha256: content_sha256.clone(),
        };
        // The CSV is deterministic: one left by a crashed run with the same
        // content is fine; with other content, take the next version.
        let csv_key = version_key(statement, version, "csv");
        if !files.create(&csv_key, "text/csv", csv.clone()).await? {
            let existing = files.read(&csv_key).await?.unwrap_or_default();
            if sha256_hex(&existing) != content_sha256 {
                continue;
            }
        }
        if files
            .create(
                &version_key(statement, version, "json"),
                "application/json",
                statement.to_json(&meta),
            )
            .await?
        {
            return Ok((Stored::Created { version }, meta));
        }
    }
    Err(ReportError::Contended(format!(
        "statement {}/{}/{}/{} kept being written concurrently",
        statement.tenant_id,
        statement.affiliate_id,
        statement.currency.code(),
        statement.period.label
    )))
}

/// An owner's whole journal in one currency.
pub async fn read_journal<R: LedgerReads + ?Sized>(
    reads: &R,
    owner: &BalanceOwner,
    currency: &str,
) -> Result<Vec<JournalLine>, ReportError> {
    let mut lines = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .journal(owner, currency, after.as_deref(), JOURNAL_PAGE)
            .await?;
        lines.extend(page.lines);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(lines),
        }
    }
}

/// Builds one affiliate's statement from its journal and balance row.
pub async fn statement_for<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: &TenantId,
    affiliate_id: &AffiliateId,
    currency: &str,
    period: &Period,
    ledger_now: &Fields,
) -> Result<Statement, ReportError> {
    let owner = BalanceOwner::Affiliate {
        tenant_id: tenant_id.clone(),
        affiliate_id: affiliate_id.clone(),
    };
    let journal = read_journal(reads, &owner, currency).await?;
    Ok(Statement::build(
        tenant_id.clone(),
        affiliate_id.clone(),
        currency,
        period.clone(),
        journal,
        ledger_now,
    )?)
}

/// One statement that could not be produced, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatementFailure {
    pub affiliate_id: String,
    pub currency: String,
    pub error: String,
}

/// What a statement run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StatementRunReport {
    pub period: String,
    pub time_zone: String,
    pub created: usize,
    pub unchanged: usize,
    /// Affiliate-currencies with no balance and no movement in the period.
    pub empty: usize,
    pub failed: Vec<StatementFailure>,
    /// Set when the run stopped at its bound: pass it as `after` to go on.
    pub next: Option<String>,
}

/// Which statements one run generates.
#[derive(Debug, Clone, Default)]
pub struct RunScope {
    /// One affiliate's statements (every currency), or the whole tenant's.
    pub only: Option<AffiliateId>,
    /// Where a bounded run over the tenant goes on (a previous `next`).
    pub after: Option<String>,
    /// The most balance rows one run takes; `0` means no bound.
    pub max_rows: usize,
}

/// Generates and stores the statements of one tenant for a period: every
/// affiliate and currency with a balance row (bounded by `scope.max_rows`,
/// resumable), or one affiliate's. A statement that does not tie to the
/// ledger is not written; it is reported (and logged) as a failure, and
/// the run goes on.
pub async fn generate_statements<R: LedgerReads + ?Sized, S: EventStore + ?Sized>(
    stores: &StatementStores<'_, R, S>,
    tenant_id: &TenantId,
    period: &Period,
    scope: &RunScope,
    reason: &str,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<StatementRunReport, ReportError> {
    let StatementStores {
        reads,
        files,
        events,
    } = *stores;
    let mut report = StatementRunReport {
        period: period.label.clone(),
        time_zone: period.time_zone.name().to_owned(),
        ..Default::default()
    };
    let mut rows = Vec::new();
    match &scope.only {
        Some(affiliate_id) => {
            let owner = BalanceOwner::Affiliate {
                tenant_id: tenant_id.clone(),
                affiliate_id: affiliate_id.clone(),
            };
            for (currency, fields) in reads.balances(&owner).await? {
                rows.push((affiliate_id.clone(), currency, fields));
            }
        }
        None => {
            let mut after = scope.after.clone();
            let page_size = match scope.max_rows {
                0 => ROWS_PAGE,
                n => n.min(ROWS_PAGE),
            };
            loop {
                let page = reads
                    .tenant_rows(tenant_id, after.as_deref(), page_size)
                    .await?;
                for row in page.rows {
                    if let BalanceOwner::Affiliate { affiliate_id, .. } = row.owner {
                        rows.push((affiliate_id, row.currency, row.fields));
                    }
                }
                after = page.next;
                if after.is_none() || (scope.max_rows > 0 && rows.len() >= scope.max_rows) {
                    break;
                }
            }
            report.next = after;
        }
    }
    for (affiliate_id, currency, fields) in rows {
        let built =
            statement_for(reads, tenant_id, &affiliate_id, &currency, period, &fields).await;
        let statement = match built {
            Ok(s) => s,
            Err(ReportError::Statement(e)) => {
                tracing::error!(tenant = %tenant_id, affiliate = %affiliate_id, currency = %currency, error = %e, "statement not written");
                report.failed.push(StatementFailure {
                    affiliate_id: affiliate_id.to_string(),
                    currency,
                    error: e.to_string(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        if statement.is_empty() {
            report.empty += 1;
            continue;
        }
        let (stored, meta) = store_version(files, &statement, reason, now).await?;
        match stored {
            Stored::Created { .. } => report.created += 1,
            Stored::Unchanged { .. } => report.unchanged += 1,
        }
        record_published(events, &statement, &meta, actor, now).await?;
    }
    Ok(report)
}

/// Where a statement run reads and writes: the projection it builds from,
/// the files it writes, and the event log it records each version in.
pub struct StatementStores<'a, R: ?Sized, S: ?Sized> {
    pub reads: &'a R,
    pub files: &'a FileStore,
    pub events: &'a S,
}

impl<R: ?Sized, S: ?Sized> Clone for StatementStores<'_, R, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R: ?Sized, S: ?Sized> Copy for StatementStores<'_, R, S> {}

/// The `statement.published` event of a statement version.
pub fn published_event(
    statement: &Statement,
    meta: &VersionMeta,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<Event, ReportError> {
    let body = StatementPublished {
        affiliate_id: statement.affiliate_id.clone(),
        currency: statement.currency.code().to_owned(),
        period: statement.period.label.clone(),
        time_zone: statement.period.time_zone.name().to_owned(),
        period_start: statement.period.start,
        period_end: statement.period.end,
        version: meta.version,
        supersedes: meta.supersedes,
        reason: meta.reason.clone(),
        closing_available: statement.closing_available()?,
        closing_receivable: statement.closing_receivable()?,
        content_sha256: meta.content_sha256.clone(),
    };
    Ok(Event::new(
        statement.tenant_id.clone(),
        actor.clone(),
        now,
        now,
        EventBody::StatementPublished(body),
    ))
}

/// Records a statement version in its stream unless it already is: one
/// `statement.published` event per version written.
async fn record_published<S: EventStore + ?Sized>(
    events: &S,
    statement: &Statement,
    meta: &VersionMeta,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    let stream = StreamId::new(stream_name(
        &statement.tenant_id,
        AggregateRef::Statement(
            &statement.affiliate_id,
            statement.currency.code(),
            &statement.period.label,
        ),
    ))?;
    let recorded = ledger_app::load(events, &stream)
        .await
        .map_err(crate::app)?;
    let already = recorded
        .iter()
        .any(|e| matches!(e.body(), EventBody::StatementPublished(p) if p.version == meta.version));
    if already {
        return Ok(());
    }
    let event = published_event(statement, meta, actor, now)?;
    let request = AppendRequest::from_domain(recorded.len() as u64, &[event])?;
    match events.append(request).await {
        Ok(_) => Ok(()),
        // A concurrent run of the same period recorded it first.
        Err(event_store::StoreError::VersionConflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_keys_are_read_back_and_others_ignored() {
        let prefix = "statements/acme/aff-1/";
        let listed = parse_listed(prefix, "statements/acme/aff-1/EUR/2026-10/v0002.json").unwrap();
        assert_eq!(listed.version, 2);
        assert_eq!(
            listed.csv_key,
            "statements/acme/aff-1/EUR/2026-10/v0002.csv"
        );
        assert!(parse_listed(prefix, "statements/acme/aff-1/EUR/2026-10/v0002.csv").is_none());
        assert!(parse_listed(prefix, "statements/acme/aff-10/EUR/2026-10/v0001.json").is_none());
    }
}

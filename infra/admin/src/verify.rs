//! `verify`: the trial balances, and the stored balances against a fold
//! of the events.

use std::collections::{BTreeMap, BTreeSet};

use event_store::{Cursor, EventStore, LedgerReads, TenantRowPages};
use event_store_dynamodb::table_scan::{TABLE_SCAN_PAGE_MAX, TableScan};
use ledger_domain::projection::{BalanceDeltas, DRAFTS_ROW};
use ledger_domain::{TenantId, journal_entry};
use local_stack::Backend;

use crate::cli::{Source, SourceArgs};
use crate::failure::{Failure, failed, refused};

async fn all_events(
    backend: &Backend,
    source: SourceArgs,
) -> Result<Vec<event_store::StoredEvent>, Failure> {
    if let (Backend::Aws { store, .. }, Source::Table) = (backend, source.source) {
        let mut scan = TableScan::new(source.segments).map_err(failed)?;
        let mut out = Vec::new();
        while !scan.is_done() {
            out.extend(
                store
                    .scan_events_table(&mut scan, TABLE_SCAN_PAGE_MAX)
                    .await
                    .map_err(failed)?,
            );
        }
        return Ok(out);
    }
    let mut out = Vec::new();
    let mut cursor: Option<Cursor> = None;
    loop {
        let page = match backend {
            Backend::Embedded(s) => {
                s.read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await
            }
            Backend::Aws { store, .. } => {
                store
                    .read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await
            }
        }
        .map_err(failed)?;
        if page.events.is_empty() {
            return Ok(out);
        }
        out.extend(page.events);
        cursor = Some(page.next);
    }
}

async fn tenant_rows<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: &TenantId,
) -> Result<Vec<event_store::TenantRow>, Failure> {
    let mut rows = Vec::new();
    let mut pages = TenantRowPages::new(tenant_id);
    while let Some(page) = pages.next(reads).await.map_err(failed)? {
        rows.extend(page);
    }
    Ok(rows)
}

type Row = (String, String);

/// The fields of balance rows that hold money (rows on DynamoDB carry
/// bookkeeping numbers beside them).
fn is_balance_field(name: &str) -> bool {
    reporting::trial::ACCOUNT_FIELDS.contains(&name)
        || name == ledger_domain::projection::PAID_OUT_FIELD
}

pub(crate) async fn verify(
    backend: &Backend,
    only: Option<TenantId>,
    source: SourceArgs,
) -> Result<bool, Failure> {
    if let Backend::Embedded(store) = backend {
        let (total, done) = store.projection_progress().await.map_err(failed)?;
        if done < total {
            return Err(refused(format!(
                "the projection is {} events behind the events: run `ledger-admin replay` first",
                total - done
            )));
        }
    }
    let events = all_events(backend, source).await?;
    let mut fold = BalanceDeltas::default();
    let mut tenants = BTreeSet::new();
    for stored in &events {
        let event = stored.decode().map_err(failed)?;
        if only.as_ref().is_some_and(|t| t != event.tenant_id()) {
            continue;
        }
        tenants.insert(event.tenant_id().clone());
        let entry = journal_entry(&event)
            .map_err(|e| failed(format!("{}@{}: {e}", stored.stream, stored.version)))?;
        fold.add(&entry).map_err(failed)?;
    }
    if let Some(t) = &only {
        tenants.insert(t.clone());
    }
    let mut expected: BTreeMap<Row, BTreeMap<String, i64>> = BTreeMap::new();
    for ((owner, currency), fields) in &fold.rows {
        if *currency == DRAFTS_ROW {
            continue;
        }
        let nonzero: BTreeMap<String, i64> = fields
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        if !nonzero.is_empty() {
            expected.insert((owner.key(), (*currency).to_owned()), nonzero);
        }
    }
    let mut ok = true;
    let mut differences = 0;
    for tenant_id in &tenants {
        let (rows, trial) = match backend {
            Backend::Embedded(s) => (
                tenant_rows(s, tenant_id).await?,
                reporting::trial::trial_balance(s, tenant_id).await,
            ),
            Backend::Aws { projection, .. } => (
                tenant_rows(projection, tenant_id).await?,
                reporting::trial::trial_balance(projection, tenant_id).await,
            ),
        };
        for line in trial.map_err(failed)? {
            println!(
                "trial balance {tenant_id} {}: debits {} credits {} over {} rows: {}",
                line.currency,
                line.debits_minor,
                line.credits_minor,
                line.rows,
                if line.balanced {
                    "balanced"
                } else {
                    "DOES NOT BALANCE"
                }
            );
            ok &= line.balanced;
        }
        let mut stored: BTreeMap<Row, BTreeMap<String, i64>> = BTreeMap::new();
        for row in rows {
            let fields: BTreeMap<String, i64> = row
                .fields
                .into_iter()
                .filter(|(k, v)| *v != 0 && is_balance_field(k))
                .collect();
            if !fields.is_empty() {
                stored.insert((row.owner.key(), row.currency), fields);
            }
        }
        let prefix = format!("{tenant_id}/");
        let keys: BTreeSet<&Row> = stored
            .keys()
            .chain(expected.keys().filter(|(o, _)| o.starts_with(&prefix)))
            .collect();
        let empty = BTreeMap::new();
        for key in keys {
            let (have, want) = (
                stored.get(key).unwrap_or(&empty),
                expected.get(key).unwrap_or(&empty),
            );
            let fields: BTreeSet<&String> = have.keys().chain(want.keys()).collect();
            for field in fields {
                let (h, w) = (
                    have.get(field).copied().unwrap_or(0),
                    want.get(field).copied().unwrap_or(0),
                );
                if h != w {
                    differences += 1;
                    println!(
                        "DIFFERENCE {} {} {field}: stored {h}, rebuilt from the events {w}",
                        key.0, key.1
                    );
                }
            }
        }
    }
    println!(
        "{} events of {} tenants folded; {differences} differences between stored and rebuilt balances",
        events.len(),
        tenants.len()
    );
    Ok(ok && differences == 0)
}

//! The statement property shared by both backends' tests: for every
//! affiliate, currency and month a random history spans, the statement
//! builds (so it ties to the stored balance row), months chain (a closing
//! is the next opening), and each closing equals a fold of exactly the
//! events dated before the month's end, computed here from the events
//! alone.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use event_store::LedgerReads;
use ledger_domain::projection::{BalanceDeltas, BalanceOwner};
use ledger_domain::{Event, TenantId, journal_entry};
use reporting::statement::{Period, STATEMENT_FIELDS, time_zone};
use reporting::statements::statement_for;

fn months(events: &[Event], tz: chrono_tz::Tz) -> Vec<Period> {
    let first = events.iter().map(|e| e.effective_at()).min().unwrap();
    let last = events.iter().map(|e| e.effective_at()).max().unwrap();
    let mut out = Vec::new();
    let start = first.with_timezone(&tz);
    let (mut y, mut m) = (start.year(), start.month());
    loop {
        let period = Period::month(&format!("{y:04}-{m:02}"), tz).unwrap();
        let done = period.end > last;
        out.push(period);
        if done {
            return out;
        }
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    }
}

fn fold_until(events: &[Event], end: DateTime<Utc>) -> BalanceDeltas {
    let mut deltas = BalanceDeltas::default();
    for e in events.iter().filter(|e| e.effective_at() < end) {
        deltas.add(&journal_entry(e).unwrap()).unwrap();
    }
    deltas
}

/// Checks every statement of the history; returns how many were built.
pub async fn statements_tie<R: LedgerReads + ?Sized>(reads: &R, events: &[Event]) -> usize {
    if events.is_empty() {
        return 0;
    }
    let tz = time_zone("Europe/Berlin").unwrap();
    let periods = months(events, tz);
    let folds: Vec<BalanceDeltas> = periods.iter().map(|p| fold_until(events, p.end)).collect();
    let mut built = 0;
    for tenant in ledger_domain::sample::SAMPLE_TENANTS {
        let tenant_id = TenantId::new(tenant).unwrap();
        let page = reads.tenant_rows(&tenant_id, None, 1000).await.unwrap();
        assert!(page.next.is_none(), "small histories fit one page");
        for row in page.rows {
            let BalanceOwner::Affiliate { affiliate_id, .. } = &row.owner else {
                continue;
            };
            let mut previous_closing: Option<[i64; 5]> = None;
            for (period, fold) in periods.iter().zip(&folds) {
                let statement = statement_for(
                    reads,
                    &tenant_id,
                    affiliate_id,
                    &row.currency,
                    period,
                    &row.fields,
                )
                .await
                .unwrap_or_else(|e| {
                    panic!("{}/{}/{}: {e}", row.owner.key(), row.currency, period.label)
                });
                built += 1;
                if let Some(previous) = previous_closing {
                    assert_eq!(statement.opening, previous, "months chain");
                }
                previous_closing = Some(statement.closing);
                let empty = BTreeMap::new();
                let want = fold
                    .rows
                    .iter()
                    .find(|((o, c), _)| *o == row.owner && *c == row.currency.as_str())
                    .map(|(_, f)| f)
                    .unwrap_or(&empty);
                for (i, field) in STATEMENT_FIELDS.iter().enumerate() {
                    assert_eq!(
                        statement.closing[i],
                        want.get(*field).copied().unwrap_or(0),
                        "{}/{} {} closing {field} vs the events dated before its end",
                        row.owner.key(),
                        row.currency,
                        period.label
                    );
                }
            }
        }
    }
    built
}

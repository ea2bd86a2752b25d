//! Matching report lines with ledger items, and what the matching found.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_domain::Money;
use serde::Serialize;

use super::{DATE_WINDOW_DAYS, LedgerItem, ParsedReport};

/// A line and the item it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub line: u64,
    pub batch_id: String,
    pub item_id: String,
    pub amount: Money,
}

/// A difference between the report and the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: &'static str,
    pub line: Option<u64>,
    pub processor_reference: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    pub ledger_amount: Option<Money>,
    pub report_amount: Option<Money>,
}

/// Totals of one currency, in minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    pub report_lines: usize,
    pub report_total_minor: i64,
    pub matched_lines: usize,
    pub matched_total_minor: i64,
    pub ledger_paid_in_period_minor: i64,
    pub mismatches: usize,
}

/// The outcome of matching a report against the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matching {
    pub period_from: Option<DateTime<Utc>>,
    pub period_to: Option<DateTime<Utc>>,
    pub matched: Vec<Matched>,
    pub mismatches: Vec<Mismatch>,
    pub totals: BTreeMap<String, CurrencyTotals>,
}

fn add_minor(total: &mut i64, money: &Money) {
    *total = total.saturating_add(money.amount_minor());
}

/// Matches report lines with ledger items (pure).
pub fn match_report(report: &ParsedReport, items: &[LedgerItem]) -> Matching {
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        for key in &item.keys {
            by_key.insert(key.as_str(), i);
        }
    }
    let window = Duration::days(DATE_WINDOW_DAYS);
    let mut out = Matching::default();
    let mut explained: HashSet<usize> = HashSet::new();
    for line in &report.lines {
        let totals = out
            .totals
            .entry(line.amount.currency().code().to_owned())
            .or_default();
        totals.report_lines += 1;
        add_minor(&mut totals.report_total_minor, &line.amount);
        let found = line
            .keys
            .iter()
            .find_map(|k| by_key.get(k.as_str()).copied());
        let mismatch = |kind, item: Option<&LedgerItem>| Mismatch {
            kind,
            line: Some(line.line),
            processor_reference: line.keys.first().cloned(),
            batch_id: item.map(|i| i.batch_id.clone()),
            item_id: item.map(|i| i.item_id.clone()),
            ledger_amount: item.map(|i| i.amount),
            report_amount: Some(line.amount),
        };
        let Some(index) = found else {
            totals.mismatches += 1;
            out.mismatches.push(mismatch("missing_in_ledger", None));
            continue;
        };
        explained.insert(index);
        let item = &items[index];
        let kind = if item.status != "paid" {
            Some("not_paid_in_ledger")
        } else if item.amount.currency() != line.amount.currency() {
            Some("currency_mismatch")
        } else if item.amount != line.amount {
            Some("amount_mismatch")
        } else if item
            .paid_at
            .is_some_and(|at| line.date < at - window || line.date > at + window)
        {
            Some("outside_date_window")
        } else {
            None
        };
        match kind {
            Some(kind) => {
                totals.mismatches += 1;
                out.mismatches.push(mismatch(kind, Some(item)));
            }
            None => {
                totals.matched_lines += 1;
                add_minor(&mut totals.matched_total_minor, &line.amount);
                out.matched.push(Matched {
                    line: line.line,
                    batch_id: item.batch_id.clone(),
                    item_id: item.item_id.clone(),
                    amount: line.amount,
                });
            }
        }
    }
    // The period: the report's own, else its first to last day.
    let period = report.period.or_else(|| {
        let first = report.lines.iter().map(|l| l.date).min()?;
        let last = report.lines.iter().map(|l| l.date).max()?;
        let day = |t: DateTime<Utc>| {
            Utc.from_utc_datetime(
                &t.date_naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight exists"),
            )
        };
        Some((day(first), day(last) + Duration::days(1)))
    });
    if let Some((from, to)) = period {
        out.period_from = Some(from);
        out.period_to = Some(to);
        for (index, item) in items.iter().enumerate() {
            let Some(paid_at) = item.paid_at.filter(|_| item.status == "paid") else {
                continue;
            };
            if paid_at < from || paid_at >= to {
                continue;
            }
            let totals = out
                .totals
                .entry(item.amount.currency().code().to_owned())
                .or_default();
            add_minor(&mut totals.ledger_paid_in_period_minor, &item.amount);
            if explained.contains(&index) {
                continue;
            }
            totals.mismatches += 1;
            out.mismatches.push(Mismatch {
                kind: "missing_at_processor",
                line: None,
                processor_reference: item.reference.clone(),
                batch_id: Some(item.batch_id.clone()),
                item_id: Some(item.item_id.clone()),
                ledger_amount: Some(item.amount),
                report_amount: None,
            });
        }
    }
    out
}

//! Matching report lines with ledger items, and what the matching found.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger_domain::Money;
use serde::Serialize;

use super::{DATE_WINDOW_DAYS, LedgerItem, LedgerItemStatus, ParsedReport};

/// A line and the item it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub line: u64,
    pub batch_id: String,
    pub item_id: String,
    pub amount: Money,
}

/// What kind of difference a mismatch is; written (JSON, events, the
/// API) as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub enum MismatchKind {
    /// A payout line no paid item explains.
    #[serde(rename = "missing_in_ledger")]
    MissingInLedger,
    /// An item paid in the report's period that the report does not show.
    #[serde(rename = "missing_at_processor")]
    MissingAtProcessor,
    #[serde(rename = "amount_mismatch")]
    AmountMismatch,
    #[serde(rename = "currency_mismatch")]
    CurrencyMismatch,
    /// Same reference, but dated more than the window away from the
    /// ledger's payment.
    #[serde(rename = "outside_date_window")]
    OutsideDateWindow,
    /// The report shows a payment of an item the ledger holds as not paid,
    /// failed or returned.
    #[serde(rename = "not_paid_in_ledger")]
    NotPaidInLedger,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 6] = [
        MismatchKind::MissingInLedger,
        MismatchKind::MissingAtProcessor,
        MismatchKind::AmountMismatch,
        MismatchKind::CurrencyMismatch,
        MismatchKind::OutsideDateWindow,
        MismatchKind::NotPaidInLedger,
    ];

    /// The name written for it.
    pub const fn as_str(&self) -> &'static str {
        match self {
            MismatchKind::MissingInLedger => "missing_in_ledger",
            MismatchKind::MissingAtProcessor => "missing_at_processor",
            MismatchKind::AmountMismatch => "amount_mismatch",
            MismatchKind::CurrencyMismatch => "currency_mismatch",
            MismatchKind::OutsideDateWindow => "outside_date_window",
            MismatchKind::NotPaidInLedger => "not_paid_in_ledger",
        }
    }

    /// The kind written as `name`, if it is one.
    pub fn from_name(name: &str) -> Option<MismatchKind> {
        MismatchKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for MismatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for MismatchKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for MismatchKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A difference between the report and the ledger.
#[derive(Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub line: Option<u64>,
    pub processor_reference: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    pub ledger_amount: Option<Money>,
    pub report_amount: Option<Money>,
}

impl Clone for Mismatch {
    fn clone(&self) -> Self {
        Mismatch {
            kind: self.kind,
            line: self.line,
            processor_reference: self.processor_reference.clone(),
            batch_id: self.batch_id.clone(),
            item_id: self.item_id.clone(),
            ledger_amount: self.ledger_amount,
            report_amount: self.report_amount,
        }
    }
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
        let mismatch = |kind: MismatchKind, item: Option<&LedgerItem>| Mismatch {
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
            out.mismatches
                .push(mismatch(MismatchKind::MissingInLedger, None));
            continue;
        };
        explained.insert(index);
        let item = &items[index];
        let kind = if item.status != LedgerItemStatus::Paid {
            Some(MismatchKind::NotPaidInLedger)
        } else if item.amount.currency() != line.amount.currency() {
            Some(MismatchKind::CurrencyMismatch)
        } else if item.amount != line.amount {
            Some(MismatchKind::AmountMismatch)
        } else if item
            .paid_at
            .is_some_and(|at| line.date < at - window || line.date > at + window)
        {
            Some(MismatchKind::OutsideDateWindow)
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
            let Some(paid_at) = item
                .paid_at
                .filter(|_| item.status == LedgerItemStatus::Paid)
            else {
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
                kind: MismatchKind::MissingAtProcessor,
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

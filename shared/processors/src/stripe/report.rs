//! Stripe's itemized balance change from activity report (CSV).

use std::collections::HashMap;

use chrono::{NaiveDateTime, TimeZone, Utc};
use ledger_domain::events::Processor;

use crate::report::{ParsedReport, ReportLine, ReportParser};
use crate::report::{
    Rejection, bad, check_duplicate, columns, csv_error, csv_records, currency, decimal_money, utf8,
};

const STRIPE_REQUIRED: [&str; 9] = [
    "balance_transaction_id",
    "created_utc",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
];
const STRIPE_OPTIONAL: [&str; 8] = [
    "created",
    "available_on_utc",
    "available_on",
    "customer_facing_amount",
    "customer_facing_currency",
    "automatic_payout_id",
    "automatic_payout_effective_at_utc",
    "connected_account",
];

/// Stripe's itemized balance change from activity report.
pub fn parse_stripe_csv(bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    let text = utf8(bytes)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let col = columns(&header, &STRIPE_REQUIRED, &STRIPE_OPTIONAL)?;
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    for (i, record) in csv_records(text, true).enumerate() {
        let record = record.map_err(csv_error)?;
        let line = i as u64 + 2;
        let get = |name: &str| record.get(col[name]).unwrap_or_default().trim();
        let id = get("balance_transaction_id");
        if id.is_empty() {
            return Err(bad(line, "balance_transaction_id", id, "is empty"));
        }
        check_duplicate(&mut seen, id, line)?;
        let c = currency(line, get("currency"))?;
        let gross = decimal_money(line, "gross", get("gross"), c)?;
        let created = get("created_utc");
        let date = NaiveDateTime::parse_from_str(created, "%Y-%m-%d %H:%M:%S")
            .map(|d| Utc.from_utc_datetime(&d))
            .map_err(|_| bad(line, "created_utc", created, "is not YYYY-MM-DD HH:MM:SS"))?;
        if get("reporting_category") != "transfer" {
            other_lines += 1;
            continue;
        }
        let source = get("source_id");
        if source.is_empty() {
            return Err(bad(line, "source_id", source, "is empty on a transfer"));
        }
        lines.push(ReportLine {
            line,
            keys: vec![source.to_owned()],
            amount: gross,
            date,
        });
    }
    Ok(ParsedReport {
        processor: Processor::Stripe,
        lines,
        other_lines,
        period: None,
    })
}

/// Stripe's itemized balance change from activity report, as the port's parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct StripeBalanceReport;

impl ReportParser for StripeBalanceReport {
    fn parse(&self, bytes: &[u8]) -> Result<ParsedReport, Rejection> {
        parse_stripe_csv(bytes)
    }
}

//! PayPal's settlement report (STL), CSV with record types.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ledger_domain::Money;
use ledger_domain::events::Processor;

use crate::report::{ParsedReport, ReportLine, ReportParser};
use crate::report::{
    Rejection, bad, check_duplicate, columns, csv_error, csv_records, currency, utf8,
};

const PAYPAL_COLUMNS: [&str; 21] = [
    "Transaction ID",
    "Invoice ID",
    "PayPal Reference ID",
    "PayPal Reference ID Type",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Transaction  Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Debit or Credit",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
    "Consumer ID",
    "Payment Tracking ID",
    "Store ID",
    "Bank Reference ID",
    "Credit Transactional Fee",
    "Credit Promotional Fee",
    "Credit Term",
];
/// Columns PayPal requires for matching; the rest of `PAYPAL_COLUMNS` are
/// optional.
const PAYPAL_REQUIRED: [&str; 7] = [
    "Transaction ID",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction  Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Custom Field",
];

/// PayPal's settlement report (STL), CSV.
pub fn parse_paypal_stl(bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    let text = utf8(bytes)?;
    let mut col: Option<HashMap<String, usize>> = None;
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    let mut footer = false;
    let mut body_rows = 0u64;
    for (i, record) in csv_records(text, false).enumerate() {
        let record = record.map_err(csv_error)?;
        let line = i as u64 + 1;
        if footer {
            return Err(Rejection::NotAReport {
                reason: format!("line {line} follows the file footer"),
            });
        }
        match record.get(0).unwrap_or_default() {
            "RH" | "FH" | "SH" | "SF" | "SC" | "RF" | "RC" => {}
            "FF" => footer = true,
            "CH" => {
                let header: Vec<String> =
                    record.iter().skip(1).map(|h| h.trim().to_owned()).collect();
                let optional: Vec<&str> = PAYPAL_COLUMNS
                    .iter()
                    .filter(|c| !PAYPAL_REQUIRED.contains(c))
                    .copied()
                    .collect();
                col = Some(columns(&header, &PAYPAL_REQUIRED, &optional)?);
            }
            "SB" => {
                let col = col.as_ref().ok_or_else(|| Rejection::NotAReport {
                    reason: format!("line {line}: a body row before the column header (CH)"),
                })?;
                if record.len() != col.len() + 1 {
                    return Err(Rejection::Truncated {
                        reason: format!(
                            "line {line} has {} fields, the header {}",
                            record.len(),
                            col.len() + 1
                        ),
                    });
                }
                body_rows += 1;
                let get = |name: &str| {
                    col.get(name)
                        .and_then(|i| record.get(i + 1))
                        .unwrap_or_default()
                        .trim()
                };
                let id = get("Transaction ID");
                if id.is_empty() {
                    return Err(bad(line, "Transaction ID", id, "is empty"));
                }
                check_duplicate(&mut seen, id, line)?;
                let c = currency(line, get("Gross Transaction Currency"))?;
                let raw = get("Gross Transaction Amount");
                let minor: i64 = raw.parse().map_err(|_| {
                    bad(
                        line,
                        "Gross Transaction Amount",
                        raw,
                        "is not a whole number of minor units",
                    )
                })?;
                let amount = Money::from_minor(minor.abs(), c)
                    .map_err(|e| bad(line, "Gross Transaction Amount", raw, e.to_string()))?;
                let started = get("Transaction Initiation Date");
                let date = DateTime::parse_from_str(started, "%Y/%m/%d %H:%M:%S %z")
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| {
                        bad(
                            line,
                            "Transaction Initiation Date",
                            started,
                            "is not YYYY/MM/DD HH:MM:SS +ZZZZ",
                        )
                    })?;
                let direction = get("Transaction  Debit or Credit");
                if !matches!(direction, "DR" | "CR") {
                    return Err(bad(
                        line,
                        "Transaction  Debit or Credit",
                        direction,
                        "is neither DR nor CR",
                    ));
                }
                if get("Transaction Event Code") != "T0001" || direction != "DR" {
                    other_lines += 1;
                    continue;
                }
                let keys = [
                    "Transaction ID",
                    "Invoice ID",
                    "PayPal Reference ID",
                    "Custom Field",
                ]
                .iter()
                .map(|c| get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
                lines.push(ReportLine {
                    line,
                    keys,
                    amount,
                    date,
                });
            }
            other => {
                return Err(Rejection::NotAReport {
                    reason: format!(
                        "line {line}: unknown record type {:?}",
                        other.chars().take(8).collect::<String>()
                    ),
                });
            }
        }
    }
    if col.is_none() {
        return Err(Rejection::NotAReport {
            reason: "no column header (CH) row".to_owned(),
        });
    }
    if !footer {
        return Err(Rejection::Truncated {
            reason: format!("no file footer (FF) after {body_rows} body rows"),
        });
    }
    Ok(ParsedReport {
        processor: Processor::Paypal,
        lines,
        other_lines,
        period: None,
    })
}

/// PayPal's settlement report (STL), as the port's parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct PaypalSettlementReport;

impl ReportParser for PaypalSettlementReport {
    fn parse(&self, bytes: &[u8]) -> Result<ParsedReport, Rejection> {
        parse_paypal_stl(bytes)
    }
}

//! What every processor's settlement-report parser shares: reading its
//! text, CSV records, columns, currencies and amounts. The parsers are in
//! the processors' folders (`stripe::report`, `paypal::report`,
//! `sepa::report`), behind the port of `ledger_app::reports`; the
//! registry finds them ([`crate::registry::ProcessorReports`]).

use std::collections::HashMap;
use std::str::FromStr;

use ledger_domain::Money;
use ledger_domain::money::currency_from_code;
use rust_decimal::Decimal;

pub use ledger_app::reports::{ParsedReport, Rejection, ReportLine, ReportParser, ReportParsers};

pub(crate) fn bad(line: u64, column: &str, value: &str, reason: impl Into<String>) -> Rejection {
    Rejection::BadValue {
        line,
        column: column.to_owned(),
        value: value.chars().take(60).collect(),
        reason: reason.into(),
    }
}

pub(crate) fn currency(line: u64, value: &str) -> Result<ledger_domain::Currency, Rejection> {
    currency_from_code(&value.trim().to_ascii_uppercase()).map_err(|_| Rejection::BadCurrency {
        line,
        value: value.chars().take(12).collect(),
    })
}

pub(crate) fn decimal_money(
    line: u64,
    column: &str,
    value: &str,
    c: ledger_domain::Currency,
) -> Result<Money, Rejection> {
    let d = Decimal::from_str(value.trim())
        .map_err(|_| bad(line, column, value, "is not a decimal"))?;
    Money::new(d.abs(), c).map_err(|e| bad(line, column, value, e.to_string()))
}

pub(crate) fn check_duplicate(
    seen: &mut HashMap<String, u64>,
    id: &str,
    line: u64,
) -> Result<(), Rejection> {
    if let Some(first) = seen.insert(id.to_owned(), line) {
        return Err(Rejection::DuplicateLine {
            line,
            first,
            id: id.to_owned(),
        });
    }
    Ok(())
}

pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(bytes).map_err(|e| Rejection::NotAReport {
        reason: format!("not UTF-8 text ({e})"),
    })
}

/// Reads records of a CSV file; a record with fewer or more fields than
/// the header (a cut-off last line) is a truncated file.
pub(crate) fn csv_records(text: &str, has_headers: bool) -> csv::StringRecordsIntoIter<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .flexible(!has_headers)
        .from_reader(text.as_bytes())
        .into_records()
}

pub(crate) fn csv_error(e: csv::Error) -> Rejection {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => Rejection::Truncated {
            reason: format!(
                "line {} has {len} fields, the header {expected_len}",
                pos.as_ref().map_or(0, |p| p.line())
            ),
        },
        _ => Rejection::NotAReport {
            reason: e.to_string(),
        },
    }
}

pub(crate) fn columns(
    header: &[String],
    required: &[&str],
    optional: &[&str],
) -> Result<HashMap<String, usize>, Rejection> {
    let unknown: Vec<String> = header
        .iter()
        .filter(|h| !required.contains(&h.as_str()) && !optional.contains(&h.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Rejection::UnknownColumns { columns: unknown });
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !header.iter().any(|h| h == *r))
        .map(|r| (*r).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(Rejection::MissingColumns { columns: missing });
    }
    let mut index = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if index.insert(h.clone(), i).is_some() {
            return Err(Rejection::NotAReport {
                reason: format!("column {h:?} appears twice"),
            });
        }
    }
    Ok(index)
}

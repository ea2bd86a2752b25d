//! What every report parser shares: why a report is quarantined, and
//! reading its text, CSV records, columns, currencies and amounts.

use std::collections::HashMap;
use std::str::FromStr;

use ledger_domain::Money;
use ledger_domain::money::currency_from_code;
use rust_decimal::Decimal;
use serde::Serialize;

/// Why a report is quarantined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rejection {
    #[error("unknown columns {columns:?}: the report is not the format expected")]
    UnknownColumns { columns: Vec<String> },
    #[error("missing columns {columns:?}")]
    MissingColumns { columns: Vec<String> },
    #[error("line {line}: {value:?} is not an ISO 4217 currency")]
    BadCurrency { line: u64, value: String },
    #[error("line {line}: {column} {value:?} {reason}")]
    BadValue {
        line: u64,
        column: String,
        value: String,
        reason: String,
    },
    #[error("line {line} repeats {id:?} (first on line {first})")]
    DuplicateLine { line: u64, first: u64, id: String },
    #[error("the file is truncated: {reason}")]
    Truncated { reason: String },
    #[error("the file is not a report of this kind: {reason}")]
    NotAReport { reason: String },
}

pub(super) fn bad(line: u64, column: &str, value: &str, reason: impl Into<String>) -> Rejection {
    Rejection::BadValue {
        line,
        column: column.to_owned(),
        value: value.chars().take(60).collect(),
        reason: reason.into(),
    }
}

pub(super) fn currency(line: u64, value: &str) -> Result<ledger_domain::Currency, Rejection> {
    currency_from_code(&value.trim().to_ascii_uppercase()).map_err(|_| Rejection::BadCurrency {
        line,
        value: value.chars().take(12).collect(),
    })
}

pub(super) fn decimal_money(
    line: u64,
    column: &str,
    value: &str,
    c: ledger_domain::Currency,
) -> Result<Money, Rejection> {
    let d = Decimal::from_str(value.trim())
        .map_err(|_| bad(line, column, value, "is not a decimal"))?;
    Money::new(d.abs(), c).map_err(|e| bad(line, column, value, e.to_string()))
}

pub(super) fn check_duplicate(
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

pub(super) fn utf8(bytes: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(bytes).map_err(|e| Rejection::NotAReport {
        reason: format!("not UTF-8 text ({e})"),
    })
}

/// Reads records of a CSV file; a record with fewer or more fields than
/// the header (a cut-off last line) is a truncated file.
pub(super) fn csv_records(text: &str, has_headers: bool) -> csv::StringRecordsIntoIter<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .flexible(!has_headers)
        .from_reader(text.as_bytes())
        .into_records()
}

pub(super) fn csv_error(e: csv::Error) -> Rejection {
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

pub(super) fn columns(
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

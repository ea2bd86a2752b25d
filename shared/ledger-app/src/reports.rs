//! The settlement-report port: what a processor's report parser gives the
//! reconciliation use case, and how the parser of a processor is found.
//!
//! The parsers live with their processors (the `processors` crate, one
//! folder per processor); reconciliation (the `reporting` crate) matches
//! what they read against the ledger. Both depend on this port, neither on
//! the other.

use chrono::{DateTime, Utc};
use ledger_domain::Money;
use ledger_domain::events::Processor;
use serde::Serialize;

/// One payout as the processor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    /// 1-based line (CSV row or camt.053 entry) in the file.
    pub line: u64,
    /// The processor's identifiers of this payout, any of which may match.
    pub keys: Vec<String>,
    /// What was paid out, positive.
    pub amount: Money,
    pub date: DateTime<Utc>,
}

/// A report read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReport {
    pub processor: Processor,
    pub lines: Vec<ReportLine>,
    /// Lines read that are not payouts (charges, fees, credits).
    pub other_lines: usize,
    /// The period the report covers, if it says (camt.053 `FrToDt`).
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

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

/// Reads one processor's settlement report, whole: a report that cannot be
/// read entirely is rejected, never read in part.
pub trait ReportParser: Send + Sync {
    fn parse(&self, bytes: &[u8]) -> Result<ParsedReport, Rejection>;
}

/// Finds the report parser of a processor (the processors' registry).
pub trait ReportParsers: Send + Sync {
    /// `None`: the processor has no report parser in this deployment.
    fn report_parser(&self, processor: Processor) -> Option<&dyn ReportParser>;
}

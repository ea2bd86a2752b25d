//! Reconciliation: a processor's own report, line by line, against the
//! payout items the ledger paid through that processor.
//!
//! The reports are read by their processors' parsers (the `processors`
//! crate, one folder per processor), behind the port of
//! `ledger_app::reports`: this module matches what they read, writes the
//! report and records the mismatches. [`reconcile_report_with`] takes the
//! parsers (a deployment passes the `processors` registry's,
//! `processors::ProcessorReports`). Reports read:
//!
//! - Stripe: the itemized "balance change from activity" CSV
//!   (`balance_transaction_id, created_utc, currency, gross, fee, net,
//!   reporting_category, source_id, description`, plus Stripe's optional
//!   columns). Transfers to connected accounts (`reporting_category =
//!   transfer`) are payouts; `source_id` is the transfer id (`tr_…`) the
//!   ledger recorded.
//! - PayPal: the settlement report (STL) CSV, with its `RH/FH/SH/CH/SB/SF/
//!   SC/RF/RC/FF` record types. Debits with event code `T0001` (payouts,
//!   formerly MassPay) are payouts; amounts are minor units. The line is
//!   matched on any of its identifiers (`Transaction ID`, `Invoice ID`,
//!   `PayPal Reference ID`, `Custom Field`) against the item's PayPal
//!   payout id or its `sender_item_id` (`tenant/item`).
//! - SEPA: the bank's ISO 20022 `camt.053` statement (any `.001.0x`
//!   version): booked debit entries, one line per transaction detail,
//!   matched on `EndToEndId`.
//!
//! A report is parsed whole before anything is written: unknown or missing
//! columns, a currency that is not ISO 4217, a duplicate line, a value that
//! does not parse, or a truncated file quarantines the report (a report
//! with the reason is written under `quarantine/`) and nothing is matched.
//!
//! Mismatch classes: `missing_in_ledger` (a payout line no paid item
//! explains), `missing_at_processor` (an item paid in the report's period
//! that the report does not show), `amount_mismatch`, `currency_mismatch`,
//! `outside_date_window` (same reference, but dated more than the window
//! away from the ledger's payment), `not_paid_in_ledger` (the report shows
//! a payment of an item the ledger holds as not paid, failed or returned).

mod ledger;
mod matching;
mod record;

use chrono::{DateTime, Utc};
use event_store::{EventStore, LedgerReads};
use file_store::FileStore;
use ledger_domain::TenantId;
use ledger_domain::events::Processor;
use serde::Serialize;

use crate::ReportError;
use crate::statement::sha256_hex;
use crate::trial::{TrialBalanceLine, trial_balance};

pub use ledger::{LedgerItem, LedgerItemStatus, ledger_items};
pub use ledger_app::reports::{ParsedReport, Rejection, ReportLine, ReportParser, ReportParsers};
pub use matching::{CurrencyTotals, Matched, Matching, Mismatch, MismatchKind, match_report};

use record::record_mismatches;

/// Days a processor's date may differ from the ledger's payment.
pub const DATE_WINDOW_DAYS: i64 = 5;
/// The largest report accepted.
pub const REPORT_BYTES_MAX: usize = 50 * 1024 * 1024;

/// Parses a report of `processor`'s kind with the parser `parsers` give.
pub fn parse_report_with(
    parsers: &dyn ReportParsers,
    processor: Processor,
    bytes: &[u8],
) -> Result<ParsedReport, Rejection> {
    if bytes.len() > REPORT_BYTES_MAX {
        return Err(Rejection::NotAReport {
            reason: format!("larger than {REPORT_BYTES_MAX} bytes"),
        });
    }
    match parsers.report_parser(processor) {
        Some(parser) => parser.parse(bytes),
        None => Err(Rejection::NotAReport {
            reason: format!("no report parser for {}", processor.as_str()),
        }),
    }
}

/// How a run ended; written as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every line matched and nothing the ledger paid is missing.
    Reconciled,
    /// Matched, with mismatches (each recorded as an event).
    Mismatches,
    /// The report could not be read whole: nothing was matched.
    Quarantined,
}

impl RunStatus {
    /// The name written for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Reconciled => "reconciled",
            RunStatus::Mismatches => "mismatches",
            RunStatus::Quarantined => "quarantined",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for RunStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for RunStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The reconciliation report written for one processor report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationReport {
    pub format: &'static str,
    pub run_id: String,
    pub tenant_id: String,
    pub processor: Processor,
    /// The processor report's key and SHA-256.
    pub source: String,
    pub source_sha256: String,
    pub generated_at: DateTime<Utc>,
    /// `reconciled`, `mismatches`, or `quarantined`.
    pub status: RunStatus,
    pub rejection: Option<Rejection>,
    pub other_lines: usize,
    #[serde(flatten)]
    pub matching: Matching,
    pub trial_balance: Vec<TrialBalanceLine>,
}

/// Where a report's reconciliation is written.
pub fn report_key(
    tenant_id: &TenantId,
    processor: Processor,
    run_id: &str,
    quarantined: bool,
) -> String {
    let folder = if quarantined { "quarantine" } else { "reports" };
    format!(
        "reconciliation/{tenant_id}/{}/{folder}/{run_id}.json",
        processor.as_str()
    )
}

/// Reads `reports/{tenant}/{processor}/{file}`: who it belongs to and whose
/// format it is.
pub fn source_of(key: &str) -> Result<(TenantId, Processor), ReportError> {
    let invalid = |why: &str| ReportError::Invalid(format!("report key {key:?}: {why}"));
    let mut parts = key.split('/');
    if parts.next() != Some("reports") {
        return Err(invalid("does not start with reports/"));
    }
    let tenant =
        TenantId::new(parts.next().unwrap_or_default()).map_err(|e| invalid(&e.to_string()))?;
    let processor = match parts.next() {
        Some("stripe") => Processor::Stripe,
        Some("paypal") => Processor::Paypal,
        Some("sepa") => Processor::Sepa,
        _ => return Err(invalid("the third segment must be stripe, paypal or sepa")),
    };
    if parts.next().is_none_or(str::is_empty) {
        return Err(invalid("names no file"));
    }
    Ok((tenant, processor))
}

/// Reconciles one processor report: parse it whole (with the parser
/// `parsers` give for the key's processor), match it, add the trial
/// balance, write the report (once: a run id is the report's hash), and
/// record every mismatch as a `reconciliation.mismatch_found` event.
/// Running the same report again writes and records nothing new.
pub async fn reconcile_report_with<S, R>(
    parsers: &dyn ReportParsers,
    store: &S,
    reads: &R,
    files: &FileStore,
    source_key: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<ReconciliationReport, ReportError>
where
    S: EventStore + ?Sized,
    R: LedgerReads + ?Sized,
{
    let (tenant_id, processor) = source_of(source_key)?;
    let source_sha256 = sha256_hex(bytes);
    let run_id = format!("rr-{}", &source_sha256[..16]);
    let trial = trial_balance(reads, &tenant_id).await?;
    let (status, rejection, matching, other_lines) =
        match parse_report_with(parsers, processor, bytes) {
            Err(rejection) => (
                RunStatus::Quarantined,
                Some(rejection),
                Matching::default(),
                0,
            ),
            Ok(parsed) => {
                let items = ledger_items(store, &tenant_id, processor).await?;
                let matching = match_report(&parsed, &items);
                let status = if matching.mismatches.is_empty() {
                    RunStatus::Reconciled
                } else {
                    RunStatus::Mismatches
                };
                (status, None, matching, parsed.other_lines)
            }
        };
    let report = ReconciliationReport {
        format: "reconciliation-report/1",
        run_id: run_id.clone(),
        tenant_id: tenant_id.to_string(),
        processor,
        source: source_key.to_owned(),
        source_sha256,
        generated_at: now,
        status,
        rejection,
        other_lines,
        matching,
        trial_balance: trial,
    };
    // Events first: if writing the report fails, a rerun finds them and
    // writes the report; if the events fail, nothing is written.
    record_mismatches(
        store,
        &tenant_id,
        processor,
        source_key,
        &run_id,
        &report.matching.mismatches,
        now,
    )
    .await?;
    let key = report_key(
        &tenant_id,
        processor,
        &run_id,
        status == RunStatus::Quarantined,
    );
    let body =
        serde_json::to_vec_pretty(&report).map_err(|e| ReportError::Invalid(e.to_string()))?;
    files.create(&key, "application/json", body).await?;
    Ok(report)
}

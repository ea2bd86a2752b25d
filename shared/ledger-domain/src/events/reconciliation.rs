//! The payloads of processor news the ledger could not match, for finance
//! to look at: unmatched processor notices and reconciliation mismatches,
//! their resolutions and the list of runs that found some.

use serde::{Deserialize, Serialize};

use crate::ids::{NoticeId, ReconciliationRunId};
use crate::money::Money;
use crate::processor::Processor;

/// A verified processor notice that matched no payout item: acknowledged
/// (never retried forever) and kept for finance to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessorNoticeUnmatched {
    pub notice_id: NoticeId,
    pub processor: Processor,
    pub processor_event_id: String,
    /// What it said: paid, failed, returned, unclaimed.
    pub outcome: String,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    pub reference: Option<String>,
    /// Why it moved nothing: no such item, or the item it names does not
    /// match it (another processor, reference, account or amount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A difference between a processor's report and the ledger, found by a
/// reconciliation run, for finance to act on. Moves no money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationMismatchFound {
    pub run_id: ReconciliationRunId,
    pub processor: Processor,
    /// `missing_in_ledger`, `missing_at_processor`, `amount_mismatch`,
    /// `currency_mismatch`, `outside_date_window`, `not_paid_in_ledger`.
    pub kind: String,
    /// The report it came from (its key) and the line in it, if any.
    pub report: String,
    pub line: Option<u64>,
    pub processor_reference: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    pub ledger_amount: Option<Money>,
    pub report_amount: Option<Money>,
}

/// Finance resolved one mismatch of a reconciliation run (the mismatch is
/// the run stream's event at `mismatch`). Moves no money; kept in the
/// mismatch's own stream, so resolving it twice is a version conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationMismatchResolved {
    pub run_id: ReconciliationRunId,
    /// The version of the `reconciliation.mismatch_found` event.
    pub mismatch: u64,
    pub note: String,
}

/// A reconciliation run recorded mismatches: the tenant's list of runs
/// (one registration each) that the mismatch reads start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationRunRecorded {
    pub run_id: ReconciliationRunId,
    pub processor: Processor,
    pub report: String,
    pub mismatches: u64,
}

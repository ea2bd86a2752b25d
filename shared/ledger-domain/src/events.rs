//! The event catalogue. Events are past-tense facts, versioned, and never
//! edited: an `Event` has no setters, and stores refuse to overwrite one.
//!
//! Wire format (JSON):
//! `{"schema_version":1,"tenant_id":"t1","actor":{...},"recorded_at":"...",
//!   "effective_at":"...","body":{"type":"commission.recorded","data":{...}}}`
//! The `type` string is stable: renaming a Rust variant never changes it.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    AffiliateId, CommissionId, NoticeId, PayoutBatchId, PayoutItemId, PayoutRunId,
    ReconciliationRunId, TenantId,
};
use crate::money::Money;
use crate::profile::{HoldReason, PayoutProfileChanged};

/// The schema version every event written by this code carries.
pub const EVENT_SCHEMA_VERSION: u16 = 1;
/// The longest free-text field (reasons, references) accepted, in bytes.
pub const TEXT_LEN_MAX: usize = 500;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person (finance staff, admin, affiliate) acting through the API.
    User,
    /// A machine caller such as the tracking network.
    Service,
    /// A payment processor (webhook or status poll).
    Processor,
    /// A scheduled job of this system.
    Scheduler,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Actor {
    pub kind: ActorKind,
    /// The verified subject (user id, client id, processor name, job name).
    pub id: String,
    /// The role the request was allowed under, for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The request that caused the event (API Gateway's request id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl Actor {
    pub fn new(kind: ActorKind, id: impl Into<String>) -> Result<Self, TextError> {
        let id = id.into();
        check_text("actor.id", &id, 1)?;
        Ok(Actor {
            kind,
            id,
            role: None,
            request_id: None,
        })
    }

    /// The same actor, as allowed under `role` in request `request_id`.
    pub fn acting(
        mut self,
        role: Option<&str>,
        request_id: Option<&str>,
    ) -> Result<Self, TextError> {
        if let Some(role) = role {
            check_text("actor.role", role, 1)?;
        }
        if let Some(request_id) = request_id {
            check_text("actor.request_id", request_id, 1)?;
        }
        self.role = role.map(str::to_owned);
        self.request_id = request_id.map(str::to_owned);
        Ok(self)
    }
}

/// A free-text field that was empty or too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {min} to {max} bytes long, got {len}")]
pub struct TextError {
    pub field: &'static str,
    pub len: usize,
    pub min: usize,
    pub max: usize,
}

/// Checks a free-text field's length (`min` bytes at least, `TEXT_LEN_MAX` at most).
pub fn check_text(field: &'static str, value: &str, min: usize) -> Result<(), TextError> {
    if value.len() < min || value.len() > TEXT_LEN_MAX {
        return Err(TextError {
            field,
            len: value.len(),
            min,
            max: TEXT_LEN_MAX,
        });
    }
    Ok(())
}

/// The processors a payout item can go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Processor {
    Stripe,
    Paypal,
    Sepa,
    Sandbox,
}

impl Processor {
    pub fn as_str(self) -> &'static str {
        match self {
            Processor::Stripe => "stripe",
            Processor::Paypal => "paypal",
            Processor::Sepa => "sepa",
            Processor::Sandbox => "sandbox",
        }
    }
}

/// Why commission was taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalReason {
    Refund,
    Chargeback,
    Fraud,
    Manual,
}

/// Where a commission's money sat when a reversal or adjustment hit it. The
/// commission aggregate decides it, so posting rules need no other state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommissionStage {
    /// Still in the hold period: the money is on the pending account.
    Pending,
    /// Matured: the money was made available (and may since have been paid).
    /// Taking it back now creates a receivable (a clawback), netted against
    /// later earnings when the next payout is drafted.
    Matured,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRecorded {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub hold_period_days: u32,
    /// When the hold period ends and the commission may mature.
    pub matures_at: DateTime<Utc>,
    /// The tracking network's conversion that earned it.
    pub source_conversion_id: String,
    pub order_reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionMatured {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// What moves from pending to available: earned less reversed so far.
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionReversed {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// Positive: how much is taken back.
    pub amount: Money,
    pub reason: ReversalReason,
    pub stage: CommissionStage,
    /// True when this reversal takes back everything that was left.
    pub whole: bool,
    /// The refund or chargeback reference, if any.
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionAdjusted {
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// Signed: positive adds to what the affiliate earned, negative takes away.
    pub delta: Money,
    pub stage: CommissionStage,
    pub reason: String,
}

/// Where an item pays, bound when it is drafted: what the approver sees
/// and the only destination dispatch will pay.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Destination {
    /// Safe to show and log (`stripe acct_1Nv0...`, `sepa DE** **** 3000`).
    pub masked: String,
    /// SHA-256 (hex) of the whole payout method as drafted (see
    /// `PayoutMethod::fingerprint`). Dispatch pays only a method with the
    /// same fingerprint; any change after drafting fails the item.
    pub fingerprint: String,
    /// SHA-256 (hex) of the processor and the account alone (connected
    /// account, receiver, IBAN), so a notice naming an account can be
    /// checked against the item without holding the account in clear.
    pub account_fingerprint: String,
}

/// One item of a drafted batch: what one affiliate is paid in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftedItem {
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    /// What is paid: the available balance less the receivable netted.
    pub amount: Money,
    /// Clawbacks settled by this payout (moved off the receivable account).
    pub receivable_netted: Money,
    pub processor: Processor,
    /// The destination approved with the item. Absent only in items drafted
    /// before destinations were bound: those are paid if the current method
    /// is of the same processor, as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Destination>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutBatchDrafted {
    pub batch_id: PayoutBatchId,
    pub items: Vec<DraftedItem>,
    /// The tenant's draft sequence number this batch took (see
    /// `PayoutDraftRegistered`); 0 in events written before it existed.
    #[serde(default)]
    pub sequence: u64,
    /// The drafting run that produced it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<PayoutRunId>,
}

/// Who approved a batch: finance within the approval limits, or an admin
/// (required above them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalAuthority {
    Finance,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutBatchApproved {
    pub batch_id: PayoutBatchId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<ApprovalAuthority>,
}

/// A drafted batch took the tenant's next draft sequence number. Appended
/// in the same transaction as the batch, to the tenant's `payout-drafts`
/// stream at the sequence the balances projection has applied: so a draft
/// can only be made from balances that include every earlier draft's
/// reservations, and two concurrent drafts cannot both succeed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutDraftRegistered {
    pub batch_id: PayoutBatchId,
    pub sequence: u64,
}

/// One approval counted against its approver's daily limit, appended in
/// the same transaction as the approval, at the version the approver's
/// day stream had when the limit was checked: two approvals racing past
/// the limit cannot both land.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutApprovalTallied {
    /// The approver's actor id.
    pub approver: String,
    pub day: chrono::NaiveDate,
    pub batch_id: PayoutBatchId,
    /// What the batch pays, per currency.
    pub totals: Vec<Money>,
}

/// An approver id as a stream name segment. Ids are free text (an email,
/// a subject with `|`): one made only of `[A-Za-z0-9._@-]` and at most 64
/// bytes is used as it is, any other by its SHA-256, so two ids never share
/// a segment.
pub fn approver_key(approver: &str) -> String {
    const PLAIN_LEN_MAX: usize = 64;
    let plain = approver.len() <= PLAIN_LEN_MAX
        && !approver.starts_with("sha256-")
        && approver
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c));
    if plain {
        approver.to_owned()
    } else {
        use sha2::Digest;
        format!(
            "sha256-{}",
            hex::encode(sha2::Sha256::digest(approver.as_bytes()))
        )
    }
}

/// Why an affiliate with money available was left out of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum SkipReason {
    NoPayoutMethod,
    OnHold {
        holds: Vec<HoldReason>,
    },
    BelowMinimum {
        minimum: Money,
    },
    /// Clawbacks owed are at least what is available: nothing to pay.
    ReceivableCoversAvailable {
        receivable: Money,
    },
    CurrencyNotSupported {
        processor: Processor,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedPayee {
    pub affiliate_id: AffiliateId,
    pub available: Money,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// Part of the skip record of one drafting run (several events when long).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRunSkipped {
    pub run_id: PayoutRunId,
    pub skipped: Vec<SkippedPayee>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutBatchRejected {
    pub batch_id: PayoutBatchId,
    pub reason: String,
    /// The drafted items whose reservations this rejection releases.
    pub released: Vec<DraftedItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItemSubmitted {
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub processor: Processor,
    pub processor_reference: Option<String>,
}

/// A dispatcher took an item to send it to its processor. Appended at the
/// version the dispatcher read, so of two dispatchers racing on one item
/// only one holds the claim; the other leaves the item to it until the
/// lease runs out (a dispatcher that crashed mid-call is not waited for
/// forever, and the next one asks the processor before sending anything).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItemClaimed {
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    /// Who holds the claim (one id per dispatch attempt).
    pub claim_id: String,
    pub lease_until: DateTime<Utc>,
}

/// The money an item outcome moves, decided by the batch aggregate from the
/// item's state, so that late or repeated news never moves money twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoneyMovement {
    /// Paid: reserved -> processor clearing.
    ReservedToPaid,
    /// Failed, returned or unclaimed before it was paid: reserved -> available.
    ReservedToAvailable,
    /// Came back after it was paid: processor clearing -> available.
    PaidToAvailable,
    /// Recorded only: the item's money already moved for an earlier outcome.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItemOutcome {
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub processor: Processor,
    /// The processor's own event id, for deduplication and tracing.
    pub processor_event_id: Option<String>,
    pub reason: Option<String>,
    pub movement: MoneyMovement,
    /// `payout_item.reversed` only: the total the processor has reversed so
    /// far; `amount` is then what this reversal moved (the part not moved
    /// by earlier ones), posted as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_total: Option<Money>,
}

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

/// A statement version was written: one affiliate's statement of one
/// currency and month (in the tenant's time zone), kept as files beside
/// this event. Moves no money; kept in the statement's own stream, one
/// event per version written, so the statement's history is auditable and
/// a receiver hears when an affiliate has something new to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPublished {
    pub affiliate_id: AffiliateId,
    /// ISO 4217 code of the statement's currency.
    pub currency: String,
    /// `YYYY-MM`.
    pub period: String,
    /// The IANA zone the month is taken in.
    pub time_zone: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// The statement version (1, 2, ...) and the one it supersedes.
    pub version: u32,
    pub supersedes: Option<u32>,
    pub reason: String,
    /// The closing available and receivable balances it states.
    pub closing_available: Money,
    pub closing_receivable: Money,
    /// SHA-256 (hex) of the CSV rendering, as the JSON file records it.
    pub content_sha256: String,
}

/// Every fact the ledger knows. The serde names are the stable wire names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum EventBody {
    #[serde(rename = "commission.recorded")]
    CommissionRecorded(CommissionRecorded),
    #[serde(rename = "commission.matured")]
    CommissionMatured(CommissionMatured),
    #[serde(rename = "commission.reversed")]
    CommissionReversed(CommissionReversed),
    #[serde(rename = "commission.adjusted")]
    CommissionAdjusted(CommissionAdjusted),
    #[serde(rename = "payout_batch.drafted")]
    PayoutBatchDrafted(PayoutBatchDrafted),
    #[serde(rename = "payout_batch.approved")]
    PayoutBatchApproved(PayoutBatchApproved),
    #[serde(rename = "payout_batch.rejected")]
    PayoutBatchRejected(PayoutBatchRejected),
    #[serde(rename = "payout_item.submitted")]
    PayoutItemSubmitted(PayoutItemSubmitted),
    #[serde(rename = "payout_item.paid")]
    PayoutItemPaid(PayoutItemOutcome),
    #[serde(rename = "payout_item.failed")]
    PayoutItemFailed(PayoutItemOutcome),
    #[serde(rename = "payout_item.returned")]
    PayoutItemReturned(PayoutItemOutcome),
    #[serde(rename = "payout_item.unclaimed")]
    PayoutItemUnclaimed(PayoutItemOutcome),
    #[serde(rename = "payout_item.reversed")]
    PayoutItemReversed(PayoutItemOutcome),
    #[serde(rename = "payout_item.claimed")]
    PayoutItemClaimed(PayoutItemClaimed),
    #[serde(rename = "payout_approvals.tallied")]
    PayoutApprovalTallied(PayoutApprovalTallied),
    #[serde(rename = "payout_profile.changed")]
    PayoutProfileChanged(PayoutProfileChanged),
    #[serde(rename = "payout_drafts.batch_registered")]
    PayoutDraftRegistered(PayoutDraftRegistered),
    #[serde(rename = "payout_run.skipped")]
    PayoutRunSkipped(PayoutRunSkipped),
    #[serde(rename = "processor_notice.unmatched")]
    ProcessorNoticeUnmatched(ProcessorNoticeUnmatched),
    #[serde(rename = "reconciliation.mismatch_found")]
    ReconciliationMismatchFound(ReconciliationMismatchFound),
    #[serde(rename = "reconciliation.mismatch_resolved")]
    ReconciliationMismatchResolved(ReconciliationMismatchResolved),
    #[serde(rename = "reconciliation.run_recorded")]
    ReconciliationRunRecorded(ReconciliationRunRecorded),
    #[serde(rename = "statement.published")]
    StatementPublished(StatementPublished),
}

impl EventBody {
    /// The stable wire name, as stored beside the payload.
    pub fn type_name(&self) -> &'static str {
        match self {
            EventBody::CommissionRecorded(_) => "commission.recorded",
            EventBody::CommissionMatured(_) => "commission.matured",
            EventBody::CommissionReversed(_) => "commission.reversed",
            EventBody::CommissionAdjusted(_) => "commission.adjusted",
            EventBody::PayoutBatchDrafted(_) => "payout_batch.drafted",
            EventBody::PayoutBatchApproved(_) => "payout_batch.approved",
            EventBody::PayoutBatchRejected(_) => "payout_batch.rejected",
            EventBody::PayoutItemSubmitted(_) => "payout_item.submitted",
            EventBody::PayoutItemPaid(_) => "payout_item.paid",
            EventBody::PayoutItemFailed(_) => "payout_item.failed",
            EventBody::PayoutItemReturned(_) => "payout_item.returned",
            EventBody::PayoutItemUnclaimed(_) => "payout_item.unclaimed",
            EventBody::PayoutItemReversed(_) => "payout_item.reversed",
            EventBody::PayoutItemClaimed(_) => "payout_item.claimed",
            EventBody::PayoutApprovalTallied(_) => "payout_approvals.tallied",
            EventBody::PayoutProfileChanged(_) => "payout_profile.changed",
            EventBody::PayoutDraftRegistered(_) => "payout_drafts.batch_registered",
            EventBody::PayoutRunSkipped(_) => "payout_run.skipped",
            EventBody::ProcessorNoticeUnmatched(_) => "processor_notice.unmatched",
            EventBody::ReconciliationMismatchFound(_) => "reconciliation.mismatch_found",
            EventBody::ReconciliationMismatchResolved(_) => "reconciliation.mismatch_resolved",
            EventBody::ReconciliationRunRecorded(_) => "reconciliation.run_recorded",
            EventBody::StatementPublished(_) => "statement.published",
        }
    }

    /// The aggregate (and so the event stream) this event belongs to.
    pub fn aggregate(&self) -> AggregateRef<'_> {
        match self {
            EventBody::CommissionRecorded(e) => AggregateRef::Commission(&e.commission_id),
            EventBody::CommissionMatured(e) => AggregateRef::Commission(&e.commission_id),
            EventBody::CommissionReversed(e) => AggregateRef::Commission(&e.commission_id),
            EventBody::CommissionAdjusted(e) => AggregateRef::Commission(&e.commission_id),
            EventBody::PayoutBatchDrafted(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutBatchApproved(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutBatchRejected(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutItemSubmitted(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutItemPaid(e)
            | EventBody::PayoutItemFailed(e)
            | EventBody::PayoutItemReturned(e)
            | EventBody::PayoutItemUnclaimed(e)
            | EventBody::PayoutItemReversed(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutItemClaimed(e) => AggregateRef::PayoutBatch(&e.batch_id),
            EventBody::PayoutApprovalTallied(e) => {
                AggregateRef::PayoutApprovals(&e.approver, e.day)
            }
            EventBody::PayoutProfileChanged(e) => AggregateRef::PayoutProfile(&e.affiliate_id),
            EventBody::PayoutDraftRegistered(_) => AggregateRef::PayoutDrafts,
            EventBody::PayoutRunSkipped(e) => AggregateRef::PayoutRun(&e.run_id),
            EventBody::ProcessorNoticeUnmatched(e) => AggregateRef::ProcessorNotice(&e.notice_id),
            EventBody::ReconciliationMismatchFound(e) => AggregateRef::Reconciliation(&e.run_id),
            EventBody::ReconciliationMismatchResolved(e) => {
                AggregateRef::ReconciliationMismatch(&e.run_id, e.mismatch)
            }
            EventBody::ReconciliationRunRecorded(_) => AggregateRef::ReconciliationRuns,
            EventBody::StatementPublished(e) => {
                AggregateRef::Statement(&e.affiliate_id, &e.currency, &e.period)
            }
        }
    }
}

/// Which aggregate an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateRef<'a> {
    Commission(&'a CommissionId),
    PayoutBatch(&'a PayoutBatchId),
    PayoutProfile(&'a AffiliateId),
    /// The tenant's one draft sequence.
    PayoutDrafts,
    PayoutRun(&'a PayoutRunId),
    /// What one approver approved on one day (UTC), for the daily limit.
    PayoutApprovals(&'a str, chrono::NaiveDate),
    ProcessorNotice(&'a NoticeId),
    Reconciliation(&'a ReconciliationRunId),
    /// One mismatch of a run (its version in the run stream): its resolution.
    ReconciliationMismatch(&'a ReconciliationRunId, u64),
    /// The tenant's list of reconciliation runs with mismatches.
    ReconciliationRuns,
    /// One affiliate's statement of one currency and period: its versions.
    Statement(&'a AffiliateId, &'a str, &'a str),
}

impl fmt::Display for AggregateRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AggregateRef::Commission(id) => write!(f, "commission/{id}"),
            AggregateRef::PayoutBatch(id) => write!(f, "payout-batch/{id}"),
            AggregateRef::PayoutProfile(id) => write!(f, "payout-profile/{id}"),
            AggregateRef::PayoutDrafts => f.write_str("payout-drafts"),
            AggregateRef::PayoutRun(id) => write!(f, "payout-run/{id}"),
            AggregateRef::PayoutApprovals(approver, day) => {
                write!(f, "payout-approvals/{}/{day}", approver_key(approver))
            }
            AggregateRef::ProcessorNotice(id) => write!(f, "processor-notice/{id}"),
            AggregateRef::Reconciliation(id) => write!(f, "reconciliation/{id}"),
            AggregateRef::ReconciliationMismatch(id, n) => {
                write!(f, "reconciliation-mismatch/{id}/{n}")
            }
            AggregateRef::ReconciliationRuns => f.write_str("reconciliation-runs"),
            AggregateRef::Statement(affiliate, currency, period) => {
                write!(f, "statement/{affiliate}/{currency}/{period}")
            }
        }
    }
}

/// The stream of one aggregate of one tenant, e.g. `t1/commission/c-42`.
pub fn stream_name(tenant_id: &TenantId, aggregate: AggregateRef<'_>) -> String {
    format!("{tenant_id}/{aggregate}")
}

/// One immutable fact with who caused it and when.
///
/// `recorded_at` is when this system wrote it; `effective_at` is when it
/// happened in the world (a conversion last week, a return reported today).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    schema_version: u16,
    tenant_id: TenantId,
    actor: Actor,
    recorded_at: DateTime<Utc>,
    effective_at: DateTime<Utc>,
    body: EventBody,
}

impl Event {
    pub fn new(
        tenant_id: TenantId,
        actor: Actor,
        recorded_at: DateTime<Utc>,
        effective_at: DateTime<Utc>,
        body: EventBody,
    ) -> Self {
        Event {
            schema_version: EVENT_SCHEMA_VERSION,
            tenant_id,
            actor,
            recorded_at,
            effective_at,
            body,
        }
    }

    pub fn schema_version(&self) -> u16 {
        self.schema_version
    }
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    pub fn recorded_at(&self) -> DateTime<Utc> {
        self.recorded_at
    }
    pub fn effective_at(&self) -> DateTime<Utc> {
        self.effective_at
    }
    pub fn body(&self) -> &EventBody {
        &self.body
    }
    pub fn type_name(&self) -> &'static str {
        self.body.type_name()
    }

    /// The stream this event is stored in: one stream per aggregate, scoped
    /// by tenant, e.g. `t1/commission/c-42`.
    pub fn stream_name(&self) -> String {
        stream_name(&self.tenant_id, self.body.aggregate())
    }
}

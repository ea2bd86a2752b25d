//! The event catalogue. Events are past-tense facts, versioned, and never
//! edited: an `Event` has no setters, and stores refuse to overwrite one.
//!
//! Wire format (JSON):
//! `{"schema_version":1,"tenant_id":"t1","actor":{...},"recorded_at":"...",
//!   "effective_at":"...","body":{"type":"commission.recorded","data":{...}}}`
//! The `type` string is stable: renaming a Rust variant never changes it.

mod actor;
mod commission;
mod payout;
mod reconciliation;
mod statement;

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{
    AffiliateId, CommissionId, NoticeId, PayoutBatchId, PayoutRunId, ReconciliationRunId, TenantId,
};
use crate::profile::PayoutProfileChanged;

pub use crate::processor::{Destination, Processor};
pub use crate::text::{TEXT_LEN_MAX, TextError, check_text};
pub use actor::{Actor, ActorKind};
pub use commission::{
    CommissionAdjusted, CommissionMatured, CommissionRecorded, CommissionReversed, CommissionStage,
    ReversalReason,
};
pub use payout::{
    ApprovalAuthority, DraftedItem, MoneyMovement, PayoutApprovalTallied, PayoutBatchApproved,
    PayoutBatchDrafted, PayoutBatchRejected, PayoutDraftRegistered, PayoutItemClaimed,
    PayoutItemOutcome, PayoutItemSubmitted, PayoutRunSkipped, SkipReason, SkippedPayee,
    approver_key,
};
pub use reconciliation::{
    ProcessorNoticeUnmatched, ReconciliationMismatchFound, ReconciliationMismatchResolved,
    ReconciliationRunRecorded,
};
pub use statement::StatementPublished;

/// The schema version every event written by this code carries.
pub const EVENT_SCHEMA_VERSION: u16 = 1;

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

/// The tenant of a stream name (`tenant/aggregate/...`, as [`stream_name`]
/// writes it), if it names one.
pub fn tenant_of_stream(stream: &str) -> Option<TenantId> {
    let (tenant, rest) = stream.split_once('/')?;
    if rest.is_empty() {
        return None;
    }
    TenantId::new(tenant).ok()
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

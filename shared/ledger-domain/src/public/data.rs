//! The `data` of each public event type: the documented shapes the JSON
//! Schemas under `events/schemas/` are generated from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::DraftedItem;
use crate::money::Money;

/// Money as every public event writes it: the amount as a decimal string
/// (never a JSON number, so no parser turns it into a float) and the ISO
/// 4217 code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct Amount {
    /// A decimal string, e.g. `"12.50"`, with the currency's minor digits.
    pub amount: String,
    /// ISO 4217 code, e.g. `"EUR"`.
    pub currency: String,
}

impl From<&Money> for Amount {
    fn from(m: &Money) -> Self {
        Amount {
            amount: m.amount().to_string(),
            currency: m.currency().code().to_owned(),
        }
    }
}

/// `commission.recorded`: a conversion earned an affiliate commission, on
/// hold until `matures_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionRecordedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub hold_period_days: u32,
    pub matures_at: DateTime<Utc>,
    /// The tracking network's conversion id.
    pub source_conversion_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_reference: Option<String>,
}

/// `commission.matured`: the hold period ended; `amount` became payable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionMaturedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
}

/// `commission.reversed`: a refund, chargeback, fraud or manual reversal
/// took `amount` back. At stage `matured` it is clawed back (see
/// `receivable.opened`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionReversedData {
    pub commission_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    /// `refund`, `chargeback`, `fraud` or `manual`.
    pub reason: String,
    /// `pending` or `matured`: where the money sat.
    pub stage: String,
    /// True when this reversal took back everything that was left.
    pub whole: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// `commission.adjusted`: a signed correction of what was earned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct CommissionAdjustedData {
    pub commission_id: String,
    pub affiliate_id: String,
    /// Signed: a positive amount adds, a negative one takes away.
    pub delta: Amount,
    pub stage: String,
    pub reason: String,
}

/// One item of a drafted batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemData {
    pub item_id: String,
    pub affiliate_id: String,
    /// What the item pays.
    pub amount: Amount,
    /// Clawbacks this payout settles.
    pub receivable_netted: Amount,
    /// `stripe`, `paypal`, `sepa` or `sandbox`.
    pub processor: String,
    /// The approved destination, masked (`sepa DE** **** 3000`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

impl From<&DraftedItem> for PayoutItemData {
    fn from(i: &DraftedItem) -> Self {
        PayoutItemData {
            item_id: i.item_id.to_string(),
            affiliate_id: i.affiliate_id.to_string(),
            amount: (&i.amount).into(),
            receivable_netted: (&i.receivable_netted).into(),
            processor: i.processor.as_str().to_owned(),
            destination: i.destination.as_ref().map(|d| d.masked.clone()),
        }
    }
}

/// `payout_batch.drafted`: a batch awaits approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchDraftedData {
    pub batch_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub items: Vec<PayoutItemData>,
}

/// `payout_batch.approved`: the second person approved; dispatch follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchApprovedData {
    pub batch_id: String,
    /// Who approved (the verified subject).
    pub approved_by: String,
}

/// `payout_batch.rejected`: the batch will not be paid; its items' money
/// is available again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutBatchRejectedData {
    pub batch_id: String,
    pub rejected_by: String,
    pub reason: String,
}

/// `payout_item.submitted`: the processor accepted the item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemSubmittedData {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub processor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_reference: Option<String>,
}

/// `payout_item.paid`, `.failed`, `.returned`, `.unclaimed`, `.reversed`:
/// what the processor said happened to an item, once per outcome that
/// moved its money (a confirmation of an outcome already known is not
/// sent again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PayoutItemOutcomeData {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Amount,
    pub processor: String,
    /// The processor's own event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_event_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `payout_item.reversed` only: the total reversed so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reversed_total: Option<Amount>,
}

/// `receivable.opened`: the affiliate owes money back (a clawback after
/// maturity, or clawbacks a rejected batch had netted), to be netted
/// against later earnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReceivableOpenedData {
    pub affiliate_id: String,
    pub amount: Amount,
    /// `commission_reversed`, `commission_adjusted` or `payout_batch_rejected`.
    pub cause: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commission_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
}

/// `receivable.netted`: a drafted payout settles `amount` of clawbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReceivableNettedData {
    pub affiliate_id: String,
    pub amount: Amount,
    pub batch_id: String,
    pub item_id: String,
}

/// `reconciliation.mismatch_found`: a processor's report and the ledger
/// disagree, for finance to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct ReconciliationMismatchFoundData {
    pub run_id: String,
    pub processor: String,
    /// `missing_in_ledger`, `missing_at_processor`, `amount_mismatch`,
    /// `currency_mismatch`, `outside_date_window`, `not_paid_in_ledger`.
    pub kind: String,
    pub report: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ledger_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_amount: Option<Amount>,
}

/// `statement.published`: a new version of an affiliate's statement of
/// one currency and month was written; fetch it with
/// `GET /v1/affiliates/{affiliate_id}/statements/{currency}/{period}?version=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct StatementPublishedData {
    pub affiliate_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// `YYYY-MM`, in `time_zone`.
    pub period: String,
    pub time_zone: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// 1 for the first statement of the period; a later version restates
    /// it after late or corrected events and names the one it supersedes.
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<u32>,
    pub reason: String,
    pub closing_available: Amount,
    pub closing_receivable: Amount,
    /// SHA-256 (hex) of the statement's CSV file.
    pub content_sha256: String,
}

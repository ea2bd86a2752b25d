//! The payloads of the payout events: batches and their items
//! (`payout_batch.*`, `payout_item.*`), and the drafting and approval
//! bookkeeping around them (draft registrations, approval tallies, skipped
//! payees of a run).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{AffiliateId, PayoutBatchId, PayoutItemId, PayoutRunId};
use crate::money::Money;
use crate::processor::{Destination, Processor};
use crate::profile::HoldReason;

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
    /// The processor account this attempt pays from, as the tenant's
    /// credentials name it (an account id, never a secret), when they name
    /// one. An item first attempted from one account is never sent from
    /// another: that account's own idempotency key and status lookup know
    /// nothing of the first attempt, so a second payment could follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
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

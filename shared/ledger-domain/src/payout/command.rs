//! What can be asked of a payout batch, and why it may be refused.

use chrono::{DateTime, Utc};

use super::ApprovalLimits;
use crate::events::{ApprovalAuthority, DraftedItem, Processor, TextError};
use crate::ids::{PayoutBatchId, PayoutItemId, PayoutRunId, TenantId};
use crate::money::{Money, MoneyError};

/// What a processor reported about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Paid,
    Failed,
    Returned,
    Unclaimed,
    /// Part or all of a paid item was taken back (Stripe's
    /// `transfer.reversed`); the facts' amount is the total reversed so far.
    Reversed,
}

/// What a processor's news says about the item beyond its outcome, each
/// checked against the item when given. Dispatch's own records give none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeFacts {
    pub processor: Option<Processor>,
    /// The processor's reference of the payment (transfer id, payout item
    /// id, end-to-end id).
    pub reference: Option<String>,
    /// The account the news names (connected account, receiver, IBAN).
    pub account: Option<String>,
    /// The amount the news states; for a reversal, the total reversed so far.
    pub amount: Option<Money>,
}

/// The longest a dispatcher's claim on an item may be leased for.
pub const CLAIM_LEASE_SECONDS_MAX: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutBatchCommand {
    Draft {
        batch_id: PayoutBatchId,
        items: Vec<DraftedItem>,
        /// The tenant draft sequence number this batch takes.
        sequence: u64,
        run_id: Option<PayoutRunId>,
    },
    Approve {
        authority: ApprovalAuthority,
        limits: ApprovalLimits,
        /// What the approver already approved today (UTC), per currency,
        /// from their `payout-approvals` day stream.
        approved_today: Vec<Money>,
    },
    /// A dispatcher takes an item before calling its processor, naming the
    /// processor account it would pay from (when its credentials name one).
    Claim {
        item_id: PayoutItemId,
        claim_id: String,
        lease_until: DateTime<Utc>,
        account: Option<String>,
    },
    /// A dispatcher whose attempt ended with the outcome unknown lets the
    /// item go, so the retry need not wait for the lease to run out.
    Release {
        item_id: PayoutItemId,
        claim_id: String,
    },
    Reject {
        reason: String,
    },
    Submit {
        item_id: PayoutItemId,
        processor_reference: Option<String>,
    },
    RecordOutcome {
        item_id: PayoutItemId,
        outcome: ItemOutcome,
        processor_event_id: Option<String>,
        reason: Option<String>,
        facts: OutcomeFacts,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutBatchError {
    #[error("payout batch {0} is already drafted")]
    AlreadyDrafted(PayoutBatchId),
    #[error("payout batch is not drafted")]
    NotDrafted,
    #[error("a batch needs 1 to {max} items, got {got}")]
    ItemCount { got: usize, max: usize },
    #[error("items[{index}]: item id {item_id} appears twice")]
    DuplicateItem { index: usize, item_id: PayoutItemId },
    #[error(
        "items[{index}]: affiliate {affiliate_id} already has an item in {currency} in this batch"
    )]
    DuplicateAffiliateCurrency {
        index: usize,
        affiliate_id: String,
        currency: &'static str,
    },
    #[error("items[{index}].amount must be greater than zero")]
    ItemNotPositive { index: usize },
    #[error("items[{index}].receivable_netted must not be negative")]
    NettedNegative { index: usize },
    #[error("the maker {maker} of batch {batch_id} cannot approve it: a second person must")]
    MakerCannotApprove {
        batch_id: PayoutBatchId,
        maker: String,
    },
    #[error("payout batch {0} is already approved")]
    AlreadyApproved(PayoutBatchId),
    #[error("payout batch {batch_id} needs an admin's approval: {rule}")]
    NeedsAdmin {
        batch_id: PayoutBatchId,
        rule: String,
    },
    #[error("payout batch {0} was rejected")]
    Rejected(PayoutBatchId),
    #[error("payout batch {0} is not approved yet")]
    NotApproved(PayoutBatchId),
    #[error("payout batch {batch_id} has no item {item_id}")]
    UnknownItem {
        batch_id: PayoutBatchId,
        item_id: PayoutItemId,
    },
    #[error("item {0} was already submitted or settled")]
    AlreadySubmitted(PayoutItemId),
    #[error("item {item_id} is being sent by another dispatcher until {lease_until}")]
    Claimed {
        item_id: PayoutItemId,
        lease_until: DateTime<Utc>,
    },
    #[error(
        "item {item_id} was first attempted from processor account {first}, and the credentials now name {}: it is held, not sent from another account, until its first attempt's outcome is known",
        now.as_deref().unwrap_or("no account")
    )]
    AccountChanged {
        item_id: PayoutItemId,
        first: String,
        now: Option<String>,
    },
    #[error("lease_until must be after now and at most {max_seconds} s ahead")]
    LeaseOutOfRange { max_seconds: i64 },
    #[error("the notice does not match item {item_id}: {rule}")]
    NoticeMismatch { item_id: PayoutItemId, rule: String },
    #[error("payout batch {batch_id} belongs to tenant {owner}, not {requested}")]
    WrongTenant {
        batch_id: PayoutBatchId,
        owner: TenantId,
        requested: TenantId,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Text(#[from] TextError),
}

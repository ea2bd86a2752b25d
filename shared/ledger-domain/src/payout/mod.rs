//! The payout batch aggregate: drafted (funds reserved) -> approved by a
//! second person, or rejected (funds released) -> each item submitted and
//! settled: paid, failed, returned or unclaimed.
//!
//! Processors report late, twice and out of order. Every report is recorded,
//! but money moves only on the transitions below, so it moves at most once
//! each way:
//!
//! | item state | paid | failed / returned / unclaimed |
//! |---|---|---|
//! | approved or submitted | reserved -> clearing | reserved -> available (final) |
//! | paid | recorded only | clearing -> available (final) |
//! | final | recorded only | recorded only |
//!
//! A reversal (`payout_item.reversed`, Stripe's `transfer.reversed`) moves
//! only the part of the reversed total not moved before: a partial reversal
//! moves part of the paid money back to available and leaves the item
//! paid; the item is returned (final) when the whole amount came back.
//!
//! News is tied to its item: a notice that names another processor,
//! another processor reference, another account or another amount than the
//! item's is refused (`NoticeMismatch`) and moves nothing.

mod command;
mod decide;
mod limits;
mod plan;
mod state;

pub use command::{
    CLAIM_LEASE_SECONDS_MAX, ItemOutcome, OutcomeFacts, PayoutBatchCommand, PayoutBatchError,
};
pub use limits::{ApprovalLimits, CurrencyLimits, approval_day, batch_totals};
pub use plan::{PayoutCandidate, Planned, plan_payout};
pub use state::{BatchItem, BatchStatus, DraftedBatch, ItemStatus, PayoutBatch};

/// The most items one batch may hold; larger drafts continue in a new batch.
pub const PAYOUT_ITEMS_PER_BATCH_MAX: usize = 500;

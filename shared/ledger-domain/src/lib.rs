//! The pure domain of the affiliate payouts ledger.
//!
//! No AWS, no async runtime, no I/O: money, identifiers, the event
//! catalogue, the commission and payout batch aggregates, the double-entry
//! posting rules and the balances projection. Everything a caller can send is
//! validated into a typed error; nothing here panics on input.

pub mod balances;
pub mod commission;
pub mod context;
pub mod events;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod payout;
mod processor;
pub mod profile;
pub mod projection;
pub mod public;
/// Seeded event histories for tests, benchmarks and simulations; not part of
/// the domain, compiled only with the `test-support` feature.
#[cfg(feature = "test-support")]
pub mod sample;
pub mod sepa_text;
mod text;
pub mod units;

pub use balances::{AffiliateBalances, BalanceOverflow, Balances};
pub use commission::{Commission, CommissionCommand, CommissionError};
pub use context::CommandContext;
pub use events::Destination;
pub use events::{
    Actor, ActorKind, CommissionStage, DraftedItem, Event, EventBody, MoneyMovement, Processor,
    ReversalReason,
};
pub use ids::{
    AffiliateId, CommissionId, IdError, NoticeId, PayoutBatchId, PayoutItemId, PayoutRunId,
    ReconciliationRunId, TenantId,
};
pub use ledger::{Account, AffiliateAccount, JournalEntry, PostingError, journal_entry};
pub use money::{Money, MoneyError, Rounding};
pub use payout::OutcomeFacts;
pub use payout::{
    ApprovalLimits, ItemOutcome, PayoutBatch, PayoutBatchCommand, PayoutBatchError,
    PayoutCandidate, Planned, plan_payout,
};
pub use profile::{
    HoldReason, PayoutMethod, PayoutProfile, ProfileAggregate, ProfileChange, ProfileError,
};
pub use units::{ProcessorUnit, UnitError};

/// Re-exported so callers name currencies and decimals with the same types.
pub use iso_currency::Currency;
pub use rust_decimal::Decimal;
